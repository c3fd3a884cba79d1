"""What is at a path, as the action handlers ask it: one item whose failure fails the action,
a directory's listing (recursive, or level by level for workers without planner's recursive
`list`), the entry at one path; and plan paths as engine targets."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from typing import Any

from planner.api.codes import ItemCode
from planner.plan.paths import PlanPath
from planner.runner.context import ActionContext, ActionFailedError, first_failure
from planner.runner.engine import Item, ItemKind, Outcome, Target
from planner.runner.levels import TooDeepError, walk_levels
from planner.tree.entry import Entry, Problems, split_listing

ROOT_ENTRY = Entry(path="", type="dir", size=0, mtime_ns=0, checksum=None)


def target(path: PlanPath) -> Target:
    """Where a plan path is, for the engine."""
    return Target(path.remote, path.path)


def join_target(base: Target, rel: str) -> Target:
    """`rel` (a "/"-separated relative path) below `base`."""
    if not rel:
        return base
    if not base.path:
        return Target(base.remote, rel)
    if rel[0] == "/" or base.path[-1] == "/":
        return Target(base.remote, posixpath.join(base.path, rel))
    return Target(base.remote, f"{base.path}/{rel}")


async def run_one_missing_ok(ctx: ActionContext, item: Item, what: str) -> Outcome:
    """Run one item; its failure fails the action (`what` leads the message), except a missing
    path, whose outcome the caller reads."""
    (outcome,) = await ctx.run([item])
    return _missing_ok(outcome, what)


def _missing_ok(outcome: Outcome, what: str) -> Outcome:
    """`outcome`, unless it failed otherwise than by a missing path: then the action fails."""
    if not outcome.ok and outcome.code != ItemCode.NOT_FOUND:
        raise ActionFailedError(
            f"{what}: {outcome.error}" + (f" (code {outcome.code})" if outcome.code else "")
        )
    return outcome


async def listing(
    ctx: ActionContext, where: Target, *, recursive: bool, problems: Problems | None = None
) -> list[Entry] | None:
    """Entries of a directory (a file lists as itself); None when the path does not exist.
    With `problems`, a recursive listing's skipped files and unreadable subdirectories go there
    (else they are left out)."""
    if recursive and not ctx.engine.recursive_listing:
        return await _listing_by_levels(ctx, where, problems)
    kind = ItemKind.LIST if recursive else ItemKind.LIST_CHILDREN
    outcome = await run_one_missing_ok(ctx, Item(kind, where), f"cannot list {where}")
    if not outcome.ok:
        return None
    try:
        raw = split_listing(outcome.result or [], problems or Problems())
        return [Entry.from_wire(item) for item in raw]
    except ValueError as exc:
        raise ActionFailedError(f"unexpected listing of {where}: {exc}") from exc


async def _listing_by_levels(
    ctx: ActionContext, where: Target, problems: Problems | None
) -> list[Entry] | None:
    """A recursive listing from one-level listings, for workers without planner's recursive
    `list`: one batch of listings per level of the tree. With `problems`, a subdirectory that
    cannot be listed goes there and the walk goes on (it fails only itself)."""

    async def list_level(level: Sequence[str]) -> list[list[dict[str, Any]] | None]:
        items = [Item(ItemKind.LIST_CHILDREN, join_target(where, rel)) for rel in level]
        listed: list[list[dict[str, Any]] | None] = []
        for rel, outcome in zip(level, await ctx.run(items), strict=True):
            if outcome.ok:
                listed.append(list(outcome.result or []))
            elif outcome.code == ItemCode.NOT_FOUND:  # gone since its parent was listed
                listed.append(None)
            elif rel and problems is not None:
                error = outcome.error or f"code {outcome.code}"
                # the worker's message names the path already: name it once
                error = error.removeprefix(f"{join_target(where, rel)}: ")
                problems.unreadable.append((rel, error))
                listed.append([])
            else:
                raise ActionFailedError(f"cannot list {join_target(where, rel)}: {outcome.error}")
        return listed

    try:
        found = await walk_levels(list_level)
        if found is None:
            return None
        return [Entry.from_wire({**raw, "name": path}) for path, raw in found]
    except TooDeepError as exc:
        raise ActionFailedError(f"{where}: {exc}") from exc
    except ValueError as exc:
        raise ActionFailedError(f"unexpected listing of {where}: {exc}") from exc


async def entry_at(ctx: ActionContext, path: Target) -> Entry | None:
    """The file or directory at `path`, or None: one STAT item where the engine has them (the
    dispatcher batches them across actions), else a listing of its parent, whose cost grows
    with the parent's entries."""
    parent, name = posixpath.split(path.path.rstrip("/"))
    if not name:
        return ROOT_ENTRY
    if ctx.engine.stat_paths:
        outcome = await run_one_missing_ok(ctx, Item(ItemKind.STAT, path), f"cannot read {path}")
        return _stat_entry(outcome, path, name)
    entries = await listing(ctx, Target(path.remote, parent), recursive=False)
    return next((e for e in entries or [] if e.path == name), None)


def _name(path: Target) -> str:
    return posixpath.basename(path.path.rstrip("/"))


def _stat_entry(outcome: Outcome, path: Target, name: str) -> Entry | None:
    """The entry a STAT item's outcome (not failed but by a missing path) tells of `path`."""
    if not outcome.ok:
        return None
    try:
        return Entry.from_wire({**(outcome.result or {}), "name": name})
    except (TypeError, ValueError) as exc:
        raise ActionFailedError(f"unexpected answer about {path}: {exc}") from exc


async def stat_entries(
    ctx: ActionContext, paths: Sequence[Target], names: Sequence[str]
) -> list[Entry | None]:
    """The entry at each of `paths` (STAT items, one batch; the engine must have them), named
    `names`; None where nothing is. A failure other than a missing path fails the action."""
    probed = await ctx.run([Item(ItemKind.STAT, path) for path in paths])
    return [
        _stat_entry(_missing_ok(outcome, f"cannot read {path}"), path, name)
        for outcome, path, name in zip(probed, paths, names, strict=True)
    ]


async def entries_at(
    ctx: ActionContext, first: Target, second: Target
) -> tuple[Entry | None, Entry | None]:
    """`entry_at` of two paths at once (their probes share a batch); a failure of the first's
    probe wins over the second's (it is the one a user must see first)."""
    names = _name(first), _name(second)
    if ctx.engine.stat_paths and all(names):
        # both probes as one call: no task per probe, for the many actions that each make two
        probed = await ctx.run([Item(ItemKind.STAT, first), Item(ItemKind.STAT, second)])
        at_first, at_second = (
            _stat_entry(_missing_ok(outcome, f"cannot read {path}"), path, name)
            for outcome, path, name in zip(probed, (first, second), names, strict=True)
        )  # in order: the first's failure is raised first
        return at_first, at_second
    found = await asyncio.gather(
        entry_at(ctx, first), entry_at(ctx, second), return_exceptions=True
    )
    one, two = found
    if isinstance(one, BaseException):
        raise one
    if isinstance(two, BaseException):
        raise two
    return one, two


def raise_on_failure(outcomes: list[Outcome]) -> None:
    """Fail the action with the first failed outcome's message (and how many more failed)."""
    problem = first_failure(outcomes)
    if problem is not None:
        raise ActionFailedError(problem)
