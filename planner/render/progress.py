"""Progress of a run as it happens, the reporters the CLI gives the runner (the protocol and the
silent default are the runner's, `planner/runner/progress.py`): rich bars on a terminal
(progress_bars.py), plain log lines without one (CI), only the final summary with -q. The
executor calls these from its event loop, so each call is cheap and none starts a thread of its
own."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TextIO

from planner.render.run_text import (
    action_line,
    count,
    file_line,
    human_duration,
    human_size,
    summary_lines,
)
from planner.render.style import use_color
from planner.runner.progress import ProgressReporter, SilentReporter
from planner.runner.results import ActionResult, ActionState, ItemRecord, RunResult

Clock = Callable[[], float]


def file_lines(records: Sequence[ItemRecord]) -> list[str]:
    """The `-v` line of each record that has one."""
    return [line for r in records if (line := file_line(r)) is not None]


def _write_lines(stream: TextIO, lines: list[str]) -> None:
    stream.write("".join(f"{line}\n" for line in lines))
    stream.flush()


class QuietReporter(SilentReporter):
    """`-q`: nothing while running, the final summary at the end."""

    def __init__(self, stream: TextIO, *, color: bool = False) -> None:
        self.stream = stream
        self.color = color

    def finish(self, run: RunResult) -> None:
        _write_lines(self.stream, summary_lines(run, self.color))


class PlainReporter(QuietReporter):
    """No terminal (CI logs): one line per action state change (with `verbose`, one per file
    action too), and a one-line summary at most every `interval` seconds of `clock`: actions,
    files and bytes done of the totals known so far, rate and ETA; written from the calls
    themselves (no timer thread)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        color: bool = False,
        clock: Clock = time.monotonic,
        interval: float = 10.0,
        wallclock: Clock = time.time,
        verbose: bool = False,
    ) -> None:
        super().__init__(stream, color=color)
        self.clock = clock
        self.interval = interval
        self.wallclock = wallclock  # only for the HH:MM:SS stamp on each line
        self.verbose = verbose
        self._run: RunResult | None = None
        self._last = 0.0
        self._bytes_at_last = 0
        self._totals = PerAction()
        self._in_flight = PerAction()

    def _stamp(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.wallclock()))

    def _emit(self, text: str) -> None:
        _write_lines(self.stream, [f"{self._stamp()} {text}"])

    def start(self, run: RunResult) -> None:
        self._run = run
        self._last = self.clock()
        self._bytes_at_last = run.totals()["bytes"]
        done = len(run.succeeded)
        resumed = f", {done:,} already succeeded" if done else ""
        self._emit(
            f"run {run.run_id}: plan {run.plan_name} ({run.plan_file}), "
            f"{count(len(run.actions), 'action')}{resumed}"
        )

    def action_changed(self, action: ActionResult) -> None:
        if action.state.is_final:
            self._in_flight.drop(action)
        if action.state is not ActionState.PENDING:
            self._emit(action_line(action, self.color))
        self._maybe_summarize()

    def advance(
        self,
        action: ActionResult,
        files: int = 0,
        nbytes: int = 0,
        total_files: int | None = None,
        total_bytes: int | None = None,
        in_flight_files: int | None = None,
        in_flight_bytes: int | None = None,
    ) -> None:
        self._totals.learn(action, total_files, total_bytes)
        self._in_flight.learn(action, in_flight_files, in_flight_bytes)
        self._maybe_summarize()

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        if self.verbose:
            for line in file_lines(records):
                self._emit(line)

    def _maybe_summarize(self) -> None:
        now = self.clock()
        elapsed = now - self._last
        if self._run is None or elapsed < self.interval:
            return
        # Summing over the actions is O(actions), but happens at most once per interval.
        run = self._run
        done = sum(1 for a in run.actions if a.state.is_final)
        totals = run.totals()
        # what ended exactly, and an estimate of what the batches still running have done
        files = totals["files_done"] + self._in_flight.files
        nbytes = totals["bytes"] + self._in_flight.bytes
        rate = max((nbytes - self._bytes_at_last) / elapsed if elapsed > 0 else 0.0, 0.0)
        self._last, self._bytes_at_last = now, nbytes
        known_files, known_bytes = self._totals.files, self._totals.bytes
        parts = [
            f"progress: {done:,}/{len(run.actions):,} actions done",
            f"{files:,}/{max(known_files, files):,} files" if known_files else count(files, "file"),
            f"{human_size(nbytes)}/{human_size(max(known_bytes, nbytes))}"
            if known_bytes
            else human_size(nbytes),
            f"{human_size(rate)}/s",
        ]
        if known_bytes > nbytes:
            parts.append(
                f"ETA {human_duration((known_bytes - nbytes) / rate)}" if rate else "ETA ?"
            )
        self._emit(", ".join(parts))


class PerAction:
    """Files and bytes per action, summed over the actions: the work ahead of those that have
    learnt it (a directory copy, once both trees are listed), or what their batches still
    running have done."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0
        self._by_action: dict[str, tuple[int, int]] = {}

    def learn(self, action: ActionResult, files: int | None, nbytes: int | None) -> None:
        if files is None and nbytes is None:
            return
        old_files, old_bytes = self._by_action.get(action.id, (0, 0))
        new_files = old_files if files is None else files
        new_bytes = old_bytes if nbytes is None else nbytes
        self.files += new_files - old_files
        self.bytes += new_bytes - old_bytes
        self._by_action[action.id] = (new_files, new_bytes)

    def of(self, action: ActionResult) -> tuple[int, int]:
        """`action`'s own (0, 0 when it has none)."""
        return self._by_action.get(action.id, (0, 0))

    def drop(self, action: ActionResult) -> None:
        """Forget `action`'s (its batches ended)."""
        self.learn(action, 0, 0)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def make_reporter(
    stream: TextIO,
    *,
    quiet: bool,
    color: bool | None = None,
    clock: Clock = time.monotonic,
    interval: float = 10.0,
    verbose: bool = False,
) -> ProgressReporter:
    """The reporter for `stream`: QuietReporter with -q, RichReporter on a terminal,
    PlainReporter otherwise. `color=None` decides by the stream and NO_COLOR; `verbose` (-v)
    lists every file action as it ends."""
    if color is None:
        color = use_color(stream)
    if quiet:
        return QuietReporter(stream, color=color)
    if _is_terminal(stream):
        from planner.render.progress_bars import RichReporter  # rich loads only on a terminal

        return RichReporter(stream, color=color, clock=clock, verbose=verbose)
    return PlainReporter(stream, color=color, clock=clock, interval=interval, verbose=verbose)
