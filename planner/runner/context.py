"""What an action needs while it runs: the dispatcher, the engine, its result record, progress
and journal hooks, and the retry loop that resubmits only transient failures."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from planner.plan.model import Action, RetryPolicy
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import Engine, Item, Outcome
from planner.runner.results import ActionResult, ItemRecord, ItemState


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
    on_progress: Callable[[int, int], None] = lambda files, nbytes: None
    on_totals: Callable[[int, int], None] = lambda files, nbytes: None  # learnt work ahead
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    async def run(
        self,
        items: Sequence[Item],
        *,
        records: Sequence[ItemRecord] | None = None,
        before_retry: Callable[[Item, Outcome], Awaitable[bool]] | None = None,
    ) -> list[Outcome]:
        """Run items with the action's retry policy: failed transient items are resubmitted
        alone, after full-jitter delays; permanent failures stop at once. `before_retry` may
        settle an item instead of retrying it (a move whose ack was lost). Records, when given,
        follow their items' states and are journaled after every round."""
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
            futures = self.dispatcher.enqueue([items[i] for i in pending])
            index_of = {id(f): i for f, i in zip(futures, pending, strict=True)}
            waiting: set[asyncio.Future[Outcome]] = set(futures)
            retry: list[int] = []
            while waiting:  # record items as their batches finish, not all at the end
                try:
                    finished, waiting = await asyncio.wait(
                        waiting, return_when=asyncio.FIRST_COMPLETED
                    )
                except asyncio.CancelledError:  # timeout or interruption: leave nothing running
                    await self.dispatcher.withdraw(list(waiting), "cancelled: the action stopped")
                    raise
                landed = []
                for future in finished:
                    i, outcome = index_of[id(future)], future.result()
                    outcomes[i] = outcome
                    if not outcome.ok and outcome.transient and attempt < policy.attempts:
                        if before_retry is not None and await before_retry(items[i], outcome):
                            outcomes[i] = Outcome(ok=True, size=outcome.size)
                        else:
                            retry.append(i)
                            continue
                    landed.append(i)
                if records is not None:
                    self._record(records, landed, outcomes)
            pending = sorted(retry)
            if pending:
                ceiling = min(policy.max_delay, policy.delay * policy.multiplier ** (attempt - 1))
                await self.sleep(self.rng.uniform(0.0, ceiling))
        return [o if o is not None else Outcome(ok=False, error="not run") for o in outcomes]

    def _record(
        self, records: Sequence[ItemRecord], done: list[int], outcomes: Sequence[Outcome | None]
    ) -> None:
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
                nbytes += record.size
            changed.append(record)
        if files or nbytes:
            self.result.files_done += files
            self.result.bytes_done += nbytes
            self.on_progress(files, nbytes)
        self.on_items(changed)


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
