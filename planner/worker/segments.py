"""The segments of a requested path, validated: the one rule every storage backend confines its
paths with (a directory's root, an object remote's `bucket/prefix`)."""

from __future__ import annotations

from planner.api.codes import ItemCode
from planner.api.names import unescape_name
from planner.worker.storage_errors import StorageError

LOCAL = "local"


def segments(remote: str, path: str) -> list[str]:
    """The segments of `path` on `remote` ("" and "." segments dropped), unescaped.

    Raises:
        StorageError: 400 a NUL, a relative path on `local`, an absolute one elsewhere, `..`.
    """
    if "\x00" in path:
        raise StorageError(ItemCode.INVALID, f"{remote}:{path!r}: NUL character in path")
    if remote == LOCAL and not path.startswith("/"):
        raise StorageError(ItemCode.INVALID, f"{remote}:{path}: paths on 'local' must be absolute")
    if remote != LOCAL and path.startswith("/"):
        raise StorageError(
            ItemCode.INVALID, f"{remote}:{path}: path must be relative to the storage root"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise StorageError(ItemCode.INVALID, f"{remote}:{path}: '..' is not allowed in paths")
    # names that are not valid UTF-8 arrive escaped (planner/api/names.py)
    return [unescape_name(part) for part in parts]
