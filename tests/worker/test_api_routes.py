"""HTTP integration tests of every route of docs/api.md against a real embedded worker: status,
storages, storage operations and their result shapes, metadata, permissions, problem JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import xxhash

from tests.helpers.worker_api import (
    assert_aware_timestamp,
    assert_problem,
    failed_with,
    grant,
    pair,
    run,
    sp,
    succeeded,
)
from tests.helpers.workers import WorkerHandle, running_worker

OPERATION_KEYS = {
    "id",
    "description",
    "state",
    "progress",
    "progress_current",
    "progress_total",
    "queued_at",
    "started_at",
    "ended_at",
    "result",
    "error",
    "error_detail",
    "messages",
    "children",
    "children_detail",
    "info",
    "user_id",
    "retries",
    "max_retries",
    "rate",
    "succeeded_on",
}


def xxh64(data: bytes) -> str:
    return xxhash.xxh64(data).hexdigest()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    """One real worker for this module (tests keep apart by working under their own `ns`)."""
    with running_worker(tmp_path_factory.mktemp("api-routes")) as handle:
        yield handle


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


@pytest.fixture
def data(worker: WorkerHandle, ns: str) -> Path:
    top = worker.roots["data"] / ns
    top.mkdir(parents=True)
    return top


@pytest.fixture
def anyroot(worker: WorkerHandle, ns: str) -> Path:
    top = worker.roots["any"] / ns
    top.mkdir(parents=True)
    return top


# -- status and storages ---------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", "/"])
def test_status_answers_on_api_root_with_and_without_trailing_slash(
    worker: WorkerHandle, suffix: str
) -> None:
    response = httpx.get(worker.url + suffix, headers=worker.headers, timeout=10.0)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert_aware_timestamp(body["time"])
    assert isinstance(body["build_info"], dict)
    assert {"version", "version_hash", "branch"} <= body["build_info"].keys()
    assert body["build_info"]["version"]
    assert set(body["features"]) >= {
        "auth_types",
        "storage_plugins",
        "permissions_plugins",
        "metadata_plugins",
        "operation_plugins",
    }
    assert all(isinstance(v, list) for v in body["features"].values())


def test_storage_lists_named_remotes_with_type_and_priority(client: httpx.Client) -> None:
    response = client.get("/storage")

    assert response.status_code == 200
    storages = response.json()["storage"]
    assert storages
    names = {s["name"] for s in storages}
    assert {"any", "data"} <= names
    for entry in storages:
        assert isinstance(entry["type"], str)
        assert isinstance(entry["priority"], int)


# -- copy and move -----------------------------------------------------------------------------
def test_copy_creates_parents_and_reports_bytes_and_remote_written(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (data / "in.bin").write_bytes(b"x" * 5000)

    op = succeeded(
        run(client, "/storage:copy", {"operations": [pair(f"{ns}/in.bin", f"{ns}/a/b/out.bin")]})
    )

    assert (anyroot / "a/b/out.bin").read_bytes() == b"x" * 5000
    assert op.keys() >= OPERATION_KEYS
    assert op["result"] is None
    assert op["progress_current"] == op["progress_total"] == 5000
    assert op["succeeded_on"] == ["any"]
    for stamp in ("queued_at", "started_at", "ended_at"):
        assert_aware_timestamp(op[stamp])
    assert (data / "in.bin").exists()


def test_copy_overwrites_an_existing_destination_file(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (data / "new.txt").write_text("new content")
    (anyroot / "target.txt").write_text("old content that is longer")

    succeeded(
        run(client, "/storage:copy", {"operations": [pair(f"{ns}/new.txt", f"{ns}/target.txt")]})
    )

    assert (anyroot / "target.txt").read_text() == "new content"


def test_copy_of_an_empty_file_succeeds(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (data / "empty").write_bytes(b"")

    succeeded(run(client, "/storage:copy", {"operations": [pair(f"{ns}/empty", f"{ns}/c/e")]}))

    assert (anyroot / "c/e").read_bytes() == b""


def test_copy_of_a_missing_source_is_a_failed_operation_not_an_http_error(
    client: httpx.Client, ns: str, anyroot: Path
) -> None:
    op = run(client, "/storage:copy", {"operations": [pair(f"{ns}/missing", f"{ns}/out")]})

    failed_with(op, 404)
    assert not (anyroot / "out").exists()


def test_move_within_and_across_remotes_removes_the_source(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (data / "one.txt").write_text("one")
    (data / "two.txt").write_text("two")

    op = succeeded(
        run(
            client,
            "/storage:move",
            {
                "operations": [
                    pair(f"{ns}/one.txt", f"{ns}/moved/one.txt", "data", "data"),
                    pair(f"{ns}/two.txt", f"{ns}/elsewhere/two.txt", "data", "any"),
                ]
            },
        )
    )

    assert not (data / "one.txt").exists()
    assert not (data / "two.txt").exists()
    assert (data / "moved/one.txt").read_text() == "one"
    assert (anyroot / "elsewhere/two.txt").read_text() == "two"
    assert [c["state"] for c in op["children_detail"]] == ["succeeded", "succeeded"]


# -- exists, list, mkdir, remove, rmdir --------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [("f.txt", True), ("d", True), ("d/nested", True), ("nope", False), ("f.txt/x", False)],
)
def test_exists_answers_a_bare_boolean(
    client: httpx.Client, ns: str, data: Path, path: str, expected: bool
) -> None:
    (data / "d/nested").mkdir(parents=True)
    (data / "f.txt").write_text("f")

    op = succeeded(run(client, "/storage:exists", {"operations": [sp(f"{ns}/{path}", "data")]}))

    assert op["result"] is expected


def test_exists_with_several_items_reports_each_child(
    client: httpx.Client, ns: str, data: Path
) -> None:
    (data / "here").write_text("x")

    op = succeeded(
        run(
            client,
            "/storage:exists",
            {"operations": [sp(f"{ns}/here", "data"), sp(f"{ns}/gone", "data")]},
        )
    )

    assert [c["result"] for c in op["children_detail"]] == [True, False]


@pytest.fixture
def tree(data: Path) -> Path:
    """data:<ns>/tree/{a.txt (3 bytes), sub/b.txt (5 bytes), sub/deeper/c.txt (1 byte)}"""
    top = data / "tree"
    (top / "sub/deeper").mkdir(parents=True)
    (top / "a.txt").write_bytes(b"aaa")
    (top / "sub/b.txt").write_bytes(b"bbbbb")
    (top / "sub/deeper/c.txt").write_bytes(b"c")
    return top


def test_list_basic_answers_names_keyed_by_remote_and_path(
    client: httpx.Client, ns: str, tree: Path
) -> None:
    op = succeeded(run(client, "/storage:list", {"operations": [sp(f"{ns}/tree", "data")]}))

    assert list(op["result"]) == [f"data:{ns}/tree"]
    assert sorted(op["result"][f"data:{ns}/tree"]) == ["a.txt", "sub"]


def test_list_defaults_to_remote_any_and_keys_by_it(
    client: httpx.Client, ns: str, anyroot: Path
) -> None:
    (anyroot / "x").write_text("x")

    op = succeeded(run(client, "/storage:list", {"operations": [{"path": ns}]}))

    assert op["result"] == {f"any:{ns}": ["x"]}


def test_list_extended_answers_typed_entries_with_aware_mtimes(
    client: httpx.Client, ns: str, tree: Path
) -> None:
    op = succeeded(
        run(
            client,
            "/storage:list",
            {"operations": [sp(f"{ns}/tree", "data")]},
            {"mode": "extended"},
        )
    )

    entries = {e["name"]: e for e in op["result"][f"data:{ns}/tree"]}
    assert set(entries) == {"a.txt", "sub"}
    assert entries["a.txt"]["type"] == "file"
    assert entries["a.txt"]["size"] == 3
    assert entries["sub"]["type"] == "dir"
    for entry in entries.values():
        assert_aware_timestamp(entry["mtime"])


def test_list_recursive_names_entries_by_path_relative_to_the_listed_directory(
    client: httpx.Client, ns: str, tree: Path
) -> None:
    listed = {"operations": [sp(f"{ns}/tree", "data")]}
    basic = succeeded(run(client, "/storage:list", listed, {"recursive": "true"}))
    extended = succeeded(
        run(client, "/storage:list", listed, {"mode": "extended", "recursive": "true"})
    )

    expected = ["a.txt", "sub", "sub/b.txt", "sub/deeper", "sub/deeper/c.txt"]
    assert sorted(basic["result"][f"data:{ns}/tree"]) == expected
    entries = {e["name"]: e for e in extended["result"][f"data:{ns}/tree"]}
    assert sorted(entries) == expected
    assert {n: e["type"] for n, e in entries.items()} == {
        "a.txt": "file",
        "sub": "dir",
        "sub/b.txt": "file",
        "sub/deeper": "dir",
        "sub/deeper/c.txt": "file",
    }
    assert entries["sub/b.txt"]["size"] == 5
    assert entries["sub/deeper/c.txt"]["size"] == 1
    for entry in entries.values():
        assert_aware_timestamp(entry["mtime"])


def test_list_extended_carries_the_checksum_of_a_copied_file(
    client: httpx.Client, ns: str, data: Path
) -> None:
    content = b"checksummed content\n" * 100
    (data / "src.bin").write_bytes(content)
    succeeded(
        run(client, "/storage:copy", {"operations": [pair(f"{ns}/src.bin", f"{ns}/out/c.bin")]})
    )

    flat = succeeded(
        run(client, "/storage:list", {"operations": [sp(f"{ns}/out")]}, {"mode": "extended"})
    )
    deep = succeeded(
        run(
            client,
            "/storage:list",
            {"operations": [sp(ns)]},
            {"mode": "extended", "recursive": "true"},
        )
    )

    [entry] = flat["result"][f"any:{ns}/out"]
    assert entry["name"] == "c.bin"
    assert entry["type"] == "file"
    assert entry["size"] == len(content)
    assert entry["checksum"] == xxh64(content)
    nested = {e["name"]: e for e in deep["result"][f"any:{ns}"]}
    assert set(nested) == {"out", "out/c.bin"}
    assert nested["out/c.bin"]["checksum"] == xxh64(content)
    assert nested["out/c.bin"]["size"] == len(content)


def test_list_extended_of_a_remote_root_carries_the_checksums_of_its_files(
    worker: WorkerHandle,
) -> None:
    content = b"at the root\n" * 100
    (worker.roots["any"] / "src.bin").write_bytes(content)
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=30) as client:
        copy = {"operations": [pair("src.bin", "c.bin", "any", "data")]}
        succeeded(run(client, "/storage:copy", copy))
        flat = succeeded(
            run(client, "/storage:list", {"operations": [sp("", "data")]}, {"mode": "extended"})
        )
        deep = succeeded(
            run(
                client,
                "/storage:list",
                {"operations": [sp("", "data")]},
                {"mode": "extended", "recursive": "true"},
            )
        )

    for listing in (flat, deep):
        [entry] = [e for e in listing["result"]["data:"] if e["name"] == "c.bin"]
        assert entry["checksum"] == xxh64(content)


def test_list_of_a_missing_directory_fails_with_404(client: httpx.Client, ns: str) -> None:
    failed_with(run(client, "/storage:list", {"operations": [sp(f"{ns}/no/dir", "data")]}), 404)


def test_an_unknown_remote_is_a_failed_item_not_an_http_error(
    client: httpx.Client, ns: str
) -> None:
    op = run(client, "/storage:mkdir", {"operations": [sp(f"{ns}/x", "no-such-remote")]})

    assert op["state"] == "failed"
    assert op["error_detail"]["code"] in (400, 404), op


def test_mkdir_creates_parents_and_accepts_an_existing_directory(
    client: httpx.Client, ns: str, data: Path
) -> None:
    succeeded(run(client, "/storage:mkdir", {"operations": [sp(f"{ns}/x/y/z", "data")]}))
    succeeded(run(client, "/storage:mkdir", {"operations": [sp(f"{ns}/x/y", "data")]}))

    assert (data / "x/y/z").is_dir()


def test_remove_deletes_files_and_a_missing_file_fails_with_404(
    client: httpx.Client, ns: str, data: Path
) -> None:
    (data / "doomed.txt").write_text("bye")
    doomed = {"operations": [sp(f"{ns}/doomed.txt", "data")]}

    succeeded(run(client, "/storage:remove", doomed))
    again = run(client, "/storage:remove", doomed)

    assert not (data / "doomed.txt").exists()
    failed_with(again, 404)


def test_rmdir_is_recursive(client: httpx.Client, ns: str, tree: Path) -> None:
    succeeded(run(client, "/storage:rmdir", {"operations": [sp(f"{ns}/tree", "data")]}))

    assert not tree.exists()


# -- metadata ----------------------------------------------------------------------------------
def test_metadata_get_answers_size_aware_mtime_and_xxh64_checksum(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (anyroot / "dir").mkdir()
    (anyroot / "dir/file").write_bytes(b"123456789")
    (data / "other.bin").write_bytes(b"abc")
    labels = [f"{ns}/dir/file", f"data:{ns}/other.bin"]

    op = succeeded(run(client, "/metadata:get", {"paths": labels}))

    result = op["result"]
    assert set(result) == set(labels)
    first, second = (result[label] for label in labels)
    assert first["size"] == 9
    assert first["checksum"] == xxh64(b"123456789")
    assert_aware_timestamp(first["mtime"])
    assert second["size"] == 3
    assert second["checksum"] == xxh64(b"abc")


def test_metadata_set_merges_custom_fields_and_null_removes_a_key(
    client: httpx.Client, ns: str, anyroot: Path
) -> None:
    (anyroot / "m.txt").write_bytes(b"metadata!")
    label = f"{ns}/m.txt"

    succeeded(run(client, "/metadata:set", {"metadata": {label: {"custom": {"a": 1, "b": "x"}}}}))
    succeeded(
        run(
            client,
            "/metadata:set",
            {
                "metadata": {
                    label: {
                        "custom": {"b": None, "c": [1, 2]},
                        "compressed_size": None,
                        "compression": None,
                        "uncompressed_size": None,
                    }
                }
            },
        )
    )
    op = succeeded(run(client, "/metadata:get", {"paths": [label]}))

    fields = op["result"][label]
    assert fields["custom"] == {"a": 1, "c": [1, 2]}
    assert fields["size"] == 9
    assert fields["checksum"] == xxh64(b"metadata!")


def test_metadata_set_on_a_missing_path_is_a_failed_operation(
    client: httpx.Client, ns: str
) -> None:
    op = run(client, "/metadata:set", {"metadata": {f"{ns}/ghost": {"custom": {"k": "v"}}}})

    failed_with(op, 404)


# -- permissions -------------------------------------------------------------------------------


def check(client: httpx.Client, *assignments: dict[str, Any]) -> bool:
    response = client.post("/permissions:check", json={"permissions": list(assignments)})
    assert response.status_code == 200, response.text
    return bool(response.json()["allowed"])


def test_permissions_set_get_check_and_remove(client: httpx.Client, ns: str) -> None:
    writer = grant(f"{ns}/proj", "writer", "alice")

    assert client.post("/permissions:set", json={"permissions": [writer]}).is_success
    found = client.post(
        "/permissions:get",
        json={"permissions": [{"resource": {"path": f"{ns}/proj"}, "role": None, "subject": None}]},
    )
    assert found.status_code == 200, found.text
    assert [
        (p["resource"]["path"], p["role"], p["subject"]["id"], p["subject"]["type"])
        for p in found.json()["permissions"]
    ] == [(f"{ns}/proj", "writer", "alice", "user")]

    # writer implies reader; a grant on a directory covers everything below it
    assert check(client, grant(f"{ns}/proj/sub/file.txt", "reader", "alice"))
    assert check(client, grant(f"{ns}/proj/sub", "writer", "alice"))
    assert not check(client, grant(f"{ns}/proj", "admin", "alice"))
    assert not check(client, grant(f"{ns}/other", "reader", "alice"))
    assert not check(client, grant(f"{ns}/proj", "reader", "bob"))
    # every assignment must hold
    assert not check(
        client, grant(f"{ns}/proj", "reader", "alice"), grant(f"{ns}/other", "reader", "alice")
    )

    assert client.post("/permissions:remove", json={"permissions": [writer]}).is_success
    assert not check(client, grant(f"{ns}/proj", "reader", "alice"))
    # removing a grant that does not exist is 2xx
    assert client.post("/permissions:remove", json={"permissions": [writer]}).is_success


def test_permissions_get_with_null_fields_matches_everything(client: httpx.Client, ns: str) -> None:
    grants = [grant(f"{ns}/a", "reader", "alice"), grant(f"{ns}/b", "admin", "ops", "group")]
    assert client.post("/permissions:set", json={"permissions": grants}).is_success

    everything = client.post(
        "/permissions:get", json={"permissions": [{"resource": None, "role": None}]}
    )
    by_group = client.post(
        "/permissions:get",
        json={"permissions": [{"resource": None, "role": None, "subject": {"type": "group"}}]},
    )

    assert everything.status_code == 200, everything.text
    mine = [p for p in everything.json()["permissions"] if p["resource"]["path"].startswith(ns)]
    assert sorted(p["resource"]["path"] for p in mine) == [f"{ns}/a", f"{ns}/b"]
    assert f"{ns}/b" in [p["resource"]["path"] for p in by_group.json()["permissions"]]
    assert f"{ns}/a" not in [p["resource"]["path"] for p in by_group.json()["permissions"]]


def test_permissions_check_follows_group_and_anyone_grants(client: httpx.Client, ns: str) -> None:
    grants = [
        grant(f"{ns}/shared", "writer", "cfd", "group"),
        grant(f"{ns}/pub", "reader", None, "any"),
    ]
    assert client.post("/permissions:set", json={"permissions": grants}).is_success

    assert check(client, grant(f"{ns}/shared/x", "reader", "cfd", "group"))
    assert not check(client, grant(f"{ns}/shared/x", "reader", "other", "group"))
    assert check(client, grant(f"{ns}/pub/doc", "reader", "somebody"))
    assert not check(client, grant(f"{ns}/pub/doc", "writer", "somebody"))


# -- problem JSON and tolerant input -----------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400_problem(client: httpx.Client) -> None:
    response = client.post(
        "/storage:copy", content=b"{not json", headers={"content-type": "application/json"}
    )

    body = assert_problem(response, 400)
    assert body["title"] == "Bad Request"


@pytest.mark.parametrize(
    ("route", "payload", "location"),
    [
        ("/storage:copy", {"operations": [{"src": {"path": "a"}}]}, "body.operations[0].dst"),
        (
            "/storage:copy",
            {"operations": [pair("a", "b"), {"src": {"path": 5}, "dst": {"path": "x"}}]},
            "body.operations[1].src.path",
        ),
        ("/storage:mkdir", {"operations": "not a list"}, "body.operations"),
        ("/storage:exists", {"operations": [{"path": ["x"]}]}, "body.operations[0].path"),
        (
            "/permissions:set",
            {"permissions": [{"resource": {"path": "p"}, "role": "boss", "subject": {}}]},
            "body.permissions[0].role",
        ),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_422_problem_locating_the_error(
    client: httpx.Client, route: str, payload: Any, location: str
) -> None:
    body = assert_problem(client.post(route, json=payload), 422)

    assert body["title"] == "Unprocessable Content"  # RFC 9110, on every Python
    assert location in [e["location"] for e in body["errors"]], body
    assert all(e["message"] for e in body["errors"])


def test_an_empty_operations_list_is_a_422_problem(client: httpx.Client) -> None:
    assert_problem(client.post("/storage:mkdir", json={"operations": []}), 422)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/route"),
        ("POST", "/storage:frobnicate"),
        ("POST", "/permissions:frobnicate"),
    ],
)
def test_an_unknown_route_is_a_404_problem(client: httpx.Client, method: str, path: str) -> None:
    body = assert_problem(client.request(method, path, json={"operations": [sp("x")]}), 404)

    assert body["title"] == "Not Found"


def test_a_wrong_method_is_a_405_problem(client: httpx.Client) -> None:
    assert_problem(client.get("/storage:copy"), 405)


def test_a_non_integer_limit_is_a_400_problem(client: httpx.Client) -> None:
    assert_problem(client.get("/operations", params={"limit": "many"}), 400)


def test_explicit_nulls_and_unknown_keys_are_accepted(
    client: httpx.Client, ns: str, data: Path, anyroot: Path
) -> None:
    (data / "n.txt").write_text("nulls")

    mkdir = run(
        client,
        "/storage:mkdir",
        {"operations": [{"path": f"{ns}/made", "remote": None, "extra": 1}]},
    )
    copy = run(
        client,
        "/storage:copy",
        {
            "operations": [
                {
                    "src": {"path": f"{ns}/n.txt", "remote": "data"},
                    "dst": {"path": f"{ns}/made/n.txt", "remote": None},
                    "unknown": {"nested": True},
                }
            ],
            "priority": None,
        },
    )
    meta = run(client, "/metadata:get", {"paths": [f"{ns}/made/n.txt"], "operations": None})

    succeeded(mkdir)
    succeeded(copy)
    assert (anyroot / "made/n.txt").read_text() == "nulls"
    assert succeeded(meta)["result"][f"{ns}/made/n.txt"]["size"] == 5
