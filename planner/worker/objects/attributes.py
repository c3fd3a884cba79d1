"""What an object carries besides its bytes, and how the worker knows it without asking.

User metadata: `mtime` (rclone's format, decimal seconds since the epoch with the fraction:
`1700000000.123456789`), written from the source's mtime, and `xxh64` (lowercase hex, seed 0).
Listings carry no user metadata, so what the worker learnt of an object (written it, or asked it
once with a HEAD) is kept in its metadata database under the object's resource key, valid while
the object's size and ETag are the same (`stamp`: the ETag as the integer the database keeps in
the `ctime_ns` column, which plays for objects the part the ctime plays for files)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from planner.worker.metadata import Content, MetadataRecord

MTIME = "mtime"
XXH64 = "xxh64"


def stamp(etag: str | None) -> int | None:
    """The ETag as a positive 56-bit integer (None when the store gave none)."""
    if not etag:
        return None
    return int.from_bytes(hashlib.blake2b(etag.encode(), digest_size=7).digest(), "big")


def format_mtime(mtime_ns: int) -> str:
    """`1700000000.123456789`: seconds since the epoch with nine decimals (rclone's form)."""
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    return f"{seconds}.{ns:09d}"


def parse_mtime(text: str | None) -> int | None:
    """The nanoseconds of an `mtime` attribute (None when absent or not a number)."""
    if not text:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int(value * 1_000_000_000)


def epoch_ns(moment: datetime) -> int:
    """A timezone-aware datetime (an object's LastModified) in nanoseconds since the epoch."""
    return int(Decimal(str(moment.timestamp())) * 1_000_000_000)


@dataclass(frozen=True, slots=True)
class Known:
    """An object as the worker knows it: its size, mtime (from `mtime`, else LastModified),
    XXH64 when stored, and the stamp of its ETag."""

    size: int
    mtime_ns: int
    checksum: str | None
    stamp: int | None


def from_head(meta: Any, attributes: dict[str, str]) -> Known:
    """What a HEAD (obstore's `get` with `head`) tells of an object."""
    mtime = parse_mtime(attributes.get(MTIME))
    checksum = attributes.get(XXH64)
    if checksum is not None and not _is_hex16(checksum):
        checksum = None
    return Known(
        int(meta["size"]),
        mtime if mtime is not None else epoch_ns(meta["last_modified"]),
        checksum,
        stamp(meta.get("e_tag")),
    )


def _is_hex16(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


class Cache(Protocol):
    """Where the worker keeps what it knows of objects (metadata.MetadataStore)."""

    def of(self, keys: list[str]) -> dict[str, MetadataRecord]: ...

    def under(self, key: str) -> dict[str, MetadataRecord]: ...

    def record_many(self, rows: list[Content]) -> None: ...

    def record_later(
        self, key: str, size: int, mtime_ns: int, ctime_ns: int | None, checksum: str
    ) -> None: ...


def known_from(record: MetadataRecord | None, size: int, etag_stamp: int | None) -> Known | None:
    """The cached knowledge of an object, if its record still describes it (same size and
    ETag)."""
    if (
        record is None
        or etag_stamp is None
        or record.mtime_ns is None
        or (record.size, record.ctime_ns) != (size, etag_stamp)
    ):
        return None
    return Known(size, record.mtime_ns, record.checksum, etag_stamp)


def row(key: str, known: Known) -> Content:
    """The database row that remembers `known` under the resource key `key`."""
    return Content(key, known.size, known.mtime_ns, known.stamp, known.checksum or "")
