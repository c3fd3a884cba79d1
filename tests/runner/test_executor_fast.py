"""The executor against the in-memory engine: an action starts only after what it depends on
succeeded, ready actions start by priority, independent actions share batches (many of them
run at once, except with concurrency 1), and after a failure `--keep-going` runs the independent
branches and skips the dependents (without it, nothing more starts)."""

from __future__ import annotations

import asyncio

from planner.runner.engine import ItemKind
from planner.runner.executor import RunOptions
from planner.runner.progress import SilentReporter
from planner.runner.results import ActionResult, ActionState, RunResult
from planner.runner.testing import FakeEngine, compile_yaml, execute

HEADER = """\
version: 1
storages:
  s: {remote: any, root: data}
"""


class StateLog(SilentReporter):
    """Records every state change of every action, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ActionState]] = []

    def action_changed(self, action: ActionResult) -> None:
        self.events.append((action.id, action.state))


def run_plan(
    body: str,
    engine: FakeEngine,
    log: StateLog | None = None,
    *,
    keep_going: bool = False,
    concurrency: int = 8,
) -> RunResult:
    compiled = compile_yaml(HEADER + body)
    options = RunOptions(keep_going=keep_going, concurrency=concurrency)
    return asyncio.run(execute(compiled, engine, options=options, reporter=log))


def states(run: RunResult) -> dict[str, str]:
    return {a.id: a.state.value for a in run.actions}


def test_an_action_starts_only_after_what_it_depends_on_succeeded() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/in/f.txt", size=3)
    log = StateLog()

    run = run_plan(
        """\
directories: [{id: mk, path: "s:out"}]
copies: [{id: cp, src: "s:in/f.txt", dst: "s:out/"}]
""",
        engine,
        log,
    )

    assert states(run) == {"mk": "succeeded", "cp": "succeeded"}
    assert log.events.index(("mk", ActionState.SUCCEEDED)) < log.events.index(
        ("cp", ActionState.RUNNING)
    )
    entry = engine.files.get("any:data/out/f.txt")
    assert entry is not None
    assert entry.size == 3


def test_ready_actions_start_by_priority_and_needs_come_first() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/x")
    log = StateLog()

    run_plan(
        """\
checks:
  - {id: c1, exists: "s:x", priority: 50}
  - {id: c2, exists: "s:x", priority: 10}
  - {id: c3, exists: "s:x"}
  - {id: c4, exists: "s:x", priority: 1, needs: [c3]}
""",
        engine,
        log,
        concurrency=1,
    )

    started = [action for action, state in log.events if state is ActionState.RUNNING]
    assert started == ["c2", "c1", "c3", "c4"]


def test_independent_actions_share_batches() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/x")

    run = run_plan(
        "checks:\n" + "".join(f'  - {{id: c{i}, exists: "s:x"}}\n' for i in range(5)),
        engine,
    )

    assert set(states(run).values()) == {"succeeded"}
    assert engine.batch_sizes(ItemKind.EXISTS) == [5]


def test_many_ready_actions_run_at_once_and_probe_in_shared_batches() -> None:
    """Far more ready actions than operations in flight (`concurrency` 8) start together: their
    probes fill batches (both ends of each copy, one STAT item each), and so do their copies."""
    engine = FakeEngine()
    for i in range(40):
        engine.files.add_file(f"any:data/in/f{i}", size=i)
    copies = "".join(f'  - {{id: c{i}, src: "s:in/f{i}", dst: "s:out/f{i}"}}\n' for i in range(40))

    run = run_plan("copies:\n" + copies, engine)

    assert set(states(run).values()) == {"succeeded"}
    assert engine.batch_sizes(ItemKind.STAT) == [80]
    assert engine.batch_sizes(ItemKind.COPY) == [40]
    assert not engine.submits(ItemKind.LIST_CHILDREN)


def test_with_concurrency_1_actions_run_one_at_a_time() -> None:
    engine = FakeEngine()
    for i in range(4):
        engine.files.add_file(f"any:data/in/f{i}", size=i)
    copies = "".join(f'  - {{id: c{i}, src: "s:in/f{i}", dst: "s:out/f{i}"}}\n' for i in range(4))
    log = StateLog()

    run = run_plan("copies:\n" + copies, engine, log, concurrency=1)

    assert set(states(run).values()) == {"succeeded"}
    assert engine.batch_sizes(ItemKind.STAT) == [2, 2, 2, 2]
    running = [(a, s.value) for a, s in log.events]
    assert running == [(f"c{i}", s) for i in range(4) for s in ("running", "succeeded")]


BRANCHES = """\
checks:
  - {id: broken, exists: "s:missing"}
  - {id: after-broken, exists: "s:x", needs: [broken]}
  - {id: other, exists: "s:x"}
  - {id: after-other, exists: "s:x", needs: [other]}
"""


def test_keep_going_runs_independent_branches_and_skips_dependents() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/x")

    run = run_plan(BRANCHES, engine, keep_going=True, concurrency=1)

    assert states(run) == {
        "broken": "failed",
        "after-broken": "skipped",
        "other": "succeeded",
        "after-other": "succeeded",
    }
    by_id = {a.id: a for a in run.actions}
    assert by_id["broken"].error == "check failed: s:missing does not exist"
    assert by_id["after-broken"].error == "skipped: 'broken' failed"
    assert engine.batch_sizes(ItemKind.EXISTS) == [1, 1, 1]  # after-broken never ran


def test_without_keep_going_a_failure_stops_the_run() -> None:
    engine = FakeEngine()
    engine.files.add_file("any:data/x")

    run = run_plan(BRANCHES, engine, concurrency=1)

    assert states(run) == {
        "broken": "failed",
        "after-broken": "skipped",
        "other": "skipped",
        "after-other": "skipped",
    }
    assert {a.error for a in run.skipped} == {"skipped: an earlier action failed"}
    assert engine.batch_sizes(ItemKind.EXISTS) == [1]


def test_a_transient_failure_is_retried_by_the_action_and_the_run_succeeds() -> None:
    engine = FakeEngine(transient_failures=1)
    engine.files.add_file("any:data/in/f.txt", size=3)

    run = run_plan('copies: [{id: cp, src: "s:in/f.txt", dst: "s:out/f.txt"}]', engine)

    (copied,) = run.actions
    assert (copied.state, copied.files_done, copied.bytes_done) == (ActionState.SUCCEEDED, 1, 3)
    assert copied.attempts == 2
    assert engine.files.get("any:data/out/f.txt") is not None
