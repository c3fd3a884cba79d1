"""Where the embedded worker keeps remote `any`, said in the run header (and, by plan.py, in the
preview's first line): `.planner/storage/` is easy to lose (`git clean -fdx` removes it)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

    from planner.compile import CompiledPlan
    from planner.runner.progress import ProgressReporter
    from planner.runner.results import ActionResult, ItemRecord, RunResult


def uses_any(compiled: CompiledPlan) -> bool:
    """Whether a storage of the plan is on remote `any`."""
    return any(s.remote == "any" for s in compiled.plan.storages.values())


class StorageNote:
    """A reporter that adds one line to the run header: `any → .planner/storage/ beside the plan`
    (after the header line in plain output; before the live bars on a terminal)."""

    def __init__(self, inner: ProgressReporter, stream: TextIO, note: str) -> None:
        self.inner = inner
        self.stream = stream
        self.note = note

    def start(self, run: RunResult) -> None:
        """The header, then the note (the note first on a terminal, before the bars start)."""
        isatty = getattr(self.stream, "isatty", None)
        if isatty and isatty():
            self.stream.write(f"{self.note}\n")
            self.inner.start(run)
            return
        self.inner.start(run)
        self.stream.write(f"{time.strftime('%H:%M:%S')} {self.note}\n")
        self.stream.flush()

    @property
    def verbose(self) -> bool:
        """As the wrapped reporter."""
        return self.inner.verbose

    @property
    def live(self) -> bool:
        """As the wrapped reporter."""
        return self.inner.live

    def action_changed(self, action: ActionResult) -> None:
        """As the wrapped reporter."""
        self.inner.action_changed(action)

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
        """As the wrapped reporter."""
        self.inner.advance(
            action, files, nbytes, total_files, total_bytes, in_flight_files, in_flight_bytes
        )

    def items_done(self, action: ActionResult, records: Sequence[ItemRecord]) -> None:
        """As the wrapped reporter."""
        self.inner.items_done(action, records)

    def finish(self, run: RunResult) -> None:
        """As the wrapped reporter."""
        self.inner.finish(run)
