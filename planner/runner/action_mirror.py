"""The deletions of a mirror copy (`mirror: true`) on the item path: once every copy of the
action succeeded, what the destination holds beyond the filtered source (planner/tree/mirror.py,
from the listings the copy made) is deleted with remove/rmdir items, journaled as the action's
items; `max_delete` (and `run --max-delete`) refuses before anything is deleted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from planner.api.codes import ItemCode
from planner.plan.model import CopyAction
from planner.runner.action_probe import join_target, listing, raise_on_failure
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Item, ItemKind, Target
from planner.runner.results import Change, ItemRecord, ItemState
from planner.tree.entry import Entry, Problems
from planner.tree.filters import Filters
from planner.tree.mirror import Deletion, SourceSide, mirror_deletions, too_many_deletions


def delete_limit(ctx: ActionContext, action: CopyAction) -> int | None:
    """The most deletions the mirror may make: the smaller of `max_delete` and `--max-delete`."""
    limits = [n for n in (action.max_delete, ctx.max_delete) if n is not None]
    return min(limits) if limits else None


async def mirror_listed(
    ctx: ActionContext,
    action: CopyAction,
    source: Sequence[Entry],
    existing: Sequence[Entry],
    skipped: Iterable[str],
    dst: Target,
) -> None:
    """Delete what `existing` (the destination's listing before the copy) holds beyond
    `source` (the source's), `skipped` being the source's special files (kept at the
    destination as if they were copied).

    Raises:
        ActionFailedError: more deletions than the limit (nothing deleted), or a deletion failed.
    """
    filters = Filters(action.include, action.exclude)
    side = SourceSide.of(source, filters=filters, symlinks=action.symlinks, skipped=skipped)
    deletions = mirror_deletions(
        side, existing, filters=filters, delete_excluded=action.delete_excluded
    )
    await delete_extraneous(ctx, action, deletions, dst)


async def mirror_listing(ctx: ActionContext, action: CopyAction, src: Target, dst: Target) -> None:
    """The deletions of a mirror from fresh listings of both trees (after a tree operation
    whose copies had to be completed as items, so that it deleted nothing).

    Raises:
        ActionFailedError: more deletions than the limit (nothing deleted), or one failed.
    """
    problems = Problems()
    source = await listing(ctx, src, recursive=True, problems=problems) or []
    if problems.unreadable:  # not known: nothing may go (the copy reported them already)
        return
    existing = await listing(ctx, dst, recursive=True) or []
    skipped = (path for path, _ in problems.skipped)
    await mirror_listed(ctx, action, source, existing, skipped, dst)


async def delete_extraneous(
    ctx: ActionContext, action: CopyAction, deletions: Sequence[Deletion], dst: Target
) -> None:
    """Delete `deletions` (paths below `dst`) as remove (files, symlinks) and rmdir
    (directories, with what they hold) items; a path already gone counts as nothing done.

    Raises:
        ActionFailedError: more deletions than the limit (nothing deleted), or one failed.
    """
    needed = sum(d.count for d in deletions)
    refusal = too_many_deletions(needed, delete_limit(ctx, action))
    if refusal is not None:
        raise ActionFailedError(refusal)
    if not deletions:
        return
    items, records = [], []
    for d in deletions:
        kind = ItemKind.RMDIR if d.type == "dir" and not d.link else ItemKind.REMOVE
        where = join_target(dst, d.path)
        items.append(Item(kind, where))
        shown = f"{where.remote}:{where.path}"
        records.append(ItemRecord(action.id, d.path, kind.value, dst=shown, size=d.size))
    result = ctx.result
    files, nbytes = result.files_done, result.bytes_done
    ctx.result.items.extend(records)
    try:
        outcomes = await ctx.run(items, records=records)
    finally:  # ctx.run counts them as files done: a mirror's deletions are counted on their own
        result.files_done, result.bytes_done = files, nbytes
    gone = []
    for record, outcome in zip(records, outcomes, strict=True):
        if not outcome.ok and outcome.code == ItemCode.NOT_FOUND:  # gone already: nothing done
            record.state, record.error = ItemState.UNCHANGED, ""
            gone.append(record)
    if gone:
        ctx.on_items(gone)
    done = [(d, o) for d, o in zip(deletions, outcomes, strict=True) if o.ok]
    result.files_deleted += sum(d.count for d, _ in done)
    result.bytes_deleted += sum(d.size for d, _ in done)
    if done:
        result.change = Change.DELETE if result.change is Change.UNCHANGED else Change.UPDATE
    raise_on_failure([o for o in outcomes if o.code != ItemCode.NOT_FOUND])
