"""Batching and waiting, shared by every running action: items of one kind are gathered into
requests of up to `batch_size`, at most `concurrency` batches are in flight, and all of them are
polled together in one request per round (0.1 s doubling to 2 s, full jitter, reset when anything
moves, held at 0.1 s while a tree item runs). Against an engine that waits for ends (long polls)
a round is one poll held until a batch ends, so the interval only bounds how often progress is
fetched: it grows as the backoff does and starts again when a batch ends, whatever the progress
(at most LIVE_INTERVAL with a live display). The number of requests grows with batches and
rounds, not with files. A caller may watch how far the batches holding its items are, between
their submission and their outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from planner.api.codes import ItemCode
from planner.api.retry import Backoff
from planner.errors import ApiError, AuthError, PermanentApiError
from planner.runner.engine import (
    RESULTLESS,
    TREE_KINDS,
    BatchStatus,
    Engine,
    Item,
    ItemKind,
    Outcome,
)

# one request per item for these: the metadata routes answer one operation for a whole request,
# so a single missing path would fail every path batched with it; a tree item is a whole
# directory copy, with its own progress and rows
_SINGLE = {ItemKind.METADATA_GET, ItemKind.METADATA_SET, ItemKind.COPY_TREE, ItemKind.COMPARE_TREE}
_ITEM_LOCATION = re.compile(r"^body\.operations\[(\d+)\]")
# the longest wait of a long poll while a live display shows progress (bars on a terminal)
LIVE_INTERVAL = 0.5


@dataclass(frozen=True)
class InFlight:
    """How far a batch still running is, as an estimate for each of its items: the share of its
    items that ended (`finished`) and the worker's own progress of the batch (`progress`, which
    counts the running items' partial progress too), both 0..1. A tree item's batch tells its
    `handle` and the engine's counts too (`current` files done of `total` decided so far)."""

    finished: float
    progress: float
    handle: str = ""
    current: int = 0
    total: int = 0


# told which of its items (positions in its `enqueue` call) sit in a batch that moved, and how far
OnInFlight = Callable[[Sequence[int], InFlight], None]


@dataclass
class _Batch:
    kind: ItemKind
    items: list[Item]
    futures: list[asyncio.Future[Outcome]]
    handle: str = ""
    last: tuple[float, int] = (-1.0, -1)


