"""`Executor.interrupt()` against the in-memory engine (what Ctrl-C and SIGTERM call, through
`planner run`'s signal handler): no action starts after it, items still queued fail, the batch
in flight finishes, and the run says it was interrupted."""

from __future__ import annotations

import asyncio

from planner.runner.engine import Item, ItemKind, Outcome
from planner.runner.executor import Executor, RunOptions
from planner.runner.results import ActionResult, RunResult
from planner.runner.testing import FakeEngine, FixedJitter, RecordedSleep, compile_yaml

PLAN = """\
version: 1
storages:
  s: {remote: any, root: data}
copies:
  - {id: first, src: "s:in/", dst: "s:out/", priority: 1}
  - {id: later, src: "s:other.txt", dst: "s:copied.txt", priority: 2}
"""


def test_interrupt_starts_nothing_more_and_fails_the_queued_items() -> None:
    compiled = compile_yaml(PLAN)
    actions = [ActionResult(id=a.id, kind=a.kind) for a in compiled.actions_in_order()]
    run = RunResult("test", compiled.plan.file, "p", compiled.plan.digest, 0.0, actions=actions)
    executors: list[Executor] = []

    def interrupt_at_the_first_copy(item: Item) -> Outcome:
        executor = executors[0]
        if item.kind is ItemKind.COPY and not executor.run.interrupted:
            executor.interrupt()
        return engine.files(item)

    engine = FakeEngine(interrupt_at_the_first_copy)
    for name in ("a", "b", "c"):
        engine.files.add_file(f"any:data/in/{name}.txt", size=1)
    engine.files.add_file("any:data/other.txt", size=1)
    executors.append(
        Executor(
            compiled,
            engine,
            run,
            options=RunOptions(concurrency=1, batch_size=1),
            sleep=RecordedSleep(),
            rng=FixedJitter(0.0),
        )
    )

    async def execute() -> RunResult:
        async with asyncio.timeout(10):
            return await executors[0].execute()

    done = asyncio.run(execute())

    assert done.interrupted
    results = {a.id: a for a in done.actions}
    # the one batch in flight ran; the two copies still queued failed, none was submitted
    assert engine.batch_sizes(ItemKind.COPY) == [1]
    assert sum(1 for name in "abc" if engine.files.get(f"any:data/out/{name}.txt")) == 1
    assert (results["first"].state.value, results["first"].files_done) == ("failed", 1)
    assert (results["later"].state.value, results["later"].error) == (
        "skipped",
        "skipped: the run was interrupted",
    )
    assert engine.files.get("any:data/copied.txt") is None
