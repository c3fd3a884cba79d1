"""The entries of a tree listing, as the runner and the worker's tree operations both see them:
a file or directory with its size, mtime and checksum when known, parsed from the recursive
extended listing of docs/api.md. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from planner.gcpause import paused_gc

__all__ = ["Entry", "EntryType", "Problems", "listing_from_wire", "split_listing"]

EntryType = Literal["file", "dir"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or directory of a listing."""

    path: str  # relative to the listed directory, "/"-separated
    type: EntryType
    size: int
    mtime_ns: int  # nanoseconds since the epoch (UTC)
    checksum: str | None  # XXH64 lowercase hex, None when the worker does not know it
    is_link: bool = False  # reached through a symbolic link (itself or a linked directory above)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Entry:
        """An entry of a recursive extended listing: `{"name", "type", "size", "mtime",
        "checksum"?, "link"?}`. A directory may omit `size` and `mtime`.

        Raises:
            ValueError: the entry is malformed; the message names the entry and the field.
        """
        # ValueError, not TypeError: every malformation of a worker's answer is one error family.
        if not isinstance(raw, Mapping):
            raise ValueError(f"malformed list entry {raw!r}: expected an object")  # noqa: TRY004
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"malformed list entry {dict(raw)!r}: 'name' must be a non-empty string"
            )
        if not _is_relative_path(name):
            raise ValueError(f"malformed list entry {name!r}: 'name' must be a relative path")
        kind = raw.get("type")
        if kind not in ("file", "dir"):
            raise ValueError(f"malformed list entry {name!r}: 'type' must be 'file' or 'dir'")
        is_file = kind == "file"
        size = raw.get("size")
        if size is None and not is_file:
            size = 0
        if type(size) is not int or size < 0:
            raise ValueError(f"malformed list entry {name!r}: 'size' must be an integer >= 0")
        mtime = raw.get("mtime")
        if mtime is None and not is_file:
            mtime_ns = 0
        elif isinstance(mtime, str):
            mtime_ns = _parse_mtime(name, mtime)
        else:
            raise ValueError(f"malformed list entry {name!r}: 'mtime' must be an RFC 3339 string")
        checksum = raw.get("checksum")
        if checksum is not None:
            if not isinstance(checksum, str) or not _HEX.fullmatch(checksum):
                raise ValueError(f"malformed list entry {name!r}: 'checksum' must be a hex string")
            checksum = checksum.lower()
        link = raw.get("link")
        if link is not None and not isinstance(link, bool):
            raise ValueError(f"malformed list entry {name!r}: 'link' must be a boolean")
        return cls(name, kind, size, mtime_ns, checksum, link is True)


@dataclass
class Problems:
    """What a recursive listing reported besides its entries: files skipped (path, why: "fifo",
    "socket", "device", "symlink loop") and directories that could not be read (path, error)."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def split_listing(raw: Sequence[Any], problems: Problems) -> list[Any]:
    """The wire entries of `raw` that are files or directories; entries with `skipped` (special
    files, symlink loops) and directories with `error` (unreadable) go to `problems`. A worker
    without planner's extensions sends neither."""
    kept = []
    for item in raw:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            if isinstance(item.get("skipped"), str):
                problems.skipped.append((item["name"], item["skipped"]))
                continue
            if isinstance(item.get("error"), str):
                problems.unreadable.append((item["name"], item["error"]))
                continue
        kept.append(item)
    return kept


def listing_from_wire(raw: Any) -> list[Entry]:
    """Every entry of one recursive extended listing (a JSON array of entry objects).

    Raises:
        ValueError: `raw` is not an array, or one of its entries is malformed.
    """
    if not isinstance(raw, list):  # ValueError, as for a malformed entry: one error family
        raise ValueError(  # noqa: TRY004
            f"malformed listing: expected an array of entries, got {type(raw).__name__}"
        )
    with paused_gc():  # 100k small objects: see planner/gcpause.py
        return [Entry.from_wire(item) for item in raw]


def _is_relative_path(name: str) -> bool:
    """No empty, "." or ".." segment (so no leading or trailing "/") and no NUL byte; the cheap
    tests first, as this runs once per listed entry."""
    if name[0] == "/" or name[-1] == "/" or "//" in name or "\0" in name:
        return False
    if name[0] != "." and "/." not in name:
        return True
    return all(segment not in (".", "..") for segment in name.split("/"))


def _parse_mtime(name: str, text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with a timezone, keeping every
    fractional digit up to nanoseconds (`fromisoformat` alone stops at microseconds)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"malformed list entry {name!r}: 'mtime' {text!r} is not an RFC 3339 timestamp "
            "with a timezone"
        )
    ns = ((moment - _EPOCH) // _MICROSECOND) * 1000
    dot = text.find(".")
    if dot >= 0 and text[dot + 7 : dot + 8].isdigit():  # more than 6 fractional digits (rare)
        end = dot + 7
        while end < dot + 10 and text[end : end + 1].isdigit():
            end += 1
        ns += int(text[dot + 7 : end].ljust(3, "0"))
    return ns
