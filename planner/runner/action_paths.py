"""The actions on whole paths: make a directory, move a file or directory, remove paths (a glob
in the last segment removes every matching child), and check that a path exists or not."""

from __future__ import annotations

import posixpath

from planner.api.codes import ItemCode
from planner.plan.model import CheckAction, DirectoryAction, MoveAction, RemovalAction
from planner.runner.action_probe import (
    entries_at,
    entry_at,
    join_target,
    listing,
    raise_on_failure,
    run_one_missing_ok,
    target,
)
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Item, ItemKind, Outcome, Target
from planner.runner.explain import missing
from planner.runner.results import Change, ItemRecord
from planner.tree.decide import decide_file
from planner.tree.filters import match_removal


async def run_directory(ctx: ActionContext, action: DirectoryAction) -> None:
    where = target(action.path)
    found = await entry_at(ctx, where)
    # on object storage a directory is there while files are below it: nothing to make
    if (found is not None and found.type == "dir") or (
        found is None and not ctx.engine.keeps_directories(where)
    ):
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        return
    if found is not None:
        raise ActionFailedError(f"{action.path}: a file is in the way")
    record = ItemRecord(ctx.action.id, action.path.text, "mkdir", dst=str(where))
    ctx.result.items = [record]
    outcomes = await ctx.run([Item(ItemKind.MKDIR, where)], records=[record])
    raise_on_failure(outcomes)
    ctx.result.change = Change.CREATE
    ctx.result.files_done = 1


async def run_move(ctx: ActionContext, action: MoveAction) -> None:
    src = target(action.src)
    dst = (
        join_target(target(action.dst), action.src.name)
        if action.dst.is_dir
        else target(action.dst)
    )
    source, current = await entries_at(ctx, src, dst)
    if source is None:
        if current is not None:  # done before (idempotency: a move is complete)
            ctx.result.change = Change.UNCHANGED
            ctx.result.files_unchanged = 1
            return
        raise ActionFailedError(missing(action.src, ctx.storages))
    if (
        current is not None
        and source.type == "file"
        and decide_file(source, current, overwrite=action.overwrite, checksum=False) is None
    ):
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        ctx.result.detail.append(f"{dst} kept (overwrite: {action.overwrite})")
        return

    async def settled(item: Item, outcome: Outcome) -> bool:
        # a lost acknowledgement: the move happened if the source is gone and the destination
        # is there with the expected size
        gone = await entry_at(ctx, src) is None
        there = await entry_at(ctx, dst)
        return gone and there is not None and (source.type == "dir" or there.size == source.size)

    record = ItemRecord(
        ctx.action.id,
        action.src.text,
        "move",
        src=str(src),
        dst=str(dst),
        size=source.size,
        replaced=current is not None,
    )
    ctx.result.items = [record]
    outcomes = await ctx.run(
        [Item(ItemKind.MOVE, dst, src=src)], records=[record], before_retry=settled
    )
    raise_on_failure(outcomes)
    ctx.result.change = Change.CREATE
    ctx.result.files_done, ctx.result.bytes_done = 1, source.size
    ctx.result.files_replaced = 1 if current is not None else 0
    ctx.result.bytes_replaced = source.size if current is not None else 0


async def run_removal(ctx: ActionContext, action: RemovalAction) -> None:
    where = target(action.path)
    if action.path.has_glob:
        parent_path, pattern = posixpath.split(where.path)
        parent = Target(where.remote, parent_path)
        children = await listing(ctx, parent, recursive=False) or []
        names = set(match_removal((e.path for e in children), pattern))
        doomed = [e for e in children if e.path in names]
    else:
        found = await entry_at(ctx, where)
        doomed = [] if found is None else [found]
        parent = Target(where.remote, posixpath.dirname(where.path.rstrip("/")))
    if not doomed:
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        return
    items, records = [], []
    for entry in doomed:
        path = (
            join_target(parent, posixpath.basename(entry.path)) if action.path.has_glob else where
        )
        kind = ItemKind.RMDIR if entry.type == "dir" else ItemKind.REMOVE
        items.append(Item(kind, path))
        records.append(
            ItemRecord(ctx.action.id, str(path), kind.value, dst=str(path), size=entry.size)
        )
    outcomes = await ctx.run(items, records=records)
    ctx.result.items = records
    ctx.result.files_done = sum(1 for o in outcomes if o.ok)
    ctx.result.change = Change.DELETE
    raise_on_failure([o for o in outcomes if o.code != ItemCode.NOT_FOUND])


async def run_check(ctx: ActionContext, action: CheckAction) -> None:
    where = target(action.path)
    outcome = await run_one_missing_ok(ctx, Item(ItemKind.EXISTS, where), f"cannot check {where}")
    exists = bool(outcome.result) if outcome.ok else False
    wanted = action.expect == "exists"
    if exists != wanted:
        ctx.result.change = Change.FAIL
        what = "does not exist" if wanted else "exists"
        raise ActionFailedError(f"check failed: {action.path} {what}")
    ctx.result.change = Change.UNCHANGED
