"""The actions on what a path carries besides its content: the roles granted on it
(`permissions`) and its custom metadata (`metadata`). Each reads what is there first and
changes only what differs."""

from __future__ import annotations

from typing import Any

from planner.plan.model import MetadataAction, PermissionAction
from planner.runner.action_probe import raise_on_failure, run_one_missing_ok, target
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Item, ItemKind, RoleGrant
from planner.runner.explain import missing
from planner.runner.results import Change

ROLE_RANK = {"reader": 1, "writer": 2, "admin": 3}


async def run_permission(ctx: ActionContext, action: PermissionAction) -> None:
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


async def run_metadata(ctx: ActionContext, action: MetadataAction) -> None:
    where = target(action.path)
    outcome = await run_one_missing_ok(
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
    raise_on_failure(outcomes)
    ctx.result.detail += [
        f"set {k}={v!r}" if v is not None else f"unset {k}" for k, v in sorted(changes.items())
    ]
    ctx.result.files_done = len(changes)
    ctx.result.change = Change.UPDATE
