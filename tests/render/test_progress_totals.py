"""`planner run` without a terminal (issue 10, item 21): the periodic progress line carries
files and bytes done of the known totals, the rate and an ETA; with `-v`, each file action is
a line of its own. A fake clock drives the interval, so nothing sleeps."""

from __future__ import annotations

import io
import re

from planner.render.progress import PlainReporter, make_reporter
from planner.runner.results import ActionResult, ActionState, ItemRecord, ItemState, RunResult

STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(stream: io.StringIO) -> list[str]:
    return [STAMP.sub("", line) for line in stream.getvalue().splitlines()]


def _run() -> RunResult:
    actions = [ActionResult(id="fetch", kind="copy"), ActionResult(id="clean", kind="removal")]
    return RunResult("R1", "plan.yaml", "nightly", "d", 0.0, actions=actions)


def _plain(*, verbose: bool = False) -> tuple[PlainReporter, io.StringIO, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    reporter = make_reporter(stream, quiet=False, clock=clock, interval=10.0, verbose=verbose)
    assert isinstance(reporter, PlainReporter)
    return reporter, stream, clock


def test_the_progress_line_has_totals_rate_and_eta() -> None:
    reporter, stream, clock = _plain()
    run = _run()
    fetch = run.actions[0]
    reporter.start(run)
    fetch.state = ActionState.RUNNING
    reporter.action_changed(fetch)
    reporter.advance(fetch, total_files=29_982, total_bytes=300_000_000)
    clock.now += 10
    fetch.files_done, fetch.bytes_done = 1_000, 100_000_000
    reporter.advance(fetch, files=1_000, nbytes=100_000_000)
    assert _lines(stream)[-1] == (
        "progress: 0/2 actions done, 1,000/29,982 files, 100.0 MB/300.0 MB, 10.0 MB/s, ETA 20.0s"
    )
    clock.now += 100
    fetch.files_done, fetch.bytes_done = 2_000, 150_000_000
    reporter.advance(fetch, files=1_000, nbytes=50_000_000)
    assert _lines(stream)[-1] == (
        "progress: 0/2 actions done, 2,000/29,982 files, 150.0 MB/300.0 MB, 500.0 kB/s, ETA 5m00s"
    )


def test_the_eta_is_unknown_until_bytes_move_and_absent_once_all_are_done() -> None:
    reporter, stream, clock = _plain()
    run = _run()
    fetch = run.actions[0]
    reporter.start(run)
    reporter.advance(fetch, total_files=2, total_bytes=2_000)
    clock.now += 10
    reporter.advance(fetch)
    assert _lines(stream)[-1] == ("progress: 0/2 actions done, 0/2 files, 0 B/2.0 kB, 0 B/s, ETA ?")
    clock.now += 10
    fetch.files_done, fetch.bytes_done = 2, 2_000
    reporter.advance(fetch, files=2, nbytes=2_000)
    assert _lines(stream)[-1] == "progress: 0/2 actions done, 2/2 files, 2.0 kB/2.0 kB, 200 B/s"


def _record(
    kind: str, dst: str, size: int = 0, *, replaced: bool = False, src: str = ""
) -> ItemRecord:
    return ItemRecord(
        "fetch",
        dst,
        kind,
        src=src,
        dst=dst,
        size=size,
        state=ItemState.SUCCEEDED,
        replaced=replaced,
    )


def test_verbose_lists_every_file_action_like_rsync() -> None:
    reporter, stream, _ = _plain(verbose=True)
    run = _run()
    reporter.start(run)
    failed = _record("copy", "local:out/lost.bin", 9)
    failed.state = ItemState.FAILED
    reporter.items_done(
        run.actions[0],
        [
            _record("copy", "local:out/a.csv", 1_200),
            _record("copy", "local:out/b.csv", 5, replaced=True),
            failed,
            _record("move", "local:new/x.bin", 10, src="local:old/x.bin"),
            _record("remove", "local:junk/1.tmp", 1),
            _record("rmdir", "local:junk/cache"),
            _record("mkdir", "local:made"),
        ],
    )
    assert _lines(stream)[1:] == [
        "+ copied local:out/a.csv (1.2 kB)",
        "~ overwritten local:out/b.csv (5 B)",
        "+ moved local:old/x.bin -> local:new/x.bin (10 B)",
        "- deleted local:junk/1.tmp",
        "- deleted local:junk/cache/",
        "+ created local:made/",
    ]


def test_without_verbose_no_file_lines() -> None:
    reporter, stream, _ = _plain()
    run = _run()
    reporter.start(run)
    reporter.items_done(run.actions[0], [_record("copy", "local:out/a.csv", 1)])
    assert len(_lines(stream)) == 1  # only the start line


class Terminal(io.StringIO):
    """A stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_verbose_on_a_terminal_prints_file_actions_above_the_bars() -> None:
    stream = Terminal()
    reporter = make_reporter(stream, quiet=False, color=False, clock=FakeClock(), verbose=True)
    run = _run()
    reporter.start(run)
    reporter.items_done(run.actions[0], [_record("copy", "local:out/a.csv", 1_200)])
    reporter.finish(run)
    assert "+ copied local:out/a.csv (1.2 kB)\n" in stream.getvalue()
