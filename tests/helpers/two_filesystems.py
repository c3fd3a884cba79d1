"""A worker whose `data` and `fast` roots lie on two filesystems (or act so), and what the
durability tests observe of its moves: file system events and dated trees."""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker import moves
from tests.helpers.trees import tree_contents
from tests.helpers.worker_api import run, sp
from tests.helpers.workers import WorkerHandle, start_worker

OLD_NS = 1_600_000_000_123_456_789


@dataclass
class TwoFs:
    """A worker whose `data` and `fast` roots lie on two filesystems."""

    worker: WorkerHandle
    client: httpx.Client
    data: Path
    fast: Path


@contextmanager
def two_filesystems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object
) -> Iterator[TwoFs]:
    shm = Path("/dev/shm")
    fast = Path(tempfile.mkdtemp(prefix="planner-test-", dir=shm if shm.is_dir() else tmp_path))
    data = tmp_path / "data"
    data.mkdir()
    if fast.stat().st_dev == data.stat().st_dev:

        def across(src: object, dst: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(moves, "rename", across)
    embedded, handle = start_worker(tmp_path, roots={"data": data, "fast": fast}, **options)
    client = httpx.Client(base_url=handle.url, headers=handle.headers, timeout=30.0)
    try:
        yield TwoFs(handle, client, data.resolve(), fast.resolve())
    finally:
        client.close()
        embedded.stop()
        shutil.rmtree(fast, ignore_errors=True)


def move(fs: TwoFs, src: str, dst: str, src_remote: str = "data", dst_remote: str = "fast") -> Any:
    body = {"operations": [{"src": sp(src, src_remote), "dst": sp(dst, dst_remote)}]}
    return run(fs.client, "/storage:move", body)


def code_of(op: dict[str, Any]) -> int | None:
    return None if op["state"] == "succeeded" else (op["error_detail"] or {}).get("code")


def make_dated_tree(top: Path, files: int = 30) -> dict[str, bytes | str | None]:
    """Files in nested directories, old mtimes, a relative symlink; returns `contents`."""
    rng = random.Random(11)
    for i in range(files):
        path = top / f"d{i % 3}" / ("deep" if i % 2 else "") / f"f{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(100 + i))
        os.utime(path, ns=(OLD_NS, OLD_NS + i))
    (top / "link").symlink_to("d0/f00.bin")
    return tree_contents(top)


Event = tuple[str, str]


def before_first_delete(events: list[Event]) -> list[str]:
    deletes = [i for i, (kind, _) in enumerate(events) if kind == "delete"]
    assert deletes, events
    return [path for kind, path in events[: deletes[0]] if kind == "fsync"]


def rewrite_in_place(path: Path) -> None:
    """Overwrite the start of `path` with other bytes of the same length and put its mtime back
    (what a careless writer does); returns once the kernel shows a new ctime."""
    before = path.stat()
    with path.open("r+b") as handle:
        old = handle.read(4096)
        handle.seek(0)
        handle.write(bytes(b ^ 0xFF for b in old))
    deadline = time.monotonic() + 10
    while True:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if path.stat().st_ctime_ns != before.st_ctime_ns:
            return
        assert time.monotonic() < deadline, "the ctime never changed"
