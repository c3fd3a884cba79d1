"""The dispatcher against the in-memory engine (no server, no real waiting): items batched by
kind up to the batch size, at most `concurrency` batches in flight, the requeue after a 403 at
submission, halt (queued items fail, batches in flight go on) and settle (after a cancel, what
finished is kept and the rest fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import Item, ItemKind, Outcome, Target
from planner.runner.testing import FakeEngine, FixedJitter, MemoryFiles, RecordedSleep, serving


def dispatcher_for(
    engine: FakeEngine,
    *,
    batch_size: int = 500,
    concurrency: int = 8,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Dispatcher:
    return Dispatcher(
        engine,
        batch_size=batch_size,
        concurrency=concurrency,
        sleep=sleep or RecordedSleep(),
        rng=FixedJitter(0.0),
    )


async def run_all(dispatcher: Dispatcher, items: Sequence[Item]) -> list[Outcome]:
    async with serving(dispatcher):
        return list(await asyncio.gather(*dispatcher.enqueue(items)))


def item(kind: ItemKind, path: str) -> Item:
    return Item(kind, Target("any", path))


def test_items_are_batched_by_kind_up_to_the_batch_size() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:e2")
    exists = [item(ItemKind.EXISTS, f"e{i}") for i in range(7)]
    mkdirs = [item(ItemKind.MKDIR, f"d{i}") for i in range(3)]
    mixed = [exists[0], mkdirs[0], *exists[1:4], mkdirs[1], *exists[4:], mkdirs[2]]

    outcomes = asyncio.run(run_all(dispatcher_for(engine, batch_size=3), mixed))

    assert engine.batch_sizes(ItemKind.EXISTS) == [3, 3, 1]
    assert engine.batch_sizes(ItemKind.MKDIR) == [3]
    assert len(engine.submits()) == 4
    sent = [i for call in engine.submits(ItemKind.EXISTS) for i in call.items]
    assert sent == exists  # in the order they were queued
    # each caller gets its own item's outcome back
    answers = {i.target.path: o for i, o in zip(mixed, outcomes, strict=True)}
    assert [answers[f"e{i}"].result for i in range(7)] == [False, False, True] + [False] * 4
    assert all(answers[f"d{i}"].ok for i in range(3))
    assert engine.files.listing() == ["any:d0/", "any:d1/", "any:d2/", "any:e2"]


def test_metadata_items_are_sent_one_per_request() -> None:
    engine = FakeEngine()
    for name in ("a", "b", "c"):
        engine.files.add_file(f"any:{name}", size=len(name))
    items = [item(ItemKind.METADATA_GET, name) for name in ("a", "b", "c")]

    outcomes = asyncio.run(run_all(dispatcher_for(engine), items))

    assert engine.batch_sizes(ItemKind.METADATA_GET) == [1, 1, 1]
    assert [o.result["size"] for o in outcomes] == [1, 1, 1]


def test_no_more_than_concurrency_batches_are_in_flight() -> None:
    engine = FakeEngine(polls_to_finish=3)
    items = [item(ItemKind.MKDIR, f"d{i}") for i in range(5)]

    outcomes = asyncio.run(run_all(dispatcher_for(engine, batch_size=1, concurrency=2), items))

    assert all(o.ok for o in outcomes)
    assert engine.batch_sizes() == [1] * 5
    polled = [call.handles for call in engine.calls if call.method == "poll"]
    assert max(len(handles) for handles in polled) == 2  # every batch in flight, polled together


def test_a_403_naming_some_items_fails_those_and_resubmits_the_others() -> None:
    engine = FakeEngine(permits=lambda target, role: target.path != "secret")
    items = [item(ItemKind.MKDIR, name) for name in ("a", "secret", "b", "c")]

    outcomes = asyncio.run(run_all(dispatcher_for(engine), items))

    first, second = engine.submits()
    assert first.refused == (1,)
    assert second.items == (items[0], items[2], items[3])
    assert second.refused == ()
    refused = outcomes[1]
    assert (refused.ok, refused.code, refused.refused, refused.transient) == (
        False,
        403,
        True,
        False,
    )
    assert [o.ok for o in outcomes] == [True, False, True, True]
    assert engine.files.listing() == ["any:a/", "any:b/", "any:c/"]


def test_a_403_naming_every_item_fails_them_all_without_resubmitting() -> None:
    engine = FakeEngine(permits=lambda target, role: False)
    items = [item(ItemKind.MKDIR, name) for name in ("a", "b")]

    outcomes = asyncio.run(run_all(dispatcher_for(engine), items))

    assert engine.batch_sizes() == [2]
    assert all(not o.ok and o.refused and o.code == 403 for o in outcomes)
    assert engine.files.listing() == []


def test_halt_fails_what_is_queued_and_lets_the_batch_in_flight_finish() -> None:
    files = MemoryFiles()
    dispatcher: Dispatcher | None = None

    def halting(it: Item) -> Outcome:
        if it.target.path == "e0" and dispatcher is not None:
            dispatcher.halt("stopped by the test")  # while e0..e1 are in flight
        return files(it)

    engine = FakeEngine(halting)
    dispatcher = dispatcher_for(engine, batch_size=2, concurrency=1)
    items = [item(ItemKind.MKDIR, f"e{i}") for i in range(4)]

    async def scenario() -> tuple[list[Outcome], list[Outcome]]:
        async with serving(dispatcher):
            outcomes = await asyncio.gather(*dispatcher.enqueue(items))
            later = await asyncio.gather(*dispatcher.enqueue([item(ItemKind.MKDIR, "late")]))
        return list(outcomes), list(later)

    outcomes, later = asyncio.run(scenario())

    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert {(o.code, o.error, o.transient) for o in outcomes[2:]} == {
        (499, "stopped by the test", False)
    }
    assert later[0].code == 499
    assert engine.batch_sizes() == [2]  # nothing submitted after the halt
    assert files.listing() == ["any:e0/", "any:e1/"]


def test_settle_keeps_what_finished_and_fails_the_rest() -> None:
    engine = FakeEngine(polls_to_finish=2)  # a batch of 4 has run 2 items after one poll
    dispatcher: Dispatcher | None = None

    async def interrupt(seconds: float) -> None:
        # the dispatcher waits here after a poll while its one batch is in flight
        assert dispatcher is not None
        await dispatcher.cancel_all()
        await dispatcher.settle("interrupted")

    dispatcher = dispatcher_for(engine, concurrency=1, sleep=interrupt)
    items = [item(ItemKind.MKDIR, f"d{i}") for i in range(4)]

    outcomes = asyncio.run(run_all(dispatcher, items))

    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert {(o.code, o.error) for o in outcomes[2:]} == {(499, "interrupted")}
    assert [c.method for c in engine.calls] == ["submit", "poll", "cancel", "outcomes"]
    assert engine.files.listing() == ["any:d0/", "any:d1/"]
