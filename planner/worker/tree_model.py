"""What a tree operation works with: the request of one tree (TreeSpec), its result (Counts),
and the walk's bookkeeping per directory (Node, DstSide) and per file to copy (Todo)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from planner.tree.filters import Filters
from planner.tree.policies import Overwrite, Symlinks
from planner.worker.requests import Place as StoragePlace
from planner.worker.walk import Pending


@dataclass(frozen=True)
class TreeSpec:
    """One tree of a request: what to copy (or compare) and how."""

    src: StoragePlace
    dst: StoragePlace
    filters: Filters
    overwrite: Overwrite = "if-different"
    checksum: bool = False
    symlinks: Symlinks = "follow"
    empty_dirs: bool = True
    mirror: bool = False  # also delete what the destination holds beyond the source
    delete_excluded: bool = False
    max_delete: int | None = None


@dataclass
class Counts:
    """The result of a tree operation (docs/api.md): what was (or would be) done."""

    copied: int = 0
    overwritten: int = 0
    unchanged: int = 0
    filtered: int = 0
    failed: int = 0
    compared: int = 0
    bytes: int = 0
    dirs_made: int = 0
    skipped: int = 0
    unreadable: int = 0
    rows: int = 0
    # a mirror's (None otherwise: not on the wire): the deletions it needs, also when refused,
    # and those it made
    to_delete: int | None = None
    deleted: int | None = None

    def wire(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def failures(self) -> str | None:
        """What failed, as the message of the tree item (`2 files failed, 1 directory not
        read`), or None when nothing did."""
        parts = []
        if self.failed:
            parts.append(f"{self.failed} file{'s' if self.failed != 1 else ''} failed")
        if self.unreadable:
            plural = "directories" if self.unreadable != 1 else "directory"
            parts.append(f"{self.unreadable} {plural} not read")
        return ", ".join(parts) or None


@dataclass
class Node:
    """A source directory of the walk until everything below it is done: what decides whether
    it is made as an empty directory (tree/decide.directories_to_make, streamed)."""

    parent: Node | None
    path: str  # relative to the source, escaped, "" for the top
    makeable: bool  # kept by the filters and symlinks, and no directory at the destination
    kept: bool = False  # a file of the copy lies in it or below
    wanted_below: bool = False  # a directory below it would be made
    unread: bool = False


@dataclass
class DstSide:
    """The destination's side of a source directory: a directory there to list, or nothing;
    `blocked` when a file stands where it, or a directory above it, must be."""

    pending: Pending | None = None
    blocked: bool = False


@dataclass
class Todo:
    """A file the policy copies: its source name and stat, why, and whether one is there."""

    name: str  # the real name (not escaped)
    shown: str
    size: int
    reason: str
    existed: bool
    checksum: str | None = None
    error: tuple[int, str] | None = field(default=None)
    # the source's lstat from the listing (None: look again), the stat its copy is checked by
    st: os.stat_result | None = None
