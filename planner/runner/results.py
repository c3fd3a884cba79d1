"""What a run did, action by action and file by file: the one model the journal stores and the
text, JSON and JUnit outputs render."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

_TRANSFERS = ("copy", "move")
# what an action's files_done counts, per kind of action: the totals' key (docs/run.md)
DONE_BY_KIND = {
    "copy": "copied",
    "move": "moved",
    "removal": "deleted",
    "directory": "directories",
    "metadata": "metadata_keys",
    "permission": "grants",
}


class ActionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # not run: something it depends on failed, or the run stopped

    @property
    def is_final(self) -> bool:
        return self in (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.SKIPPED)


class Change(StrEnum):
    """What an action did (or, in a preview, would do), Terraform-style."""

    CREATE = "+"
    UPDATE = "~"
    UNCHANGED = "="
    DELETE = "-"
    FAIL = "!"


class ItemState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNCHANGED = "unchanged"  # nothing to do (identical destination, absent path, ...)


# An item as the journal stores it: action_id, key, kind, src, dst, size, state, attempts, error,
# checksum, started_at, ended_at (ItemRecord's fields, `replaced` left out). A tree operation's
# rows are journaled in this form, with no ItemRecord made for them.
ItemRow = tuple[str, str, str, str, str, int, str, int, str, str, float | None, float | None]
# what `--format json` shows of an item, in its order: key, kind, src, dst, size, state (its
# value), attempts, error, checksum (read so from the journal, with no ItemRecord made per row)
ItemFields = tuple[str, str, str, str, int, str, int, str, str]


class JournaledItems(Protocol):
    """Reads one run's items back from its journal (journal.py), each call a fresh read."""

    def items(self, action: ActionResult) -> Iterator[ItemRecord]:
        """The action's items in the order first recorded."""
        ...

    def fields(self, action: ActionResult) -> Iterator[ItemFields]:
        """The ItemFields of the action's items, in the order of `items`."""
        ...

    def checksums(self, action: ActionResult) -> Iterator[tuple[str, str]]:
        """(key, checksum) of the action's succeeded items that have one, sorted by key."""
        ...


@dataclass
class ItemRecord:
    """One unit of work sent to the engine: a file copied, a path removed, a directory made."""

    action_id: str
    key: str  # stable within its action: the relative path for directory copies, else the path
    kind: str  # copy, move, remove, rmdir, mkdir, metadata, permission, check
    src: str = ""  # remote:path
    dst: str = ""  # remote:path (or the path acted on)
    size: int = 0
    state: ItemState = ItemState.PENDING
    attempts: int = 0
    error: str = ""
    checksum: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    replaced: bool = False  # a copy or move that overwrote a file (not journaled)


@dataclass
class ActionResult:
    """One action of the plan after (or during) a run."""

    id: str
    kind: str
    state: ActionState = ActionState.PENDING
    change: Change = Change.UNCHANGED
    attempts: int = 0
    error: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    files_done: int = 0  # files copied/moved/removed, directories created, keys set, grants...
    files_unchanged: int = 0
    bytes_done: int = 0
    detail: list[str] = field(default_factory=list)  # human lines: grants given, keys set, ...
    items: list[ItemRecord] = field(default_factory=list)
    files_replaced: int = 0  # of files_done, those that overwrote a file (not journaled)
    bytes_replaced: int = 0  # of bytes_done, those of files_replaced (not journaled)
    files_filtered: int = 0  # left out by include/exclude or `symlinks: skip` (not journaled)
    files_compared: int = 0  # compared by checksum (`checksum: true`; not journaled)
    checksums: dict[str, str] = field(default_factory=dict)  # path -> XXH64 of compared files
    warnings: list[str] = field(default_factory=list)  # e.g. include patterns that match nothing
    # what a directory copy left out: special files, symlink loops (not journaled)
    skipped: list[dict[str, str]] = field(default_factory=list)
    dirs_made: int = 0  # empty directories a directory copy created (not journaled)
    # items written to the journal only (a tree operation's rows), not held in `items`: the
    # outputs read every item of the action back from the journal (RunResult.items_of)
    items_journaled: int = 0
    # `checksums` are the journaled items' own (a tree operation's rows): see checksums_of
    checksums_journaled: bool = False
    # what a mirror copy deleted at its destination: paths (a directory counts as itself and
    # what it held) and the bytes of the files (not journaled: its items are)
    files_deleted: int = 0
    bytes_deleted: int = 0

    @property
    def duration(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.started_at)


@dataclass
class RunResult:
    """A whole run."""

    run_id: str
    plan_file: str
    plan_name: str
    digest: str
    started_at: float
    ended_at: float | None = None
    interrupted: bool = False
    actions: list[ActionResult] = field(default_factory=list)
    api_requests: int = 0  # requests this command made to the engine
    # the journal, for the actions whose items are there only (None: nothing was journaled)
    journaled: JournaledItems | None = field(default=None, repr=False, compare=False)

    def items_of(self, action: ActionResult) -> Iterable[ItemRecord]:
        """Every item of `action`: read from the journal as they are consumed when some were
        written only there, else `action.items`."""
        if action.items_journaled and self.journaled is not None:
            return self.journaled.items(action)
        return action.items

    def fields_of(self, action: ActionResult) -> Iterable[ItemFields]:
        """The ItemFields of every item of `action`, in the order of `items_of`."""
        if action.items_journaled and self.journaled is not None:
            return self.journaled.fields(action)
        return (
            (i.key, i.kind, i.src, i.dst, i.size, i.state.value, i.attempts, i.error, i.checksum)
            for i in action.items
        )

    def checksums_of(self, action: ActionResult) -> Iterable[tuple[str, str]]:
        """The (path, XXH64) of `action`'s compared files, sorted by path: from the journal
        when they were journaled only, else `action.checksums`."""
        if action.checksums_journaled and self.journaled is not None:
            return self.journaled.checksums(action)
        return sorted(action.checksums.items())

    @property
    def failed(self) -> list[ActionResult]:
        return [a for a in self.actions if a.state is ActionState.FAILED]

    @property
    def skipped(self) -> list[ActionResult]:
        return [a for a in self.actions if a.state is ActionState.SKIPPED]

    @property
    def succeeded(self) -> list[ActionResult]:
        return [a for a in self.actions if a.state is ActionState.SUCCEEDED]

    @property
    def is_success(self) -> bool:
        return not self.interrupted and all(a.state is ActionState.SUCCEEDED for a in self.actions)

    @property
    def duration(self) -> float:
        return max(0.0, (self.ended_at or self.started_at) - self.started_at)

    def totals(self) -> dict[str, int]:
        """What every action did, added up: files done and unchanged, bytes, and per kind of
        change (`copied`, `moved`, `deleted`, `directories`, `metadata_keys`, `grants`)."""
        by_kind = dict.fromkeys(DONE_BY_KIND.values(), 0)
        for a in self.actions:
            name = DONE_BY_KIND.get(a.kind)
            if name is not None:
                by_kind[name] += a.files_done
            by_kind["deleted"] += a.files_deleted
        return {
            "files_done": sum(a.files_done + a.files_deleted for a in self.actions),
            "files_copied": by_kind["copied"],
            "files_skipped": sum(a.files_unchanged for a in self.actions if a.kind in _TRANSFERS),
            "files_unchanged": sum(a.files_unchanged for a in self.actions),
            "files_filtered": sum(a.files_filtered for a in self.actions),
            "files_compared": sum(a.files_compared for a in self.actions),
            "bytes": sum(a.bytes_done for a in self.actions),
            **by_kind,
        }
