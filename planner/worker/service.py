"""The worker's engine: configuration, the stores, a bounded thread pool that runs operation
items off the event loop, a database thread for the SQLite work of requests and the write-behind
flusher, admission (the queue bound), start-up recovery and shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from planner.api.codes import ItemCode
from planner.errors import WorkerError
from planner.worker.acl import PermissionStore
from planner.worker.admission import DEFAULT_MAX_QUEUED_ITEMS, QueueBound
from planner.worker.auth import Authenticator, User
from planner.worker.db import SqliteTempRegistry, StateDB, database_refusal
from planner.worker.faults import FaultInjector, FaultSpec
from planner.worker.metadata import MetadataStore
from planner.worker.objects.location import ObjectLocation
from planner.worker.operations import OperationStore
from planner.worker.records import SHUTDOWN_ERROR, Group, WorkItem
from planner.worker.remote_names import remote_name_problem
from planner.worker.storage import StorageError, Storages
from planner.worker.waits import EndWaits

log = logging.getLogger("planner.worker")
T = TypeVar("T")

FLUSH_INTERVAL = 0.05
PRUNE_INTERVAL = 3600.0
# at shutdown, how long running items get to stop after they are cancelled (a copy stops at its
# next 8 MiB chunk); those still running then are recorded failed all the same
STOP_GRACE = 10.0


# item threads at least, on a worker that serves an object remote
OBJECT_POOL = 8


@dataclass
class WorkerConfig:
    """Everything `planner worker serve` (or an embedded start) configures."""

    state_dir: Path
    # a directory, or an object store location (objects/location.py)
    remotes: Mapping[str, Path | ObjectLocation] = field(default_factory=dict)
    authenticator: Authenticator = field(default_factory=lambda: Authenticator([], no_auth=True))
    faults: FaultSpec = field(default_factory=FaultSpec)
    pool_size: int = 0  # 0: sized for the machine
    # items queued or running, all users together (admission.py); beyond it submissions get 503
    max_queued_items: int = DEFAULT_MAX_QUEUED_ITEMS
    retention_seconds: float = 24 * 3600.0
    allow_shutdown: bool = True
    # a debugging and test hook: (method, path) of every request, once answered
    request_log: list[tuple[str, str]] | None = None
    # off: neither advertise nor honour `?recursive=true` on list, like a worker without
    # planner's extensions (tests of clients that must then list level by level)
    recursive_listing: bool = True
    # off: neither advertise nor answer `storage:stat`, like a worker without planner's
    # extensions (tests of clients that must then list a path's parent to learn what it is)
    stat: bool = True
    # off: neither advertise nor serve the tree operations (storage:copy_tree, :compare_tree,
    # operations/{id}/files), like a worker without planner's extensions
    tree_operations: bool = True
    # off: the tree operations refuse object remotes (400) and `planner.tree.objects` is not
    # advertised, like a worker before it served them (clients then copy file by file)
    object_trees: bool = True
    # off: neither advertise nor honour `wait` on GET /operations (long polls), like a worker
    # without planner's extensions (clients then poll on their own schedule)
    operation_waits: bool = True
    # off: neither advertise nor honour `view=outcome` on GET /operations/{id}, like a worker
    # without planner's extensions (clients then read the full record)
    outcome_view: bool = True
    # off: no `checksum` in listings nor from metadata:get, like a worker that does not hash
    # (tests of clients that must then refuse `checksum: true` rather than compare less)
    checksums: bool = True
    # request bounds (docs/worker.md): body bytes, and items (paths, pairs, grants) per request
    max_body: int = 16 * 1024 * 1024
    max_items: int = 10_000
    # sync every copied file and changed directory before reporting success (--fsync); moves
    # across filesystems always sync before they delete their source
    fsync: bool = False

    def __post_init__(self) -> None:
        for name in self.remotes:
            wrong = remote_name_problem(name)
            if wrong is not None:
                raise ValueError(f"remote {name[:80]!r}: {wrong}")

    def remote_roots(self) -> dict[str, Path | ObjectLocation]:
        """Remotes with `any` defaulting to `<state-dir>/storage`."""
        roots: dict[str, Path | ObjectLocation] = {"any": self.state_dir / "storage"}
        roots.update(self.remotes)
        return roots


@dataclass
class ItemResult:
    """What an item produced."""

    result: Any = None
    succeeded_on: list[str] = field(default_factory=list)


class ItemContext:
    """Given to an item function running on the pool: progress reporting and cancellation."""

    __slots__ = ("cancel", "item")

    def __init__(self, item: WorkItem) -> None:
        self.item = item
        self.cancel = item.group.cancel

    def progress(self, done: int, total: int) -> None:
        item = self.item
        item.group.bytes_done += done - item.current
        item.total, item.current = total, done

    def count_progress(self, done: int, total: int, bytes_done: int, bytes_total: int) -> None:
        """Progress of an item that counts files (tree operations): `done` of `total` files so
        far, its fraction from the bytes (`bytes_done` of `bytes_total`)."""
        item = self.item
        item.group.bytes_done += bytes_done - item.bytes_done
        item.bytes_done = bytes_done
        item.total, item.current = total, done
        item.ratio = bytes_done / bytes_total if bytes_total else (done / total if total else 0.0)


ItemFunction = Callable[[ItemContext], ItemResult]


class WorkerService:
    """Stores + engine; the routes call `submit` and read the stores."""

    def __init__(self, config: WorkerConfig) -> None:
        """Open the state database and recover from a previous process (see `_recover`).

        Raises:
            UsageError: the state database cannot be used (db.open_database says why).
        """
        self.config = config
        self.db = StateDB(config.state_dir / "worker.db")
        try:  # before serving, so that a database SQLite refuses now is a clear error (exit 2)
            self.temp_registry = SqliteTempRegistry(self.db)
            self.metadata = MetadataStore(self.db)
            self.storages = Storages(
                config.remote_roots(),
                temp_registry=self.temp_registry,
                fsync=config.fsync,
                cache=self.metadata,  # what object remotes learn of objects
            )
            self.operations = OperationStore(self.db, QueueBound(config.max_queued_items))
            self.waits = EndWaits(self.operations)
            self.permissions = PermissionStore(self.db)
            self._recover()
        except sqlite3.Error as exc:
            self.db.close()
            raise database_refusal(self.db.path, exc) from exc
        except BaseException:  # a remote root that cannot be used, say: nothing left open
            self.db.close()
            raise
        self.faults = FaultInjector(config.faults)
        # one thread per core: copying small files is GIL-bound, and more threads only convoy
        # (figures: tests/bench/README.md); but an object transfer waits on the store with the
        # GIL released, and a few more in flight hide its latency (issue 14)
        size = config.pool_size or min(32, os.cpu_count() or 2)
        if not config.pool_size and any(
            self.storages.kind(name) != "posix" for name in self.storages.names()
        ):
            size = max(size, OBJECT_POOL)
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="planner-item")
        self.backlog: deque[deque[tuple[WorkItem, ItemFunction]]] = deque()
        self.backlog_lock = threading.Lock()
        self.runners = 0  # drain tasks that have not finished (changed on the event loop only)
        # SQLite work of request handlers and of the flusher: not on the item pool, whose
        # threads may each be draining a queue of copies for minutes; one thread, as SQLite
        # serialises on the one connection anyway
        self.db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-db")
        self.tasks: set[asyncio.Task[None]] = set()
        self.background: list[asyncio.Task[None]] = []
        self.shutdown_requested = asyncio.Event()
        self.stopping = False

    @property
    def authenticator(self) -> Authenticator:
        return self.config.authenticator

    # -- lifecycle ------------------------------------------------------------------------------
    def _recover(self) -> None:
        """What a previous process left: unfinished operations, temporary files, old records."""
        failed = self.operations.fail_unfinished()
        cleaned = self.storages.cleanup_temp()
        pruned = self.operations.prune(self.config.retention_seconds)
        if failed or cleaned or pruned:
            log.info(
                "recovered: %d unfinished operations failed, %d temporary files removed, "
                "%d old operations pruned",
                failed,
                cleaned,
                pruned,
            )

    async def start(self) -> None:
        """Start the background tasks (flusher, pruner)."""
        self.background = [
            asyncio.create_task(self._flusher()),
            asyncio.create_task(self._pruner()),
        ]

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Shut down in bounded time: refuse new work, fail every queued item (499, cancelled),
        cancel running ones and give them `grace` seconds to stop, fail those that did not,
        write every record, release the pools and the database. The next start finds nothing
        queued or running."""
        self.stopping = True
        self.waits.close()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        operations = self.operations
        for group in list(operations.live.values()):
            group.cancel.set()
            for item in group.items:
                operations.fail_if_queued(item, ItemCode.CANCELLED, SHUTDOWN_ERROR)
        if self.tasks:  # the runners now skip what is queued and stop what runs
            await asyncio.wait(list(self.tasks), timeout=grace)
        stuck = operations.fail_live(ItemCode.CANCELLED, SHUTDOWN_ERROR)
        if stuck:
            log.warning("shutdown: %d items did not stop within %.0f s", stuck, grace)
        for task in list(self.tasks):
            task.cancel()
        self.db_thread.shutdown(wait=True)  # a flush in progress ends first
        operations.flush()
        self.metadata.flush()
        # not waiting for threads stuck in a system call: every record is written already
        self.pool.shutdown(wait=not stuck, cancel_futures=True)
        self.storages.close()
        self.db.close()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.call(self._flush)

    def _flush(self) -> None:
        self.metadata.flush()
        self.operations.flush()

    async def _pruner(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            await self.call(lambda: self.operations.prune(self.config.retention_seconds))

    # -- running --------------------------------------------------------------------------------
    def submit(
        self,
        user: User,
        description: str,
        items: list[tuple[str, ItemFunction]],
        weight: int = 1,
    ) -> str:
        """Record one operation (a group for several items) and start its items; returns the id
        the client polls. Each item counts `weight` times against the queue bound (an item that
        does the work of many: a metadata request counts each of its paths).

        Items wait in one backlog of request queues, in arrival order, drained by at most `pool`
        runners, each running item after item on its pool thread: per-item hops between the
        event loop and the pool cost more than copying a small file, and a waiting task per
        request would give the collector thousands of objects more to walk under load.

        Raises:
            WorkerError: 503 (with Retry-After) while shutting down or when the queue bound has
                no room for the items now, 413 when they could never fit (admission.py).
        """
        if self.stopping:
            raise WorkerError(503, "the worker is shutting down", headers={"Retry-After": "5"})
        group = self.operations.create(user.name, description, [d for d, _ in items], weight)
        self.backlog.append(deque(zip(group.items, (f for _, f in items), strict=True)))
        while self.runners < self.size:
            self.runners += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return group.id

    async def _drain(self) -> None:
        """A runner: drains the backlog on a pool thread until it is empty. The check runs on
        the event loop, where `submit` adds to it, so no request is left without a runner."""
        loop = asyncio.get_running_loop()
        try:
            while self.backlog:
                await loop.run_in_executor(self.pool, self._drain_on_thread)
        finally:
            self.runners -= 1

    def _drain_on_thread(self) -> None:
        backlog = self.backlog
        while True:
            try:
                queue = backlog[0]
            except IndexError:
                return
            try:
                live, function = queue.popleft()  # deque pops are atomic across threads
            except IndexError:  # this request is done: the next one, once
                with self.backlog_lock:
                    if backlog and backlog[0] is queue:
                        backlog.popleft()
                continue
            self._run_item(live, function)

    def _run_item(self, item: WorkItem, function: ItemFunction) -> None:
        operations = self.operations
        if not operations.start_unless_finished(item):
            return  # cancelled while queued
        if item.is_cancelled():
            operations.fail(item, ItemCode.CANCELLED, self._cancelled())
            return
        if self.faults.item_fails():
            operations.fail(item, ItemCode.TRANSIENT, "injected transient fault (--inject-faults)")
            return
        if self.faults.spec.item_delay and item.group.cancel.wait(self.faults.spec.item_delay):
            operations.fail(item, ItemCode.CANCELLED, self._cancelled())
            return
        try:
            outcome = function(ItemContext(item))
        except StorageError as exc:
            message = self._cancelled() if exc.code == ItemCode.CANCELLED else exc.message
            operations.fail(item, exc.code, message, exc.result)
        except Exception as exc:  # a bug in an item: fail it, keep serving
            log.exception("item %s failed unexpectedly", item.id)
            operations.fail(item, ItemCode.INTERNAL, f"internal error: {type(exc).__name__}")
        else:
            operations.succeed(item, outcome.result, outcome.succeeded_on)

    def _cancelled(self) -> str:
        return SHUTDOWN_ERROR if self.stopping else "cancelled"

    def cancel(self, op_id: str) -> bool:
        """Best effort: queued items fail at once, running ones stop at their next chunk (a
        single child of a group only fails if it has not started)."""
        found = self.operations.item(op_id)
        if found is None:
            return False
        if isinstance(found, Group):
            found.cancel.set()
            items = found.items
        else:
            found.cancelled = True
            items = [found]
        for item in items:
            self.operations.fail_if_queued(item, ItemCode.CANCELLED, "cancelled")
        return True

    async def call(self, function: Callable[[], T]) -> T:
        """Run a blocking function (SQLite reads and writes of a request handler) on the
        database thread, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_thread, function)
