"""The small interface the runner drives: submit items, poll, fetch per-item outcomes, cancel,
and the permission routes. The Data Transfer API client is the first engine (api_engine.py);
another transfer engine (rclone's remote control, say) is one more module implementing this.
Tests run the runner without a server against the in-memory fake of testing.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

# kinds whose successful items carry no result worth fetching
RESULTLESS = frozenset({"copy", "move", "mkdir", "remove", "rmdir", "metadata-set"})


class ItemKind(StrEnum):
    COPY = "copy"
    MOVE = "move"
    EXISTS = "exists"
    STAT = "stat"  # one path's list entry, as a one-level listing of its parent has it
    LIST = "list"  # extended, recursive listing (entries relative to the path)
    LIST_CHILDREN = "list-children"  # extended listing of the direct children only
    # LIST where an object remote may give an object's LastModified for its stored mtime (the
    # entry says `mtime_exact: false`; STAT reads the stored one): no HEAD per object
    LIST_QUICK = "list-quick"
    MKDIR = "mkdir"
    REMOVE = "remove"  # a file
    RMDIR = "rmdir"  # a directory, recursively
    METADATA_GET = "metadata-get"
    METADATA_SET = "metadata-set"
    # a whole directory copy as one item: `src` -> `target`, `data` its TreeSpec (tree_spec)
    COPY_TREE = "copy-tree"
    COMPARE_TREE = "compare-tree"  # the same walk and decisions, read-only (rows `planned`)


TREE_KINDS = frozenset({ItemKind.COPY_TREE, ItemKind.COMPARE_TREE})


def tree_spec(
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    overwrite: str = "if-different",
    checksum: bool = False,
    symlinks: str = "follow",
    empty_dirs: bool = True,
    mirror: tuple[bool, int | None] | None = None,
) -> dict[str, Any]:
    """The `data` of a tree item: how the directory copy filters and decides (the wire's body);
    `mirror` (delete_excluded, max_delete) makes it a mirror (sent only then: a worker without
    mirrors refuses the keys)."""
    mirrored: dict[str, Any] = {}
    if mirror is not None:
        mirrored = {"mirror": True, "delete_excluded": mirror[0], "max_delete": mirror[1]}
    return {
        **mirrored,
        "include": list(include),
        "exclude": list(exclude),
        "overwrite": overwrite,
        "checksum": checksum,
        "symlinks": symlinks,
        "empty_dirs": empty_dirs,
    }


class TreeRow(NamedTuple):
    """One path a tree operation copied or would copy (kind `file`), an empty directory it made
    (`dir`), a special file it skipped (`skipped`, `reason` why) or a directory it could not
    read (`unreadable`). `state`: done, failed, or planned (compare). A tuple: a page holds
    thousands, made as they are read."""

    path: str  # relative to the tree's src and dst
    kind: str
    size: int
    reason: str | None
    state: str
    checksum: str | None = None
    code: int | None = None
    error: str | None = None


@dataclass
class TreePage:
    """A page of a tree operation's rows; `next_offset` None on the last."""

    rows: list[TreeRow]
    next_offset: int | None


@dataclass(frozen=True)
class Target:
    """A path on a remote of the engine (absolute for `local`, relative elsewhere)."""

    remote: str
    path: str

    def __str__(self) -> str:
        return f"{self.remote}:{self.path}"


@dataclass(frozen=True)
class Item:
    """One unit of work: `target` for single-path kinds, `src` -> `target` for copy/move,
    `data` the custom fields of metadata-set."""

    kind: ItemKind
    target: Target
    src: Target | None = None
    data: Mapping[str, Any] | None = None


@dataclass
class Outcome:
    """What became of one item. `code` is an ItemCode (planner/api/codes.py) when the engine
    gave one, or another HTTP-like code."""

    ok: bool
    result: Any = None
    error: str = ""
    code: int | None = None
    transient: bool = False
    size: int = 0  # bytes moved, for copies
    refused: bool = False  # refused for lack of a role (a 403 at submission), not a failed item
    # a tree item: the engine's handle of its rows (Engine.tree_rows); its `result` (the counts)
    # is kept when it failed too
    handle: str | None = None


@dataclass
class BatchStatus:
    """A submitted batch as a poll sees it."""

    handle: str
    done: bool
    succeeded: bool = False  # every item of the batch succeeded
    progress: float = 0.0
    progress_current: int = 0
    progress_total: int = 0  # a tree item: the files it decided to copy so far


@dataclass(frozen=True)
class RoleGrant:
    """A role on a resource held by a user, a group or anyone (`subject` None)."""

    resource: Target
    role: str
    subject_type: str  # user | group | any
    subject: str | None = None


@dataclass
class EngineInfo:
    """What the engine told us when we connected."""

    version: str
    remotes: set[str] = field(default_factory=set)


class Engine(Protocol):
    """What the runner needs from a transfer engine."""

    @property
    def recursive_listing(self) -> bool:
        """Whether ItemKind.LIST lists a whole tree in one item; without it the runner lists
        level by level with LIST_CHILDREN."""
        ...

    def listed_mtimes(self, target: Target) -> bool:
        """Whether a LIST_QUICK listing of `target` may spare requests (an object remote on a
        worker that serves it); else the runner lists it with LIST."""
        ...

    @property
    def stat_paths(self) -> bool:
        """Whether ItemKind.STAT answers one path's entry; without it the runner learns what a
        path is from a listing of its parent."""
        ...

    @property
    def tree_operations(self) -> bool:
        """Whether the engine runs a directory copy as one COPY_TREE item (and COMPARE_TREE),
        with its rows paged by `tree_rows`; without it the runner copies file by file."""
        ...

    @property
    def mirror_trees(self) -> bool:
        """Whether a tree item also mirrors (`mirror`, `delete_excluded`, `max_delete` in its
        data: rows of kind file/dir with reason "extraneous"); without it a mirror copy takes
        the item path."""
        ...

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        """Whether a directory copy from `src` to `dst` may be one tree item now: the engine
        has tree operations (and a preview predicted no change below either)."""
        ...

    def keeps_directories(self, target: Target) -> bool:
        """Whether the remote of `target` stores directories of their own. Object storage does
        not: a directory there is there while files are below it, so an empty one is neither
        made nor expected (the worker reports such a remote's `type` as `s3`)."""
        ...

    async def tree_rows(self, handle: str, offset: int, limit: int) -> TreePage:
        """Rows `offset`.. (at most `limit`) of the tree item whose outcome carried `handle`."""
        ...

    async def connect(self) -> EngineInfo:
        """Check the engine answers and accepts our credentials (raises ApiError otherwise)."""
        ...

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        """Start one batch of items of one kind; returns its handle."""
        ...

    @property
    def waits_for_ends(self) -> bool:
        """Whether `poll` with `wait` holds its answer until one of the handles is done (or
        `wait` seconds pass); without it `poll` answers at once and the runner sleeps between
        polls."""
        ...

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        """The status of every handle, in order, in as few requests as the engine allows; with
        `waits_for_ends`, answered once one of them is done or `wait` seconds passed."""
        ...

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        """Per-item outcomes of a finished batch of `count` items, in submission order."""
        ...

    async def cancel(self, handles: Sequence[str]) -> None:
        """Best effort: stop what still runs."""
        ...

    async def grants(self, resource: Target) -> list[RoleGrant]:
        """Roles held on exactly this resource."""
        ...

    async def grant(self, grants: Sequence[RoleGrant]) -> None: ...

    async def revoke(self, grants: Sequence[RoleGrant]) -> None: ...

    async def may(self, needs: Sequence[tuple[Target, str]]) -> bool:
        """Whether the caller holds every (path, role) of `needs` (True when the engine cannot
        tell): lets a preview predict the refusals a run would meet."""
        ...

    def requests_sent(self) -> int:
        """Requests made to the engine so far (for the run's totals)."""
        ...

    async def close(self) -> None: ...
