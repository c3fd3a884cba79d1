"""Both listings of a directory copy on the item path, without a HEAD per object: a side on an
object remote of a worker that serves LIST_QUICK lists each object it knows nothing of with its
LastModified for mtime (`mtime_exact: false`) instead of asking the store for the mtime its
metadata holds. Only a file at both ends is compared by mtime (docs/run.md, "Directory
copies"), so those alone are stat'ed for their exact entry; a file absent at the other end is
copied whatever its mtime, so a fresh download lists its source with one request per page."""

from __future__ import annotations

from planner.runner.action_probe import join_target, listing, run_one_missing_ok, stat_entries
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Item, ItemKind, Target
from planner.tree.entry import Entry, Problems, split_listing

Listing = tuple[list[Entry], set[str]]  # entries, and the paths whose mtime is not exact


async def copy_listings(
    ctx: ActionContext, src: Target, dst: Target, problems: Problems, *, is_root: bool
) -> tuple[list[Entry] | None, list[Entry]]:
    """The recursive listing of `src` (None: missing) and of `dst` (missing: empty), with exact
    mtimes wherever a file is at both ends. `problems` takes what the source listing skipped.

    A missing storage root (`is_root`) is told before the destination is listed.

    Raises:
        ActionFailedError: a listing or a stat failed otherwise than by a missing path.
    """
    found = await _listing(ctx, src, problems)
    if found is None and is_root:
        return None, []
    there = await _listing(ctx, dst, Problems()) or ([], set())
    (source, src_rough), (existing, dst_rough) = found or ([], set()), there
    if src_rough or dst_rough:
        files = {e.path for e in source if e.type == "file"}
        both = {e.path for e in existing if e.type == "file" and e.path in files}
        source = await _exact(ctx, source, src, both & src_rough)
        existing = await _exact(ctx, existing, dst, both & dst_rough)
    return source, existing


async def _listing(ctx: ActionContext, where: Target, problems: Problems) -> Listing | None:
    """The recursive listing of `where` and its paths of inexact mtime (LIST_QUICK where the
    engine has it for `where`, else LIST: none); None when missing."""
    if not (ctx.engine.listed_mtimes(where) and ctx.engine.stat_paths):
        entries = await listing(ctx, where, recursive=True, problems=problems)
        return None if entries is None else (entries, set())
    outcome = await run_one_missing_ok(
        ctx, Item(ItemKind.LIST_QUICK, where), f"cannot list {where}"
    )
    if not outcome.ok:
        return None
    try:
        raw = split_listing(outcome.result or [], problems)
        entries = [Entry.from_wire(item) for item in raw]
    except ValueError as exc:
        raise ActionFailedError(f"unexpected listing of {where}: {exc}") from exc
    rough = {
        e.path for e, item in zip(entries, raw, strict=True) if item.get("mtime_exact") is False
    }
    return entries, rough


async def _exact(
    ctx: ActionContext, entries: list[Entry], base: Target, paths: set[str]
) -> list[Entry]:
    """`entries` with those at `paths` replaced by what a STAT of each says (one batch); an
    entry gone since the listing stays as listed (its copy meets what is there)."""
    if not paths:
        return entries
    wanted = sorted(paths)
    found = await stat_entries(ctx, [join_target(base, path) for path in wanted], wanted)
    exact = {e.path: e for e in found if e is not None and e.type == "file"}
    return [exact.get(e.path, e) for e in entries]
