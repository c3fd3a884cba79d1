"""`run_action` finds each action's handler in a registry by its kind: every kind of the plan
model has one, each runs what its kind says (against the in-memory engine, twice: the second
run changes nothing), and a kind with no handler is a clear error."""

from __future__ import annotations

import asyncio
import typing

import pytest

from planner.plan.model import Action
from planner.runner.actions import HANDLERS, UnknownActionError, run_action
from planner.runner.context import ActionContext
from planner.runner.dispatcher import Dispatcher
from planner.runner.engine import RoleGrant, Target
from planner.runner.results import ActionResult
from planner.runner.testing import FakeEngine, compile_yaml, execute, serving

EVERY_KIND = """\
version: 1
storages:
  s: {remote: any, root: data}
directories: [{id: mk, path: "s:out"}]
copies: [{id: cp, src: "s:in/a.txt", dst: "s:out/a.txt"}]
moves: [{id: mv, src: "s:in/b.txt", dst: "s:out/b.txt"}]
removals: [{id: rm, path: "s:old"}]
permissions: [{id: perm, path: "s:out", grant: [{user: alice, role: reader}]}]
metadata: [{id: tag, path: "s:out/a.txt", set: {run: demo}}]
checks: [{id: ok, exists: "s:out/b.txt"}]
"""


def kinds_of_the_plan_model() -> set[str]:
    (union, _) = typing.get_args(Action)  # Annotated[A | B | ..., Field(discriminator)]
    return {cls.model_fields["kind"].default for cls in typing.get_args(union)}


def test_every_kind_of_action_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == kinds_of_the_plan_model()


def test_each_kind_runs_its_handler_and_a_second_run_changes_nothing() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/in/a.txt", size=3)
    engine.files.add_file("any:data/in/b.txt", size=4)
    engine.files.add_file("any:data/old", size=1)
    compiled = compile_yaml(EVERY_KIND)

    first = asyncio.run(execute(compiled, engine))
    second = asyncio.run(execute(compiled, engine))

    assert {a.id: a.change.value for a in first.actions} == {
        "mk": "+",
        "cp": "+",
        "mv": "+",
        "rm": "-",
        "perm": "~",
        "tag": "~",
        "ok": "=",
    }
    assert first.is_success
    assert engine.files.listing() == [
        "any:data/",
        "any:data/in/",
        "any:data/in/a.txt",
        "any:data/out/",
        "any:data/out/a.txt",
        "any:data/out/b.txt",
    ]
    tagged = engine.files.get("any:data/out/a.txt")
    assert tagged is not None
    assert tagged.custom == {"run": "demo"}
    assert engine.roles == [RoleGrant(Target("any", "data/out"), "reader", "user", "alice")]
    assert {a.change.value for a in second.actions} == {"="}
    assert second.is_success


def test_an_action_of_an_unknown_kind_is_a_clear_error() -> None:
    check = next(a for a in compile_yaml(EVERY_KIND).plan.actions if a.id == "ok")
    unknown = check.model_copy(update={"kind": "teleport"})  # as a new kind with no handler
    engine = FakeEngine()
    ctx = ActionContext(
        action=unknown,
        result=ActionResult("ok", "teleport"),
        dispatcher=Dispatcher(engine),
        engine=engine,
    )

    async def scenario() -> None:
        async with serving(ctx.dispatcher):
            await run_action(ctx)

    with pytest.raises(UnknownActionError) as raised:
        asyncio.run(scenario())

    assert str(raised.value) == (
        "no handler for actions of kind 'teleport' "
        "(known: check, copy, directory, metadata, move, permission, removal)"
    )
    assert engine.calls == []  # it failed before asking the engine anything
