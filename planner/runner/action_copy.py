"""The copy action: one file, or a directory's tree. On an engine with tree operations a
directory copy is one tree item (action_tree.py); otherwise it lists both trees once, expands
them into file items under the overwrite policy, include/exclude and symlinks (tree/decide.py),
and copies only what needs it; `checksum: true` hashes what the listings did not know first
(checksums.py)."""

from __future__ import annotations

import dataclasses

from planner.plan.model import CopyAction
from planner.runner.action_mirror import mirror_listed
from planner.runner.action_probe import (
    ROOT_ENTRY,
    entries_at,
    entry_at,
    join_target,
    raise_on_failure,
    target,
)
from planner.runner.action_tree import copy_tree
from planner.runner.checksums import hash_files, with_checksums
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.copy_report import report_decided, report_directories_made, report_problems
from planner.runner.engine import Item, ItemKind, Target
from planner.runner.explain import file_not_directory, missing
from planner.runner.quick_listing import copy_listings
from planner.runner.results import Change, ItemRecord, ItemState
from planner.tree.decide import (
    Decision,
    Expansion,
    decide_file,
    directories_to_make,
    expand_directory,
    needs_checksums,
)
from planner.tree.entry import Entry, Problems
from planner.tree.filters import Filters


async def run_copy(ctx: ActionContext, action: CopyAction) -> None:
    src, dst = target(action.src), target(action.dst)
    # a storage's root is a directory; asking its parent would need a role on the parent
    is_root = action.src.rel == ""
    destination = join_target(dst, action.src.name) if action.dst.is_dir else dst
    said_dir = is_root or action.src.is_dir
    if said_dir and await ctx.engine.serves_tree(src, dst) and not _item_path_needed(ctx, action):
        # no probe of the source: the tree operation lists it anyway, and fails as the probe
        # would when nothing is there (404) or a file is (409): one round trip fewer, and on an
        # object store a listing fewer
        await copy_tree(ctx, action, src, dst)
        return
    # likely one file: probe both ends in one round (one batch of STAT items)
    together = not is_root and ctx.engine.stat_paths and not action.src.is_dir
    current: Entry | None = None
    if is_root:
        found: Entry | None = ROOT_ENTRY
    elif together:
        found, current = await entries_at(ctx, src, destination)
    else:
        found = await entry_at(ctx, src)
    if found is None:
        raise ActionFailedError(missing(action.src, ctx.storages))
    if found.type == "file":
        if action.mirror:
            raise ActionFailedError(
                f"{action.src}: is a file; mirror: true mirrors a directory into another"
            )
        if action.src.is_dir:
            raise ActionFailedError(file_not_directory(action.src))
        if not together:
            current = await entry_at(ctx, destination)
        await _copy_file(ctx, action, found, current, src, destination)
        return
    if (
        not said_dir
        and await ctx.engine.serves_tree(src, dst)
        and not _item_path_needed(ctx, action)
    ):
        await copy_tree(ctx, action, src, dst)
        return
    problems = Problems()
    listed, existing = await copy_listings(ctx, src, dst, problems, is_root=is_root)
    if listed is None and is_root:
        raise ActionFailedError(missing(action.src, ctx.storages))
    source = listed or []
    filters = Filters(action.include, action.exclude)

    def expand() -> Expansion:
        return expand_directory(
            source,
            existing,
            filters=filters,
            overwrite=action.overwrite,
            checksum=action.checksum,
            symlinks=action.symlinks,
        )

    plan = expand()
    if plan.unhashed:  # `checksum: true`: hash the sides the listings knew no checksum for
        source = await with_checksums(ctx, source, plan.unhashed, lambda p: join_target(src, p))
        existing = await with_checksums(ctx, existing, plan.unhashed, lambda p: join_target(dst, p))
        plan = expand()
    if action.checksum:
        ctx.result.files_compared = plan.compared
        sums = {e.path: e.checksum for e in source if e.type == "file" and e.checksum}
        ctx.result.checksums = sums
    to_copy, carried = _not_copied_before(ctx, plan.to_copy, source, existing)
    present = {e.path for e in existing}
    failed: ActionFailedError | None = None
    try:
        await _copy_files(ctx, [(d.path, d.size, d.path in present) for d in to_copy], src, dst)
    except ActionFailedError as exc:
        failed = exc  # what else the copy does is still done, and its message kept
    report_decided(
        ctx,
        action,
        unchanged=len(plan.unchanged) + carried,
        filtered=plan.filtered,
        decided=len(plan.to_copy),
    )
    if action.empty_dirs and ctx.engine.keeps_directories(dst):
        made = directories_to_make(
            source, existing, filters=filters, symlinks=action.symlinks, holding=plan.directories
        )
        unread = {path for path, _ in problems.unreadable}  # not known to be empty
        await _make_directories(ctx, [p for p in made if p not in unread], dst)
    report_problems(ctx, src, problems.skipped, problems.unreadable, failed)
    if action.mirror:  # every copy succeeded: what the destination holds beyond them goes
        skipped = (path for path, _ in problems.skipped)
        await mirror_listed(ctx, action, source, existing, skipped, dst)


