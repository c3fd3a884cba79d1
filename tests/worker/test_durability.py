"""Durable, consistent copies and moves over HTTP (issue 9, items 11-13): a move across
filesystems syncs its destination (files and directories) before it deletes its source, and
`--fsync` does the same for copies; a copy whose source changes meanwhile fails as transient
(503) and records no checksum, in each of the three copy paths; a directory move interrupted
while deleting its source finishes when retried; a move that cannot delete its source changes
nothing.

Two filesystems: the `data` root under tmp_path and the `fast` root in /dev/shm. Where both are
one filesystem, every rename of a move fails with EXDEV instead (the worker runs on a thread of
this process), so the same paths are taken on any machine.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import xxhash

from planner.worker import confine, fileops, moves
from planner.worker.service import ItemContext
from tests.conftest import WorkerHandle, start_worker, tree_contents
from tests.worker.test_api_routes import run, sp

MIB = 1024 * 1024
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
        embedded.stop()  # type: ignore[attr-defined]
        shutil.rmtree(fast, ignore_errors=True)


@pytest.fixture
def two_fs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoFs]:
    with two_filesystems(tmp_path, monkeypatch) as fs:
        yield fs


def move(fs: TwoFs, src: str, dst: str, src_remote: str = "data", dst_remote: str = "fast") -> Any:
    body = {"operations": [{"src": sp(src, src_remote), "dst": sp(dst, dst_remote)}]}
    return run(fs.client, "/storage:move", body)


def copy(fs: TwoFs, src: str, dst: str, src_remote: str = "data", dst_remote: str = "fast") -> Any:
    body = {"operations": [{"src": sp(src, src_remote), "dst": sp(dst, dst_remote)}]}
    return run(fs.client, "/storage:copy", body)


def code_of(op: dict[str, Any]) -> int | None:
    return None if op["state"] == "succeeded" else (op["error_detail"] or {}).get("code")


def make_tree(top: Path, files: int = 30) -> dict[str, bytes | str | None]:
    """Files in nested directories, old mtimes, a relative symlink; returns `contents`."""
    rng = random.Random(11)
    for i in range(files):
        path = top / f"d{i % 3}" / ("deep" if i % 2 else "") / f"f{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(100 + i))
        os.utime(path, ns=(OLD_NS, OLD_NS + i))
    (top / "link").symlink_to("d0/f00.bin")
    return tree_contents(top)


def temp_files(*tops: Path) -> list[Path]:
    return [p for top in tops for p in top.rglob("*") if fileops.is_temp_name(p.name)]


# -- item 11: durable before the source goes; --fsync for copies ---------------------------------
Event = tuple[str, str]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """("fsync", real path) of every os.fsync, ("delete", path) of every source deletion
    step of a move, in order."""
    seen: list[Event] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.append(("fsync", confine.fd_path(fd)))
        real_fsync(fd)

    def spying(real: Callable[..., None]) -> Callable[..., None]:
        def spy(place: confine.Place, *args: Any) -> None:
            seen.append(("delete", place.path))
            real(place, *args)

        return spy

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(moves, "unlink", spying(moves.unlink))
    monkeypatch.setattr(moves, "detach", spying(moves.detach))
    return seen


def before_first_delete(events: list[Event]) -> list[str]:
    deletes = [i for i, (kind, _) in enumerate(events) if kind == "delete"]
    assert deletes, events
    return [path for kind, path in events[: deletes[0]] if kind == "fsync"]


def test_a_file_moved_across_filesystems_is_synced_with_its_directory_before_the_source_goes(
    two_fs: TwoFs, events: list[Event]
) -> None:
    (two_fs.data / "f.bin").write_bytes(b"payload")

    op = move(two_fs, "f.bin", "out/f.bin")

    assert code_of(op) is None, op
    synced = before_first_delete(events)
    assert any(
        os.path.dirname(p) == str(two_fs.fast / "out") and fileops.is_temp_name(os.path.basename(p))
        for p in synced
    ), events
    assert str(two_fs.fast / "out") in synced, events
    assert events[-1] == ("delete", str(two_fs.data / "f.bin"))
    assert (two_fs.fast / "out" / "f.bin").read_bytes() == b"payload"


def test_a_tree_moved_across_filesystems_is_synced_whole_before_the_source_goes(
    two_fs: TwoFs, events: list[Event]
) -> None:
    expected = make_tree(two_fs.data / "tree")

    op = move(two_fs, "tree", "moved")

    assert code_of(op) is None, op
    assert tree_contents(two_fs.fast / "moved") == expected
    assert not (two_fs.data / "tree").exists()
    synced = before_first_delete(events)
    (temp_top,) = {
        p
        for p in synced
        if os.path.dirname(p) == str(two_fs.fast) and fileops.is_temp_name(os.path.basename(p))
    }
    below = {os.path.relpath(p, temp_top) for p in synced if p.startswith(temp_top + "/")}
    needed = {k for k, v in expected.items() if not isinstance(v, str)}  # files and directories
    assert needed <= below, sorted(needed - below)
    assert str(two_fs.fast) in synced  # the directory the tree was renamed into


def test_copies_are_not_synced_by_default(two_fs: TwoFs, events: list[Event]) -> None:
    (two_fs.data / "f.bin").write_bytes(b"payload")

    assert code_of(copy(two_fs, "f.bin", "c/f.bin")) is None

    assert events == []


def test_with_fsync_a_copy_syncs_its_file_and_directory_before_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, events: list[Event]
) -> None:
    with two_filesystems(tmp_path, monkeypatch, fsync=True) as fs:
        (fs.data / "f.bin").write_bytes(b"payload")

        op = copy(fs, "f.bin", "c/f.bin")
        renamed = move(fs, "f.bin", "g.bin", "data", "data")

    assert code_of(op) is None, op
    assert code_of(renamed) is None, renamed
    made_parent, file_sync, dir_sync, *rest = [path for _, path in events]
    assert made_parent == str(fs.fast)  # where the missing parent `c` was made
    assert os.path.dirname(file_sync) == str(fs.fast / "c")
    assert os.path.basename(file_sync).startswith(".f.bin.planner-tmp-")
    assert dir_sync == str(fs.fast / "c")
    assert rest == [str(fs.data)] * 2  # a rename within one directory: its directory, synced


def test_serve_offers_the_fsync_option(run_cli: Callable[..., Any]) -> None:
    result = run_cli("worker", "serve", "--help")

    assert result.code == 0
    assert "--fsync" in result.stdout


# -- item 12: a source that changes during the copy ------------------------------------------------
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


@pytest.mark.parametrize(
    ("size", "path"),
    [(4096, "small"), (9 * MIB + 5, "chunked"), (33 * MIB, "hashed alongside")],
)
def test_a_source_rewritten_during_the_copy_fails_as_transient_and_records_no_checksum(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch, size: int, path: str
) -> None:
    source = two_fs.data / "src.bin"
    source.write_bytes(random.Random(size).randbytes(size))
    os.utime(source, ns=(OLD_NS, OLD_NS))
    done: list[bool] = []

    if path == "small":  # one read and one write: change it right after the read
        small = fileops._copy_small

        def copy_small(*args: Any) -> Any:
            result = small(*args)
            if not done:
                rewrite_in_place(source)
                done.append(True)
            return result

        monkeypatch.setattr(fileops, "_copy_small", copy_small)
    else:  # after the first 8 MiB chunk
        progress = ItemContext.progress

        def progressed(ctx: ItemContext, current: int, total: int) -> None:
            progress(ctx, current, total)
            if current and current < total and not done:
                rewrite_in_place(source)
                done.append(True)

        monkeypatch.setattr(ItemContext, "progress", progressed)

    failed = copy(two_fs, "src.bin", "out/dst.bin")
    monkeypatch.undo()
    retried = copy(two_fs, "src.bin", "out/dst.bin")
    listed = run(two_fs.client, "/storage:list?mode=extended", {"operations": [sp("out", "fast")]})

    assert done == [True]
    assert code_of(failed) == 503, failed
    assert failed["error"].endswith("source changed during copy"), failed
    assert code_of(retried) is None, retried
    now = source.read_bytes()
    assert (two_fs.fast / "out" / "dst.bin").read_bytes() == now
    ((_, entries),) = listed["result"].items()
    assert [(e["name"], e.get("checksum")) for e in entries] == [
        ("dst.bin", xxhash.xxh64(now).hexdigest())
    ]
    assert temp_files(two_fs.fast) == []


# -- item 13: an interrupted move finishes; a move that cannot delete its source undoes itself ----
def test_a_tree_move_killed_while_deleting_its_source_finishes_when_retried(
    two_fs: TwoFs,
) -> None:
    """The state a kill leaves: the destination complete, part of the source deleted."""
    expected = make_tree(two_fs.data / "tree", files=60)
    shutil.copytree(two_fs.data / "tree", two_fs.fast / "tree", symlinks=True)
    for i in range(0, 60, 4):
        for gone in (two_fs.data / "tree").rglob(f"f{i:02d}.bin"):
            gone.unlink()
    # same bytes under another mtime: the checksum decides
    os.utime(_some_file(two_fs), ns=(1, 1))

    op = move(two_fs, "tree", "tree")

    assert code_of(op) is None, op
    assert not (two_fs.data / "tree").exists()
    assert tree_contents(two_fs.fast / "tree") == expected
    assert temp_files(two_fs.data, two_fs.fast) == []


def _some_file(fs: TwoFs) -> Path:
    """A destination file whose source is still there."""
    return next(p for p in sorted((fs.fast / "tree").rglob("f*.bin")) if int(p.stem[1:]) % 4)


def test_a_retried_move_onto_a_tree_that_differs_is_409_and_changes_nothing(
    two_fs: TwoFs,
) -> None:
    make_tree(two_fs.data / "tree")
    shutil.copytree(two_fs.data / "tree", two_fs.fast / "tree", symlinks=True)
    changed = two_fs.fast / "tree" / "d2" / "f02.bin"
    changed.write_bytes(bytes(len(changed.read_bytes())))  # same size, other bytes and mtime
    before = (tree_contents(two_fs.data / "tree"), tree_contents(two_fs.fast / "tree"))

    op = move(two_fs, "tree", "tree")

    assert code_of(op) == 409, op
    assert "d2/f02.bin differs there" in op["error"], op
    assert (tree_contents(two_fs.data / "tree"), tree_contents(two_fs.fast / "tree")) == before


@pytest.mark.parametrize("kind", ["tree", "file", "file over an old one"])
def test_a_move_that_cannot_delete_its_source_undoes_its_copy(
    two_fs: TwoFs, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A read-only source (root ignores modes, so the deletion is refused by a hook)."""
    if kind == "tree":
        make_tree(two_fs.data / "src")
    else:
        (two_fs.data / "src").write_bytes(b"new content")
    if kind == "file over an old one":
        (two_fs.fast / "dst").write_bytes(b"old")
    before = (tree_contents(two_fs.data), tree_contents(two_fs.fast))

    def read_only(place: confine.Place, *args: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(moves, "unlink", read_only)
    monkeypatch.setattr(moves, "detach", read_only)
    op = move(two_fs, "src", "dst")

    assert code_of(op) == 403, op
    assert op["error"].endswith("Read-only file system"), op
    assert (tree_contents(two_fs.data), tree_contents(two_fs.fast)) == before
