"""The per-path rows of tree operations (docs/api.md, "Tree operations"): written by the item
in batches (one transaction per batch, with the metadata of the files copied in the batch),
paged by `GET /operations/{id}/files`, and deleted with their operation (operations.py)."""

from __future__ import annotations

import time
from typing import Any

from planner.worker.db import StateDB
from planner.worker.metadata import RECORD_CONTENT, Content

COLUMNS = ["path", "kind", "size", "reason", "state", "checksum", "code", "error"]
BATCH = 4000  # rows (and metadata records) per transaction
# ... or fewer, when the last transaction is this old: a slow tree shows its rows as it goes
FLUSH_AFTER = 0.5  # seconds
# path, kind, size, reason, state, checksum, code, error
Row = tuple[str, str, int, str | None, str, str | None, int | None, str | None]
_INSERT = (
    "INSERT OR REPLACE INTO tree_rows (operation, item, seq, path, kind, size, reason, state, "
    "checksum, code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class RowWriter:
    """The rows of one item, buffered and written BATCH at a time, in walk order; the system
    fields of the files it copied go to the metadata store in the same transactions."""

    def __init__(self, db: StateDB, operation: str, item: int) -> None:
        self.db = db
        self.operation = operation
        self.item = item
        self.written = 0
        self.rows: list[tuple[Any, ...]] = []
        self.contents: list[Content] = []
        self.flushed_at = time.monotonic()

    @property
    def count(self) -> int:
        """Rows so far, written or buffered."""
        return self.written + len(self.rows)

    def add(self, row: Row) -> None:
        self.rows.append((self.operation, self.item, self.count, *row))
        if len(self.rows) >= BATCH or time.monotonic() - self.flushed_at >= FLUSH_AFTER:
            self.flush()

    def record(self, content: Content) -> None:
        """The system fields of a file written (or hashed) by the item."""
        self.contents.append(content)
        if len(self.contents) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered, rows and metadata in one transaction."""
        self.flushed_at = time.monotonic()
        rows, self.rows = self.rows, []
        contents, self.contents = self.contents, []
        self.db.write([(_INSERT, rows), (RECORD_CONTENT, contents)])
        self.written += len(rows)


def page(db: StateDB, operation: str, item: int, offset: int, limit: int) -> dict[str, Any]:
    """The rows `offset` to `offset + limit` of an item, as the files route answers them."""
    found = db.execute(
        "SELECT path, kind, size, reason, state, checksum, code, error FROM tree_rows "
        "WHERE operation = ? AND item = ? AND seq >= ? ORDER BY seq LIMIT ?",
        (operation, item, offset, limit + 1),
    )
    more = len(found) > limit
    return {
        "columns": COLUMNS,
        "rows": [list(row) for row in found[:limit]],
        "next_offset": offset + limit if more else None,
    }
