"""What each action reads, writes and removes, as resolved `(remote, segments)` keys: the input
of the path rules of PRODUCT.md section 2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.plan.model import Action
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
    if action.kind == "directory":
        return [Access(aid, "mkdir", action.path.key, action.path.key)]
    if action.kind in ("copy", "move"):
        out = [Access(aid, "read", action.src.key), _write(aid, action.src, action.dst)]
        if action.kind == "move":
            out.append(Access(aid, "move-src", action.src.key))
        return out
    if action.kind == "removal":
        path = action.path
        if path.has_glob:
            remote, segments = path.key
            return [Access(aid, "remove", (remote, segments[:-1]), pattern=segments[-1])]
        return [Access(aid, "remove", path.key)]
    return [Access(aid, "read", action.path.key)]


def _write(aid: str, src: PlanPath, dst: PlanPath) -> Access:
    if dst.is_dir and not src.is_dir and src.name:
        remote, segments = dst.key
        return Access(aid, "write", dst.key, (remote, (*segments, src.name)))
    return Access(aid, "write", dst.key, dst.key)
