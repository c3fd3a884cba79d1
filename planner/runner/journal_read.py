"""A run's items read back from its journal, for its outputs (`--format json`, JUnit,
`planner runs show`): streamed as they are consumed, never loaded whole (journal.py writes them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from planner.runner.journal_sql import CHECKSUMS_OF, ITEM_FIELDS_OF, ITEMS_OF, Row, item_of
from planner.runner.results import ActionResult, ItemFields, ItemRecord


class JournalReader:
    """One run's items read back from the journal at `path` (RunResult.journaled): each call
    opens a read-only connection of its own (the run's Journal may be closed by then) and yields
    the rows as they are consumed, so no list of them is held. `own`: only the items an action
    recorded in this run, started when it did or later (a resumed run's journal holds the
    items carried over from the run it resumes too, which its outputs do not list)."""

    def __init__(self, path: Path, run_id: str, *, own: bool = False) -> None:
        self.path = path
        self.run_id = run_id
        self.own = own

    def items(self, action: ActionResult) -> Iterator[ItemRecord]:
        """The action's items in the order first recorded."""
        for row in self._rows(ITEMS_OF, action):
            yield item_of(row)

    def fields(self, action: ActionResult) -> Iterator[ItemFields]:
        """The ItemFields of the action's items, in the order of `items` (no object per row)."""
        yield from self._rows(ITEM_FIELDS_OF, action)

    def checksums(self, action: ActionResult) -> Iterator[tuple[str, str]]:
        """(key, checksum) of the action's succeeded items that have one, sorted by key."""
        for key, checksum in self._rows(CHECKSUMS_OF, action):
            yield str(key), str(checksum)

    def _rows(self, sql: str, action: ActionResult) -> Iterator[Row]:
        since = action.started_at if self.own and action.started_at is not None else None
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc) from exc
        try:
            yield from conn.execute(sql, (self.run_id, action.id, since, since))
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc) from exc
        finally:
            conn.close()


def _read_error(path: Path, exc: sqlite3.Error) -> Exception:
    """The JournalError of a failed read (journal.py imports this module: imported here late)."""
    from planner.runner.journal import JournalError

    return JournalError(f"cannot read the journal {path}: {exc}")
