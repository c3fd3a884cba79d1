"""What each kind of action does against the engine, idempotently: probe, decide, act, and
report `+` created, `~` changed, `=` unchanged, `-` deleted. A directory copy lists both trees
once and copies only what the overwrite policy asks for."""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from planner.api.codes import ItemCode
from planner.errors import AuthError
from planner.plan.model import (
    CheckAction,
    CopyAction,
    DirectoryAction,
    MetadataAction,
    MoveAction,
    PermissionAction,
    RemovalAction,
)
from planner.plan.paths import PlanPath
from planner.runner.checksums import hash_files, with_checksums
from planner.runner.context import ActionContext, ActionFailedError, first_failure
from planner.runner.engine import Item, ItemKind, Outcome, RoleGrant, Target
from planner.runner.expand import (
    Decision,
    Entry,
    Expansion,
    Filters,
    Problems,
    decide_file,
    directories_to_make,
    expand_directory,
    match_removal,
    needs_checksums,
    split_listing,
)
from planner.runner.explain import missing, refusal
from planner.runner.levels import TooDeepError, walk_levels
from planner.runner.results import Change, ItemRecord, ItemState

ROLE_RANK = {"reader": 1, "writer": 2, "admin": 3}
_ROOT = Entry(path="", type="dir", size=0, mtime_ns=0, checksum=None)


def target(path: PlanPath) -> Target:
    return Target(path.remote, path.path)


def _join(base: Target, rel: str) -> Target:
    if not rel:
        return base
    if not base.path:
        return Target(base.remote, rel)
    if rel[0] == "/" or base.path[-1] == "/":
        return Target(base.remote, posixpath.join(base.path, rel))
    return Target(base.remote, f"{base.path}/{rel}")


class UnknownActionError(Exception):
    """An action of a kind no handler is registered for: a bug, since a plan's validation admits
    only the kinds of `HANDLERS`."""


async def run_action(ctx: ActionContext) -> None:
    """Run one action; raises ActionFailedError when it cannot succeed (a refusal names the
    role the action needs, see explain.py)."""
    try:
        await _dispatch(ctx)
    except ActionFailedError as exc:
        if not ctx.refused:
            raise
        raise ActionFailedError(await refusal(ctx.action, ctx.engine, str(exc))) from exc
    except AuthError as exc:
        if exc.status != HTTPStatus.FORBIDDEN:
            raise
        raise ActionFailedError(await refusal(ctx.action, ctx.engine, str(exc))) from exc


async def _dispatch(ctx: ActionContext) -> None:
    kind = ctx.action.kind
    handler = HANDLERS.get(kind)
    if handler is None:
        known = ", ".join(sorted(HANDLERS))
        raise UnknownActionError(f"no handler for actions of kind {kind!r} (known: {known})")
    await handler(ctx, ctx.action)


async def _run_one_missing_ok(ctx: ActionContext, item: Item, what: str) -> Outcome:
    """Run one item; its failure fails the action (`what` leads the message), except a missing
    path, whose outcome the caller reads."""
    (outcome,) = await ctx.run([item])
    if not outcome.ok and outcome.code != ItemCode.NOT_FOUND:
        raise ActionFailedError(
            f"{what}: {outcome.error}" + (f" (code {outcome.code})" if outcome.code else "")
        )
    return outcome


async def _listing(
    ctx: ActionContext, where: Target, *, recursive: bool, problems: Problems | None = None
) -> list[Entry] | None:
    """Entries of a directory (a file lists as itself); None when the path does not exist.
    With `problems`, a recursive listing's skipped files and unreadable subdirectories go there
    (else they are left out)."""
    if recursive and not ctx.engine.recursive_listing:
        return await _listing_by_levels(ctx, where, problems)
    kind = ItemKind.LIST if recursive else ItemKind.LIST_CHILDREN
    outcome = await _run_one_missing_ok(ctx, Item(kind, where), f"cannot list {where}")
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
        items = [Item(ItemKind.LIST_CHILDREN, _join(where, rel)) for rel in level]
        listed: list[list[dict[str, Any]] | None] = []
        for rel, outcome in zip(level, await ctx.run(items), strict=True):
            if outcome.ok:
                listed.append(list(outcome.result or []))
            elif outcome.code == ItemCode.NOT_FOUND:  # gone since its parent was listed
                listed.append(None)
            elif rel and problems is not None:
                error = outcome.error or f"code {outcome.code}"
                # the worker's message names the path already: name it once
                error = error.removeprefix(f"{_join(where, rel)}: ")
                problems.unreadable.append((rel, error))
                listed.append([])
            else:
                raise ActionFailedError(f"cannot list {_join(where, rel)}: {outcome.error}")
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


