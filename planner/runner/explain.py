"""Failure messages a newcomer can act on: a missing path names where it was looked for (the
storage's root as written and where it resolved to), and a refused action names the role it
needs that the caller lacks, not the role of whichever probe happened to be refused first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from planner.plan.model import (
    Action,
    CheckAction,
    CopyAction,
    DirectoryAction,
    MetadataAction,
    MoveAction,
    PermissionAction,
    RemovalAction,
    Storage,
)
from planner.plan.paths import LOCAL_REMOTE, PlanPath
from planner.runner.engine import Engine, Target

RELATIVE_ROOTS = "storage roots are relative to the plan file's directory"


def missing(path: PlanPath, storages: Mapping[str, Storage]) -> str:
    """`scratch:out/ (root ./sim → /abs/ci/sim/out): no such file or directory; storage roots are
    relative to the plan file's directory` (the hint only for a relative root on `local`)."""
    storage = storages.get(path.storage)
    if storage is None:  # a context built without the plan's storages (unit tests)
        return f"{path}: no such file or directory"
    written = storage.written_root or "."
    where = path.path if path.remote == LOCAL_REMOTE else f"{path.remote}:{path.path}"
    message = f"{path} (root {written} → {where}): no such file or directory"
    if path.remote == LOCAL_REMOTE and not storage.written_root.startswith("/"):
        message += f"; {RELATIVE_ROOTS}"
    return message


def file_not_directory(path: PlanPath) -> str:
    """`data:in/: is a file, but the trailing '/' asks for a directory`."""
    return f"{path}: is a file, but the trailing '/' asks for a directory"


def needs_of(action: Action) -> list[tuple[PlanPath, str]]:
    """The roles an action needs on the worker (docs/worker.md), the writes' first: a copy reads
    its source and writes its destination, a move writes both, a grant needs admin."""
    if isinstance(action, CopyAction):
        return [(action.dst, "writer"), (action.src, "reader")]
    if isinstance(action, MoveAction):
        return [(action.dst, "writer"), (action.src, "writer")]
    if isinstance(action, PermissionAction):
        return [(action.path, "admin")]
    if isinstance(action, CheckAction):
        return [(action.path, "reader")]
    if isinstance(action, DirectoryAction | RemovalAction | MetadataAction):
        return [(action.path, "writer")]
    return []


def _shown(path: PlanPath) -> str:
    text = path.text
    return text[:-1] if text.endswith("/") and not text.endswith(":/") else text


async def refusal(action: Action, engine: Engine, refused: str) -> str:
    """The message of an action the worker refused (HTTP 403): the roles it needs that the caller
    lacks (asked with permissions:check), or, when none is reported lacking, that a request the
    action makes was refused all the same; then what the worker said."""
    needs = needs_of(action)
    lacking: Sequence[tuple[PlanPath, str]] = []
    if needs:
        # asked reads first: a read the caller may do also tells the engine who the caller is
        held = {
            (path, role): await engine.may([(Target(path.remote, path.path), role)])
            for path, role in reversed(needs)
        }
        lacking = [need for need in needs if not held[need]]
    if lacking:
        roles = " and ".join(f"{role} on {_shown(path)}" for path, role in lacking)
        head = f"permission denied: this {action.kind} needs {roles}, which the caller lacks"
    elif needs:
        # the roles the plan asks for are held (or the worker cannot tell): a request the action
        # makes on its way (a listing of a parent, say) was refused, so name no role as lacking
        roles = " and ".join(f"{role} on {_shown(path)}" for path, role in needs)
        head = (
            f"permission denied: a request this {action.kind} makes was refused, though the "
            f"worker reports none of the roles it needs ({roles}) as lacking"
        )
    else:
        head = "permission denied"
    return f"{head} (refused: {refused})"
