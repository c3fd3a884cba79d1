"""Progress reporters: plain log lines without a terminal, rich bars on one, only the summary
with -q; time comes from a fake clock, so nothing sleeps."""

from __future__ import annotations

import io
import re

import pytest

from planner.render.progress import (
    PlainReporter,
    QuietReporter,
    make_reporter,
)
from planner.render.progress_bars import MAX_ACTION_BARS, RichReporter
from planner.render.run_text import summary_lines
from planner.runner.results import ActionResult, ActionState, RunResult

STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """A stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def make_run() -> RunResult:
    return RunResult(
        run_id="R1",
        plan_file="plan.yaml",
        plan_name="nightly",
        digest="d",
        started_at=0.0,
        actions=[
            ActionResult(id="fetch", kind="copy"),
            ActionResult(id="publish", kind="copy"),
            ActionResult(id="cleanup", kind="removal"),
        ],
    )


def _start(action: ActionResult, at: float) -> None:
    action.state, action.started_at = ActionState.RUNNING, at


def _progress(action: ActionResult, files: int, nbytes: int) -> None:
    action.files_done += files
    action.bytes_done += nbytes


def _lines(stream: io.StringIO) -> list[str]:
    """Output lines without their HH:MM:SS stamp."""
    lines = stream.getvalue().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    return [STAMP.sub("", line) for line in lines]


def _plain() -> tuple[PlainReporter, io.StringIO, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    reporter = make_reporter(stream, quiet=False, clock=clock, interval=10.0)
    assert isinstance(reporter, PlainReporter)
    return reporter, stream, clock


def test_plain_reporter_writes_one_line_per_state_change() -> None:
    reporter, stream, _ = _plain()
    run = make_run()
    fetch, publish, cleanup = run.actions
    reporter.start(run)
    _start(fetch, 0.0)
    reporter.action_changed(fetch)
    _progress(fetch, 12, 3_400_000)
    reporter.advance(fetch, files=12, nbytes=3_400_000)
    fetch.state, fetch.ended_at = ActionState.SUCCEEDED, 1.2
    reporter.action_changed(fetch)
    _start(publish, 1.2)
    reporter.action_changed(publish)
    publish.state, publish.error = ActionState.FAILED, "permission denied"
    reporter.action_changed(publish)
    cleanup.state, cleanup.error = ActionState.SKIPPED, "skipped: 'publish' failed"
    reporter.action_changed(cleanup)
    assert _lines(stream) == [
        "run R1: plan nightly (plan.yaml), 3 actions",
        "fetch (copy): running",
        "fetch (copy): succeeded: 12 files copied, 3.4 MB in 1.2s",
        "publish (copy): running",
        "publish (copy): failed: permission denied",
        "cleanup (removal): skipped: 'publish' failed",
    ]


def test_plain_reporter_summarises_only_once_the_interval_has_passed() -> None:
    reporter, stream, clock = _plain()
    run = make_run()
    fetch = run.actions[0]
    reporter.start(run)
    _start(fetch, 0.0)
    reporter.action_changed(fetch)
    clock.now += 9.9
    _progress(fetch, 1234, 56_700_000)
    reporter.advance(fetch, files=1234, nbytes=56_700_000)
    assert len(_lines(stream)) == 2  # the start line and "running": no summary yet
    clock.now += 0.1
    reporter.advance(fetch)
    assert _lines(stream)[-1] == "progress: 0/3 actions done, 1,234 files, 56.7 MB, 5.7 MB/s"
    clock.now += 5
    reporter.advance(fetch)
    assert len(_lines(stream)) == 3
    clock.now += 5
    _progress(fetch, 1, 20_000_000)
    fetch.state = ActionState.SUCCEEDED
    reporter.action_changed(fetch)
    assert _lines(stream)[-2:] == [
        "fetch (copy): succeeded: 1,235 files copied, 76.7 MB in 0.0s",
        "progress: 1/3 actions done, 1,235 files, 76.7 MB, 2.0 MB/s",
    ]


def test_plain_reporter_finish_prints_the_summary() -> None:
    reporter, stream, _ = _plain()
    run = make_run()
    reporter.start(run)
    reporter.finish(run)
    assert stream.getvalue().splitlines()[1:] == summary_lines(run)


def test_plain_reporter_mentions_actions_already_done_by_a_resumed_run() -> None:
    reporter, stream, _ = _plain()
    run = make_run()
    run.actions[0].state = ActionState.SUCCEEDED
    reporter.start(run)
    assert _lines(stream) == ["run R1: plan nightly (plan.yaml), 3 actions, 1 already succeeded"]


@pytest.mark.parametrize("stream", [io.StringIO(), Terminal()])
def test_quiet_reporter_prints_only_the_summary(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    reporter = make_reporter(stream, quiet=True, clock=FakeClock(), interval=0.0)
    assert isinstance(reporter, QuietReporter)
    run = make_run()
    fetch = run.actions[0]
    reporter.start(run)
    _start(fetch, 0.0)
    reporter.action_changed(fetch)
    _progress(fetch, 3, 3000)
    reporter.advance(fetch, files=3, nbytes=3000)
    fetch.state = ActionState.FAILED
    fetch.error = "boom"
    reporter.action_changed(fetch)
    run.ended_at = 2.0
    reporter.finish(run)
    # Coloured on a terminal, as every text output.
    expected = summary_lines(run, color=stream.isatty())
    assert stream.getvalue() == "\n".join(expected) + "\n"


def test_rich_reporter_on_a_terminal_shows_bars_and_ends_with_the_summary() -> None:
    stream, clock = Terminal(), FakeClock()
    reporter = make_reporter(stream, quiet=False, color=False, clock=clock)
    assert isinstance(reporter, RichReporter)
    run = make_run()
    fetch, publish, cleanup = run.actions
    reporter.start(run)
    _start(fetch, 0.0)
    reporter.action_changed(fetch)
    clock.now += 1
    _progress(fetch, 5, 5_000_000)
    reporter.advance(fetch, files=5, nbytes=5_000_000, total_files=10, total_bytes=10_000_000)
    clock.now += 1
    _progress(fetch, 5, 5_000_000)
    reporter.advance(fetch, files=5, nbytes=5_000_000)
    fetch.state, fetch.ended_at = ActionState.SUCCEEDED, 2.0
    reporter.action_changed(fetch)
    _start(publish, 2.0)
    reporter.action_changed(publish)
    publish.state, publish.error = ActionState.FAILED, "permission denied"
    reporter.action_changed(publish)
    cleanup.state = ActionState.SKIPPED
    reporter.action_changed(cleanup)
    run.ended_at = 3.0
    reporter.finish(run)
    output = stream.getvalue()
    for line in summary_lines(run):
        assert line in output
    assert "fetch (copy): succeeded: 10 files copied, 10.0 MB in 2.0s" in output
    assert "publish (copy): failed: permission denied" in output


def test_rich_reporter_shows_bars_for_the_first_running_actions_only() -> None:
    """Thousands of small actions may run at once: a few bars show, and an action that waits
    for one gets the bar of the first one to end."""
    stream = Terminal()
    reporter = make_reporter(stream, quiet=False, color=False, clock=FakeClock())
    assert isinstance(reporter, RichReporter)
    actions = [ActionResult(id=f"c{i}", kind="copy") for i in range(30)]
    run = RunResult("R1", "plan.yaml", "many", "d", 0.0, actions=actions)
    reporter.start(run)
    for action in actions:
        _start(action, 0.0)
        reporter.action_changed(action)

    def bars() -> list[str]:
        return [t.description.strip() for t in reporter.progress.tasks][1:]  # the overall first

    assert bars() == [f"c{i} (copy)" for i in range(MAX_ACTION_BARS)]
    actions[2].state = ActionState.SUCCEEDED
    reporter.action_changed(actions[2])
    shown = [f"c{i} (copy)" for i in range(MAX_ACTION_BARS + 1) if i != 2]
    assert sorted(bars()) == sorted(shown)
    for action in actions:
        if not action.state.is_final:
            action.state = ActionState.SUCCEEDED
            reporter.action_changed(action)
    assert bars() == []
    run.ended_at = 1.0
    reporter.finish(run)
    assert "c29 (copy): succeeded" in stream.getvalue()


def test_rich_reporter_is_uncoloured_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    reporter = make_reporter(Terminal(), quiet=False)
    assert isinstance(reporter, RichReporter)
    assert reporter.color is False
    assert reporter.console.no_color
