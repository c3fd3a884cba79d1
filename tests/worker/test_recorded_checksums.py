"""A checksum the worker recorded is trusted only while the file is the one it hashed (issue 10,
item 4): size, mtime and ctime unchanged. A rewrite in place that keeps the size and puts the
mtime back still changes the ctime, so listings and metadata:get hash it again; a worker.db from
before the ctime was recorded opens, and its rows are hashed again rather than trusted."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xxhash

from planner.worker.db import StateDB
from planner.worker.metadata import MetadataStore
from tests.helpers.worker_api import run, sp, succeeded
from tests.helpers.workers import WorkerHandle, start_worker

STALE = "0123456789abcdef"  # a checksum no content of these tests has

# the metadata table as worker.db held it before the ctime was recorded
OLD_METADATA_TABLE = """
CREATE TABLE metadata (
    key TEXT PRIMARY KEY,
    size INTEGER,
    mtime_ns INTEGER,
    checksum TEXT,
    custom TEXT NOT NULL DEFAULT '{}'
);
"""


def xxh64(data: bytes) -> str:
    return xxhash.xxh64(data).hexdigest()


def edit_in_place(path: Path, content: bytes) -> None:
    """Rewrite a file with content of the same size and put its mtime back: what size + mtime
    cannot see (the ctime does)."""
    st = path.stat()
    assert len(content) == st.st_size
    path.write_bytes(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    while path.stat().st_ctime_ns == st.st_ctime_ns:  # a coarse clock: until the kernel shows it
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


def checksum_from_metadata_get(client: httpx.Client, label: str) -> str:
    op = succeeded(run(client, "/metadata:get", {"paths": [label]}))
    return str(op["result"][label]["checksum"])


def listed_checksums(client: httpx.Client, remote: str) -> dict[str, str | None]:
    """name -> checksum of every file in a recursive extended listing of a remote's root."""
    op = succeeded(
        run(
            client,
            "/storage:list",
            {"operations": [sp("", remote)]},
            {"mode": "extended", "recursive": "true"},
        )
    )
    return {e["name"]: e.get("checksum") for e in op["result"][f"{remote}:"] if e["type"] == "file"}


def test_metadata_get_hashes_again_after_a_same_size_same_mtime_edit(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    target = worker.roots["data"] / "f.txt"
    target.write_bytes(b"cccc\n")
    assert checksum_from_metadata_get(client, "data:f.txt") == xxh64(b"cccc\n")  # recorded

    edit_in_place(target, b"dddd\n")

    assert checksum_from_metadata_get(client, "data:f.txt") == xxh64(b"dddd\n")


def test_a_listing_drops_the_recorded_checksum_of_a_copy_edited_in_place(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    (worker.roots["data"] / "f.txt").write_bytes(b"cccc\n")
    copy = {"src": sp("f.txt", "data"), "dst": sp("copy.txt", "data")}
    succeeded(run(client, "/storage:copy", {"operations": [copy]}))
    assert listed_checksums(client, "data")["copy.txt"] == xxh64(b"cccc\n")  # the copy's record

    edit_in_place(worker.roots["data"] / "copy.txt", b"dddd\n")

    assert listed_checksums(client, "data")["copy.txt"] is None  # unknown: hashed when asked
    assert checksum_from_metadata_get(client, "data:copy.txt") == xxh64(b"dddd\n")


def old_layout_database(state_dir: Path, key: str, st: os.stat_result) -> None:
    """A worker.db whose metadata table predates the ctime, with a row for `key` that matches
    the file's size and mtime but records a checksum of other content."""
    state_dir.mkdir(parents=True)
    with sqlite3.connect(state_dir / "worker.db") as conn:
        conn.executescript(OLD_METADATA_TABLE)
        conn.execute(
            "INSERT INTO metadata (key, size, mtime_ns, checksum, custom) VALUES (?, ?, ?, ?, ?)",
            (key, st.st_size, st.st_mtime_ns, STALE, '{"owner": "ci"}'),
        )
    conn.close()


def test_an_old_layout_database_opens_and_its_rows_are_not_trusted(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_bytes(b"cccc\n")
    st = target.stat()
    old_layout_database(tmp_path / "state", "data:f.txt", st)

    db = StateDB(tmp_path / "state" / "worker.db")
    try:
        store = MetadataStore(db)
        record = store.get("data:f.txt")
        store.record_content("data:f.txt", st.st_size, st.st_mtime_ns, st.st_ctime_ns, xxh64(b"x"))
        again = store.get("data:f.txt")
    finally:
        db.close()

    assert (record.size, record.mtime_ns, record.checksum) == (st.st_size, st.st_mtime_ns, STALE)
    assert record.custom == {"owner": "ci"}
    assert record.checksum_for(st.st_size, st.st_mtime_ns, st.st_ctime_ns) is None
    assert again.checksum_for(st.st_size, st.st_mtime_ns, st.st_ctime_ns) == xxh64(b"x")
    assert again.custom == {"owner": "ci"}


def test_a_worker_on_an_old_layout_database_hashes_its_recorded_files_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "f.txt").write_bytes(b"cccc\n")
    old_layout_database(tmp_path / "worker-state", "data:f.txt", (data / "f.txt").stat())

    embedded, handle = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=10.0) as client:
            assert listed_checksums(client, "data") == {"f.txt": None}
            assert checksum_from_metadata_get(client, "data:f.txt") == xxh64(b"cccc\n")
            assert listed_checksums(client, "data") == {"f.txt": xxh64(b"cccc\n")}
    finally:
        embedded.stop()
