"""A directory copy as one tree operation (engines with `tree_operations`): the worker walks
both trees, filters, decides and copies in one loop; the runner submits ONE tree item (retried
whole by the action's policy when it fails transiently before it ends), then pages through its
rows: each file becomes an item record, journaled a page per transaction (as a journal row,
and not kept in the action's result when the run has a journal); files that failed
transiently are copied again as copy items, with the action's retry policy; unreadable
directories fail the action after everything else was copied, as on the item path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.api.codes import ItemCode
from planner.errors import ApiError
from planner.plan.model import CopyAction
from planner.runner.action_mirror import delete_limit, mirror_listing
from planner.runner.action_probe import entry_at, join_target, raise_on_failure
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.copy_report import report_decided, report_directories_made, report_problems
from planner.runner.dispatcher import InFlight
from planner.runner.engine import Item, ItemKind, Target, TreeRow, tree_spec
from planner.runner.explain import file_not_directory, missing
from planner.runner.journal_sql import item_of as item_record
from planner.runner.results import Change, ItemRecord, ItemRow, ItemState
from planner.tree.mirror import EXTRANEOUS, too_many_deletions

_NOT_FILES = frozenset({"dir", "skipped", "unreadable"})
# rows asked per request: the contract's largest page, so a tree of 20,000 files is two requests
PAGE_ROWS = 10_000
# while the item runs, its rows are read at most this often: the worker writes them every half
# second (or a few thousand at a time, docs/api.md); reading at every poll (ten or more a second)
# mostly found no new row, and each request took the worker's time from the copy
ROWS_EVERY = 0.5  # seconds


@dataclass
class _Tally:
    """What the rows of one tree operation told, beside the item records."""

    files: int = 0  # file rows, whatever became of them
    replacing: bool = False  # one of them replaces a file
    dirs_made: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # permanent file failures, described
    again: list[TreeRow] = field(default_factory=list)  # transient file failures: copy again


async def copy_tree(ctx: ActionContext, action: CopyAction, src: Target, dst: Target) -> None:
    """Copy the directory `src` to `dst` as one tree item (see the module docstring).

    Raises:
        ActionFailedError: the operation failed as a whole, files failed (after their
            retries), or directories could not be read (named).
    """
    spec = tree_spec(
        include=action.include,
        exclude=action.exclude,
        overwrite=action.overwrite,
        checksum=action.checksum,
        symlinks=action.symlinks,
        empty_dirs=action.empty_dirs,
        mirror=(action.delete_excluded, delete_limit(ctx, action)) if action.mirror else None,
    )
    tally = _Tally()
    live = _Live(ctx, tally)
    item = Item(ItemKind.COPY_TREE, dst, src=src, data=spec)
    running = asyncio.create_task(ctx.run([item], watch=live.moved))
    try:
        while not running.done():  # journal the rows the worker wrote so far, as it goes
            # on a clock of its own too: polls grow rare while a long copy runs (its end is
            # seen by a held poll), and rows read only at its end would journal them all then
            await live.next_move(running, ROWS_EVERY)
            if live.handle and live.current > 0 and live.rows_due():
                # a read that fails now is read again later, or once the item ended
                with contextlib.suppress(ApiError):
                    await live.read_rows(ends=(src, dst), checksums=action.checksum)
    finally:  # this copy itself cancelled (timeout): its item is withdrawn before it ends
        if not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    (outcome,) = await running
    if outcome.handle is None or not isinstance(outcome.result, Mapping):
        if outcome.code == ItemCode.NOT_FOUND:  # the source is gone (a storage's root, say)
            raise ActionFailedError(missing(action.src, ctx.storages))
        if outcome.code == ItemCode.CONFLICT and action.src.is_dir:
            # not probed before (its trailing '/' said directory): which end is a file?
            found = await entry_at(ctx, src)
            if found is not None and found.type == "file":
                raise ActionFailedError(file_not_directory(action.src))
        raise_on_failure([outcome])  # it never ran to an end: nothing to page
        raise ActionFailedError(f"{src}: the tree operation answered no result")
    counts: Mapping[str, Any] = outcome.result
    decided = _count(counts, "copied") + _count(counts, "overwritten") + _count(counts, "failed")
    ctx.on_totals(decided, _count(counts, "bytes"))
    live.follow(outcome.handle)
    await live.read_rows(ends=(src, dst), checksums=action.checksum, to_end=True)
    failures = tally.failures + await _copy_again(ctx, tally.again, src, dst)
    failed = None  # reported with what else the copy did
    refusal = too_many_deletions(_count(counts, "to_delete"), delete_limit(ctx, action))
    if action.mirror and refusal is not None and not failures:
        failed = ActionFailedError(refusal)
    elif failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        failed = ActionFailedError(failures[0] + more)
    elif not (outcome.ok or tally.unreadable or tally.again):  # stopped whole: cancelled, say
        failed = ActionFailedError(f"{src} -> {dst}: {outcome.error or 'failed'}")
    result = ctx.result
    if tally.files:
        replacing = tally.replacing or result.files_deleted > 0  # a mirror deleted too
        result.change = Change.UPDATE if replacing else Change.CREATE
    report_decided(
        ctx,
        action,
        unchanged=_count(counts, "unchanged"),
        filtered=_count(counts, "filtered"),
        decided=tally.files,
    )
    if action.checksum:
        result.files_compared = _count(counts, "compared")
    report_directories_made(ctx, tally.dirs_made)
    report_problems(ctx, src, tally.skipped, tally.unreadable, failed)
    if action.mirror and tally.again:  # the worker deleted nothing, a copy having failed then
        await mirror_listing(ctx, action, src, dst)


class _Live:
    """A tree item while it runs: its rows read as the worker writes them (journaled a page at a
    time), and its progress as an estimate of the files and bytes done beyond those rows."""

    def __init__(self, ctx: ActionContext, tally: _Tally) -> None:
        self.ctx = ctx
        self.tally = tally
        self.handle = ""
        self.current = 0  # files the worker says it copied
        self.read = 0  # rows read so far (of `handle`)
        self.read_at = time.monotonic()  # when rows were last read (or the item submitted)
        self.moving = asyncio.Event()

    def follow(self, handle: str) -> None:
        """Read the rows of `handle` (a retried item starts its rows again)."""
        if handle != self.handle:
            self.handle, self.read = handle, 0

    def moved(self, _: Sequence[int], share: InFlight) -> None:
        """A poll saw the item move: note how far, and show it as in flight."""
        self.follow(share.handle)
        self.current = share.current
        total = max(share.total, self.tally.files)
        if total and self.mean_size() is not None:
            self.ctx.on_totals(total, int(total * (self.mean_size() or 0)))
        self.moving.set()
        self.ctx.on_progress(0, 0, *self.in_flight())

    def rows_due(self) -> bool:
        """Whether the rows are worth reading again while the item runs (ROWS_EVERY)."""
        return time.monotonic() - self.read_at >= ROWS_EVERY

    def mean_size(self) -> float | None:
        """The mean size of the files copied whose rows were read (None before any)."""
        result = self.ctx.result
        return result.bytes_done / result.files_done if result.files_done else None

    def in_flight(self) -> tuple[int, int]:
        """Files the worker copied whose rows are not read yet, and their bytes (estimated at
        the mean size of the files read so far)."""
        files = max(0, self.current - self.tally.files)
        return files, int(files * (self.mean_size() or 0))

    async def next_move(self, running: asyncio.Task[Any], patience: float) -> None:
        """Wait until the item moves again or ends, or `patience` seconds pass."""
        waiting = asyncio.ensure_future(self.moving.wait())
        try:
            await asyncio.wait(
                {running, waiting}, timeout=patience, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiting.cancel()
        self.moving.clear()

    async def read_rows(
        self, *, ends: tuple[Target, Target], checksums: bool, to_end: bool = False
    ) -> None:
        """Read and record the rows written since the last read (`to_end`: all that are left,
        the item having ended)."""
        self.read_at = time.monotonic()
        while True:
            page = await self.ctx.engine.tree_rows(self.handle, self.read, PAGE_ROWS)
            self.read += len(page.rows)
            _record_page(self, page.rows, ends, checksums=checksums)
            if page.next_offset is None or not (to_end or page.rows):
                return


def _record_page(
    live: _Live,
    rows: list[TreeRow],
    ends: tuple[Target, Target],
    *,
    checksums: bool,
) -> None:
    """Turn one page of rows into item records, counts and problems; with `checksums`
    (`checksum: true`) the copied files' checksums go to the result too. A run with a journal
    (`ctx.on_rows`) gets the records as journal rows, written together and not kept in the
    result (so nothing per file stays in memory); without one they go to `result.items`."""
    src, dst = ends
    ctx, tally = live.ctx, live.tally
    result = ctx.result
    records: list[ItemRow] = []
    replacing: list[bool] = []  # per record, whether it replaced a file (not journaled)
    files = nbytes = 0
    action_id, attempts, started = ctx.action.id, max(1, result.attempts), result.started_at
    now = time.time()
    src_at, dst_at = _prefix(src), _prefix(dst)
    for row in rows:
        if row.reason == EXTRANEOUS:  # a mirror's deletion
            _record_deletion(live, row, dst_at, records, replacing, now)
            continue
        if row.kind in _NOT_FILES:
            _note_other(row, tally, ends)
            continue
        tally.files += 1
        replaced = row.reason != "new"
        tally.replacing = tally.replacing or replaced
        ok = row.state != "failed"
        if not ok and row.code == ItemCode.TRANSIENT:
            tally.again.append(row)
            continue
        path, size = row.path, row.size
        error = "" if ok else _describe(row, ends)
        state = "succeeded" if ok else "failed"
        sources, target = src_at + path, dst_at + path
        checksum = row.checksum or ""
        done = (action_id, path, "copy", sources, target, size, state, attempts, error)
        records.append((*done, checksum, started, now))
        replacing.append(replaced)
        if not ok:
            tally.failures.append(error)
            continue
        files += 1
        nbytes += size
        if replaced:
            result.files_replaced += 1
            result.bytes_replaced += size
    result.files_done += files
    result.bytes_done += nbytes
    if ctx.on_rows is not None:
        ctx.on_rows(records, replacing)
        result.items_journaled += len(records)
        result.checksums_journaled = result.checksums_journaled or checksums
    else:
        made = [item_record(record) for record in records]
        for item, replaced in zip(made, replacing, strict=True):
            item.replaced = replaced
        if checksums:
            result.checksums.update(
                (r.key, r.checksum) for r in made if r.checksum and r.state is ItemState.SUCCEEDED
            )
        result.items.extend(made)
        ctx.on_items(made)
    if files or nbytes:
        ctx.on_progress(files, nbytes, *live.in_flight())


def _note_other(row: TreeRow, tally: _Tally, ends: tuple[Target, Target]) -> None:
    """Count a row that is not a file: an empty directory made (or not), a special file
    skipped, a directory not read."""
    if row.kind == "dir":
        tally.dirs_made += row.state != "failed"
        if row.state == "failed":
            tally.failures.append(_describe(row, ends))
    elif row.kind == "skipped":
        tally.skipped.append((row.path, row.reason or "special file"))
    elif row.kind == "unreadable":
        tally.unreadable.append((row.path, _unreadable_error(row, ends[0])))


def _prefix(base: Target) -> str:
    """What a relative path is appended to for `remote:path` of it below `base` (as
    join_target joins it)."""
    if not base.path or base.path.endswith("/"):
        return f"{base.remote}:{base.path}"
    return f"{base.remote}:{base.path}/"


def _record_deletion(
    live: _Live,
    row: TreeRow,
    dst_at: str,
    records: list[ItemRow],
    replacing: list[bool],
    now: float,
) -> None:
    """A mirror's deletion row as a remove (file, symlink) or rmdir item record."""
    result, tally = live.ctx.result, live.tally
    ok = row.state != "failed"
    target = dst_at + row.path
    error = "" if ok else f"{target}: {row.error or 'failed'}" + _code(row)
    kind = "rmdir" if row.kind == "dir" else "remove"
    state = "succeeded" if ok else "failed"
    attempts = max(1, result.attempts)
    done = (live.ctx.action.id, row.path, kind, "", target, row.size, state, attempts, error)
    records.append((*done, "", result.started_at, now))
    replacing.append(False)
    if not ok:
        tally.failures.append(error)
        return
    result.files_deleted += 1
    result.bytes_deleted += row.size
    if result.change is Change.UNCHANGED:
        result.change = Change.DELETE
    elif result.change is Change.CREATE:
        result.change = Change.UPDATE


