"""The worker's state database (issue 9, items 9 and 14): the listing of recent operations is read
straight off an index, and a worker.db that cannot be used (garbage, truncated, overwritten, not
SQLite, a directory, unreadable, in use) stops `planner worker serve` and `planner run` with exit 2,
the file, what is wrong and what to do, with no traceback, and nothing under the storage roots
touched."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.worker.db import StateDB
from planner.worker.operations import OperationStore
from planner.worker.service import WorkerConfig, WorkerService
from planner.worker.storage import StorageError
from tests.helpers.cli import EXAMPLES, CliResult

SEED = 9


# -- the listing's index -----------------------------------------------------------------------
def test_recent_operations_are_read_off_an_index_without_scanning_or_sorting(
    tmp_path: Path,
) -> None:
    store = OperationStore(StateDB(tmp_path / "worker.db"))
    with contextlib.closing(store.db):
        _assert_listings_use_the_index(store)


def _assert_listings_use_the_index(store: OperationStore) -> None:
    ids = [store.create(user, "mkdir", ["mkdir x"]).id for user in ("alice", "bob") * 20]
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.recent(None, 5, None)
    store.recent("alice", 5, None)
    store.recent(None, 5, ids[-10])
    store.recent("alice", 5, ids[-10])
    store.db.conn.set_trace_callback(None)

    listings = [s for s in statements if "ORDER BY queued_at DESC, id DESC" in s]
    assert len(listings) == 4
    for sql in listings:
        plan = [str(row[3]) for row in store.db.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert len(plan) == 1, (sql, plan)
        assert plan[0].startswith("SEARCH operations USING COVERING INDEX operations_top"), plan


def _open_descriptors_on(path: Path) -> list[str]:
    """This process's file descriptors open on `path` (Linux's /proc)."""
    fds = Path("/proc/self/fd")
    return [fd.name for fd in fds.iterdir() if os.path.realpath(fd) == str(path)]


def test_a_worker_that_cannot_use_a_remote_root_leaves_its_database_closed(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    config = WorkerConfig(state_dir=tmp_path / "state", remotes={"scratch": blocker / "root"})

    # the exception's traceback, kept by pytest.raises, still holds the half-built service
    with pytest.raises(StorageError, match="Not a directory"):
        WorkerService(config)

    assert _open_descriptors_on(tmp_path / "state" / "worker.db") == []


# -- a damaged worker.db -------------------------------------------------------------------------
MOVE_ASIDE = (
    ": move it aside (`mv {db} {db}.damaged`) and start the worker again: it creates a new, "
    "empty database (operation history, metadata and permissions start empty; nothing under "
    "the storage roots is touched)"
)


def a_real_database(path: Path) -> None:
    """A worker.db with a few hundred operations, as a worker leaves it."""
    store = OperationStore(StateDB(path))
    for i in range(400):
        store.create("alice", "copy", [f"copy {i}"] * 3)
    store.db.close()


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(SEED).randbytes(64 * 1024))


def text(path: Path) -> None:
    path.write_text("users:\n  - {name: alice}\n", encoding="utf-8")


def truncated(path: Path) -> None:
    a_real_database(path)
    os.truncate(path, path.stat().st_size // 2)


def overwritten(path: Path) -> None:
    a_real_database(path)
    with open(path, "r+b") as handle:
        handle.seek(4096)
        handle.write(random.Random(SEED).randbytes(3 * 4096))


def directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("kept", encoding="utf-8")


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (garbage, "is not an SQLite database (its first bytes are not an SQLite header)"),
    "text": (text, "is not an SQLite database (its first bytes are not an SQLite header)"),
    # what SQLite says of the damage follows (its words depend on its version)
    "truncated": (truncated, "is damaged ("),
    "overwritten": (overwritten, "is damaged (SQLite's integrity check: "),
    "directory": (directory, "is a directory, not a database file"),
}


def snapshot(top: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below `top`: content and mtime."""
    return {
        str(p.relative_to(top)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(top.rglob("*"))
        if p.is_file()
    }


def storage_with_leftovers(state: Path, data: Path) -> None:
    """Files in both storage roots, a temporary file of an interrupted copy among them."""
    for root in (state / "storage", data):
        (root / "runs").mkdir(parents=True)
        (root / "runs" / "result.csv").write_text("a,b\n1,2\n", encoding="utf-8")
        (root / "runs" / ".result.csv.planner-tmp-0123abcd").write_bytes(b"partial")


def serve(state: Path, data: Path, *prefix: str) -> CliResult:
    """`planner worker serve` as a process (as an unprivileged one after `prefix`)."""
    done = subprocess.run(
        [
            *prefix,
            *(sys.executable, "-m", "planner", "worker", "serve", "--port", "0", "--no-auth"),
            *("--state-dir", str(state), "--remote", f"data={data}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_database_stops_serve_with_exit_2_saying_what_to_do(
    tmp_path: Path, damage: str
) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    storage_with_leftovers(state, data)
    db = state / "worker.db"
    make, what = DAMAGES[damage]
    make(db)
    before = {top: snapshot(top) for top in (state, data)}

    result = serve(state, data)

    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"planner: error: worker database {db} {what}")
    assert result.stderr.endswith(MOVE_ASIDE.format(db=db) + "\n")
    assert result.stderr.count("\n") == 1
    assert {top: snapshot(top) for top in (state, data)} == before


def test_an_unreadable_database_stops_serve_with_exit_2_saying_what_to_do(
    tmp_path: Path,
) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    storage_with_leftovers(state, data)
    db = state / "worker.db"
    a_real_database(db)
    db.chmod(0)
    before = {top: snapshot(top) for top in (data,)}
    # root reads any file: without the capabilities that let it, mode 000 denies it too
    unprivileged = (
        ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    )

    result = serve(state, data, *unprivileged)

    assert result.code == 2
    assert result.stderr == (
        f"planner: error: worker database {db} cannot be opened for reading and writing "
        "(Permission denied): give the worker's user read and write access to it, or move it "
        + MOVE_ASIDE.format(db=db)[len(": move it ") :]
        + "\n"
    )
    assert {top: snapshot(top) for top in (data,)} == before


def test_a_database_locked_by_another_process_is_named_as_in_use(tmp_path: Path) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    data.mkdir()
    db = state / "worker.db"
    a_real_database(db)
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # a writer holds the lock, as another worker would
        result = serve(state, data)
    finally:
        other.close()

    assert result.code == 2
    assert result.stderr == (
        f"planner: error: worker database {db} is in use by another process (another worker "
        "on the same --state-dir?): stop it, or give this worker its own --state-dir\n"
    )


def test_planner_run_with_a_damaged_embedded_worker_database_says_what_to_do(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    project = tmp_path / "quickstart"
    # without the state a run of the example in place left (the README's main job does one)
    shutil.copytree(EXAMPLES / "quickstart", project, ignore=shutil.ignore_patterns(".planner"))
    db = project / ".planner" / "worker" / "worker.db"
    db.parent.mkdir(parents=True)
    garbage(db)
    damaged = db.read_bytes()

    result = run_cli("run", project / "plan.yaml")

    assert result.code == 2
    assert result.stderr.endswith(
        "planner: error: the embedded worker did not start: worker database "
        f"{db} is not an SQLite database (its first bytes are not an SQLite header)"
        + MOVE_ASIDE.format(db=db)
        + "\n"
    )
    assert "Traceback" not in result.stderr
    assert 'File "' not in result.stderr
    assert db.read_bytes() == damaged
    assert not (project / ".planner" / "storage" / "quickstart").exists()
