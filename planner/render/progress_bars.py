"""Progress on a terminal: rich bars, an overall one and one per running action (for the first
few of them: thousands of small actions may run at once)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from planner.render.progress import Clock, PerAction, QuietReporter, file_lines
from planner.render.run_text import action_line, count, summary_lines
from planner.runner.results import ActionResult, ActionState, ItemRecord, RunResult

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


# bars of running actions shown at once; the others wait for one to end (in the order they
# started), so that a terminal shows a few bars, not thousands
MAX_ACTION_BARS = 8


class RichReporter(QuietReporter):
    """A terminal: an overall bar (files, bytes, rate, ETA) and one bar per running action (up
    to MAX_ACTION_BARS), removed when it ends; finished actions are logged above the bars."""

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
        self.live = True
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
        self._waiting: dict[str, ActionResult] = {}  # running, without a bar yet
        self._totals: dict[str, tuple[int | None, int | None]] = {}
        self._final: set[str] = set()
        self._files = 0
        self._bytes = 0
        self._known_files = 0
        self._known_bytes = 0
        self._in_flight = PerAction()  # estimated done in batches still running

    # -- text of the overall line --------------------------------------------------------------
    def _description(self) -> str:
        total = len(self._run.actions) if self._run else 0
        return f"{len(self._final):,}/{total:,} actions"

    def _files_text(self, done: int, total: int | None) -> str:
        return f"{done:,}/{total:,} files" if total else count(done, "file")

    def _refresh_overall(self) -> None:
        if self._overall is None:
            return
        files = self._files + self._in_flight.files
        nbytes = self._bytes + self._in_flight.bytes
        total = max(self._known_bytes, nbytes) if self._known_bytes else None
        self.progress.update(
            self._overall,
            description=self._description(),
            completed=nbytes,
            total=total,
            files=self._files_text(files, self._known_files or None),
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
                self._waiting[action.id] = action
        elif action.state.is_final:
            self._final.add(action.id)
            self._in_flight.drop(action)
            self._waiting.pop(action.id, None)
            if task is not None:
                self.progress.remove_task(self._tasks.pop(action.id))
            self._print(action_line(action, self.color))
        self._show_waiting()
        self._refresh_overall()

    def _show_waiting(self) -> None:
        """Give the running actions that wait for a bar one, while fewer than the most show."""
        while self._waiting and len(self._tasks) < MAX_ACTION_BARS:
            action = self._waiting.pop(next(iter(self._waiting)))
            total_files, total_bytes = self._totals.get(action.id, (None, None))
            more_files, more_bytes = self._in_flight.of(action)
            self._tasks[action.id] = self.progress.add_task(
                f"  {action.id} ({action.kind})",
                total=total_bytes,
                completed=action.bytes_done + more_bytes,
                files=self._files_text(action.files_done + more_files, total_files),
            )

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
        self._in_flight.learn(action, in_flight_files, in_flight_bytes)
        task = self._tasks.get(action.id)
        if task is not None:
            more_files, more_bytes = self._in_flight.of(action)
            self.progress.update(
                task,
                completed=action.bytes_done + more_bytes,
                total=old_bytes,
                files=self._files_text(action.files_done + more_files, old_files),
            )
        self._refresh_overall()

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        if self.verbose:
            for line in file_lines(records):
                self._print(line)

    def finish(self, run: RunResult) -> None:
        self.progress.stop()
        for line in summary_lines(run, self.color):
            self._print(line)

    def _print(self, line: str) -> None:
        from rich.text import Text

        # The line may carry ANSI colour (click.style); rich must not escape it.
        self.console.print(Text.from_ansi(line), soft_wrap=True)