async def _entry_at(ctx: ActionContext, path: Target) -> Entry | None:
    """The file or directory at `path` (via a listing of its parent), or None."""
    parent, name = posixpath.split(path.path.rstrip("/"))
    if not name:
        return Entry(path="", type="dir", size=0, mtime_ns=0, checksum=None)
    entries = await _listing(ctx, Target(path.remote, parent), recursive=False)
    return next((e for e in entries or [] if e.path == name), None)


# -- directories ------------------------------------------------------------------------------
async def _directory(ctx: ActionContext, action: DirectoryAction) -> None:
    where = target(action.path)
    found = await _entry_at(ctx, where)
    if found is not None and found.type == "dir":
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        return
    if found is not None:
        raise ActionFailedError(f"{action.path}: a file is in the way")
    record = ItemRecord(ctx.action.id, action.path.text, "mkdir", dst=str(where))
    ctx.result.items = [record]
    outcomes = await ctx.run([Item(ItemKind.MKDIR, where)], records=[record])
    _raise_on_failure(outcomes)
    ctx.result.change = Change.CREATE
    ctx.result.files_done = 1


# -- copies -----------------------------------------------------------------------------------
async def _copy(ctx: ActionContext, action: CopyAction) -> None:
    src, dst = target(action.src), target(action.dst)
    # a storage's root is a directory; asking its parent would need a role on the parent
    is_root = action.src.rel == ""
    found = _ROOT if is_root else await _entry_at(ctx, src)
    if found is None:
        raise ActionFailedError(missing(action.src, ctx.storages))
    if found.type == "file":
        if action.src.is_dir:
            raise ActionFailedError(
                f"{action.src}: is a file, but the trailing '/' asks for a directory"
            )
        destination = _join(dst, action.src.name) if action.dst.is_dir else dst
        await _copy_file(ctx, action, found, src, destination)
        return
    problems = Problems()
    listed = await _listing(ctx, src, recursive=True, problems=problems)
    if listed is None and is_root:
        raise ActionFailedError(missing(action.src, ctx.storages))
    source = listed or []
    existing = await _listing(ctx, dst, recursive=True) or []
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
        source = await with_checksums(ctx, source, plan.unhashed, lambda p: _join(src, p))
        existing = await with_checksums(ctx, existing, plan.unhashed, lambda p: _join(dst, p))
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
    ctx.result.files_unchanged = len(plan.unchanged) + carried
    ctx.result.files_filtered = plan.filtered
    if plan.unchanged or carried:
        ctx.result.detail.append(_files(len(plan.unchanged) + carried, "unchanged"))
    if plan.filtered:
        ctx.result.detail.append(_files(plan.filtered, "filtered out"))
    if action.include and plan.filtered and not plan.to_copy and not plan.unchanged:
        patterns = ", ".join(action.include)
        ctx.result.warnings.append(
            f"include ({patterns}) selects none of the {_files(plan.filtered, 'in')} {action.src}"
        )
    if action.empty_dirs:
        made = directories_to_make(
            source, existing, filters=filters, symlinks=action.symlinks, holding=plan.directories
        )
        unread = {path for path, _ in problems.unreadable}  # not known to be empty
        await _make_directories(ctx, [p for p in made if p not in unread], dst)
    _report_problems(ctx, src, problems, failed)


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
    ctx: ActionContext, action: CopyAction, entry: Entry, src: Target, dst: Target
) -> None:
    current = await _entry_at(ctx, dst)
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
    _raise_on_failure(outcomes)
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
        src_file, dst_file = _join(src, rel), _join(dst, rel)
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
    _raise_on_failure(outcomes)


