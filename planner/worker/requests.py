"""Fast readers for the bulk request bodies (`{"operations": [...]}` of the storage routes):
thousands of paths per request are read as plain JSON here; a body they do not accept goes
through the wire models instead, which locate every problem (intake.py)."""

from __future__ import annotations

from typing import Any, NamedTuple

from planner.worker.paths import DEFAULT_REMOTE


class Place(NamedTuple):
    """A `StoragePath` of a request: a path on a remote."""

    remote: str
    path: str


class Pair(NamedTuple):
    """A `SrcDst` of a copy or move request."""

    src: Place
    dst: Place


def _place(raw: Any) -> Place | None:
    if type(raw) is not dict:
        return None
    path = raw.get("path")
    remote = raw.get("remote")
    if path is None:
        path = ""
    if remote is None:
        remote = DEFAULT_REMOTE
    if type(path) is not str or type(remote) is not str:
        return None
    return Place(remote, path)


def read_places(body: Any) -> list[Place] | None:
    """The StoragePaths of `{"operations": [...]}`, or None when the body needs the full check
    (wrong shape or types; an empty list is left to the caller)."""
    operations = body.get("operations") if type(body) is dict else None
    if type(operations) is not list:
        return None
    places = []
    for raw in operations:
        place = _place(raw)
        if place is None:
            return None
        places.append(place)
    return places


def read_pairs(body: Any) -> list[Pair] | None:
    """The SrcDst pairs of `{"operations": [...]}`, or None when the body needs the full check."""
    operations = body.get("operations") if type(body) is dict else None
    if type(operations) is not list:
        return None
    pairs = []
    for raw in operations:
        if type(raw) is not dict:
            return None
        src, dst = _place(raw.get("src")), _place(raw.get("dst"))
        if src is None or dst is None:
            return None
        pairs.append(Pair(src, dst))
    return pairs
