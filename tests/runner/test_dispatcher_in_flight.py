"""The progress of a batch still in flight (issue 10, item 21): the dispatcher tells each caller
which of its items a moving batch holds and how far it is; the action context turns that into
an estimate of files and bytes done, replaced by the exact counts once the outcomes arrive (no
double count); the plain reporter shows done + estimate. A scripted engine answers the polls,
and nothing sleeps."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from typing import TypeVar

from planner.plan.model import RemovalAction, RetryPolicy
from planner.render.progress import PlainReporter
from planner.render.progress_bars import RichReporter
from planner.runner.context import ActionContext
from planner.runner.dispatcher import Dispatcher, InFlight
from planner.runner.engine import BatchStatus, Item, ItemKind, Outcome, Target
from planner.runner.results import ActionResult, ActionState, ItemRecord, RunResult

STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


class ScriptedEngine:
    """One batch at a time: each poll answers the next (progress, finished children) of the
    script, then the batch is done with `outcomes`."""

    def __init__(self, script: Sequence[tuple[float, int]], outcomes: Sequence[Outcome]) -> None:
        self.script = list(script)
        self.results = list(outcomes)
        self.submitted: list[list[Item]] = []

    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        self.submitted.append(list(items))
        return f"op{len(self.submitted)}"

    waits_for_ends = False  # polls answer at once

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        if self.script:
            progress, finished = self.script.pop(0)
            return [
                BatchStatus(h, done=False, progress=progress, progress_current=finished)
                for h in handles
            ]
        return [BatchStatus(h, done=True, progress=1.0, progress_current=0) for h in handles]

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        taken, self.results = self.results[:count], self.results[count:]
        return taken

    async def cancel(self, handles: Sequence[str]) -> None: ...


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


T = TypeVar("T")


def _item(name: str) -> Item:
    return Item(ItemKind.EXISTS, Target("r", name))  # a kind whose outcomes are fetched


async def _serve(dispatcher: Dispatcher, work: asyncio.Future[T]) -> T:
    serving = asyncio.ensure_future(dispatcher.serve())
    try:
        return await work
    finally:
        serving.cancel()


def test_each_caller_learns_which_of_its_items_a_moving_batch_holds() -> None:
    engine = ScriptedEngine([(0.0, 0), (0.0, 0), (0.5, 2)], [Outcome(ok=True)] * 4)
    dispatcher = Dispatcher(engine, concurrency=1, sleep=_no_sleep)  # type: ignore[arg-type]
    told: dict[str, list[tuple[list[int], InFlight]]] = {"a": [], "b": []}

    async def scenario() -> object:
        first = dispatcher.enqueue(
            [_item("a0"), _item("a1"), _item("a2")], lambda i, s: told["a"].append((list(i), s))
        )
        second = dispatcher.enqueue([_item("b0")], lambda i, s: told["b"].append((list(i), s)))
        work = asyncio.ensure_future(asyncio.gather(*first, *second))
        return await _serve(dispatcher, work)

    outcomes = asyncio.run(scenario())
    assert [len(batch) for batch in engine.submitted] == [4]  # one shared batch
    assert outcomes == [Outcome(ok=True)] * 4
    # told when the batch moved (first seen, then 2 of 4 ended), not when it stood still or ended
    # ... with the batch's handle and the engine's count of the items that ended
    moves = [InFlight(0.0, 0.0, handle="op1", current=0), InFlight(0.5, 0.5, "op1", current=2)]
    assert told["a"] == [([0, 1, 2], moves[0]), ([0, 1, 2], moves[1])]
    assert told["b"] == [([0], moves[0]), ([0], moves[1])]


def _context(engine: ScriptedEngine, calls: list[tuple[int, int, int, int]]) -> ActionContext:
    action = RemovalAction.model_construct(id="a", retry=RetryPolicy(attempts=2, delay=0.0))
    return ActionContext(
        action=action,
        result=ActionResult(id="a", kind="copy"),
        dispatcher=Dispatcher(engine, concurrency=1, sleep=_no_sleep),  # type: ignore[arg-type]
        engine=engine,  # type: ignore[arg-type]
        on_progress=lambda *args: calls.append(args),
        sleep=_no_sleep,
    )


def _records(sizes: Sequence[int]) -> list[ItemRecord]:
    return [ItemRecord("a", f"f{i}", "copy", size=size) for i, size in enumerate(sizes)]


def _run_in(ctx: ActionContext, records: list[ItemRecord]) -> list[Outcome]:
    async def scenario() -> list[Outcome]:
        work = asyncio.ensure_future(ctx.run([_item(r.key) for r in records], records=records))
        return await _serve(ctx.dispatcher, work)

    return asyncio.run(scenario())


def test_the_action_estimates_files_and_bytes_in_flight_then_counts_exactly() -> None:
    calls: list[tuple[int, int, int, int]] = []
    engine = ScriptedEngine([(0.0, 0), (1 / 3, 1), (2 / 3, 2)], [Outcome(ok=True, size=1)] * 3)
    ctx = _context(engine, calls)
    _run_in(ctx, _records([100, 200, 300]))
    # (exactly done more, estimated in flight): the estimate grows, then the outcomes replace it
    assert calls == [(0, 0, 0, 0), (0, 0, 1, 200), (0, 0, 2, 400), (3, 600, 0, 0)]
    assert (ctx.result.files_done, ctx.result.bytes_done) == (3, 600)
    assert ctx.in_flight == (0, 0)


def test_an_item_to_retry_loses_its_estimate_with_its_outcome() -> None:
    calls: list[tuple[int, int, int, int]] = []
    transient = Outcome(ok=False, error="busy", code=503, transient=True)
    engine = ScriptedEngine([(0.5, 1)], [Outcome(ok=True), transient, Outcome(ok=True)])
    ctx = _context(engine, calls)
    _run_in(ctx, _records([10, 30]))
    # half the batch ended; then one landed and one goes again: neither keeps an estimate
    assert calls == [(0, 0, 1, 20), (1, 10, 0, 0), (1, 30, 0, 0)]
    assert [len(batch) for batch in engine.submitted] == [2, 1]
    assert (ctx.result.files_done, ctx.result.bytes_done) == (2, 40)


def test_the_plain_line_shows_done_plus_in_flight_and_forgets_it_when_the_action_ends() -> None:
    now = [1000.0]
    stream = io.StringIO()
    reporter = PlainReporter(stream, clock=lambda: now[0], interval=10.0)
    fetch = ActionResult(id="fetch", kind="copy")
    run = RunResult("R1", "plan.yaml", "nightly", "d", 0.0, actions=[fetch])
    reporter.start(run)
    reporter.advance(fetch, total_files=6, total_bytes=6_000)
    now[0] += 10
    reporter.advance(fetch, in_flight_files=3, in_flight_bytes=3_000)
    now[0] += 10
    fetch.files_done, fetch.bytes_done = 2, 2_000  # two landed; the estimate is gone with them
    reporter.advance(fetch, files=2, nbytes=2_000, in_flight_files=0, in_flight_bytes=0)
    now[0] += 10
    reporter.advance(fetch, in_flight_files=2, in_flight_bytes=2_000)
    fetch.state = ActionState.FAILED  # its batches are abandoned: no estimate survives
    now[0] += 10
    reporter.action_changed(fetch)
    lines = [STAMP.sub("", line) for line in stream.getvalue().splitlines()]
    progress = [line for line in lines if line.startswith("progress:")]
    assert progress == [
        "progress: 0/1 actions done, 3/6 files, 3.0 kB/6.0 kB, 300 B/s, ETA 10.0s",
        "progress: 0/1 actions done, 2/6 files, 2.0 kB/6.0 kB, 0 B/s, ETA ?",
        "progress: 0/1 actions done, 4/6 files, 4.0 kB/6.0 kB, 200 B/s, ETA 10.0s",
        "progress: 1/1 actions done, 2/6 files, 2.0 kB/6.0 kB, 0 B/s, ETA ?",
    ]


class Terminal(io.StringIO):
    """A stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_bars_show_done_plus_in_flight_and_forget_it_when_the_action_ends() -> None:
    reporter = RichReporter(Terminal(), clock=lambda: 1000.0)
    fetch = ActionResult(id="fetch", kind="copy")
    run = RunResult("R1", "plan.yaml", "nightly", "d", 0.0, actions=[fetch])
    reporter.start(run)
    fetch.state = ActionState.RUNNING
    reporter.action_changed(fetch)
    reporter.advance(fetch, total_files=6, total_bytes=6_000)
    fetch.files_done, fetch.bytes_done = 1, 1_000
    reporter.advance(fetch, files=1, nbytes=1_000, in_flight_files=2, in_flight_bytes=2_000)
    overall, bar = reporter.progress.tasks
    assert (overall.completed, overall.fields["files"]) == (3_000, "3/6 files")
    assert (bar.completed, bar.fields["files"]) == (3_000, "3/6 files")
    fetch.state = ActionState.FAILED
    reporter.action_changed(fetch)
    (overall,) = reporter.progress.tasks
    assert (overall.completed, overall.fields["files"]) == (1_000, "1/6 files")
    reporter.finish(run)
