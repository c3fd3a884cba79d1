"""What the executor tells about a run while it runs: the `ProgressReporter` protocol, and
`SilentReporter`, which tells nobody (the default, and what a preview uses). The reporters that
print (plain lines, -q, rich bars) are presentation: they live in `planner/render/progress.py`
and `planner/render/progress_bars.py`, and the CLI chooses one. The executor calls these from its
event loop, so each call must be cheap and none may start a thread of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from planner.runner.results import ActionResult, ItemRecord, RunResult


class ProgressReporter(Protocol):
    """What the executor tells about a run while it runs."""

    # lists every file action (-v): only then are records made for `items_done` that the
    # run would otherwise not make (a tree operation's rows go to the journal as they are)
    verbose: bool
    # redraws what runs as it runs (bars on a terminal): the in-flight progress of long
    # operations is then fetched at a bounded rate rather than as rarely as their end allows
    live: bool

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
        in_flight_files: int | None = None,
        in_flight_bytes: int | None = None,
    ) -> None:
        """`files` and `nbytes` more are done (already counted in `action.files_done` and
        `action.bytes_done`); `total_files`/`total_bytes` when the action has learnt them;
        `in_flight_files`/`in_flight_bytes` (replacing the previous ones) the estimate of what
        its batches still running have done, which `action` does not count yet."""

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        """Items of `action` ended (succeeded or failed): `-v` lists each file action."""

    def finish(self, run: RunResult) -> None:
        """The run is over: print the final summary (always, even when quiet)."""


class SilentReporter:
    """Nothing at all (a preview prints its own report at the end)."""

    verbose = False
    live = False

    def start(self, run: RunResult) -> None: ...

    def action_changed(self, action: ActionResult) -> None: ...

    def advance(
        self,
        action: ActionResult,
        files: int = 0,
        nbytes: int = 0,
        total_files: int | None = None,
        total_bytes: int | None = None,
        in_flight_files: int | None = None,
        in_flight_bytes: int | None = None,
    ) -> None: ...

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None: ...

    def finish(self, run: RunResult) -> None: ...