def _item_path_needed(ctx: ActionContext, action: CopyAction) -> bool:
    """Whether a directory copy stays on the item path on an engine with tree operations:
    `checksum: true`, whose result lists the checksum of every source file compared (a tree
    operation rows only the files it copies), and a resumed `overwrite: always` copy that
    copied files before (a tree operation would copy them again; `_not_copied_before`)."""
    resuming_always = action.overwrite == "always" and any(r.kind == "copy" for r in ctx.carried)
    # a worker without mirror support copies trees, but the deletions need both listings
    mirror = action.mirror and not ctx.engine.mirror_trees
    return action.checksum or resuming_always or mirror


def _not_copied_before(
    ctx: ActionContext, decided: list[Decision], source: list[Entry], existing: list[Entry]
) -> tuple[list[Decision], int]:
    """On --resume, leave out what the interrupted run already copied (its items carried over
    as succeeded) when the destination still holds it: it matters for `overwrite: always`, which
    would copy it again; the other policies find such files unchanged anyway. The files to copy,
    and how many were left out."""
    done_before = {r.key for r in ctx.carried if r.kind == "copy"}
    if not done_before:
        return decided, 0
    sources = {e.path: e for e in source}
    there = {e.path: e for e in existing}

    def still_there(path: str) -> bool:
        ours, theirs = sources.get(path), there.get(path)
        return (
            ours is not None
            and theirs is not None
            and theirs.type == "file"
            and (theirs.size, theirs.mtime_ns) == (ours.size, ours.mtime_ns)
        )

    kept = [d for d in decided if d.path not in done_before or not still_there(d.path)]
    return kept, len(decided) - len(kept)


async def _copy_file(
    ctx: ActionContext,
    action: CopyAction,
    entry: Entry,
    current: Entry | None,
    src: Target,
    dst: Target,
) -> None:
    """Copy the file `entry` at `src` to `dst`, where `current` is (None: nothing)."""
    if current is not None and current.type == "dir":
        raise ActionFailedError(f"{dst}: is a directory")
    overwrite, checksum = action.overwrite, action.checksum
    if current is not None and needs_checksums(
        entry, current, overwrite=overwrite, checksum=checksum
    ):
        if not entry.checksum:
            entry = dataclasses.replace(entry, checksum=(await hash_files(ctx, [src]))[0])
        if not current.checksum:
            current = dataclasses.replace(current, checksum=(await hash_files(ctx, [dst]))[0])
    if (
        checksum
        and overwrite == "if-different"
        and current is not None
        and current.type == "file"
        and current.size == entry.size
        and entry.checksum
    ):
        ctx.result.files_compared = 1
        ctx.result.checksums = {entry.path: entry.checksum}
    if decide_file(entry, current, overwrite=overwrite, checksum=checksum) is None:
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        return
    record = ItemRecord(
        ctx.action.id,
        entry.path,
        "copy",
        src=str(src),
        dst=str(dst),
        size=entry.size,
        checksum=entry.checksum or "",
        replaced=current is not None,
    )
    ctx.result.items = [record]
    outcomes = await ctx.run([Item(ItemKind.COPY, dst, src=src)], records=[record])
    raise_on_failure(outcomes)
    ctx.result.change = Change.UPDATE if current is not None else Change.CREATE
    ctx.result.files_done, ctx.result.bytes_done = 1, entry.size
    ctx.result.files_replaced = 1 if current is not None else 0
    ctx.result.bytes_replaced = entry.size if current is not None else 0


async def _copy_files(
    ctx: ActionContext, files: list[tuple[str, int, bool]], src: Target, dst: Target
) -> None:
    action_id = ctx.action.id
    records = []
    items = []
    sums = ctx.result.checksums
    for rel, size, replaced in files:  # runs once per file of a tree: plain string work
        src_file, dst_file = join_target(src, rel), join_target(dst, rel)
        records.append(
            ItemRecord(
                action_id,
                rel,
                "copy",
                src=f"{src_file.remote}:{src_file.path}",
                dst=f"{dst_file.remote}:{dst_file.path}",
                size=size,
                checksum=sums.get(rel, ""),
                replaced=replaced,
            )
        )
        items.append(Item(ItemKind.COPY, dst_file, src=src_file))
    ctx.result.items = records
    ctx.on_totals(len(records), sum(r.size for r in records))
    outcomes = []
    try:
        outcomes = await ctx.run(items, records=records) if items else []
    finally:  # counted from the records, so an interrupted copy still tells what it did
        done = [r for r in records if r.state is ItemState.SUCCEEDED]
        ctx.result.files_done = len(done)
        ctx.result.files_replaced = sum(1 for r in done if r.replaced)
        ctx.result.bytes_done = sum(r.size for r in done)
        ctx.result.bytes_replaced = sum(r.size for r in done if r.replaced)
    if not files:
        ctx.result.change = Change.UNCHANGED
    elif any(replaced for _, _, replaced in files):
        ctx.result.change = Change.UPDATE
    else:
        ctx.result.change = Change.CREATE
    raise_on_failure(outcomes)


async def _make_directories(ctx: ActionContext, paths: list[str], dst: Target) -> None:
    """Make the empty directories of a directory copy (`paths`, relative to `dst`)."""
    if not paths:
        return
    # not journaled as items (mkdir -p is idempotent) nor counted as files copied
    outcomes = await ctx.run([Item(ItemKind.MKDIR, join_target(dst, rel)) for rel in paths])
    report_directories_made(ctx, sum(1 for outcome in outcomes if outcome.ok))
    raise_on_failure(outcomes)