async def _make_directories(ctx: ActionContext, paths: list[str], dst: Target) -> None:
    """Make the empty directories of a directory copy (`paths`, relative to `dst`)."""
    if not paths:
        return
    # not journaled as items (mkdir -p is idempotent) nor counted as files copied
    outcomes = await ctx.run([Item(ItemKind.MKDIR, _join(dst, rel)) for rel in paths])
    made = sum(1 for outcome in outcomes if outcome.ok)
    if made:
        ctx.result.dirs_made = made
        ctx.result.detail.append(_count(made, "empty directory", "created"))
        if ctx.result.change is Change.UNCHANGED:
            ctx.result.change = Change.CREATE
    _raise_on_failure(outcomes)


def _report_problems(
    ctx: ActionContext, src: Target, problems: Problems, failed: ActionFailedError | None
) -> None:
    """Count the skipped files on the action line and list them in its result; fail the action
    naming every unreadable directory (after everything readable was copied, as rsync does),
    or with `failed`, the copy's own failure."""
    if problems.skipped:
        ctx.result.skipped = [{"path": p, "reason": why} for p, why in sorted(problems.skipped)]
        kinds = ", ".join(sorted({why for _, why in problems.skipped}))
        ctx.result.detail.append(
            f"{_count(len(problems.skipped), 'special file', 'skipped')} ({kinds})"
        )
    messages = [str(failed)] if failed is not None else []
    if problems.unreadable:
        named = "; ".join(f"{_join(src, p)}: {error}" for p, error in sorted(problems.unreadable))
        unread = _count(len(problems.unreadable), "directory", "not read")
        done = failed is None and not ctx.previewing  # a preview lists what it would copy
        rest = ", everything else copied" if done else ""
        messages.append(f"{unread}{rest}: {named}")
    if messages:
        raise ActionFailedError("; ".join(messages))


# -- moves ------------------------------------------------------------------------------------
async def _move(ctx: ActionContext, action: MoveAction) -> None:
    src = target(action.src)
    dst = _join(target(action.dst), action.src.name) if action.dst.is_dir else target(action.dst)
    source = await _entry_at(ctx, src)
    current = await _entry_at(ctx, dst)
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
        gone = await _entry_at(ctx, src) is None
        there = await _entry_at(ctx, dst)
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
    _raise_on_failure(outcomes)
    ctx.result.change = Change.CREATE
    ctx.result.files_done, ctx.result.bytes_done = 1, source.size
    ctx.result.files_replaced = 1 if current is not None else 0
    ctx.result.bytes_replaced = source.size if current is not None else 0


# -- removals ---------------------------------------------------------------------------------
async def _removal(ctx: ActionContext, action: RemovalAction) -> None:
    where = target(action.path)
    if action.path.has_glob:
        parent_path, pattern = posixpath.split(where.path)
        parent = Target(where.remote, parent_path)
        children = await _listing(ctx, parent, recursive=False) or []
        names = set(match_removal(children, pattern))
        doomed = [e for e in children if e.path in names]
    else:
        found = await _entry_at(ctx, where)
        doomed = [] if found is None else [found]
        parent = Target(where.remote, posixpath.dirname(where.path.rstrip("/")))
    if not doomed:
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = 1
        return
    items, records = [], []
    for entry in doomed:
        path = _join(parent, posixpath.basename(entry.path)) if action.path.has_glob else where
        kind = ItemKind.RMDIR if entry.type == "dir" else ItemKind.REMOVE
        items.append(Item(kind, path))
        records.append(
            ItemRecord(ctx.action.id, str(path), kind.value, dst=str(path), size=entry.size)
        )
    outcomes = await ctx.run(items, records=records)
    ctx.result.items = records
    ctx.result.files_done = sum(1 for o in outcomes if o.ok)
    ctx.result.change = Change.DELETE
    _raise_on_failure([o for o in outcomes if o.code != ItemCode.NOT_FOUND])


