"""Metadata of stored files: system fields (size, mtime, ctime, XXH64 checksum, recorded when a
copy writes the file or metadata:get hashes it, and trusted only while size, mtime and ctime still
match: any write of the content changes the ctime, and no user can set it back) and custom fields
(merged by metadata:set, a null value removes a key). Keys are resource keys (see
acl.resource_key)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from planner.worker.db import StateDB, below_clause


@dataclass
class MetadataRecord:
    """What the store knows of one path."""

    size: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None  # None: recorded by a worker that did not keep it
    checksum: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    def checksum_for(self, size: int, mtime_ns: int, ctime_ns: int | None) -> str | None:
        """The recorded checksum, if the file (as stat gives its size, mtime and ctime now) has
        not changed since it was recorded. The ctime tells a rewrite in place that kept the
        size and put the mtime back; a rename changes it too on most filesystems (ext4, tmpfs,
        XFS), so a moved file is hashed again when next asked."""
        if (
            self.checksum
            and self.ctime_ns is not None
            and (self.size, self.mtime_ns, self.ctime_ns) == (size, mtime_ns, ctime_ns)
        ):
            return self.checksum
        return None


class Content(NamedTuple):
    """The system fields of one file as written or hashed (a row of `MetadataStore.record_many`)."""

    key: str
    size: int
    mtime_ns: int
    ctime_ns: int | None
    checksum: str


# the statement of `record_many`, for callers that write it in a transaction of their own
RECORD_CONTENT = (
    "INSERT INTO metadata (key, size, mtime_ns, ctime_ns, checksum) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
    "ctime_ns=excluded.ctime_ns, checksum=excluded.checksum"
)


class MetadataStore:
    """Persistent metadata, one row per path."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.pending: list[Content] = []
        self.lock = threading.Lock()

    def record_later(
        self, key: str, size: int, mtime_ns: int, ctime_ns: int | None, checksum: str
    ) -> None:
        """Queue the system fields of a file just written; `flush` writes them in one batch
        (every read flushes first, so nobody sees stale fields)."""
        with self.lock:
            self.pending.append(Content(key, size, mtime_ns, ctime_ns, checksum))

    def flush(self) -> None:
        """Write the queued system fields."""
        with self.lock:
            rows, self.pending = self.pending, []
        self.record_many(rows)

    def get(self, key: str) -> MetadataRecord:
        self.flush()
        rows = self.db.execute(
            f"SELECT {_SYSTEM_COLUMNS}, custom FROM metadata WHERE key = ?", (key,)
        )
        if not rows:
            return MetadataRecord()
        record = _system_record(rows[0][:4])
        record.custom = json.loads(str(rows[0][4]))
        return record

    def record_content(
        self, key: str, size: int, mtime_ns: int, ctime_ns: int | None, checksum: str
    ) -> None:
        """Remember the system fields of a file just written or hashed (custom fields are
        kept)."""
        self.record_many([Content(key, size, mtime_ns, ctime_ns, checksum)])

    def record_many(self, rows: list[Content]) -> None:
        """`record_content` for many files in one transaction."""
        self.db.executemany(RECORD_CONTENT, rows)

    def under(self, key: str) -> dict[str, MetadataRecord]:
        """Records of `key` and of every path below it (one query, for recursive listings)."""
        self.flush()
        clause, params = below_clause("key", key)
        rows = self.db.execute(
            f"SELECT key, {_SYSTEM_COLUMNS} FROM metadata WHERE {clause}", params
        )
        return _system_records(rows)

    def of(self, keys: list[str]) -> dict[str, MetadataRecord]:
        """Records of exactly these keys (for a listing of one level: the subtree below a
        directory can hold far more records than its children)."""
        self.flush()
        rows: list[tuple[object, ...]] = []
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows += self.db.execute(
                f"SELECT key, {_SYSTEM_COLUMNS} FROM metadata WHERE key IN ({marks})",
                tuple(chunk),
            )
        return _system_records(rows)

    def merge_custom(self, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge custom fields (None removes a key); returns the result."""
        custom = self.get(key).custom
        for name, value in changes.items():
            if value is None:
                custom.pop(name, None)
            else:
                custom[name] = value
        self.db.execute(
            "INSERT INTO metadata (key, custom) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET custom=excluded.custom",
            (key, json.dumps(custom, sort_keys=True)),
        )
        return custom

    def forget(self, key: str) -> None:
        """Drop the metadata of a removed path and of everything below it."""
        self.flush()
        clause, params = below_clause("key", key)
        self.db.execute(f"DELETE FROM metadata WHERE {clause}", params)

    def move(self, old: str, new: str) -> None:
        """Carry the metadata of a moved path (and of everything below it) to its new place."""
        self.flush()
        self.forget(new)
        clause, params = below_clause("key", old)
        rows = self.db.execute(f"SELECT key FROM metadata WHERE {clause}", params)
        self.db.executemany(
            "UPDATE metadata SET key = ? WHERE key = ?",
            [(new + str(other)[len(old) :], other) for (other,) in rows],
        )


_KEYS_PER_QUERY = 500  # below SQLite's limit on bound parameters
_SYSTEM_COLUMNS = "size, mtime_ns, ctime_ns, checksum"


def _system_record(row: tuple[object, ...]) -> MetadataRecord:
    """The record of a row of _SYSTEM_COLUMNS."""
    size, mtime, ctime, checksum = row
    return MetadataRecord(
        size=size if isinstance(size, int) else None,
        mtime_ns=mtime if isinstance(mtime, int) else None,
        ctime_ns=ctime if isinstance(ctime, int) else None,
        checksum=str(checksum) if checksum else None,
    )


def _system_records(rows: list[tuple[object, ...]]) -> dict[str, MetadataRecord]:
    """key -> the record of rows `(key, *_SYSTEM_COLUMNS)`."""
    return {str(row[0]): _system_record(row[1:]) for row in rows}
