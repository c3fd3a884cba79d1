"""The engine of a saved plan's run: it sends no write that the saved plan does not hold.

A saved plan records every write its preview modelled (observe.py). The run's action code
decides again from what it reads, and a file that appeared between the staleness check and the
run would be decided too: `GuardedEngine` refuses every write item and grant outside the saved
ones before it reaches the worker (its outcome fails, naming why), and keeps directory copies on
the item path, where every file is its own item (a tree operation would decide on the worker)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from planner.api.codes import ItemCode
from planner.errors import PermanentApiError
from planner.runner.engine import (
    BatchStatus,
    Engine,
    Item,
    ItemKind,
    Outcome,
    RoleGrant,
    Target,
)
from planner.runner.engine_wrapper import WrappedEngine
from planner.runner.observe import grant_view, write_view
from planner.runner.preview import READS

NOT_SAVED = "not in the saved plan (it appeared or changed after planning): not done"
_GUARD = "guard-"


def _key(write: Sequence[Any]) -> str:
    import json

    return json.dumps(list(write), sort_keys=True)


class GuardedEngine(WrappedEngine):
    """`real`, but writes only those of `allowed` (the saved plan's `writes`)."""

    def __init__(self, real: Engine, allowed: Sequence[Sequence[Any]]) -> None:
        super().__init__(real)
        self.allowed = {_key(w) for w in allowed}
        self.refused: list[str] = []  # what was refused, described
        # handle -> (real handle or None, item count, refused outcomes by index)
        self._batches: dict[str, tuple[str | None, int, dict[int, Outcome]]] = {}
        self._ids = itertools.count(1)

    @property
    def mirror_trees(self) -> bool:
        return False  # file by file: see serves_tree

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        return False  # file by file: each file is checked against the saved writes

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        if kind in READS:
            return await self.real.submit(kind, items)
        refused: dict[int, Outcome] = {}
        for index, item in enumerate(items):
            if _key(write_view(kind, item)) not in self.allowed:
                self.refused.append(f"{kind.value} {item.src or ''} {item.target}".strip())
                refused[index] = Outcome(ok=False, error=NOT_SAVED, code=ItemCode.INVALID)
        if not refused:
            return await self.real.submit(kind, items)
        sent = [item for index, item in enumerate(items) if index not in refused]
        real = await self.real.submit(kind, sent) if sent else None
        handle = real or f"{_GUARD}{next(self._ids)}"
        self._batches[handle] = (real, len(sent), refused)
        return handle

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        real = [h for h in handles if not h.startswith(_GUARD)]
        # a batch answered here is done already: nothing to wait for then
        wait = wait if len(real) == len(handles) else 0.0
        answered = {s.handle: s for s in (await self.real.poll(real, wait) if real else [])}
        statuses = []
        for handle in handles:
            status = answered.get(handle) or BatchStatus(handle, done=True, progress=1.0)
            if handle in self._batches:
                status.succeeded = False
            statuses.append(status)
        return statuses

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        if handle not in self._batches:
            return await self.real.outcomes(handle, count)
        real, sent, refused = self._batches.pop(handle)
        found = iter(await self.real.outcomes(real, sent) if real else [])
        return [refused[i] if i in refused else next(found) for i in range(count)]

    async def cancel(self, handles: Sequence[str]) -> None:
        real = [h for h in handles if not h.startswith(_GUARD)]
        if real:
            await self.real.cancel(real)

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        self._check([grant_view("grant", g) for g in grants])
        await self.real.grant(grants)

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        self._check([grant_view("revoke", g) for g in grants])
        await self.real.revoke(grants)

    def _check(self, writes: list[list[Any]]) -> None:
        outside = [w for w in writes if _key(w) not in self.allowed]
        if outside:
            described = ", ".join(" ".join(map(str, w)) for w in outside)
            self.refused.append(described)
            raise PermanentApiError(f"{described}: {NOT_SAVED}")
