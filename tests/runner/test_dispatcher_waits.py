"""The dispatcher against an engine that waits for ends (a worker with long polls): each round
is one poll held until a batch ends, with the interval's ceiling as its wait and no sleep of its
own; new work that has room cancels the wait and is submitted at once. A scripted engine whose
batches end when the test says; nothing sleeps to synchronise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import BatchStatus, Item, ItemKind, Outcome, Target
from planner.runner.testing import RecordedSleep

FILE = Item(ItemKind.COPY, Target("any", "b"), src=Target("any", "a"))


class WaitingEngine:
    """Batches end when `end(handle)` is called; a poll with a wait is held until one of its
    handles has ended (never by time: the test ends every batch it waits for)."""

    waits_for_ends = True

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.changed = asyncio.Event()
        self.submitted: list[str] = []
        self.waits: list[tuple[tuple[str, ...], float]] = []
        self.cancelled_polls = 0

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        handle = f"op{len(self.submitted) + 1}"
        self.submitted.append(handle)
        self.changed.set()
        return handle

    def end(self, handle: str) -> None:
        self.ended.add(handle)
        self.changed.set()

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        self.waits.append((tuple(handles), wait))
        try:
            while not self.ended & set(handles):
                self.changed.clear()
                await self.changed.wait()
        except asyncio.CancelledError:
            self.cancelled_polls += 1
            raise
        return [BatchStatus(h, done=h in self.ended, succeeded=h in self.ended) for h in handles]

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        return [Outcome(ok=True)] * count


async def _until(condition: Callable[[], bool]) -> None:
    """Let the dispatcher's task run, step by step, until `condition` holds."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the dispatcher never got there")


def test_an_end_is_seen_by_the_held_poll_and_new_work_cancels_the_wait() -> None:
    engine = WaitingEngine()
    sleep = RecordedSleep()
    dispatcher = Dispatcher(engine, sleep=sleep)  # type: ignore[arg-type]

    async def scenario() -> tuple[Outcome, Outcome]:
        serving = asyncio.ensure_future(dispatcher.serve())
        try:
            [first] = dispatcher.enqueue([FILE])
            await _until(lambda: len(engine.waits) == 1)
            [second] = dispatcher.enqueue([FILE])  # has room: the held poll gives way
            await _until(lambda: len(engine.waits) == 2)
            engine.end("op1")
            async with asyncio.timeout(30):  # a deadline: a missed end never resolves
                one = await first
            engine.end("op2")
            async with asyncio.timeout(30):
                two = await second
            return one, two
        finally:
            serving.cancel()

    one, two = asyncio.run(scenario())

    assert (one.ok, two.ok) == (True, True)
    assert engine.cancelled_polls == 1
    assert engine.waits[0] == (("op1",), 0.1)
    assert engine.waits[1][0] == ("op1", "op2")
    assert all(wait > 0 for _, wait in engine.waits)
    assert sleep.delays == []  # the rounds waited in the poll, never asleep


TREE = Item(ItemKind.COPY_TREE, Target("any", "b/"), src=Target("any", "a/"))


class ProgressingEngine:
    """Every held poll lasts its whole wait on a clock of the test's own (`now`) and reports
    progress that moved; each batch ends at its `polls`-th poll (a long directory copy)."""

    waits_for_ends = True

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.left: dict[str, int] = {}
        self.waits: list[float] = []
        self.now = 0.0

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        handle = f"op{len(self.left) + 1}"
        self.left[handle] = self.polls
        return handle

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        self.waits.append(wait)
        statuses = []
        for handle in handles:
            self.left[handle] -= 1
            done = self.left[handle] <= 0
            if not done:
                self.now += wait  # held for the whole wait: nothing ended
            moved = 1.0 - self.left[handle] / self.polls
            statuses.append(
                BatchStatus(handle, done=done, succeeded=done, progress=moved, progress_current=1)
            )
        return statuses

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        return [Outcome(ok=True, handle=handle)] * count


def _waits(item: Item, polls: int, *, live: bool = False) -> list[float]:
    """The waits of the held polls of `item`, alone in flight and moving at every poll."""
    engine = ProgressingEngine(polls)
    dispatcher = Dispatcher(engine, live=live)  # type: ignore[arg-type]

    async def scenario() -> None:
        # the dispatcher measures how long a poll was held on the loop's clock: this one is
        # the engine's, so that no round sleeps for real
        asyncio.get_running_loop().time = lambda: engine.now  # type: ignore[method-assign]
        serving = asyncio.ensure_future(dispatcher.serve())
        try:
            (future,) = dispatcher.enqueue([item])
            await future  # the engine ends every batch: no deadline on a clock that is held
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    asyncio.run(scenario())
    return engine.waits


def test_a_long_tree_item_is_waited_for_with_a_growing_interval_whatever_its_progress() -> None:
    # its end is seen at once by the held poll: progress alone does not hold the interval at
    # its first step, or the polls of a directory copy would grow with its duration
    assert _waits(TREE, 8) == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert _waits(FILE, 8) == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


def test_a_live_display_gets_progress_at_a_bounded_rate() -> None:
    assert _waits(TREE, 6, live=True) == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
