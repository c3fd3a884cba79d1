"""What each action reads, writes and removes, as resolved `(remote, segments)` keys: the input
of the path rules of PRODUCT.md section 2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.plan.model import Action, CopyAction, DirectoryAction, MoveAction, RemovalAction
from planner.plan.paths import PathKey, PlanPath

AccessKind = Literal["read", "write", "mkdir", "remove", "move-src"]


@dataclass(frozen=True, slots=True)
class Access:
    """One path an action touches.

    `key` places the access for ordering; `exact` is the path a write lands on, compared for
    conflicting writers (a file copied into `dir/` lands on `dir/<name>`, but when the source
    turns out to be a directory its contents land in `dir` itself, so ordering uses `dir`).
    `pattern` is the glob of a removal's last segment (then `key` is the parent).
    """

    action: str
    kind: AccessKind
    key: PathKey
    exact: PathKey | None = None
    pattern: str | None = None


def accesses_of(action: Action) -> list[Access]:
    """Every access of one action."""
    aid = action.id
    if isinstance(action, DirectoryAction):
        return [Access(aid, "mkdir", action.path.key, action.path.key)]
    if isinstance(action, CopyAction | MoveAction):
        out = [Access(aid, "read", action.src.key), _write(aid, action.src, action.dst)]
        if isinstance(action, MoveAction):
            out.append(Access(aid, "move-src", action.src.key))
        return out
    if isinstance(action, RemovalAction) and action.path.has_glob:
        remote, segments = action.path.key
        return [Access(aid, "remove", (remote, segments[:-1]), pattern=segments[-1])]
    if isinstance(action, RemovalAction):
        return [Access(aid, "remove", action.path.key)]
    return [Access(aid, "read", action.path.key)]


def _write(aid: str, src: PlanPath, dst: PlanPath) -> Access:
    if dst.is_dir and not src.is_dir and src.name:
        remote, segments = dst.key
        return Access(aid, "write", dst.key, (remote, (*segments, src.name)))
    return Access(aid, "write", dst.key, dst.key)
