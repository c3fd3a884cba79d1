"""Interrupting a run while a directory copy runs as one tree item: a halt ("submit nothing
more") cancels the tree items in flight, which hold the tree's files not yet begun, and lets
other batches go on; `settle` (after the grace period) waits for a cancelled tree item to end,
so that its outcome leads to the rows of what it did copy. A scripted engine whose items run
until cancelled; nothing sleeps to synchronise. And a tree item is polled at the first interval
while it runs, whether or not its progress moves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from planner.api.codes import ItemCode
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import BatchStatus, Item, ItemKind, Outcome, Target
from planner.runner.testing import FixedJitter, RecordedSleep


class HeldEngine:
    """Every batch runs until cancelled; a cancelled one ends after `polls_to_end` more polls,
    a tree item's outcome then carrying its counts and the handle of its rows."""

    def __init__(self, polls_to_end: int = 0) -> None:
        self.kinds: dict[str, ItemKind] = {}
        self.cancelled: list[str] = []
        self.polls_left: dict[str, int] = {}
        self.polls_to_end = polls_to_end
        self.submitted = asyncio.Event()

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        handle = f"op{len(self.kinds) + 1}"
        self.kinds[handle] = kind
        self.submitted.set()
        return handle

    def _ended(self, handle: str) -> bool:
        return handle in self.cancelled and self.polls_left.get(handle, 0) <= 0

    waits_for_ends = False  # polls answer at once

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        for handle in handles:
            if handle in self.cancelled:
                self.polls_left[handle] = self.polls_left.get(handle, 0) - 1
        return [BatchStatus(h, done=self._ended(h)) for h in handles]

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        if not self._ended(handle):
            return [Outcome(ok=False)] * count  # still running: nothing known per item
        if self.kinds[handle] is ItemKind.COPY_TREE:
            result = {"copied": 3, "rows": 3}
            return [Outcome(False, result, "cancelled", ItemCode.CANCELLED, handle=handle)]
        return [Outcome(ok=False, error="cancelled", code=ItemCode.CANCELLED)] * count

    async def cancel(self, handles: Sequence[str]) -> None:
        for handle in handles:
            self.cancelled.append(handle)
            self.polls_left[handle] = self.polls_to_end


TREE = Item(ItemKind.COPY_TREE, Target("any", "dst"), src=Target("any", "src"))
FILE = Item(ItemKind.COPY, Target("any", "b"), src=Target("any", "a"))


async def _until_submitted(engine: HeldEngine, count: int) -> None:
    while len(engine.kinds) < count:
        await engine.submitted.wait()
        engine.submitted.clear()
    await asyncio.sleep(0)  # the dispatcher takes the last batch in flight


def test_a_halt_cancels_the_tree_items_in_flight_and_lets_other_batches_go_on() -> None:
    engine = HeldEngine()
    dispatcher = Dispatcher(engine)  # type: ignore[arg-type]

    async def scenario() -> tuple[Outcome, bool]:
        serving = asyncio.ensure_future(dispatcher.serve())
        try:
            tree, copy = dispatcher.enqueue([TREE, FILE])
            await _until_submitted(engine, 2)
            dispatcher.halt("interrupted")
            async with asyncio.timeout(30):  # a deadline: without the cancel it never ends
                outcome = await tree
            return outcome, copy.done()
        finally:
            serving.cancel()

    outcome, copy_ended = asyncio.run(scenario())

    tree_handle = next(h for h, kind in engine.kinds.items() if kind is ItemKind.COPY_TREE)
    assert engine.cancelled == [tree_handle]  # the copy batch was not cancelled
    assert not copy_ended
    assert (outcome.ok, outcome.code, outcome.handle) == (False, ItemCode.CANCELLED, tree_handle)
    assert outcome.result == {"copied": 3, "rows": 3}


def test_settle_waits_for_a_cancelled_tree_item_to_end_and_keeps_its_rows_handle() -> None:
    engine = HeldEngine(polls_to_end=3)
    dispatcher = Dispatcher(engine)  # type: ignore[arg-type]

    async def scenario() -> tuple[Outcome, Outcome]:
        serving = asyncio.ensure_future(dispatcher.serve())
        try:
            tree, copy = dispatcher.enqueue([TREE, FILE])
            await _until_submitted(engine, 2)
        finally:
            serving.cancel()
        await dispatcher.cancel_all()
        await dispatcher.settle("interrupted")
        return tree.result(), copy.result()

    tree, copy = asyncio.run(scenario())

    assert (tree.handle, tree.code) == ("op1", ItemCode.CANCELLED)
    assert tree.result == {"copied": 3, "rows": 3}
    assert (copy.ok, copy.code, copy.handle) == (False, ItemCode.CANCELLED, None)


class SilentEngine:
    """Every batch runs for `polls` polls without reporting progress, then succeeds (a tree
    comparison of trees in sync copies nothing, so its progress never moves)."""

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.left: dict[str, int] = {}

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        handle = f"op{len(self.left) + 1}"
        self.left[handle] = self.polls
        return handle

    waits_for_ends = False  # polls answer at once

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        for handle in handles:
            self.left[handle] -= 1
        return [BatchStatus(h, done=self.left[h] <= 0, succeeded=True) for h in handles]

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        return [Outcome(ok=True, handle=handle)] * count


def _poll_delays(item: Item) -> list[float]:
    """The delays between the polls of `item`, alone in flight, drawn at their ceilings."""
    sleep = RecordedSleep()
    engine = SilentEngine(polls=5)
    dispatcher = Dispatcher(
        engine,  # type: ignore[arg-type]
        concurrency=1,
        sleep=sleep,
        rng=FixedJitter(1.0),
    )

    async def scenario() -> None:
        serving = asyncio.ensure_future(dispatcher.serve())
        try:
            (future,) = dispatcher.enqueue([item])
            async with asyncio.timeout(30):
                await future
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    asyncio.run(scenario())
    return sleep.delays


def test_a_tree_item_reporting_no_progress_is_polled_at_the_first_interval() -> None:
    # its end is what the action waits for: a growing interval would leave it unseen for up to
    # seconds after it ended
    assert _poll_delays(TREE) == [0.1] * 4
    assert _poll_delays(FILE) == [0.1, 0.2, 0.4, 0.8]  # other batches back off
