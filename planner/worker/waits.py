"""Long polls (`GET /operations?ids=...&wait=S`, the `planner.operations.wait` extension): the
answer is held until one of the listed operations ends, `S` seconds pass, the client goes away or
the worker shuts down, so a client learns of an end at once instead of at its next poll.

Bounded: `S` is capped at MAX_WAIT; at most MAX_WAITS requests wait at once, and MAX_WAITS_PER_USER
of one user; a request past either bound is answered at once, as a plain poll. A user waits only
on its own operations: another user's id answers as an unknown one, which is failed, so a wait
that lists it answers at once (its end is never observable).

The ends are seen in OperationStore._end, called by the item threads (and the event loop) with the
store's lock held; registration takes the same lock, so an end between the check "nothing listed
has ended" and the registration cannot be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable

from planner.worker.operations import OperationStore, visible_owner

MAX_WAIT = 20.0
MAX_WAITS = 256
MAX_WAITS_PER_USER = 16

Wake = Callable[[], None]


class EndWaits:
    """The requests waiting for operations of `store` to end."""

    def __init__(
        self,
        store: OperationStore,
        max_waits: int = MAX_WAITS,
        max_per_user: int = MAX_WAITS_PER_USER,
    ) -> None:
        self.store = store
        self.max_waits = max_waits
        self.max_per_user = max_per_user
        self.by_user: Counter[str] = Counter()  # changed on the event loop only
        self.active: set[Wake] = set()
        self.closed = False

    @property
    def waiting(self) -> int:
        """How many requests wait now."""
        return len(self.active)

    def close(self) -> None:
        """At shutdown: every wait answers now, and later ones answer at once."""
        self.closed = True
        for wake in list(self.active):
            wake()

    async def wait(
        self,
        ids: list[str],
        user: str,
        viewer: str | None,
        seconds: float,
        gone: Callable[[], Awaitable[object]],
    ) -> None:
        """Return once one of `ids` is ended (at once if one already is, or is unknown or not
        `viewer`'s), after `seconds`, or when `gone()` returns (the client disconnected). A
        wait past the bounds returns at once."""
        seconds = min(seconds, MAX_WAIT)
        if seconds <= 0 or self.closed or not ids:
            return
        if len(self.active) >= self.max_waits or self.by_user[user] >= self.max_per_user:
            return
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(ended.set)

        store = self.store
        watched = set(ids)
        with store.lock:
            if not all(_unfinished(store, op_id, viewer) for op_id in watched):
                return
            for op_id in watched:
                store.watched.setdefault(op_id, []).append(wake)
        self.active.add(wake)
        self.by_user[user] += 1
        left = asyncio.ensure_future(gone())
        ending = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait({left, ending}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            for task in (left, ending):
                task.cancel()
            self.active.discard(wake)
            self.by_user[user] -= 1
            if not self.by_user[user]:
                del self.by_user[user]
            with store.lock:
                for op_id in watched:
                    wakes = store.watched.get(op_id)
                    if wakes is not None:
                        with contextlib.suppress(ValueError):
                            wakes.remove(wake)
                        if not wakes:
                            del store.watched[op_id]


def _unfinished(store: OperationStore, op_id: str, viewer: str | None) -> bool:
    """Whether `op_id` is a live, unfinished operation (or child) that `viewer` may see; an
    operation no longer live has ended (or is unknown)."""
    found = store.item(op_id)
    return found is not None and not found.is_terminal and visible_owner(found, viewer)