class Dispatcher:
    """Runs items for many concurrent callers through few requests."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 500,
        concurrency: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        live: bool = False,
    ) -> None:
        self.engine = engine
        self.live = live
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.sleep = sleep
        self.backoff = Backoff(rng=rng or random.Random())
        self.queues: dict[ItemKind, list[tuple[Item, asyncio.Future[Outcome]]]] = {}
        self.inflight: dict[str, _Batch] = {}
        self.wakeup = asyncio.Event()
        self.fatal: BaseException | None = None
        self.halted = False
        self._stopped_trees: set[str] = set()  # tree batches asked to stop after a halt
        # who watches an unresolved future (and its position in that caller's enqueue)
        self._watchers: dict[asyncio.Future[Outcome], tuple[OnInFlight, int]] = {}

    def enqueue(
        self, items: Sequence[Item], on_in_flight: OnInFlight | None = None
    ) -> list[asyncio.Future[Outcome]]:
        """Queue items (any kinds); each future resolves with its item's outcome. A batch that
        cannot even be submitted (after the client's own retries) resolves its items as
        transient or permanent failures rather than raising, so each action's retry policy
        decides. `on_in_flight` is told, whenever a poll sees a batch move before it ends,
        which of these items it holds and how far it is (an estimate: which of a batch's items
        ended is only known with its outcomes)."""
        if self.fatal is not None:
            raise self.fatal
        loop = asyncio.get_running_loop()
        if self.halted:
            return [_halted(loop) for _ in items]
        futures: list[asyncio.Future[Outcome]] = []
        for item in items:
            future: asyncio.Future[Outcome] = loop.create_future()
            self.queues.setdefault(item.kind, []).append((item, future))
            futures.append(future)
        if on_in_flight is not None:
            for index, future in enumerate(futures):
                self._watchers[future] = (on_in_flight, index)
                future.add_done_callback(self._unwatch)
        self.wakeup.set()
        return futures

    def _unwatch(self, future: asyncio.Future[Outcome]) -> None:
        self._watchers.pop(future, None)

    async def serve(self) -> None:
        """The loop that submits and polls; runs until cancelled."""
        while True:
            await asyncio.sleep(0)  # let every ready caller enqueue before cutting batches
            await self._submit_ready()
            if self.halted:
                await self._stop_trees()
            if not self.inflight:
                self.wakeup.clear()
                if not any(self.queues.values()):
                    await self.wakeup.wait()
                continue
            if self.engine.waits_for_ends:
                await self._wait_round()
                continue
            moved = await self._poll()
            if moved or any(b.kind in TREE_KINDS for b in self.inflight.values()):
                # a tree item is a whole directory's work, and the action waits for its end: it
                # is polled at the first interval as its progress would have it, even when that
                # does not move (a comparison of trees in sync copies nothing)
                self.backoff.reset()
            self.wakeup.clear()
            delay = self.backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                # new work can start at once if there is room; otherwise wait the delay
                if len(self.inflight) < self.concurrency:
                    await asyncio.wait_for(self.wakeup.wait(), delay)
                else:
                    await self.sleep(delay)

    async def _wait_round(self) -> None:
        """One round against an engine that waits for ends: a poll held until a batch ends or
        the interval passes (its ceiling: the wait ends early on what matters), so an end is
        seen at once rather than at the next poll. New work with room to start cancels the
        wait, to be submitted now; a poll answered early with nothing ended (a worker past its
        bound of waiting requests) is followed by the rest of the interval asleep."""
        delay = self.backoff.next_ceiling()
        if self.live:
            delay = min(delay, LIVE_INTERVAL)
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.wakeup.clear()
        handles = list(self.inflight)
        polling = asyncio.ensure_future(self.engine.poll(handles, delay))
        if len(self.inflight) < self.concurrency:
            woken = asyncio.ensure_future(self.wakeup.wait())
            await asyncio.wait({polling, woken}, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            if not polling.done():
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError, ApiError):
                    await polling
                return
        _, ended = await self._take(handles, polling)
        if ended:
            # an end is seen at once by the held poll, so the interval only bounds how often
            # progress is fetched: a long copy's progress, or a tree item in flight, does not
            # hold it at its first step (polls would grow with the copy's duration)
            self.backoff.reset()
        remaining = delay - (loop.time() - started)
        if not ended and remaining > 0 and self.inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), remaining)

    async def _submit_ready(self) -> None:
        for kind in list(self.queues):
            queue = self.queues[kind]
            limit = 1 if kind in _SINGLE else self.batch_size
            while queue and len(self.inflight) < self.concurrency:
                taken, self.queues[kind] = queue[:limit], queue[limit:]
                queue = self.queues[kind]
                batch = _Batch(kind, [i for i, _ in taken], [f for _, f in taken])
                try:
                    batch.handle = await self.engine.submit(kind, batch.items)
                except AuthError as exc:
                    # 401: our credentials are refused, nothing else can succeed; 403: the
                    # batch names paths we lack a role on, which fails only those items
                    if exc.status != HTTPStatus.FORBIDDEN:
                        self.fatal = exc
                    elif self._requeue_allowed(kind, batch, exc):
                        queue = self.queues[kind]
                        continue
                    _fail(batch, str(exc), exc.status, transient=False, refused=True)
                    continue
                except ApiError as exc:
                    _fail(
                        batch,
                        str(exc),
                        exc.status,
                        transient=not isinstance(exc, PermanentApiError),
                    )
                    continue
                self.inflight[batch.handle] = batch

    def _requeue_allowed(self, kind: ItemKind, batch: _Batch, exc: AuthError) -> bool:
        """After a 403 that names the refused items (`body.operations[i]...`): fail those, put
        the others back at the head of the queue (items of other actions may share a batch).
        False when the refusal names no item or every item."""
        refused = {
            int(match.group(1))
            for location in exc.locations
            if (match := _ITEM_LOCATION.match(location))
        }
        if not refused or not refused < set(range(len(batch.items))):
            return False
        kept = []
        for index, (item, future) in enumerate(zip(batch.items, batch.futures, strict=True)):
            if index in refused:
                if not future.done():
                    future.set_result(
                        Outcome(
                            ok=False,
                            error=str(exc),
                            code=ItemCode.FORBIDDEN,
                            transient=False,
                            refused=True,
                        )
                    )
            else:
                kept.append((item, future))
        self.queues[kind] = kept + self.queues.get(kind, [])
        return True

    async def _poll(self) -> bool:
        handles = list(self.inflight)
        return (await self._take(handles, self.engine.poll(handles)))[0]

    async def _take(
        self, handles: list[str], polled: Awaitable[list[BatchStatus]]
    ) -> tuple[bool, bool]:
        """The answer of a poll of `handles` applied: (whether anything moved, whether a batch
        ended)."""
        try:
            statuses = await polled
        except ApiError as exc:
            if isinstance(exc, AuthError):
                self.fatal = exc
            for handle in handles:
                lost = self.inflight.pop(handle, None)
                if lost is None:  # abandoned meanwhile
                    continue
                _fail(
                    lost,
                    f"lost track of the operation: {exc}",
                    exc.status,
                    transient=True,
                )
            return True, True
        moved = ended = False
        finishing: list[_Batch] = []
        for status in statuses:
            batch = self.inflight.get(status.handle)
            if batch is None:
                continue
            now = (status.progress, status.progress_current)
            if now != batch.last and not status.done:
                self._tell_watchers(batch, status)
            moved = moved or now != batch.last
            batch.last = now
            if status.done:
                del self.inflight[status.handle]
                if status.succeeded and batch.kind.value in RESULTLESS:
                    # nothing to learn per item: spare the request (and parsing 500 children)
                    for future in batch.futures:
                        if not future.done():
                            future.set_result(Outcome(ok=True))
                else:
                    finishing.append(batch)
                moved = ended = True
        # the outcomes of the batches that ended, read at once: the worker builds one answer
        # while this process parses another
        await asyncio.gather(*(self._finish(batch) for batch in finishing))
        return moved, ended

    def _tell_watchers(self, batch: _Batch, status: BatchStatus) -> None:
        """Each caller with items in `batch` learns which ones and how far the batch is."""
        if not self._watchers:
            return
        by_watcher: dict[OnInFlight, list[int]] = {}
        for future in batch.futures:
            watched = self._watchers.get(future)
            if watched is not None and not future.done():
                by_watcher.setdefault(watched[0], []).append(watched[1])
        share = InFlight(
            finished=min(max(status.progress_current / len(batch.items), 0.0), 1.0),
            progress=min(max(status.progress, 0.0), 1.0),
            handle=batch.handle,
            current=status.progress_current,
            total=status.progress_total,
        )
        for watcher, indexes in by_watcher.items():
            watcher(indexes, share)

    async def _finish(self, batch: _Batch) -> None:
        try:
            outcomes = await self.engine.outcomes(batch.handle, len(batch.items))
        except ApiError as exc:
            _fail(
                batch, f"could not read the operation's result: {exc}", exc.status, transient=True
            )
            return
        for future, outcome in zip(batch.futures, outcomes, strict=False):
            if not future.done():
                future.set_result(outcome)
        _fail(batch, "the engine answered fewer results than items", None, transient=True)

    async def withdraw(self, futures: Sequence[asyncio.Future[Outcome]], reason: str) -> None:
        """An action gave up (its timeout): drop its queued items and cancel the batches in
        flight that hold only its items, so nothing keeps running on its behalf."""
        mine = {id(f) for f in futures if not f.done()}
        for kind, queue in self.queues.items():
            kept = []
            for item, future in queue:
                if id(future) in mine:
                    future.set_result(Outcome(ok=False, error=reason, code=ItemCode.CANCELLED))
                else:
                    kept.append((item, future))
            self.queues[kind] = kept
        handles = [
            handle
            for handle, batch in self.inflight.items()
            if all(f.done() or id(f) in mine for f in batch.futures)
        ]
        if handles:
            with contextlib.suppress(ApiError):
                await self.engine.cancel(handles)

    async def _stop_trees(self) -> None:
        """After a halt, tree items in flight are cancelled: such an item is the dispatch of a
        whole tree's files, most of them not begun, which "submit nothing more" covers. They
        end failed (cancelled), with the rows of the files they did copy."""
        handles = [
            handle
            for handle, batch in self.inflight.items()
            if batch.kind in TREE_KINDS and handle not in self._stopped_trees
        ]
        if handles:
            self._stopped_trees.update(handles)
            with contextlib.suppress(ApiError):
                await self.engine.cancel(handles)

    def halt(self, reason: str) -> None:
        """Submit nothing more: queued items fail now (not transient), batches in flight go on,
        but for tree items (cancelled by the serving loop)."""
        self.halted = True
        for queue in self.queues.values():
            for _, future in queue:
                if not future.done():
                    future.set_result(Outcome(ok=False, error=reason, code=ItemCode.CANCELLED))
        self.queues.clear()
        self.wakeup.set()

    async def cancel_all(self) -> None:
        """Ask the engine to stop every batch in flight (their items end failed)."""
        handles = list(self.inflight)
        if handles:
            with contextlib.suppress(ApiError):
                await self.engine.cancel(handles)

    async def settle(self, reason: str, patience: float = 5.0) -> None:
        """After a cancel: learn which items of the batches in flight did finish (so the run
        reports exactly what was copied); the others fail with `reason`. Cancelled tree items
        are waited for (up to `patience` seconds): once ended, their outcomes lead to their
        rows, which tell what they copied."""
        self.halt(reason)
        await self._await_trees(patience)
        for handle, batch in list(self.inflight.items()):
            try:
                outcomes = await self.engine.outcomes(handle, len(batch.items))
            except ApiError:
                continue
            for future, outcome in zip(batch.futures, outcomes, strict=False):
                if not future.done():
                    finished = outcome.ok or outcome.code is not None
                    future.set_result(
                        outcome
                        if finished
                        else Outcome(ok=False, error=reason, code=ItemCode.CANCELLED)
                    )
        self.abandon(reason)

    async def _await_trees(self, patience: float) -> None:
        trees = [h for h, batch in self.inflight.items() if batch.kind in TREE_KINDS]
        deadline = asyncio.get_running_loop().time() + patience
        delay = 0.02
        while trees and asyncio.get_running_loop().time() < deadline:
            try:
                statuses = await self.engine.poll(trees)
            except ApiError:
                return
            trees = [s.handle for s in statuses if not s.done]
            if trees:
                await asyncio.sleep(delay)  # a polling interval of a bounded wait
                delay = min(delay * 2, 0.5)

    def abandon(self, reason: str) -> None:
        """Fail everything queued or in flight (shutdown)."""
        for queue in self.queues.values():
            for _, future in queue:
                if not future.done():
                    future.set_result(Outcome(ok=False, error=reason, code=ItemCode.CANCELLED))
        self.queues.clear()
        for batch in self.inflight.values():
            _fail(batch, reason, ItemCode.CANCELLED, transient=False)
        self.inflight.clear()


def _halted(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Outcome]:
    future: asyncio.Future[Outcome] = loop.create_future()
    future.set_result(Outcome(ok=False, error="interrupted", code=ItemCode.CANCELLED))
    return future


def _fail(
    batch: _Batch, error: str, code: int | None, *, transient: bool, refused: bool = False
) -> None:
    for future in batch.futures:
        if not future.done():
            outcome = Outcome(
                ok=False, error=error, code=code, transient=transient, refused=refused
            )
            future.set_result(outcome)
