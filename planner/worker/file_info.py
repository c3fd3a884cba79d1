"""What the worker's storages report of a file or directory: FileInfo (from stat) and a
listing's entries with what its walk skipped or could not read."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class FileInfo:
    """A file or directory as stat and list report it (`name` is relative to the listed
    directory in recursive listings, with "/" separators)."""

    name: str
    type: Literal["file", "dir"]
    size: int
    mtime_ns: int
    is_link: bool = False  # reached through a symbolic link (for `symlinks: skip`)
    # the inode's change time: tells whether a recorded checksum still holds (metadata.py);
    # the worker's own, never on the wire, and not part of what the entry is
    ctime_ns: int | None = field(default=None, compare=False, kw_only=True)
    # False: an object's LastModified stands for the mtime its metadata stores, which a listing
    # asked not to read (objects/listing.py, `heads=False`); a stat reads it
    mtime_exact: bool = field(default=True, compare=False, kw_only=True)

    @property
    def mtime(self) -> datetime:
        """The modification time, timezone-aware UTC, to the microsecond."""
        seconds, ns = divmod(self.mtime_ns, 1_000_000_000)
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=ns // 1000)


@dataclass(frozen=True)
class Listed:
    """A listing: its entries sorted by name, and what the walk skipped (path, why) or could not
    read (directory path, error), both sorted (walk.Walk)."""

    entries: list[FileInfo]
    skipped: list[tuple[str, str]]
    unreadable: list[tuple[str, str]]


def file_info(name: str, st: os.stat_result, is_link: bool = False) -> FileInfo | None:
    """FileInfo of a followed stat result; None for anything but files and directories."""
    if stat.S_ISDIR(st.st_mode):
        return FileInfo(name, "dir", 0, st.st_mtime_ns, is_link, ctime_ns=st.st_ctime_ns)
    if stat.S_ISREG(st.st_mode):
        return FileInfo(name, "file", st.st_size, st.st_mtime_ns, is_link, ctime_ns=st.st_ctime_ns)
    return None
