"""`ActionContext.run` against the in-memory engine: transient failures are resubmitted alone
after full-jitter delays (here drawn at their ceilings) up to the action's attempts, permanent
failures are not retried, item records follow their items, and `before_retry` may settle an
item instead of retrying it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from planner.plan.model import Action
from planner.runner.context import ActionContext
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import Item, ItemKind, Outcome, Target
from planner.runner.results import ActionResult, ItemRecord, ItemState
from planner.runner.testing import (
    FakeEngine,
    FixedJitter,
    RecordedSleep,
    compile_yaml,
    serving,
)

PLAN = """\
version: 1
storages:
  s: {remote: any, root: src}
copies:
  - id: cp
    src: "s:a"
    dst: "s:b"
    retry: {attempts: ATTEMPTS, delay: 1s, multiplier: 2, max_delay: 3s}
"""


def copy_action(attempts: int) -> Action:
    compiled = compile_yaml(PLAN.replace("ATTEMPTS", str(attempts)))
    (action,) = compiled.plan.actions
    return action


def context_for(engine: FakeEngine, *, attempts: int = 3) -> tuple[ActionContext, RecordedSleep]:
    sleep = RecordedSleep()
    ctx = ActionContext(
        action=copy_action(attempts),
        result=ActionResult("cp", "copy"),
        dispatcher=Dispatcher(engine, sleep=RecordedSleep(), rng=FixedJitter(0.0)),
        engine=engine,
        sleep=sleep,
        rng=FixedJitter(1.0),  # every retry delay at its ceiling
    )
    return ctx, sleep


def copies(*names: str) -> list[Item]:
    return [
        Item(ItemKind.COPY, Target("any", f"dst/{n}"), src=Target("any", f"src/{n}")) for n in names
    ]


def run(
    ctx: ActionContext,
    items: Sequence[Item],
    records: Sequence[ItemRecord] | None = None,
    before_retry: Callable[[Item, Outcome], Awaitable[bool]] | None = None,
) -> list[Outcome]:
    async def scenario() -> list[Outcome]:
        async with serving(ctx.dispatcher):
            return await ctx.run(items, records=records, before_retry=before_retry)

    return asyncio.run(scenario())


def with_sources(engine: FakeEngine, *names: str) -> FakeEngine:
    for name in names:
        engine.files.add_file(f"any:src/{name}", size=10)
    return engine


def test_transient_failures_are_retried_alone_after_growing_delays() -> None:
    flaky = FakeEngine(transient_failures=2, flaky=lambda item: item.target.path == "dst/b")
    engine = with_sources(flaky, "a", "b", "c")
    ctx, sleep = context_for(engine, attempts=3)

    outcomes = run(ctx, copies("a", "b", "c"))

    assert [o.ok for o in outcomes] == [True, True, True]
    assert engine.batch_sizes(ItemKind.COPY) == [3, 1, 1]  # only the failed item again
    assert [c.items[0].target.path for c in engine.submits()[1:]] == ["dst/b", "dst/b"]
    assert sleep.delays == [1.0, 2.0]
    assert ctx.result.attempts == 3
    assert [p for p in engine.files.listing() if p.startswith("any:dst/")] == [
        "any:dst/",
        "any:dst/a",
        "any:dst/b",
        "any:dst/c",
    ]


def test_retries_stop_after_the_policys_attempts_with_delays_capped() -> None:
    engine = with_sources(FakeEngine(transient_failures=10), "a")
    ctx, sleep = context_for(engine, attempts=5)

    (outcome,) = run(ctx, copies("a"))

    assert (outcome.ok, outcome.code, outcome.transient) == (False, 503, True)
    assert engine.batch_sizes() == [1] * 5
    assert sleep.delays == [1.0, 2.0, 3.0, 3.0]  # 1s doubling, capped at max_delay 3s
    assert engine.files.get("any:dst/a") is None


def test_a_permanent_failure_is_not_retried() -> None:
    engine = with_sources(FakeEngine(), "a")
    ctx, sleep = context_for(engine, attempts=3)

    missing, copied = run(ctx, copies("missing", "a"))

    assert (missing.ok, missing.code, missing.transient) == (False, 404, False)
    assert copied.ok
    assert engine.batch_sizes() == [2]
    assert sleep.delays == []
    assert ctx.result.attempts == 1


def test_records_follow_their_items_and_count_what_was_copied() -> None:
    engine = with_sources(FakeEngine(transient_failures=1), "a")
    ctx, _ = context_for(engine, attempts=3)
    seen: list[list[str]] = []
    ctx.on_items = lambda changed: seen.append([r.key for r in changed])
    records = [ItemRecord("cp", name, "copy", size=10) for name in ("a", "missing")]

    run(ctx, copies("a", "missing"), records=records)

    done, failed = records
    assert (done.state, done.attempts, done.error) == (ItemState.SUCCEEDED, 2, "")
    assert failed.state is ItemState.FAILED
    assert failed.attempts == 2  # transient first, then the permanent 404
    assert failed.error.endswith("(code 404)")
    assert [keys for keys in seen if keys] == [["a", "missing"]]  # as the round ended
    assert (ctx.result.files_done, ctx.result.bytes_done) == (1, 10)


def test_before_retry_may_settle_an_item_instead_of_retrying_it() -> None:
    engine = with_sources(FakeEngine(transient_failures=1), "a", "b")
    ctx, sleep = context_for(engine, attempts=3)
    asked: list[str] = []

    async def settled(item: Item, outcome: Outcome) -> bool:
        asked.append(item.target.path)
        return item.target.path == "dst/a"  # as if a lost acknowledgement of a done move

    a, b = run(ctx, copies("a", "b"), before_retry=settled)

    assert a.ok
    assert b.ok
    assert asked == ["dst/a", "dst/b"]
    assert engine.batch_sizes() == [2, 1]
    assert engine.submits()[1].items == tuple(copies("b"))
    assert sleep.delays == [1.0]


def test_a_refused_item_marks_the_context_refused() -> None:
    engine = with_sources(FakeEngine(permits=lambda target, role: role != "writer"), "a")
    ctx, _ = context_for(engine)

    (outcome,) = run(ctx, copies("a"))

    assert (outcome.ok, outcome.code, outcome.refused) == (False, 403, True)
    assert ctx.refused
    assert engine.batch_sizes() == [1]  # a refusal is not retried
