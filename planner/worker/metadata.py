"""Metadata of stored files: system fields (size, mtime, XXH64 checksum, recorded when a copy
writes the file and trusted only while size and mtime still match) and custom fields (merged by
metadata:set, a null value removes a key). Keys are resource keys (see acl.resource_key)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from planner.worker.db import StateDB, below_clause


@dataclass
class MetadataRecord:
    """What the store knows of one path."""

    size: int | None = None
    mtime_ns: int | None = None
    checksum: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    def checksum_for(self, size: int, mtime_ns: int) -> str | None:
        """The recorded checksum, if the file has not changed since it was recorded."""
        if self.checksum and self.size == size and self.mtime_ns == mtime_ns:
            return self.checksum
        return None


class MetadataStore:
    """Persistent metadata, one row per path."""

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self.pending: list[tuple[str, int, int, str]] = []
        self.lock = threading.Lock()

    def record_later(self, key: str, size: int, mtime_ns: int, checksum: str) -> None:
        """Queue the system fields of a file just written; `flush` writes them in one batch
        (every read flushes first, so nobody sees stale fields)."""
        with self.lock:
            self.pending.append((key, size, mtime_ns, checksum))

    def flush(self) -> None:
        """Write the queued system fields."""
        with self.lock:
            rows, self.pending = self.pending, []
        self.record_many(rows)

    def get(self, key: str) -> MetadataRecord:
        self.flush()
        rows = self.db.execute(
            "SELECT size, mtime_ns, checksum, custom FROM metadata WHERE key = ?", (key,)
        )
        if not rows:
            return MetadataRecord()
        size, mtime_ns, checksum, custom = rows[0]
        return MetadataRecord(
            size=size if isinstance(size, int) else None,
            mtime_ns=mtime_ns if isinstance(mtime_ns, int) else None,
            checksum=str(checksum) if checksum else None,
            custom=json.loads(str(custom)),
        )

    def record_content(self, key: str, size: int, mtime_ns: int, checksum: str) -> None:
        """Remember the system fields of a file just written (custom fields are kept)."""
        self.record_many([(key, size, mtime_ns, checksum)])

    def record_many(self, rows: list[tuple[str, int, int, str]]) -> None:
        """`record_content` for many files in one transaction."""
        self.db.executemany(
            "INSERT INTO metadata (key, size, mtime_ns, checksum) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns, "
            "checksum=excluded.checksum",
            list(rows),
        )

    def under(self, key: str) -> dict[str, MetadataRecord]:
        """Records of `key` and of every path below it (one query, for recursive listings)."""
        self.flush()
        clause, params = below_clause("key", key)
        rows = self.db.execute(
            f"SELECT key, size, mtime_ns, checksum FROM metadata WHERE {clause}", params
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
                f"SELECT key, size, mtime_ns, checksum FROM metadata WHERE key IN ({marks})",
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


def _system_records(rows: list[tuple[object, ...]]) -> dict[str, MetadataRecord]:
    """key -> the system fields of rows `(key, size, mtime_ns, checksum)`."""
    return {
        str(k): MetadataRecord(
            size=size if isinstance(size, int) else None,
            mtime_ns=mtime if isinstance(mtime, int) else None,
            checksum=str(checksum) if checksum else None,
        )
        for k, size, mtime, checksum in rows
    }
