"""A copy or move whose destination lies at or below its own source, compared resolved (through
storages that alias one remote): every run would copy the previous copy one level deeper
(issue 10, item 23), and a path cannot move into itself."""

from __future__ import annotations

from collections.abc import Sequence

from planner.errors import quote
from planner.plan.paths import PlanPath
from planner.tree.filters import Filters

# File names below the destination that no sensible pattern singles out: when `exclude`
# rejects all of them, it covers the destination's whole subtree.
_PROBES = ("planner-probe", "planner-probe.txt", ".planner-probe", "planner-probe/planner-probe")


def into_itself(kind: str, src: PlanPath, dst: PlanPath, exclude: Sequence[str] = ()) -> str:
    """Why `dst` may not be the destination of this copy or move of `src` ('' when it may).

    A copy is allowed when its `exclude` patterns leave out the destination's subtree.
    """
    (src_remote, top), (dst_remote, below) = src.key, dst.key
    if src_remote != dst_remote or below[: len(top)] != top:
        return ""
    inner = "/".join(below[len(top) :])
    what = "copy" if kind == "copy" else "move"
    resolved = "" if src.storage == dst.storage else f" (the storages overlap on '{src_remote}')"
    if not inner:
        return f"{quote(dst.text)} is the {what}'s own source {quote(src.text)}{resolved}"
    where = f"{quote(dst.text)} is inside the {what}'s source {quote(src.text)}{resolved}"
    if kind != "copy":
        return f"{where}: a path cannot move into itself"
    try:
        filters = Filters([], exclude)
    except (ValueError, TypeError):
        return ""  # the pattern is reported on its own
    if not any(filters.accepts(f"{inner}/{probe}") for probe in _PROBES):
        return ""
    return (
        f"{where}: every run would copy the previous copy into itself; "
        f'exclude it (exclude: ["/{inner}/"]) or copy elsewhere'
    )


def mirror_holds_source(src: PlanPath, dst: PlanPath) -> str:
    """Why a mirror copy of `src` into `dst` is refused ('' when it is not): its source lies
    below its destination, where the source is not a copied path, so the mirror would delete
    it."""
    (src_remote, top), (dst_remote, below) = src.key, dst.key
    if src_remote != dst_remote or len(top) <= len(below) or top[: len(below)] != below:
        return ""
    resolved = "" if src.storage == dst.storage else f" (the storages overlap on '{src_remote}')"
    return (
        f"{quote(src.text)} is inside the mirror's destination {quote(dst.text)}{resolved}: "
        "the mirror would delete its own source; mirror into a directory beside it"
    )