# -- permissions ------------------------------------------------------------------------------
async def _permission(ctx: ActionContext, action: PermissionAction) -> None:
    resource = target(action.path)
    held = {(g.subject_type, g.subject or "", g.role) for g in await ctx.engine.grants(resource)}

    def grant_of(spec: Any) -> RoleGrant:
        return RoleGrant(resource, spec.role, spec.subject_type, spec.subject)

    to_grant = [
        grant_of(g)
        for g in action.grant
        if not _covered(held, g.subject_type, g.subject or "", g.role)
    ]
    to_revoke = [
        grant_of(g) for g in action.revoke if (g.subject_type, g.subject or "", g.role) in held
    ]
    if to_grant:
        await ctx.engine.grant(to_grant)
    if to_revoke:
        await ctx.engine.revoke(to_revoke)
    ctx.result.detail += [f"grant {_grantee(g)}: {g.role}" for g in to_grant]
    ctx.result.detail += [f"revoke {_grantee(g)}: {g.role}" for g in to_revoke]
    ctx.result.files_done = len(to_grant) + len(to_revoke)
    ctx.result.files_unchanged = len(action.grant) + len(action.revoke) - ctx.result.files_done
    ctx.result.change = Change.UPDATE if ctx.result.files_done else Change.UNCHANGED


def _covered(held: set[tuple[str, str, str]], kind: str, who: str, role: str) -> bool:
    return any(k == kind and w == who and ROLE_RANK[r] >= ROLE_RANK[role] for k, w, r in held)


def _grantee(grant: RoleGrant) -> str:
    return "anyone" if grant.subject_type == "any" else f"{grant.subject_type} {grant.subject}"


# -- metadata ---------------------------------------------------------------------------------
async def _metadata(ctx: ActionContext, action: MetadataAction) -> None:
    where = target(action.path)
    outcome = await _run_one_missing_ok(
        ctx, Item(ItemKind.METADATA_GET, where), f"cannot read metadata of {where}"
    )
    if not outcome.ok:
        raise ActionFailedError(missing(action.path, ctx.storages))
    custom = dict((outcome.result or {}).get("custom") or {})
    changes: dict[str, Any] = {k: v for k, v in action.set.items() if custom.get(k) != v}
    changes.update({k: None for k in action.unset if k in custom})
    if not changes:
        ctx.result.change = Change.UNCHANGED
        ctx.result.files_unchanged = len(action.set) + len(action.unset)
        return
    outcomes = await ctx.run([Item(ItemKind.METADATA_SET, where, data=changes)])
    _raise_on_failure(outcomes)
    ctx.result.detail += [
        f"set {k}={v!r}" if v is not None else f"unset {k}" for k, v in sorted(changes.items())
    ]
    ctx.result.files_done = len(changes)
    ctx.result.change = Change.UPDATE


# -- checks -----------------------------------------------------------------------------------
async def _check(ctx: ActionContext, action: CheckAction) -> None:
    where = target(action.path)
    outcome = await _run_one_missing_ok(ctx, Item(ItemKind.EXISTS, where), f"cannot check {where}")
    exists = bool(outcome.result) if outcome.ok else False
    wanted = action.expect == "exists"
    if exists != wanted:
        ctx.result.change = Change.FAIL
        what = "does not exist" if wanted else "exists"
        raise ActionFailedError(f"check failed: {action.path} {what}")
    ctx.result.change = Change.UNCHANGED


def _count(n: int, noun: str, what: str) -> str:
    """`1 empty directory created`, `2 special files skipped`."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n:,} {noun if n == 1 else plural} {what}"


def _files(n: int, what: str) -> str:
    return f"{n:,} file{'s' if n != 1 else ''} {what}"


def _raise_on_failure(outcomes: list[Outcome]) -> None:
    problem = first_failure(outcomes)
    if problem is not None:
        raise ActionFailedError(problem)


# What each kind of action does, by the action's `kind` (one entry per class of plan/model.py's
# `Action`): adding a kind of action is one handler and one line here.
ActionHandler = Callable[[ActionContext, Any], Awaitable[None]]
HANDLERS: Mapping[str, ActionHandler] = {
    "directory": _directory,
    "copy": _copy,
    "move": _move,
    "removal": _removal,
    "permission": _permission,
    "metadata": _metadata,
    "check": _check,
}
