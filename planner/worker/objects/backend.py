"""One object remote (a bucket, or a prefix in one): validated path segments mapped to keys,
and the per-path routes on it. Keys are the remote's prefix and the segments joined by "/",
so nothing reaches outside `bucket/prefix`. S3 has no directories: a path is a directory when
keys exist below it (or a `path/` marker another tool wrote); mkdir writes nothing (obstore, like
object_store, cannot write a key that ends in "/"); rmdir deletes every key below the path."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import xxhash

from planner.api.codes import ItemCode
from planner.api.names import escape_name
from planner.worker.acl import resource_key
from planner.worker.file_info import FileInfo, Listed
from planner.worker.objects import listing
from planner.worker.objects.attributes import Cache, Known, from_head, row
from planner.worker.objects.client import (
    MissingBucketError,
    is_not_found,
    make_store,
    object_errors,
)
from planner.worker.objects.location import ObjectLocation
from planner.worker.storage_errors import StorageError

if TYPE_CHECKING:
    from obstore.store import S3Store

_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_KEY_BYTES = 1024  # S3's limit on a key, prefix included
DELETE_BATCH = 1000  # keys per DeleteObjects request (S3's limit)
STREAM_CHUNK = 8 * 1024 * 1024


class ObjectBackend:
    """The routes of one object remote. Thread-safe: the store client is, and each call works
    on its own request."""

    def __init__(self, name: str, location: ObjectLocation, cache: Cache | None) -> None:
        """Make the client (no request yet: a wrong credential shows in the first item).

        Raises:
            StorageError: 400 the AWS configuration is not usable.
        """
        self.name = name
        self.location = location
        self.cache = cache
        self.store: S3Store = make_store(location, name)
        self._bucket_store: S3Store | None = None
        # HEADs of objects the cache does not know, a few at a time (listing.py)
        self.heads = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"planner-head-{name}")

    @property
    def bucket_store(self) -> S3Store:
        """A client of the whole bucket (keys with the prefix): for server-side copies between
        two remotes in one bucket."""
        if self._bucket_store is None:
            self._bucket_store = make_store(
                ObjectLocation(self.location.scheme, self.location.bucket), self.name
            )
        return self._bucket_store

    def full_key(self, key: str) -> str:
        """`key` with the remote's prefix: the key in the bucket."""
        return self.location.key_prefix() + key

    @property
    def kind(self) -> str:
        """The storage type GET /storage reports (`s3`)."""
        return self.location.scheme

    # -- keys ------------------------------------------------------------------------------------

    def key(self, parts: list[str], label: str) -> str:
        """The key of `parts` below the remote's prefix (as the store client takes it).

        Raises:
            StorageError: 400 a name that is not valid UTF-8 or holds a control character (the
                store client refuses them), or a key over 1,024 bytes.
        """
        key = "/".join(parts)
        if _CONTROL.search(key):
            raise StorageError(
                ItemCode.INVALID, f"{label}: object keys cannot hold control characters"
            )
        try:
            size = len((self.location.key_prefix() + key).encode("utf-8"))
        except UnicodeEncodeError:
            raise StorageError(
                ItemCode.INVALID, f"{label}: object keys must be valid UTF-8"
            ) from None
        if size > MAX_KEY_BYTES:
            raise StorageError(
                ItemCode.INVALID, f"{label}: object key longer than {MAX_KEY_BYTES} bytes"
            )
        return key

    def resource(self, key: str) -> str:
        """The resource key (acl.py) of the object `key`: what the metadata database uses."""
        return resource_key(self.name, escape_name(key) if key else "")

    def errors(self, subject: str) -> Any:
        """object_errors for this remote."""
        return object_errors(self.name, self.location, subject)

    # -- reading ---------------------------------------------------------------------------------

    def head(self, key: str) -> Known | None:
        """The object at `key` (None when there is none), remembered in the cache."""
        import obstore

        try:
            found = obstore.get(self.store, key, options={"head": True})
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        known = from_head(found.meta, found.attributes)
        if self.cache is not None and known.stamp is not None:
            self.cache.record_many([row(self.resource(key), known)])
        return known

    def has_below(self, key: str) -> bool:
        """Whether any key lies below `key/` (a directory marker of another tool included)."""
        import obstore

        return any(chunk for chunk in obstore.list(self.store, key or None, chunk_size=1))

    def stat(self, parts: list[str], label: str) -> FileInfo:
        """The file or directory at `parts` (a file wins over a directory of the same name).

        Raises:
            StorageError: 404 nothing there; 403/503 from the store.
        """
        name = parts[-1] if parts else ""
        key = self.key(parts, label)
        with self.errors(label):
            if not parts:
                self.has_below("")  # a missing bucket or a wrong credential says so here
                return FileInfo(name, "dir", 0, 0)
            known = self.head(key)
            if known is not None:
                return _file(escape_name(name), known)
            if self.has_below(key):
                return FileInfo(escape_name(name), "dir", 0, 0)
        raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")

    def exists(self, parts: list[str], label: str) -> bool:
        """Whether a file or directory is at `parts`."""
        try:
            self.stat(parts, label)
        except StorageError as exc:
            if exc.code == ItemCode.NOT_FOUND and not isinstance(exc, MissingBucketError):
                return False
            raise
        return True

    def listed(
        self, parts: list[str], label: str, *, recursive: bool, heads: bool = True
    ) -> Listed:
        """The entries below `parts` sorted by name, or just the file at `parts` (`heads`:
        listing.list_below).

        Raises:
            StorageError: 404 nothing there; 403/503 from the store.
        """
        key = self.key(parts, label)
        with self.errors(label):
            found = listing.list_below(self, key, recursive=recursive, heads=heads)
            if found is None and parts:
                known = self.head(key)
                if known is None:
                    raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")
                return Listed([_file(escape_name(parts[-1]), known)], [], [])
        return found or Listed([], [], [])

    def checksum(self, parts: list[str], label: str) -> str:
        """The XXH64 of the object: its stored `xxh64`, else hashed from its bytes."""
        key = self.key(parts, label)
        with self.errors(label):
            known = self.head(key)
            if known is None:
                if self.has_below(key):
                    raise StorageError(ItemCode.CONFLICT, f"{label}: is a directory")
                raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")
            if known.checksum is not None:
                return known.checksum
            hasher = xxhash.xxh64()
            for chunk in self.read(key):
                hasher.update(chunk)
            return hasher.hexdigest()

    def read(self, key: str) -> Iterator[Any]:
        """The bytes of the object at `key`, chunk by chunk."""
        import obstore

        return iter(obstore.get(self.store, key).stream(min_chunk_size=STREAM_CHUNK))

    # -- writing ---------------------------------------------------------------------------------

    def mkdir(self, parts: list[str], label: str) -> bool:
        """Nothing to write (see the module docstring); False. A file at the path is in the way.

        Raises:
            StorageError: 409 a file has the name.
        """
        key = self.key(parts, label)
        if not parts:
            return False
        with self.errors(label):
            if self.head(key) is not None:
                raise StorageError(ItemCode.CONFLICT, f"{label}: a file is in the way")
        return False

    def remove(self, parts: list[str], label: str) -> None:
        """Delete the object at `parts`.

        Raises:
            StorageError: 404 missing; 409 a directory (use rmdir).
        """
        import obstore

        key = self.key(parts, label)
        with self.errors(label):
            if parts and self.head(key) is not None:
                obstore.delete(self.store, key)
                return
            if not parts or self.has_below(key):
                raise StorageError(ItemCode.CONFLICT, f"{label}: is a directory (use rmdir)")
        raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")

    def rmdir(self, parts: list[str], label: str) -> None:
        """Delete every key below `parts` (and an object of that name), page by page.

        Raises:
            StorageError: 403 the remote's root; 404 nothing there.
        """
        import obstore

        if not parts:
            raise StorageError(ItemCode.FORBIDDEN, f"{label}: the storage root cannot be removed")
        key = self.key(parts, label)
        deleted = 0
        with self.errors(label):
            if self.head(key) is not None:
                obstore.delete(self.store, key)
                deleted += 1
            for chunk in obstore.list(self.store, key, chunk_size=DELETE_BATCH):
                paths = [meta["path"] for meta in chunk]
                if paths:
                    obstore.delete(self.store, paths)
                    deleted += len(paths)
        if not deleted:
            raise StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")

    def delete(self, key: str, label: str) -> None:
        """Delete one object (a move's source, once its copy is verified)."""
        import obstore

        with self.errors(label):
            obstore.delete(self.store, key)

    def close(self) -> None:
        """Stop the HEAD threads."""
        self.heads.shutdown(wait=False, cancel_futures=True)

    def each_head(self, keys: list[str]) -> Iterator[Known | None]:
        """`head` of every key, a few at a time, in order."""
        fn: Callable[[str], Known | None] = self.head
        return self.heads.map(fn, keys)


def _file(name: str, known: Known) -> FileInfo:
    return FileInfo(name, "file", known.size, known.mtime_ns, ctime_ns=known.stamp)
