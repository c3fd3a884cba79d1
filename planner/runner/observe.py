"""What a preview read and what it would write, recorded for a saved plan (docs/preview.md,
"Saved plans").

`ObservingEngine` wraps the real engine under a PreviewEngine: every read the preview sends
(listings, stat and exists probes, metadata, grants, permission checks) is recorded with what
the worker answered, as plain JSON data keyed by what was asked. It also keeps directory copies
on the listing path (no tree comparison), so that the unchanged files of a tree are observed
too. `RecordingPreview` is a PreviewEngine that also records every write it models: the exact
decisions a saved plan's run may carry out (guard.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from planner.api.codes import ItemCode
from planner.runner.engine import (
    Engine,
    Item,
    ItemKind,
    Outcome,
    RoleGrant,
    Target,
)
from planner.runner.engine_wrapper import WrappedEngine
from planner.runner.preview import READS, PreviewEngine

# the fields of a listed entry that say what a file or directory is (the name is the key)
_ENTRY_FIELDS = ("type", "size", "mtime", "checksum", "link")


def entry_view(wire: Any) -> Any:
    """A listed entry reduced to what it says about the path (type, size, mtime, checksum).
    A directory's mtime is left out: it changes with its entries, which are seen themselves,
    and no decision depends on it."""
    if not isinstance(wire, dict):
        return wire
    view = {k: wire[k] for k in _ENTRY_FIELDS if wire.get(k) is not None}
    if view.get("type") == "dir":
        view.pop("mtime", None)
    return view


def outcome_view(kind: ItemKind, outcome: Outcome) -> Any:
    """A read's outcome as plain data: `{"absent": true}`, `{"error": code}`, or what it read
    (a listing as {name: entry}, a probe's entry, a flag, a metadata map)."""
    if not outcome.ok:
        if outcome.code == ItemCode.NOT_FOUND:
            return {"absent": True}
        return {"error": outcome.code or outcome.error}
    result = outcome.result
    if kind in (ItemKind.LIST, ItemKind.LIST_CHILDREN, ItemKind.LIST_QUICK):
        entries = {str(e.get("name", "")): entry_view(e) for e in result or []}
        return {"entries": dict(sorted(entries.items()))}
    if kind is ItemKind.STAT:
        return {"entry": entry_view(result)}
    if kind is ItemKind.EXISTS:
        return {"exists": bool(result)}
    return {"metadata": result}


def read_key(kind: ItemKind, target: Target) -> str:
    """How an observation is keyed: `list any:data/in`."""
    return f"{kind.value} {target}"


def may_key(needs: Sequence[tuple[Target, str]]) -> str:
    """How a permission check is keyed: `may reader of local:/a`, or for a batch of many
    `may 2,000 roles from writer of any:x/a … #<digest of them all>`."""
    asked = [f"{role} of {target}" for target, role in needs]
    if len(asked) == 1:
        return f"may {asked[0]}"
    digest = hashlib.sha256("\n".join(asked).encode()).hexdigest()[:16]
    return f"may {len(asked):,} roles from {asked[0]} … #{digest}"


class ObservingEngine(WrappedEngine):
    """An Engine that passes everything to `real` and records every read (see module doc)."""

    def __init__(self, real: Engine) -> None:
        super().__init__(real)
        self.observations: dict[str, Any] = {}
        self._reads: dict[str, tuple[ItemKind, Sequence[Item]]] = {}

    @property
    def mirror_trees(self) -> bool:
        return False  # the listing path: see serves_tree

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        return False  # the listing path observes every file of a tree, unchanged ones too

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        handle = await self.real.submit(kind, items)
        if kind in READS:
            self._reads[handle] = (kind, items)
        return handle

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        found = await self.real.outcomes(handle, count)
        read = self._reads.pop(handle, None)
        if read is not None:
            kind, items = read
            for item, outcome in zip(items, found, strict=False):
                self.observations[read_key(kind, item.target)] = outcome_view(kind, outcome)
        return found

    async def grants(self, resource: Target) -> list[RoleGrant]:
        found = await self.real.grants(resource)
        held = sorted(f"{g.subject_type}:{g.subject or ''}:{g.role}" for g in found)
        self.observations[f"grants {resource}"] = {"grants": held}
        return found

    async def may(self, needs: Sequence[tuple[Target, str]]) -> bool:
        allowed = await self.real.may(needs)
        self.observations[may_key(needs)] = {"allowed": allowed}
        return allowed


def write_view(kind: ItemKind, item: Item) -> list[Any]:
    """A write as plain data: [kind, src, dst, data]."""
    src = str(item.src) if item.src is not None else ""
    return [kind.value, src, str(item.target), dict(item.data) if item.data else None]


def grant_view(verb: str, grant: RoleGrant) -> list[Any]:
    """A grant or revoke as a write: [verb, subject, resource, role]."""
    subject = f"{grant.subject_type}:{grant.subject or ''}"
    return [verb, subject, str(grant.resource), grant.role]


class RecordingPreview(PreviewEngine):
    """A PreviewEngine over an ObservingEngine that also records every write it models."""

    def __init__(self, real: Engine) -> None:
        self.observer = ObservingEngine(real)
        super().__init__(self.observer)
        self.writes: list[list[Any]] = []

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        if kind not in READS:
            self.writes.extend(write_view(kind, item) for item in items)
        return await super().submit(kind, items)

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        self.writes.extend(grant_view("grant", g) for g in grants)
        await super().grant(grants)

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        self.writes.extend(grant_view("revoke", g) for g in grants)
        await super().revoke(grants)
