"""What each action reads, writes and removes, as resolved `(remote, segments)` keys: the input
of the path rules of docs/plan-reference.md ("Order: the DAG")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.plan.model import (
    Action,
    CheckAction,
    CopyAction,
    DirectoryAction,
    MoveAction,
    RemovalAction,
)
from planner.plan.paths import PathKey, PlanPath

# "absent" is an `absent:` check: it reads like any check for writes, but comes after the
# removals and moves that make it true (issue 10, item 1).
AccessKind = Literal["read", "absent", "write", "mkdir", "remove", "move-src"]

# How a note names what an access does ("'stage' writes s:f").
VERBS: dict[str, str] = {
    "read": "reads",
    "absent": "checks the absence of",
    "write": "writes",
    "mkdir": "creates",
    "remove": "removes",
    "move-src": "moves away",
}


@dataclass(frozen=True, slots=True)
class Access:
    """One path an action touches.

    `key` places the access for ordering; `exact` is the path a write lands on, compared for
    conflicting writers (a file copied into `dir/` lands on `dir/<name>`, but when the source
    turns out to be a directory its contents land in `dir` itself, so ordering uses `dir`).
    `pattern` is the glob of a removal's last segment (then `key` is the parent). `text` is the
    plan path as written, for messages.
    """

    action: str
    kind: AccessKind
    key: PathKey
    exact: PathKey | None = None
    pattern: str | None = None
    text: str = ""


def accesses_of(action: Action) -> list[Access]:
    """Every access of one action."""
    aid = action.id
    if isinstance(action, DirectoryAction):
        path = action.path
        return [Access(aid, "mkdir", path.key, path.key, text=path.text)]
    if isinstance(action, CopyAction | MoveAction):
        src = action.src
        out = [Access(aid, "read", src.key, text=src.text), _write(aid, src, action.dst)]
        if isinstance(action, MoveAction):
            out.append(Access(aid, "move-src", src.key, text=src.text))
        return out
    path = action.path
    if isinstance(action, RemovalAction) and path.has_glob:
        remote, segments = path.key
        return [
            Access(aid, "remove", (remote, segments[:-1]), pattern=segments[-1], text=path.text)
        ]
    if isinstance(action, RemovalAction):
        return [Access(aid, "remove", path.key, text=path.text)]
    if isinstance(action, CheckAction) and action.expect == "absent":
        return [Access(aid, "absent", path.key, text=path.text)]
    return [Access(aid, "read", path.key, text=path.text)]


def _write(aid: str, src: PlanPath, dst: PlanPath) -> Access:
    if dst.is_dir and not src.is_dir and src.name:
        remote, segments = dst.key
        return Access(aid, "write", dst.key, (remote, (*segments, src.name)), text=dst.text)
    return Access(aid, "write", dst.key, dst.key, text=dst.text)
