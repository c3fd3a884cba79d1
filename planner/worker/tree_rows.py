"""The per-path rows of tree operations (docs/api.md, "Tree operations"): written by the item
in batches (one transaction per batch, with the metadata of the files copied in the batch),
paged by `GET /operations/{id}/files`, and deleted with their operation (operations.py).

The transactions run on a writer thread of the item's own, so that the copy loop never waits
for one (SQLite releases the GIL while it works): batches are handed over through a short
queue, written one after another in the order handed over (walk order), and `close` returns
only once every row is written."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from planner.worker.db import StateDB
from planner.worker.metadata import RECORD_CONTENT, Content

COLUMNS = ["path", "kind", "size", "reason", "state", "checksum", "code", "error"]
# rows (and metadata records) per transaction: short ones, as the item may wait for the
# database lock meanwhile (a temporary file registered in a new directory), and so may a page
BATCH = 1000
# ... or fewer, when the last transaction is this old: a slow tree shows its rows as it goes
FLUSH_AFTER = 0.5  # seconds
# batches handed over and not written yet, at most: beyond it the item waits for the writer
# (memory stays bounded however far the copies run ahead of the database)
QUEUED = 4
# path, kind, size, reason, state, checksum, code, error
Row = tuple[str, str, int, str | None, str, str | None, int | None, str | None]
_INSERT = (
    "INSERT OR REPLACE INTO tree_rows (operation, item, seq, path, kind, size, reason, state, "
    "checksum, code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_Batch = tuple[list[tuple[Any, ...]], list[Content]]


class RowWriter:
    """The rows of one item, buffered and written BATCH at a time, in walk order, by a writer
    thread; the system fields of the files it copied go to the metadata store in the same
    transactions. A failed transaction fails the next `add`, `record`, `flush` or `close` (and
    nothing after it is written: the rows stay a prefix of the walk)."""

    def __init__(self, db: StateDB, operation: str, item: int) -> None:
        self.db = db
        self.operation = operation
        self.item = item
        self.handed = 0  # rows handed to the writer
        self.rows: list[tuple[Any, ...]] = []
        self.contents: list[Content] = []
        self.flushed_at = time.monotonic()
        self.batches: queue.Queue[_Batch | None] = queue.Queue(QUEUED)
        self.thread: threading.Thread | None = None  # started with the first batch
        self.error: BaseException | None = None

    @property
    def count(self) -> int:
        """Rows so far, written or buffered."""
        return self.handed + len(self.rows)

    def add(self, row: Row) -> None:
        self.rows.append((self.operation, self.item, self.count, *row))
        if len(self.rows) >= BATCH or time.monotonic() - self.flushed_at >= FLUSH_AFTER:
            self._hand_over()

    def record(self, content: Content) -> None:
        """The system fields of a file written (or hashed) by the item."""
        self.contents.append(content)
        if len(self.contents) >= BATCH:
            self._hand_over()

    def flush(self) -> None:
        """Write what is buffered, rows and metadata in one transaction, and return once
        everything handed over so far is written.

        Raises:
            sqlite3.Error: a transaction failed (this one or an earlier one).
        """
        self._hand_over()
        self.batches.join()
        self._raise()

    def close(self) -> None:
        """Flush, then end the writer thread (also when a transaction failed)."""
        try:
            self.flush()
        finally:
            if self.thread is not None:
                self.batches.put(None)
                self.thread.join()
                self.thread = None

    def _hand_over(self) -> None:
        self._raise()
        self.flushed_at = time.monotonic()
        if not self.rows and not self.contents:
            return
        batch = (self.rows, self.contents)
        self.handed += len(self.rows)
        self.rows, self.contents = [], []
        if self.thread is None:
            self.thread = threading.Thread(target=self._write, name="tree-rows", daemon=True)
            self.thread.start()
        self.batches.put(batch)

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _write(self) -> None:
        """The writer thread: each batch in one transaction, until `close`."""
        while True:
            batch = self.batches.get()
            try:
                if batch is None:
                    return
                if self.error is None:
                    rows, contents = batch
                    self.db.write([(_INSERT, rows), (RECORD_CONTENT, contents)])
            except BaseException as exc:  # for the item's thread to raise
                self.error = exc
            finally:
                self.batches.task_done()


# each row as JSON text, made by SQLite (its json_array escapes as JSON requires; the values
# are text, integers and NULL), so that a page is never built value by value in Python
_PAGE = (
    "SELECT json_array(path, kind, size, reason, state, checksum, code, error) FROM tree_rows "
    "WHERE operation = ? AND item = ? AND seq >= ? ORDER BY seq LIMIT ?"
)
_COLUMNS_JSON = json.dumps(COLUMNS, separators=(",", ":"))


def page(db: StateDB, operation: str, item: int, offset: int, limit: int) -> bytes:
    """The rows `offset` to `offset + limit` of an item, as the files route answers them: the
    JSON object `{"columns": COLUMNS, "rows": [[...], ...], "next_offset": N or null}`."""
    found = db.execute(_PAGE, (operation, item, offset, limit + 1))
    more = len(found) > limit
    rows = ",".join([str(row[0]) for row in found[:limit]])
    following = str(offset + limit) if more else "null"
    text = f'{{"columns":{_COLUMNS_JSON},"rows":[{rows}],"next_offset":{following}}}'
    return text.encode()
