"""What each operation item does: the blocking functions the engine runs on its pool, one per
route of docs/api.md, with metadata and grants following moves and removals."""

from __future__ import annotations

import threading
import time
from typing import Any

from planner.api.codes import ItemCode
from planner.worker.acl import resource_key
from planner.worker.file_info import FileInfo
from planner.worker.metadata import MetadataRecord
from planner.worker.requests import Pair, Place
from planner.worker.service import ItemContext, ItemFunction, ItemResult, WorkerService
from planner.worker.storage import StorageError


def _key(sp: Place) -> str:
    return resource_key(sp.remote, sp.path)


def copy_item(service: WorkerService, item: Pair) -> ItemFunction:
    """Copy one file atomically; its checksum is recorded as metadata."""

    def run(ctx: ItemContext) -> ItemResult:
        src, dst = item.src, item.dst
        total = [0]  # learnt from the copy itself (one resolution of the source per item)

        def sized(size: int) -> None:
            total[0] = size
            ctx.progress(0, size)

        result = service.storages.copy(
            src.remote,
            src.path,
            dst.remote,
            dst.path,
            progress=lambda done: ctx.progress(done, total[0]),
            cancel=ctx.cancel,
            on_size=sized,
        )
        ctx.progress(result.size, result.size)
        service.metadata.record_later(
            _key(dst), result.size, result.mtime_ns, result.ctime_ns, result.checksum
        )
        return ItemResult(None, [dst.remote])

    return run


def move_item(service: WorkerService, item: Pair, carry_grants: bool) -> ItemFunction:
    """Rename a path (within or across remotes); its metadata follows it, and its grants do
    with `carry_grants` (else they are dropped, as a removal drops them)."""

    def run(ctx: ItemContext) -> ItemResult:
        service.storages.move(item.src.remote, item.src.path, item.dst.remote, item.dst.path)
        service.metadata.move(_key(item.src), _key(item.dst))
        if carry_grants:
            service.permissions.move(_key(item.src), _key(item.dst))
        else:
            service.permissions.forget(_key(item.src))
        return ItemResult(None, [item.dst.remote])

    return run


def exists_item(service: WorkerService, sp: Place) -> ItemFunction:
    return lambda ctx: ItemResult(service.storages.exists(sp.remote, sp.path))


class RecordsOnce:
    """The metadata records of a request's paths, read in one query (per 500 paths) by the
    first of its items that needs one, where one query per probed path held the database lock
    500 times a batch. A record read before a path is probed can only be older than the file:
    `checksum_for` then finds it stale (the size, mtime or ctime differ) and gives none, never
    a wrong one."""

    def __init__(self, service: WorkerService, keys: list[str]) -> None:
        self._service = service
        self._keys = keys
        self._lock = threading.Lock()
        self._records: dict[str, MetadataRecord] | None = None

    def get(self, key: str) -> MetadataRecord | None:
        with self._lock:
            if self._records is None:
                self._records = self._service.metadata.of(self._keys)
                self._keys = []
            return self._records.get(key)


def path_items(
    service: WorkerService,
    op: str,
    places: list[Place],
    extended: bool,
    recursive: bool,
    *,
    exact_mtimes: bool = True,
) -> list[ItemFunction]:
    """The items of a request naming paths (`op`: exists, stat, list, mkdir, remove, rmdir);
    `exact_mtimes`: list_item."""
    if op == "stat":
        records = RecordsOnce(service, [_key(sp) for sp in places])
        return [stat_item(service, sp, records) for sp in places]
    if op == "exists":
        return [exists_item(service, sp) for sp in places]
    if op == "list":
        return [list_item(service, sp, extended, recursive, exact_mtimes) for sp in places]
    if op == "mkdir":
        return [mkdir_item(service, sp) for sp in places]
    return [remove_item(service, sp, recursive=op == "rmdir") for sp in places]


def stat_item(
    service: WorkerService, sp: Place, records: RecordsOnce | None = None
) -> ItemFunction:
    """`{"remote:path": entry}`: the path's entry as a one-level extended listing of its parent
    would give it (its checksum when recorded and still valid, never computed), or a 404.
    `records`: where the request's records are read at once (else this path's alone)."""

    def run(ctx: ItemContext) -> ItemResult:
        info = service.storages.probe(sp.remote, sp.path)
        checksum = None
        if info.type == "file" and service.config.checksums:
            key = _key(sp)
            record = records.get(key) if records else service.metadata.of([key]).get(key)
            checksum = (
                record.checksum_for(info.size, info.mtime_ns, info.ctime_ns) if record else None
            )
        return ItemResult({f"{sp.remote}:{sp.path}": _list_entry_json(info, checksum)})

    return run


def mkdir_item(service: WorkerService, sp: Place) -> ItemFunction:
    def run(ctx: ItemContext) -> ItemResult:
        service.storages.mkdir(sp.remote, sp.path)
        return ItemResult(None, [sp.remote])

    return run


