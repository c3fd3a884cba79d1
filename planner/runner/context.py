"""What an action needs while it runs: the dispatcher, the engine, its result record, progress
and journal hooks, and the retry loop that resubmits only transient failures. Progress is exact
for the items whose outcomes arrived, plus an estimate of how far the batches still running
are with the others (so a slow batch shows movement before it ends)."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from planner.plan.model import Action, RetryPolicy, Storage
from planner.runner.dispatcher import Dispatcher, InFlight, OnInFlight
from planner.runner.engine import Engine, Item, Outcome
from planner.runner.results import ActionResult, ItemRecord, ItemRow, ItemState

_TRANSFERS = ("copy", "move")


class ActionFailedError(Exception):
    """The action cannot succeed: a permanent failure, exhausted retries, or a failed check."""


@dataclass
class ActionContext:
    """Per action: everything it touches."""

    action: Action
    result: ActionResult
    dispatcher: Dispatcher
    engine: Engine
    on_items: Callable[[list[ItemRecord]], None] = lambda items: None
    # where a tree operation's records go as journal rows, not kept in `result.items` (a run
    # with a journal), with whether each replaced a file (not journaled); None: they are kept
    # there (no journal: a preview, tests)
    on_rows: Callable[[list[ItemRow], list[bool]], None] | None = None
    # (files, bytes) more exactly done (already counted in `result`), then the estimate of the
    # (files, bytes) done in batches still running, which `result` does not count
    on_progress: Callable[[int, int, int, int], None] = lambda f, b, in_flight_f, in_flight_b: None
    on_totals: Callable[[int, int], None] = lambda files, nbytes: None  # learnt work ahead
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    carried: Sequence[ItemRecord] = ()  # items an interrupted run of this action completed
    storages: Mapping[str, Storage] = field(default_factory=dict)  # the plan's, for messages
    refused: bool = False  # an item was refused (403): the failure names the role it lacks
    previewing: bool = False  # `planner plan`: nothing is done, so no message says it was
    max_delete: int | None = None  # `run --max-delete`: caps every mirror copy's deletions
    # per record (by id) in a batch still running: its estimated (file share, bytes) done
    _in_flight: dict[int, tuple[float, float]] = field(default_factory=dict, init=False)
    _in_flight_files: float = field(default=0.0, init=False)
    _in_flight_bytes: float = field(default=0.0, init=False)

    @property
    def in_flight(self) -> tuple[int, int]:
        """The estimated files and bytes done in batches still running (not in `result`)."""
        return int(self._in_flight_files + 1e-6), int(self._in_flight_bytes)

    async def run(
        self,
        items: Sequence[Item],
        *,
        records: Sequence[ItemRecord] | None = None,
        before_retry: Callable[[Item, Outcome], Awaitable[bool]] | None = None,
        watch: OnInFlight | None = None,
    ) -> list[Outcome]:
        """Run items with the action's retry policy: failed transient items are resubmitted
        alone, after full-jitter delays; permanent failures stop at once. `before_retry` may
        settle an item instead of retrying it (a move whose ack was lost). Records, when given,
        follow their items' states and are journaled after every round; `watch` (instead of
        the records' estimates) is told how far the batches holding the items are."""
        policy: RetryPolicy = self.action.retry
        outcomes: list[Outcome | None] = [None] * len(items)
        pending = list(range(len(items)))
        attempt = 0
        while pending:
            attempt += 1
            self.result.attempts = max(self.result.attempts, attempt)
            now = time.time()
            if records is not None:
                for i in pending:
                    records[i].attempts = attempt
                    records[i].started_at = records[i].started_at or now
            watcher = watch
            if records is not None:
                watcher = functools.partial(self._moved, [records[i] for i in pending])
            futures = self.dispatcher.enqueue([items[i] for i in pending], watcher)
            arrivals = _Arrivals()
            for future, i in zip(futures, pending, strict=True):
                arrivals.watch(future, i)
            by_index = dict(zip(pending, futures, strict=True))
            remaining = len(pending)
            retry: list[int] = []
            while remaining:  # record items as their batches finish, not all at the end
                try:
                    finished = await arrivals.next()
                except asyncio.CancelledError:  # timeout or interruption: leave nothing running
                    unfinished = [f for f in futures if not f.done()]
                    await self.dispatcher.withdraw(unfinished, "cancelled: the action stopped")
                    raise
                remaining -= len(finished)
                landed = []
                for i in finished:
                    outcome = by_index[i].result()
                    outcomes[i] = outcome
                    self.refused = self.refused or outcome.refused
                    if not outcome.ok and outcome.transient and attempt < policy.attempts:
                        if before_retry is not None and await before_retry(items[i], outcome):
                            outcomes[i] = Outcome(ok=True, size=outcome.size)
                        else:
                            retry.append(i)
                            continue
                    landed.append(i)
                if records is not None:
                    self._record(records, landed, outcomes, resolved=finished)
            pending = sorted(retry)
            if pending:
                ceiling = min(policy.max_delay, policy.delay * policy.multiplier ** (attempt - 1))
                await self.sleep(self.rng.uniform(0.0, ceiling))
        return [o if o is not None else Outcome(ok=False, error="not run") for o in outcomes]

    def _moved(
        self, records: Sequence[ItemRecord], indexes: Sequence[int], share: InFlight
    ) -> None:
        """A batch holding `records[i]` for each index moved: update their estimates."""
        for i in indexes:
            record = records[i]
            nbytes = share.progress * record.size if record.kind in _TRANSFERS else 0.0
            self._estimate(record, (share.finished, nbytes))
        self.on_progress(0, 0, *self.in_flight)

    def _estimate(self, record: ItemRecord, estimate: tuple[float, float] | None) -> bool:
        """Set (None: drop) a record's in-flight estimate; whether it had one."""
        old = self._in_flight.pop(id(record), None)
        if estimate is not None:
            self._in_flight[id(record)] = estimate
        if old is None and estimate is None:
            return False
        new = estimate or (0.0, 0.0)
        old = old or (0.0, 0.0)
        self._in_flight_files += new[0] - old[0]
        self._in_flight_bytes += new[1] - old[1]
        if not self._in_flight:  # nothing in flight: no float drift survives
            self._in_flight_files = self._in_flight_bytes = 0.0
        return True

    def _record(
        self,
        records: Sequence[ItemRecord],
        done: list[int],
        outcomes: Sequence[Outcome | None],
        *,
        resolved: Sequence[int] = (),
    ) -> None:
        # the outcomes replace the estimates of every resolved item, landed or to be retried
        estimated = [self._estimate(records[i], None) for i in resolved]
        now = time.time()
        changed = []
        files = nbytes = 0
        for i in done:
            outcome, record = outcomes[i], records[i]
            if outcome is None:
                continue
            record.state = ItemState.SUCCEEDED if outcome.ok else ItemState.FAILED
            record.error = "" if outcome.ok else _describe(outcome)
            record.ended_at = now
            if outcome.ok:
                files += 1
                # bytes count what was transferred: a removed file's size is not (issue 10, item 7)
                nbytes += record.size if record.kind in _TRANSFERS else 0
            changed.append(record)
        if files or nbytes or any(estimated):
            self.result.files_done += files
            self.result.bytes_done += nbytes
            self.on_progress(files, nbytes, *self.in_flight)
        self.on_items(changed)


class _Arrivals:
    """The indexes of futures as they resolve: one callback per future, where asyncio.wait
    over the whole set would cost O(items) for every batch that lands."""

    def __init__(self) -> None:
        self.ready: list[int] = []
        self.wake = asyncio.Event()

    def watch(self, future: asyncio.Future[Outcome], index: int) -> None:
        future.add_done_callback(functools.partial(self._note, index))

    def _note(self, index: int, _: asyncio.Future[Outcome]) -> None:
        self.ready.append(index)
        self.wake.set()

    async def next(self) -> list[int]:
        """Wait for at least one more resolved future; their indexes."""
        await self.wake.wait()
        self.wake.clear()
        landed, self.ready = self.ready, []
        return landed


def _describe(outcome: Outcome) -> str:
    code = f" (code {outcome.code})" if outcome.code else ""
    return f"{outcome.error}{code}"


def first_failure(outcomes: Sequence[Outcome]) -> str | None:
    """The message of the first failed outcome, or None when all succeeded."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return _describe(failed[0]) + more
