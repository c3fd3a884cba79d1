"""The preview engine over the in-memory engine: predictions come from the real listings,
corrected by what earlier actions of the preview would have done, and no mutating request
reaches the engine underneath (the files are exactly as before)."""

from __future__ import annotations

import asyncio

import pytest

from planner.runner.engine import ItemKind
from planner.runner.executor import RunOptions
from planner.runner.preview import PreviewEngine
from planner.runner.results import ActionResult, RunResult
from planner.runner.testing import FakeEngine, compile_yaml, execute

PLAN = """\
version: 1
storages:
  s: {remote: any, root: data}
directories: [{id: mk, path: "s:out"}]
copies: [{id: cp, src: "s:in/", dst: "s:out/in/"}]
metadata: [{id: tag, path: "s:out/in", set: {run: demo}}]
checks: [{id: arrived, exists: "s:out/in/a.txt"}]
removals: [{id: rm, path: "s:old"}]
"""


def engine_with_inputs(*, recursive_listing: bool = True) -> FakeEngine:
    engine = FakeEngine(recursive_listing=recursive_listing)
    engine.files.add_file("any:data/in/a.txt", size=3)
    engine.files.add_file("any:data/in/sub/b.txt", size=4)
    engine.files.add_file("any:data/old", size=1)
    return engine


def preview(engine: FakeEngine) -> dict[str, ActionResult]:
    run: RunResult = asyncio.run(
        execute(compile_yaml(PLAN), PreviewEngine(engine), options=RunOptions(keep_going=True))
    )
    return {a.id: a for a in run.actions}


@pytest.mark.parametrize("recursive_listing", [True, False])
def test_the_preview_predicts_from_listings_and_changes_nothing(recursive_listing: bool) -> None:
    engine = engine_with_inputs(recursive_listing=recursive_listing)
    before = engine.files.listing()

    actions = preview(engine)

    predicted = {a.id: (a.state.value, a.change.value, a.files_done) for a in actions.values()}
    assert predicted == {
        "mk": ("succeeded", "+", 1),
        "cp": ("succeeded", "+", 2),
        "tag": ("succeeded", "~", 1),  # on a directory only the preview's copy made
        "arrived": ("succeeded", "=", 0),  # a file only the preview's copy made
        "rm": ("succeeded", "-", 1),
    }
    assert actions["cp"].bytes_done == 7
    assert engine.mutating_calls() == []
    assert engine.files.listing() == before
    listed_with = ItemKind.LIST if recursive_listing else ItemKind.LIST_CHILDREN
    assert engine.submits(listed_with)  # the predictions were read from the engine
    if not recursive_listing:
        assert engine.submits(ItemKind.LIST) == []


def test_the_preview_finds_an_up_to_date_destination_unchanged() -> None:
    engine = engine_with_inputs()
    engine.files.add_file("any:data/out/in/a.txt", size=3)
    engine.files.add_file("any:data/out/in/sub/b.txt", size=4)

    actions = preview(engine)

    copy = actions["cp"]
    assert (copy.change.value, copy.files_done, copy.files_unchanged) == ("=", 0, 2)
    assert actions["mk"].change.value == "="
    assert engine.mutating_calls() == []


def test_the_preview_predicts_a_refusal_without_sending_the_write() -> None:
    engine = engine_with_inputs()
    engine.permits = lambda target, role: (
        not (role == "writer" and target.path.startswith("data/out/in"))
    )

    actions = preview(engine)

    copy = actions["cp"]
    assert copy.state.value == "failed"
    assert "needs writer on s:out/in, which the caller lacks" in copy.error
    assert "(predicted)" in copy.error
    assert actions["mk"].state.value == "succeeded"
    assert engine.mutating_calls() == []
    assert all(call.refused == () for call in engine.submits())  # the fake refused nothing
