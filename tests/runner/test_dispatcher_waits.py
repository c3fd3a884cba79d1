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
