"""What each kind of action does against the engine, idempotently: probe, decide, act, and
report `+` created, `~` changed, `=` unchanged, `-` deleted. The handlers live in action_copy.py
(copies), action_paths.py (directories, moves, removals, checks) and action_attributes.py
(permissions, metadata); `HANDLERS` below is the one table that maps an action's kind to its
handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from planner.errors import AuthError
from planner.runner.action_attributes import run_metadata, run_permission
from planner.runner.action_copy import run_copy
from planner.runner.action_paths import run_check, run_directory, run_move, run_removal
from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.explain import refusal


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


# What each kind of action does, by the action's `kind` (one entry per class of plan/model.py's
# `Action`): adding a kind of action is one handler and one line here.
ActionHandler = Callable[[ActionContext, Any], Awaitable[None]]
HANDLERS: Mapping[str, ActionHandler] = {
    "directory": run_directory,
    "copy": run_copy,
    "move": run_move,
    "removal": run_removal,
    "permission": run_permission,
    "metadata": run_metadata,
    "check": run_check,
}