def remove_item(service: WorkerService, sp: Place, recursive: bool) -> ItemFunction:
    """remove (files) or rmdir (directories, recursively); metadata and grants go with them."""

    def run(ctx: ItemContext) -> ItemResult:
        if recursive:
            service.storages.rmdir(sp.remote, sp.path)
        else:
            service.storages.remove(sp.remote, sp.path)
        service.metadata.forget(_key(sp))
        service.permissions.forget(_key(sp))
        return ItemResult(None, [sp.remote])

    return run


def list_item(
    service: WorkerService, sp: Place, extended: bool, recursive: bool, exact_mtimes: bool = True
) -> ItemFunction:
    """`{"remote:path": entries}`: names, or ListEntry objects with checksums when known.
    Recursive extended listings also hold what was skipped (`"type": "other"` with `skipped`:
    why) and the directories that could not be read (`"type": "dir"` with `error`). Without
    `exact_mtimes`, an object's entry may carry its LastModified (`"mtime_exact": false`)."""

    def run(ctx: ItemContext) -> ItemResult:
        listed = service.storages.listed(
            sp.remote, sp.path, recursive=recursive, exact_mtimes=exact_mtimes
        )
        entries = listed.entries
        label = f"{sp.remote}:{sp.path}"
        if not extended:
            return ItemResult({label: [e.name for e in entries]})
        base = _key(sp)
        if recursive:
            known = service.metadata.under(base)
        else:
            known = service.metadata.of([base, *(_below(sp, e.name) for e in entries)])
        single_file = (
            len(entries) == 1
            and entries[0].type == "file"
            and not recursive
            and (service.storages.stat(sp.remote, sp.path).type == "file")
        )
        out = []
        for entry in entries:
            key = base if single_file else _below(sp, entry.name)
            record = known.get(key)
            checksum = (
                record.checksum_for(entry.size, entry.mtime_ns, entry.ctime_ns) if record else None
            )
            checksum = checksum if service.config.checksums else None
            out.append(_list_entry_json(entry, checksum))
        if recursive:
            out.extend({"name": n, "type": "other", "skipped": why} for n, why in listed.skipped)
            out.extend({"name": n, "type": "dir", "error": e} for n, e in listed.unreadable)
        return ItemResult({label: out})

    return run


def _below(sp: Place, name: str) -> str:
    """The resource key of `name` (a relative path) below the listed `sp`, written as a copy to
    it records its metadata (a root's children too: `data:x`, not `data:/x`)."""
    path = sp.path + name if sp.path in ("", "/") else f"{sp.path}/{name}"
    return resource_key(sp.remote, path)


def _list_entry_json(info: FileInfo, checksum: str | None) -> dict[str, Any]:
    """A ListEntry as JSON (built directly: a tree lists thousands of them)."""
    entry: dict[str, Any] = {
        "name": info.name,
        "type": info.type,
        "size": info.size,
        "mtime": rfc3339_ns(info.mtime_ns),
    }
    if checksum is not None:
        entry["checksum"] = checksum
    if info.is_link:
        entry["link"] = True
    if not info.mtime_exact:
        entry["mtime_exact"] = False
    return entry


def rfc3339_ns(mtime_ns: int) -> str:
    """An epoch in nanoseconds as RFC 3339 UTC to the microsecond, as the wire models write it
    (`2026-11-22T10:00:00.123456Z`, no fraction when it is zero)."""
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    micros = ns // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def metadata_get_item(service: WorkerService, paths: list[tuple[str, Place]]) -> ItemFunction:
    """`{"<path as asked>": {size, mtime, checksum, custom, ...}}` for every path."""

    def run(ctx: ItemContext) -> ItemResult:
        result: dict[str, Any] = {}
        for label, sp in paths:
            info = service.storages.stat(sp.remote, sp.path)
            key = _key(sp)
            record = service.metadata.get(key)
            fields: dict[str, Any] = {
                "size": info.size,
                "uncompressed_size": info.size,
                "type": info.type,
                "mtime": info.mtime.isoformat().replace("+00:00", "Z"),
                "custom": record.custom,
            }
            if info.type == "file" and service.config.checksums:
                checksum = record.checksum_for(info.size, info.mtime_ns, info.ctime_ns)
                if checksum is None:
                    checksum = service.storages.checksum(sp.remote, sp.path)
                    # `info` is from before the hash: if the file changed meanwhile, its ctime
                    # is no longer the one recorded, and the record is never trusted
                    service.metadata.record_content(
                        key, info.size, info.mtime_ns, info.ctime_ns, checksum
                    )
                fields["checksum"] = checksum
            result[label] = fields
        return ItemResult(result)

    return run


def metadata_set_item(
    service: WorkerService, assignments: list[tuple[Place, dict[str, Any]]]
) -> ItemFunction:
    """Merge custom fields into existing ones (null removes); the paths must exist."""

    def run(ctx: ItemContext) -> ItemResult:
        for sp, _ in assignments:
            if not service.storages.exists(sp.remote, sp.path):
                raise StorageError(
                    ItemCode.NOT_FOUND, f"{sp.remote}:{sp.path}: no such file or directory"
                )
        for sp, custom in assignments:
            service.metadata.merge_custom(_key(sp), custom)
        return ItemResult(None)

    return run
