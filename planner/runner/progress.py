"""Progress of a run as it happens (PRODUCT.md §3): rich bars on a terminal, plain log lines
without one (CI), only the final summary with -q. The executor calls these from its event loop,
so each call is cheap and none starts a thread of its own."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from planner.render.run_text import (
    action_line,
    count,
    file_line,
    human_duration,
    human_size,
    summary_lines,
)
from planner.render.style import use_color
from planner.runner.results import ActionResult, ActionState, ItemRecord, RunResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

Clock = Callable[[], float]


class ProgressReporter(Protocol):
    """What the executor tells about a run while it runs."""

    def start(self, run: RunResult) -> None:
        """The run begins (actions already succeeded in a resumed run are in `run`)."""

    def action_changed(self, action: ActionResult) -> None:
        """An action changed state: pending -> running -> succeeded | failed | skipped."""

    def advance(
        self,
        action: ActionResult,
        files: int = 0,
        nbytes: int = 0,
        total_files: int | None = None,
        total_bytes: int | None = None,
    ) -> None:
        """`files` and `nbytes` more are done (already counted in `action.files_done` and
        `action.bytes_done`); `total_files`/`total_bytes` when the action has learnt them."""

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        """Items of `action` ended (succeeded or failed): `-v` lists each file action."""

    def finish(self, run: RunResult) -> None:
        """The run is over: print the final summary (always, even when quiet)."""


def _file_lines(records: Sequence[ItemRecord]) -> list[str]:
    return [line for r in records if (line := file_line(r)) is not None]


def _write_lines(stream: TextIO, lines: list[str]) -> None:
    stream.write("".join(f"{line}\n" for line in lines))
    stream.flush()


class SilentReporter:
    """Nothing at all (a preview prints its own report at the end)."""

    def start(self, run: RunResult) -> None: ...

    def action_changed(self, action: ActionResult) -> None: ...

    def advance(
        self,
        action: ActionResult,
        files: int = 0,
        nbytes: int = 0,
        total_files: int | None = None,
        total_bytes: int | None = None,
    ) -> None: ...

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None: ...

    def finish(self, run: RunResult) -> None: ...


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
        self._totals = _KnownTotals()

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
    ) -> None:
        self._totals.learn(action, total_files, total_bytes)
        self._maybe_summarize()

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        if self.verbose:
            for line in _file_lines(records):
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
        files, nbytes = totals["files_done"], totals["bytes"]
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


class _KnownTotals:
    """The files and bytes ahead, over every action that has learnt its own (a directory copy,
    once both trees are listed)."""

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


class RichReporter(QuietReporter):
    """A terminal: an overall bar (files, bytes, rate, ETA) and one bar per running action,
    removed when it ends; finished actions are logged above the bars."""

    def __init__(
        self,
        stream: TextIO,
        *,
        color: bool = False,
        clock: Clock = time.monotonic,
        verbose: bool = False,
    ) -> None:
        super().__init__(stream, color=color)
        self.verbose = verbose
        # rich is imported here, not at module level: `planner validate` must start fast.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console: Console = Console(
            file=stream,
            force_terminal=True,
            color_system="auto" if color else None,
            no_color=not color,
            highlight=False,
        )
        self.progress: Progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[files]}", markup=False),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            get_time=clock,
            transient=True,
        )
        self._run: RunResult | None = None
        self._overall: TaskID | None = None
        self._tasks: dict[str, TaskID] = {}
        self._totals: dict[str, tuple[int | None, int | None]] = {}
        self._final: set[str] = set()
        self._files = 0
        self._bytes = 0
        self._known_files = 0
        self._known_bytes = 0

    # -- text of the overall line --------------------------------------------------------------
    def _description(self) -> str:
        total = len(self._run.actions) if self._run else 0
        return f"{len(self._final):,}/{total:,} actions"

    def _files_text(self, done: int, total: int | None) -> str:
        return f"{done:,}/{total:,} files" if total else count(done, "file")

    def _refresh_overall(self) -> None:
        if self._overall is None:
            return
        total = max(self._known_bytes, self._bytes) if self._known_bytes else None
        self.progress.update(
            self._overall,
            description=self._description(),
            completed=self._bytes,
            total=total,
            files=self._files_text(self._files, self._known_files or None),
        )

    # -- the protocol -------------------------------------------------------------------------
    def start(self, run: RunResult) -> None:
        self._run = run
        totals = run.totals()
        self._files, self._bytes = totals["files_done"], totals["bytes"]
        self._final = {a.id for a in run.actions if a.state.is_final}
        self.progress.start()
        self._overall = self.progress.add_task(
            self._description(),
            total=None,
            completed=self._bytes,
            files=self._files_text(self._files, None),
        )

    def action_changed(self, action: ActionResult) -> None:
        task = self._tasks.get(action.id)
        if action.state is ActionState.RUNNING:
            self._final.discard(action.id)
            if task is None:
                total_files, total_bytes = self._totals.get(action.id, (None, None))
                self._tasks[action.id] = self.progress.add_task(
                    f"  {action.id} ({action.kind})",
                    total=total_bytes,
                    completed=action.bytes_done,
                    files=self._files_text(action.files_done, total_files),
                )
        elif action.state.is_final:
            self._final.add(action.id)
            if task is not None:
                self.progress.remove_task(self._tasks.pop(action.id))
            self._print(action_line(action, self.color))
        self._refresh_overall()

    def advance(
        self,
        action: ActionResult,
        files: int = 0,
        nbytes: int = 0,
        total_files: int | None = None,
        total_bytes: int | None = None,
    ) -> None:
        self._files += files
        self._bytes += nbytes
        old_files, old_bytes = self._totals.get(action.id, (None, None))
        if total_files is not None or total_bytes is not None:
            new_files = old_files if total_files is None else total_files
            new_bytes = old_bytes if total_bytes is None else total_bytes
            self._known_files += (new_files or 0) - (old_files or 0)
            self._known_bytes += (new_bytes or 0) - (old_bytes or 0)
            self._totals[action.id] = (new_files, new_bytes)
            old_files, old_bytes = new_files, new_bytes
        task = self._tasks.get(action.id)
        if task is not None:
            self.progress.update(
                task,
                completed=action.bytes_done,
                total=old_bytes,
                files=self._files_text(action.files_done, old_files),
            )
        self._refresh_overall()

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        if self.verbose:
            for line in _file_lines(records):
                self._print(line)

    def finish(self, run: RunResult) -> None:
        self.progress.stop()
        for line in summary_lines(run, self.color):
            self._print(line)

    def _print(self, line: str) -> None:
        from rich.text import Text

        # The line may carry ANSI colour (click.style); rich must not escape it.
        self.console.print(Text.from_ansi(line), soft_wrap=True)


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
        return RichReporter(stream, color=color, clock=clock, verbose=verbose)
    return PlainReporter(stream, color=color, clock=clock, interval=interval, verbose=verbose)
