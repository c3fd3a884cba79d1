"""The tree operations over HTTP against a real worker (docs/api.md, "Tree operations"):
`storage:copy_tree` copies a directory in one item (filters, policies, empty directories,
special files, unreadable subdirectories, names that are not UTF-8), `storage:compare_tree`
decides the same without writing, `GET /operations/{id}/files` pages through the rows; cancel,
authorization, validation, admission and a worker with the extensions off."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker import tree_rows, treeops
from planner.worker.faults import FaultSpec
from tests.helpers.unreadable import raw_tree, refuse_to_walk_into
from tests.helpers.worker_api import (
    assert_problem,
    failed_with,
    grant,
    run,
    submit,
    succeeded,
    wait_all,
)
from tests.helpers.workers import (
    WorkerHandle,
    running_worker,
    set_grants,
    users_worker,
)

COPY, COMPARE = "/storage:copy_tree", "/storage:compare_tree"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    with running_worker(tmp_path) as handle:
        yield handle


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


def tree(src: str = "src", dst: str = "dst", **options: Any) -> dict[str, Any]:
    """A body of one tree on the `data` remote."""
    return {
        "operations": [
            {"src": {"path": src, "remote": "data"}, "dst": {"path": dst, "remote": "data"}}
            | options
        ]
    }


def make(root: Path, files: dict[str, str]) -> None:
    """Files (a name ending in "/" is an empty directory) below `root`."""
    for rel, content in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def all_rows(client: httpx.Client, op_id: str, limit: int = 5000) -> list[list[Any]]:
    """Every row of an operation, page by page."""
    found: list[list[Any]] = []
    offset: int | None = 0
    while offset is not None:
        response = client.get(
            f"/operations/{op_id}/files", params={"offset": offset, "limit": limit}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["columns"] == [
            "path",
            "kind",
            "size",
            "reason",
            "state",
            "checksum",
            "code",
            "error",
        ]
        found += body["rows"]
        offset = body["next_offset"]
    return found


def decisions(rows: list[list[Any]]) -> list[tuple[str, str, int, str]]:
    """(path, kind, size, reason) of rows: what was or would be done, without its state."""
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_tree_is_copied_in_one_operation_with_filters_modes_mtimes_and_checksums(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    data = worker.roots["data"]
    make(
        data / "src",
        {"a.h5": "aaaa", "run/b.h5": "bb", "run/log.txt": "log", "cache/c.h5": "c", "x/y/": ""},
    )
    os.chmod(data / "src" / "run" / "b.h5", 0o751)
    os.utime(data / "src" / "a.h5", ns=(1_600_000_000_123_456_000, 1_600_000_000_123_456_000))

    op = succeeded(run(client, COPY, tree(include=["*.h5"], exclude=["cache/"])))

    assert op["result"] == {
        "copied": 2, "overwritten": 0, "unchanged": 0, "filtered": 2, "failed": 0,
        "compared": 0, "bytes": 6, "dirs_made": 0, "skipped": 0, "unreadable": 0, "rows": 2,
    }  # fmt: skip
    assert op["progress_current"] == op["progress_total"] == 2
    rows = all_rows(client, op["id"])
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("a.h5", "new", "done"),
        ("run/b.h5", "new", "done"),
    ]
    listed = client.post(
        "/metadata:get", json={"paths": ["data:dst/a.h5", "data:dst/run/b.h5"]}
    ).json()["id"]
    [meta] = wait_all(client, [listed])
    assert rows[0][5] == meta["result"]["data:dst/a.h5"]["checksum"]
    assert rows[1][5] == meta["result"]["data:dst/run/b.h5"]["checksum"]
    dst = data / "dst"
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == [
        "a.h5", "run", "run/b.h5"
    ]  # fmt: skip
    assert (dst / "a.h5").stat().st_mtime_ns == 1_600_000_000_123_456_000
    assert (dst / "run" / "b.h5").stat().st_mode & 0o777 == 0o751


def test_overwrite_policies_decide_each_file_as_the_item_path_does(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    data = worker.roots["data"]
    make(data / "src", {"same.txt": "same", "changed.txt": "new!", "older.txt": "old"})
    make(data / "dst", {"same.txt": "same", "changed.txt": "old", "older.txt": "newer"})
    for name in ("same.txt", "older.txt"):
        st = (data / "src" / name).stat()
        os.utime(data / "dst" / name, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    os.utime(data / "dst" / "same.txt", ns=(0, (data / "src" / "same.txt").stat().st_mtime_ns))

    def reasons(overwrite: str) -> list[tuple[str, str]]:
        op = succeeded(run(client, COMPARE, tree(overwrite=overwrite)))
        return [(r[0], r[3]) for r in all_rows(client, op["id"])]

    assert reasons("if-different") == [("changed.txt", "changed"), ("older.txt", "changed")]
    assert reasons("never") == []
    assert reasons("if-newer") == []
    assert reasons("always") == [
        ("changed.txt", "always"), ("older.txt", "always"), ("same.txt", "always")
    ]  # fmt: skip

    op = succeeded(run(client, COPY, tree()))
    assert (op["result"]["overwritten"], op["result"]["unchanged"]) == (2, 1)
    assert (data / "dst" / "changed.txt").read_text() == "new!"


def test_rows_are_paged_in_walk_order_and_written_in_batches(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tree_rows, "BATCH", 3)
    make(worker.roots["data"] / "src", {f"d{i // 4}/f{i}.txt": str(i) for i in range(11)})

    op = succeeded(run(client, COPY, tree()))

    first = client.get(f"/operations/{op['id']}/files", params={"limit": 4}).json()
    assert len(first["rows"]) == 4
    assert first["next_offset"] == 4
    paged = all_rows(client, op["id"], limit=4)
    assert paged == all_rows(client, op["id"])
    assert [r[0] for r in paged] == sorted(f"d{i // 4}/f{i}.txt" for i in range(11))
    assert op["result"]["rows"] == 11
    last = client.get(f"/operations/{op['id']}/files", params={"offset": 8, "limit": 4}).json()
    assert (len(last["rows"]), last["next_offset"]) == (3, None)


def test_compare_writes_nothing_and_its_rows_are_what_the_copy_then_does(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    data = worker.roots["data"]
    make(data / "src", {"a.txt": "a", "d/b.txt": "b", "d/e/": "", "same.txt": "s"})
    make(data / "dst", {"a.txt": "different", "same.txt": "s", "d": "a file in the way"})
    os.utime(data / "dst" / "same.txt", ns=(0, (data / "src" / "same.txt").stat().st_mtime_ns))
    before = raw_tree(data)
    metadata_before = _metadata(worker)

    compared = succeeded(run(client, COMPARE, tree(checksum=True)))

    assert raw_tree(data) == before
    assert _metadata(worker) == metadata_before
    planned = all_rows(client, compared["id"])
    assert {r[4] for r in planned} == {"planned"}
    copied = run(client, COPY, tree(checksum=True))
    done = all_rows(client, copied["id"])
    assert decisions(done) == decisions(planned)
    by_path = {r[0]: r for r in done}
    assert by_path["d/b.txt"][1:7] == ["file", 1, "conflict", "failed", None, 409]
    assert by_path["d/e"][1:7] == ["dir", 0, "new", "failed", None, 409]
    assert by_path["a.txt"][3:5] == ["changed", "done"]
    assert "same.txt" not in by_path
    failed_with(copied, 409)
    assert copied["error"] == "2 files failed"
    same = ("unchanged", "filtered", "compared", "skipped", "unreadable", "rows")
    assert {k: copied["result"][k] for k in same} == {k: compared["result"][k] for k in same}
    assert compared["result"]["compared"] == 1  # same.txt, by checksum


def _metadata(worker: WorkerHandle) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(worker.state_dir / "worker.db")) as db:
        return sorted(db.execute("SELECT * FROM metadata").fetchall())


def test_checksum_true_catches_an_edit_that_kept_size_and_mtime(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    data = worker.roots["data"]
    make(data / "src", {"a.txt": "one"})
    succeeded(run(client, COPY, tree()))
    edited = data / "src" / "a.txt"
    st = edited.stat()
    edited.write_text("two")
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))

    by_mtime = succeeded(run(client, COMPARE, tree()))
    by_checksum = succeeded(run(client, COMPARE, tree(checksum=True)))

    assert all_rows(client, by_mtime["id"]) == []
    assert by_mtime["result"]["unchanged"] == 1
    [row] = all_rows(client, by_checksum["id"])
    assert row[:5] == ["a.txt", "file", 3, "changed", "planned"]
    assert by_checksum["result"]["compared"] == 1
    copied = succeeded(run(client, COPY, tree(checksum=True)))
    assert copied["result"]["overwritten"] == 1
    assert (data / "dst" / "a.txt").read_text() == "two"
    again = succeeded(run(client, COMPARE, tree(checksum=True)))
    assert (again["result"]["unchanged"], again["result"]["compared"]) == (1, 1)


def test_empty_directories_are_made_unless_empty_dirs_is_false(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    data = worker.roots["data"]
    make(data / "src", {"e/f/g/": "", "full/a.txt": "a", "full/empty/": "", "cache/": ""})

    kept = succeeded(run(client, COPY, tree(dst="with", exclude=["cache/"])))
    left = succeeded(run(client, COPY, tree(dst="without", empty_dirs=False)))

    assert [r[:5] for r in all_rows(client, kept["id"]) if r[1] == "dir"] == [
        ["e/f/g", "dir", 0, "new", "done"], ["full/empty", "dir", 0, "new", "done"]
    ]  # fmt: skip
    assert kept["result"]["dirs_made"] == 2
    assert (data / "with" / "e" / "f" / "g").is_dir()
    assert not (data / "with" / "cache").exists()
    assert left["result"]["dirs_made"] == 0
    assert sorted(p.name for p in (data / "without").rglob("*")) == ["a.txt", "full"]


def test_a_fifo_is_skipped_and_reported(worker: WorkerHandle, client: httpx.Client) -> None:
    data = worker.roots["data"]
    make(data / "src", {"a.txt": "a"})
    os.mkfifo(data / "src" / "pipe")

    op = succeeded(run(client, COPY, tree()))

    assert ["pipe", "skipped", 0, "fifo", "done", None, None, None] in all_rows(client, op["id"])
    assert op["result"]["skipped"] == 1
    assert sorted(os.listdir(data / "dst")) == ["a.txt"]


def test_an_unreadable_subdirectory_fails_only_itself(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = worker.roots["data"]
    make(data / "src", {"a.txt": "a", "private/secret.txt": "s", "pub/b.txt": "b"})
    refuse_to_walk_into(data / "src" / "private", monkeypatch)

    op = failed_with(run(client, COPY, tree()), 403)

    assert op["error"] == "1 directory not read"
    assert op["result"]["unreadable"] == 1
    assert op["result"]["copied"] == 2
    rows = all_rows(client, op["id"])
    assert ["private", "unreadable", 0, None, "failed", None, 403, "Permission denied"] in rows
    assert sorted(raw_tree(data / "dst")) == [b"a.txt", b"pub", b"pub/b.txt"]


def test_names_that_are_not_utf8_are_copied_byte_exact(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    src = bytes(worker.roots["data"] / "src")
    os.makedirs(os.path.join(src, b"d\xff"))
    with open(os.path.join(src, b"d\xff", b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"bytes")

    op = succeeded(run(client, COPY, tree()))

    assert [r[0] for r in all_rows(client, op["id"])] == ["d\u201bFF/caf\u201bE9.txt"]
    assert raw_tree(worker.roots["data"] / "dst") == raw_tree(worker.roots["data"] / "src")


def test_cancel_mid_tree_stops_between_files_and_keeps_the_rows_so_far(
    worker: WorkerHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = worker.roots["data"]
    make(data / "src", {f"f{i}.txt": "x" * 100 for i in range(6)})
    reached, release = threading.Event(), threading.Event()
    copy = treeops.copy_opened  # type: ignore[attr-defined]
    calls = []

    def holding(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            reached.set()
            assert release.wait(20)
        return copy(*args, **kwargs)

    monkeypatch.setattr(treeops, "copy_opened", holding)
    op_id = submit(client, COPY, tree())
    assert reached.wait(20)
    assert client.post(f"/operations/{op_id}:cancel").status_code == 200
    release.set()

    [op] = wait_all(client, [op_id])

    failed_with(op, 499)
    assert op["error"] == "cancelled"
    assert op["result"]["copied"] == 2
    assert [r[0] for r in all_rows(client, op_id)] == ["f0.txt", "f1.txt"]
    assert sorted(os.listdir(data / "dst")) == ["f0.txt", "f1.txt"]  # no temporary file


def test_the_source_must_be_a_directory(worker: WorkerHandle, client: httpx.Client) -> None:
    make(worker.roots["data"], {"file.txt": "f"})

    missing = failed_with(run(client, COPY, tree(src="nothing")), 404)
    a_file = failed_with(run(client, COPY, tree(src="file.txt")), 409)
    onto_file = failed_with(run(client, COPY, tree(src="", dst="file.txt")), 409)

    assert "data:nothing" in missing["error"]
    assert "is a file" in a_file["error"]
    assert "is a file" in onto_file["error"]


def test_bodies_are_checked_before_anything_runs(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    dotdot = assert_problem(client.post(COPY, json=tree(src="a/../../etc")), 422)
    policy = assert_problem(client.post(COPY, json=tree(overwrite="sometimes")), 422)
    pattern = assert_problem(client.post(COMPARE, json=tree(exclude=["[unbalanced"])), 422)
    empty = assert_problem(client.post(COPY, json={"operations": []}), 422)
    limit = assert_problem(client.get("/operations/x/files", params={"limit": 0}), 422)

    assert dotdot["errors"][0]["location"] == "body.operations[0].src.path"
    assert policy["errors"][0]["location"] == "body.operations[0].overwrite"
    assert pattern["errors"][0]["location"] == "body.operations[0].exclude"
    assert empty["errors"][0]["location"] == "body.operations"
    assert limit["errors"][0]["location"] == "query.limit"
    assert not (worker.roots["data"] / "dst").exists()


def test_several_trees_make_a_group_whose_children_have_the_rows(
    worker: WorkerHandle, client: httpx.Client
) -> None:
    make(worker.roots["data"], {"one/a.txt": "a", "two/b.txt": "b"})
    body = {"operations": [tree("one", "c1")["operations"][0], tree("two", "c2")["operations"][0]]}

    op = succeeded(run(client, COPY, body))

    assert [all_rows(client, child)[0][0] for child in op["children"]] == ["a.txt", "b.txt"]
    assert_problem(client.get(f"/operations/{op['id']}/files"), 404)


def test_authorization_is_checked_at_submission_and_rows_are_their_owners(tmp_path: Path) -> None:
    with users_worker(tmp_path) as users:
        make(users.worker.roots["data"], {"src/a.txt": "a"})
        set_grants(
            users,
            grant("data:src", "reader", "alice"),
            grant("data:mine", "writer", "alice"),
            grant("data:other", "writer", "bob"),
        )

        refused = assert_problem(users.alice.post(COPY, json=tree("src", "other")), 403)
        compared = succeeded(run(users.alice, COMPARE, tree("src", "mine")))

        assert refused["errors"][0]["location"] == "body.operations[0].dst.path"
        assert not (users.worker.roots["data"] / "other").exists()
        assert_problem(users.bob.get(f"/operations/{compared['id']}/files"), 404)
        assert len(all_rows(users.root, compared["id"])) == 1
        deleted = users.alice.delete(f"/operations/{compared['id']}")
        assert deleted.status_code == 204
        assert_problem(users.root.get(f"/operations/{compared['id']}/files"), 404)


def test_rows_go_with_their_operation(worker: WorkerHandle, client: httpx.Client) -> None:
    make(worker.roots["data"] / "src", {"a.txt": "a"})
    op = succeeded(run(client, COPY, tree()))
    assert client.delete(f"/operations/{op['id']}").status_code == 204

    with contextlib.closing(sqlite3.connect(worker.state_dir / "worker.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM tree_rows").fetchone() == (0,)


def test_a_plain_worker_neither_advertises_nor_serves_tree_operations(tmp_path: Path) -> None:
    with (
        running_worker(tmp_path, tree_operations=False) as plain,
        httpx.Client(base_url=plain.url, headers=plain.headers, timeout=10.0) as client,
    ):
        features = client.get("/").json()["features"]["operation_plugins"]
        assert not [f for f in features if f.startswith("planner.tree.")]
        assert_problem(client.post(COPY, json=tree()), 404)
        assert_problem(client.post(COMPARE, json=tree()), 404)
        assert_problem(client.get("/operations/x/files"), 404)


def test_a_tree_counts_as_one_item_against_the_queue_bound(tmp_path: Path) -> None:
    options = {"faults": FaultSpec(item_delay=600.0), "pool_size": 1, "max_queued_items": 1}
    with (
        running_worker(tmp_path, **options) as held,
        httpx.Client(base_url=held.url, headers=held.headers, timeout=10.0) as client,
    ):
        make(held.roots["data"] / "src", {f"f{i}.txt": "x" for i in range(5)})
        op_id = submit(client, COPY, tree())
        busy = client.post(COPY, json=tree())
        assert_problem(busy, 503)
        assert client.post(f"/operations/{op_id}:cancel").status_code == 200
        [op] = wait_all(client, [op_id])
        failed_with(op, 499)