async def _copy_again(
    ctx: ActionContext, rows: list[TreeRow], src: Target, dst: Target
) -> list[str]:
    """Copy the files a tree operation failed transiently as copy items, with the action's
    retry policy (their records journaled as they land); the failures left, described."""
    if not rows:
        return []
    records, items = [], []
    for row in rows:
        src_file, dst_file = join_target(src, row.path), join_target(dst, row.path)
        records.append(
            ItemRecord(
                ctx.action.id,
                row.path,
                "copy",
                src=f"{src_file.remote}:{src_file.path}",
                dst=f"{dst_file.remote}:{dst_file.path}",
                size=row.size,
                replaced=row.reason != "new",
            )
        )
        items.append(Item(ItemKind.COPY, dst_file, src=src_file))
    ctx.result.items.extend(records)
    await ctx.run(items, records=records)  # counts files_done and bytes_done
    for record in records:
        if record.state is ItemState.SUCCEEDED and record.replaced:
            ctx.result.files_replaced += 1
            ctx.result.bytes_replaced += record.size
    return [r.error for r in records if r.state is not ItemState.SUCCEEDED]


def _describe(row: TreeRow, ends: tuple[Target, Target]) -> str:
    """A failed row as a failed copy item reads: `src -> dst: error (code N)`."""
    src_file, dst_file = (join_target(end, row.path) for end in ends)
    error = row.error or "failed"
    for named in (f"{src_file}: ", f"{dst_file}: "):  # the worker may name one already
        error = error.removeprefix(named)
    if row.kind != "file":
        return f"{dst_file}: {error}" + (f" (code {row.code})" if row.code else "")
    return f"{src_file} -> {dst_file}: {error}" + (f" (code {row.code})" if row.code else "")


def _unreadable_error(row: TreeRow, src: Target) -> str:
    """The error of an unreadable directory, without the path the message names already."""
    error = row.error or (f"code {row.code}" if row.code else "cannot be read")
    return error.removeprefix(f"{join_target(src, row.path)}: ")


def _code(row: TreeRow) -> str:
    return f" (code {row.code})" if row.code else ""


def _count(counts: Mapping[str, Any], name: str) -> int:
    value = counts.get(name)
    return value if isinstance(value, int) else 0
