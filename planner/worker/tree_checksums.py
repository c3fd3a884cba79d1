"""`checksum: true` in the tree operations: the XXH64 of a directory's files on either side, as
recorded in the metadata store (while still valid: metadata.py) or else computed, through the
directory's checked descriptor. What a copy computes is recorded; a compare records nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from planner.api.names import unescape_name
from planner.tree.entry import Entry
from planner.worker import fileops
from planner.worker.acl import resource_key
from planner.worker.confine import Place, Root
from planner.worker.metadata import Content, MetadataRecord, MetadataStore
from planner.worker.requests import Place as StoragePlace
from planner.worker.walk import Pending


def tree_key(place: StoragePlace, rel: str) -> str:
    """The resource key of `rel` (escaped, relative) below `place`, as a copy records it."""
    base = place.path
    return resource_key(place.remote, base + rel if base in ("", "/") else f"{base}/{rel}")


@dataclass(frozen=True)
class Side:
    """One end of a tree operation in one directory: its root, the tree's place, the keys of
    the directory's files there, and the directory's real path (destination side)."""

    root: Root
    place: StoragePlace
    keys: list[str]
    dir_path: str


class KnownChecksums:
    """The checksums of one directory's files, looked up once for the directory."""

    def __init__(
        self,
        metadata: MetadataStore,
        src: Side,
        dst: Side,
        record: Callable[[Content], None] | None,
    ) -> None:
        self.src, self.dst = src, dst
        self.src_records = metadata.of(src.keys)
        self.dst_records = metadata.of(dst.keys)
        self.record = record

    def fill(
        self,
        source: Entry,
        st: os.stat_result,
        fd: int,
        current: Pending,
        target: Entry | None,
        theirs: os.stat_result | None,
        dst_fd: int | None,
    ) -> tuple[Entry, Entry | None]:
        """`source` (in the directory `fd`, the walk's `current`) and `target` (in `dst_fd`)
        with their checksums.

        Raises:
            OSError: a file cannot be hashed (SourceChangedError: it changed meanwhile).
            StorageError: 403 a link leads outside the root.
        """
        name = unescape_name(source.path[len(current[2]) :])
        checksum = self._checksum(self.src_records, self.src, source.path, st, fd, current[0], name)
        source = _with(source, checksum)
        if target is not None and theirs is not None and dst_fd is not None:
            dst = self.dst
            there = self._checksum(
                self.dst_records, dst, source.path, theirs, dst_fd, dst.dir_path, name
            )
            target = _with(target, there)
        return source, target

    def _checksum(
        self,
        records: dict[str, MetadataRecord],
        side: Side,
        shown: str,
        st: os.stat_result,
        fd: int,
        dir_path: str,
        name: str,
    ) -> str:
        key = tree_key(side.place, shown)
        record = records.get(key)
        if record is not None:
            found = record.checksum_for(st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if found is not None:
                return found
        label = f"{side.place.remote}:{shown}"
        file_fd, opened = Place(side.root, fd, dir_path, name, label).open_file()
        try:
            checksum = fileops.hash_fd(file_fd)
            fileops.ensure_unchanged(file_fd, opened)
        finally:
            os.close(file_fd)
        if self.record is not None:
            size, mtime, ctime = opened.st_size, opened.st_mtime_ns, opened.st_ctime_ns
            self.record(Content(key, size, mtime, ctime, checksum))
        return checksum


def _with(entry: Entry, checksum: str) -> Entry:
    return Entry(entry.path, entry.type, entry.size, entry.mtime_ns, checksum, entry.is_link)
