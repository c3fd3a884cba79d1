"""What a mirror copy (`mirror: true`, rsync --delete, rclone sync) deletes at its destination:
the paths that are not in the filtered source. Files the filters leave out are protected unless
`delete_excluded`; a destination directory that is not in the source goes whole (counted as
itself and everything below it) unless it holds a protected file; a destination symlink is
deleted as a link, never followed. Pure: the runner's item path decides from two listings, the
worker's tree operation from the same rules one directory at a time."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from planner.tree.decide import keeps_file
from planner.tree.entry import Entry, EntryType
from planner.tree.filters import Filters
from planner.tree.policies import Symlinks

__all__ = [
    "EXTRANEOUS",
    "Deletion",
    "SourceSide",
    "mirror_deletions",
    "protects",
    "too_many_deletions",
]

EXTRANEOUS = "extraneous"  # the reason of a tree operation's deletion rows


@dataclass(frozen=True, slots=True)
class Deletion:
    """One destination path to delete: a file or symlink (`link`), or a directory with what it
    holds. `count` is the deletions it stands for (1, or the directory, its files and its
    directories), `size` the bytes of the files it holds."""

    path: str
    type: EntryType
    count: int
    size: int
    link: bool = False


@dataclass
class SourceSide:
    """What a source directory holds, as a mirror sees it: `kept` the paths copied (files the
    filters keep, directories), `present` every path there (also those the filters leave out,
    and special files skipped), which protects the destination's path unless `delete_excluded`."""

    kept: set[str]
    present: set[str]

    @classmethod
    def of(
        cls,
        entries: Iterable[Entry],
        *,
        filters: Filters,
        symlinks: Symlinks,
        skipped: Iterable[str] = (),
    ) -> SourceSide:
        """The side of `entries` (a listing of the source)."""
        kept: set[str] = set()
        present = set(skipped)
        for e in entries:
            present.add(e.path)
            if e.type == "dir":
                if not (symlinks == "skip" and e.is_link):
                    kept.add(e.path)
            elif keeps_file(e.path, e.is_link, filters=filters, symlinks=symlinks):
                kept.add(e.path)
        return cls(kept, present)


def protects(path: str, source: SourceSide, *, filters: Filters, delete_excluded: bool) -> bool:
    """Whether the destination file at `path` (not copied from the source) stays: it is
    excluded, by the filters or by being in the source but left out, and `delete_excluded` is
    off."""
    if delete_excluded:
        return False
    return path in source.present or not (filters.accepts_everything or filters.accepts(path))


def mirror_deletions(
    source: SourceSide,
    existing: Sequence[Entry],
    *,
    filters: Filters,
    delete_excluded: bool,
) -> list[Deletion]:
    """The deletions that make the destination `existing` (a recursive listing) hold only what
    `source` keeps, in path order: the topmost path of each deleted subtree."""
    by_path = {e.path: e for e in existing}

    def is_link_itself(e: Entry) -> bool:  # the link, not a path reached through it
        parent = posixpath.dirname(e.path)
        return e.is_link and not (parent and by_path.get(parent, e).is_link)

    held: set[str] = set()  # directories holding a protected file: kept
    below: dict[str, list[int]] = {}  # directory -> [entries below it, bytes of its files]
    for e in existing:
        if e.is_link and not is_link_itself(e):
            continue  # stands behind its link, which is deleted as itself
        parents = _parents(e.path)
        nbytes = e.size if e.type == "file" and not e.is_link else 0
        for parent in parents:
            tally = below.setdefault(parent, [0, 0])
            tally[0] += 1
            tally[1] += nbytes
        if (
            e.type == "file"
            and e.path not in source.kept
            and protects(e.path, source, filters=filters, delete_excluded=delete_excluded)
        ):
            held.update(parents)
    deletions: list[Deletion] = []
    gone: set[str] = set()  # deleted directories and links
    for e in sorted(existing, key=lambda e: e.path):
        if e.path in source.kept or any(p in gone for p in _parents(e.path)):
            continue
        if e.is_link:
            if is_link_itself(e):  # deleted as itself: what it leads to stays
                deletions.append(Deletion(e.path, e.type, 1, 0, link=True))
                gone.add(e.path)
            continue
        if e.type == "file":
            if not protects(e.path, source, filters=filters, delete_excluded=delete_excluded):
                deletions.append(Deletion(e.path, "file", 1, e.size))
            continue
        if e.path in held or (not delete_excluded and e.path in source.present):
            continue  # holds a protected file, or left out of the copy (a skipped link)
        count, nbytes = below.get(e.path, (0, 0))
        deletions.append(Deletion(e.path, "dir", 1 + count, nbytes))
        gone.add(e.path)
    return deletions


def too_many_deletions(needed: int, limit: int | None) -> str | None:
    """The refusal of a mirror needing `needed` deletions, more than `limit` (max_delete), else
    None."""
    if limit is None or needed <= limit:
        return None
    return (
        f"mirror: {needed:,} deletion{'s' if needed != 1 else ''} needed, more than "
        f"max_delete {limit:,}: nothing deleted"
    )


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
