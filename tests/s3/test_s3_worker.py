"""An object remote on the real embedded worker, through its HTTP API, against the real S3
server of tests/s3server.py: every route, the confinement of keys, objects another client wrote
(rclone's `mtime` metadata), permissions, and the released official client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import xxhash
from ansys.hps.data_transfer.client.models import OperationState, SrcDst, StoragePath

from planner.worker.objects.location import ObjectLocation
from tests.helpers.official_client import close, make_api
from tests.helpers.worker_api import failed_with, grant, pair, run, sp, succeeded
from tests.helpers.workers import WorkerHandle, running_worker, set_grants, users_worker
from tests.s3server import S3Server

MTIME = 1_700_000_000_123_456_789  # ns


@pytest.fixture
def worker_s3(tmp_path: Path, bucket: str) -> Iterator[WorkerHandle]:
    """A worker with `data` (a directory) and `bkt` (s3://BUCKET/pre)."""
    roots: dict[str, Any] = {
        "data": tmp_path / "data",
        "bkt": ObjectLocation("s3", bucket, "pre"),
    }
    with running_worker(tmp_path, roots=roots) as handle:
        yield handle


@pytest.fixture
def api(worker_s3: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker_s3.url, headers=worker_s3.headers, timeout=30) as client:
        yield client


def _file(handle: WorkerHandle, rel: str, data: bytes) -> Path:
    path = handle.roots["data"] / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(MTIME, MTIME))
    return path


def _listing(api: httpx.Client, path: str, *, recursive: bool = True) -> dict[str, dict[str, Any]]:
    params = {"mode": "extended", "recursive": "true" if recursive else "false"}
    op = succeeded(run(api, "/storage:list", {"operations": [sp(path, "bkt")]}, params))
    return {e["name"]: e for e in op["result"][f"bkt:{path}"]}


def test_storage_reports_the_object_remote_as_s3(api: httpx.Client) -> None:
    kinds = {s["name"]: s["type"] for s in api.get("/storage").json()["storage"]}
    assert kinds == {"any": "posix", "bkt": "s3", "data": "posix", "local": "posix"}


def test_a_copy_up_stores_the_mtime_and_xxh64_and_a_listing_shows_them(
    worker_s3: WorkerHandle, api: httpx.Client, s3: S3Server, bucket: str
) -> None:
    _file(worker_s3, "a/one.txt", b"hello")
    succeeded(
        run(api, "/storage:copy", {"operations": [pair("a/one.txt", "x/one.txt", "data", "bkt")]})
    )

    head = s3.client().head_object(Bucket=bucket, Key="pre/x/one.txt")
    assert head["Metadata"] == {
        "mtime": "1700000000.123456789",
        "xxh64": xxhash.xxh64_hexdigest(b"hello"),
    }
    listed = _listing(api, "")
    assert listed["x"]["type"] == "dir"
    assert listed["x/one.txt"]["size"] == 5
    assert listed["x/one.txt"]["mtime"] == "2023-11-14T22:13:20.123456Z"
    assert listed["x/one.txt"]["checksum"] == xxhash.xxh64_hexdigest(b"hello")
    assert set(_listing(api, "x", recursive=False)) == {"one.txt"}


def test_a_bucket_written_by_another_client_lists_with_its_rclone_mtime(
    api: httpx.Client, s3: S3Server, bucket: str
) -> None:
    client = s3.client()
    client.put_object(
        Bucket=bucket, Key="pre/r/a.bin", Body=b"abc", Metadata={"mtime": "1700000000.5"}
    )
    client.put_object(Bucket=bucket, Key="pre/r/plain.bin", Body=b"abcd")
    client.put_object(Bucket=bucket, Key="pre/r/empty/", Body=b"")  # another tool's marker

    listed = _listing(api, "r")
    assert listed["a.bin"]["mtime"] == "2023-11-14T22:13:20.500000Z"
    assert "checksum" not in listed["a.bin"]  # none stored: unknown, never guessed
    assert listed["plain.bin"]["size"] == 4  # no mtime stored: its LastModified
    assert listed["empty"]["type"] == "dir"
    assert _listing(api, "r") == listed  # the second listing from the cache: the same
    assert _listing(api, "r/empty") == {}  # the marker's directory, empty


def test_mkdir_exists_remove_and_rmdir_on_prefixes(
    worker_s3: WorkerHandle, api: httpx.Client, s3: S3Server, bucket: str
) -> None:
    _file(worker_s3, "f.txt", b"1")
    succeeded(run(api, "/storage:mkdir", {"operations": [sp("made", "bkt")]}))
    for dst in ("d/one.txt", "d/sub/two.txt", "f.txt"):
        succeeded(run(api, "/storage:copy", {"operations": [pair("f.txt", dst, "data", "bkt")]}))
    exists = run(
        api,
        "/storage:exists",
        {"operations": [sp(p, "bkt") for p in ("d", "d/one.txt", "nope", "")]},
    )
    assert [c["result"] for c in exists["children_detail"]] == [True, True, False, True]

    failed_with(run(api, "/storage:remove", {"operations": [sp("d", "bkt")]}), 409)
    failed_with(run(api, "/storage:rmdir", {"operations": [sp("", "bkt")]}), 403)
    failed_with(run(api, "/storage:mkdir", {"operations": [sp("f.txt", "bkt")]}), 409)
    succeeded(run(api, "/storage:remove", {"operations": [sp("f.txt", "bkt")]}))
    succeeded(run(api, "/storage:rmdir", {"operations": [sp("d", "bkt")]}))
    failed_with(run(api, "/storage:rmdir", {"operations": [sp("d", "bkt")]}), 404)
    assert s3.objects(bucket) == {}


def test_moves_between_a_directory_and_a_bucket(
    worker_s3: WorkerHandle, api: httpx.Client, s3: S3Server, bucket: str
) -> None:
    source = _file(worker_s3, "m.bin", b"move me")
    move = {"operations": [pair("m.bin", "moved/m.bin", "data", "bkt")]}
    succeeded(run(api, "/storage:move", move))
    assert not source.exists()
    assert s3.objects(bucket) == {"pre/moved/m.bin": b"move me"}

    back = {"operations": [pair("moved/m.bin", "back/m.bin", "bkt", "data")]}
    succeeded(run(api, "/storage:move", back))
    assert s3.objects(bucket) == {}
    returned = worker_s3.roots["data"] / "back" / "m.bin"
    assert returned.read_bytes() == b"move me"
    assert returned.stat().st_mtime_ns == MTIME


def test_copies_within_the_bucket_and_metadata_get(
    worker_s3: WorkerHandle, api: httpx.Client, s3: S3Server, bucket: str
) -> None:
    _file(worker_s3, "c.bin", b"copy")
    succeeded(run(api, "/storage:copy", {"operations": [pair("c.bin", "one.bin", "data", "bkt")]}))
    succeeded(run(api, "/storage:copy", {"operations": [pair("one.bin", "two.bin", "bkt", "bkt")]}))
    assert s3.objects(bucket) == {"pre/one.bin": b"copy", "pre/two.bin": b"copy"}
    onto_itself = {"operations": [pair("two.bin", "two.bin", "bkt", "bkt")]}
    succeeded(run(api, "/storage:copy", onto_itself))
    assert s3.objects(bucket) == {"pre/one.bin": b"copy", "pre/two.bin": b"copy"}
    got = succeeded(run(api, "/metadata:get", {"paths": ["bkt:two.bin"]}))
    assert got["result"]["bkt:two.bin"]["checksum"] == xxhash.xxh64_hexdigest(b"copy")


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/abs/x", "a\x00b"])
def test_paths_that_would_leave_the_prefix_are_refused(api: httpx.Client, path: str) -> None:
    response = api.post("/storage:list", json={"operations": [sp(path, "bkt")]})
    if response.status_code == 422:  # refused before an operation exists
        return
    failed_with(run(api, "/storage:list", {"operations": [sp(path, "bkt")]}), 400)


def test_the_storage_layer_itself_refuses_escaping_keys(bucket: str) -> None:
    from planner.worker.storage import StorageError, Storages

    storages = Storages({"bkt": ObjectLocation("s3", bucket, "pre")})
    try:
        for path in ("../x", "/abs", "a\x00b", "a/" + "k" * 1100, "tab\there", "del\x7f"):
            with pytest.raises(StorageError) as raised:
                storages.list("bkt", path)
            assert raised.value.code == 400, path
    finally:
        storages.close()


def test_a_user_without_a_grant_is_refused_on_the_object_remote(
    tmp_path: Path, bucket: str, s3: S3Server
) -> None:
    roots: dict[str, Any] = {"bkt": ObjectLocation("s3", bucket, "")}
    with users_worker(tmp_path, roots=roots) as users:
        denied = users.bob.post("/storage:mkdir", json={"operations": [sp("team/x", "bkt")]})
        assert denied.status_code == 403, denied.text
        set_grants(users, grant("bkt:team", "writer", "bob"))
        data = tmp_path / "payload.txt"
        data.write_bytes(b"granted")
        body = {"operations": [{"src": sp(str(data), "local"), "dst": sp("team/x.txt", "bkt")}]}
        refused = users.bob.post("/storage:copy", json=body)
        assert refused.status_code == 403  # bob reads nothing on `local`
        set_grants(users, grant(f"local:{data}", "reader", "bob"))
        succeeded(run(users.bob, "/storage:copy", body))
    assert s3.objects(bucket) == {"team/x.txt": b"granted"}


def test_the_official_client_copies_to_the_object_remote(
    worker_s3: WorkerHandle, s3: S3Server, bucket: str
) -> None:
    _file(worker_s3, "official.txt", b"from the official client")
    api = make_api(worker_s3.url, worker_s3.token)
    try:
        copy = SrcDst(
            src=StoragePath(path="official.txt", remote="data"),
            dst=StoragePath(path="got/official.txt", remote="bkt"),
        )
        submitted = api.copy([copy])
        [op] = api.wait_for([submitted.id], timeout=30.0, interval=0.05, cap=0.2)
    finally:
        close(api)
    assert op.state is OperationState.Succeeded, (op.error, op.messages)
    assert s3.objects(bucket) == {"pre/got/official.txt": b"from the official client"}


def test_a_cancelled_multipart_upload_leaves_nothing_under_the_key(
    tmp_path: Path, bucket: str, s3: S3Server
) -> None:
    import threading

    from planner.worker.storage import StorageError, Storages

    source = tmp_path / "data" / "large.bin"
    source.parent.mkdir(parents=True)
    source.write_bytes(os.urandom(40 * 1024 * 1024))
    storages = Storages({"data": tmp_path / "data", "bkt": ObjectLocation("s3", bucket, "pre")})
    cancel = threading.Event()
    try:
        with pytest.raises(StorageError) as raised:
            # the first part handed over, the copy is cancelled: the store must abort it
            storages.copy(
                "data",
                "large.bin",
                "bkt",
                "large.bin",
                progress=lambda _: cancel.set(),
                cancel=cancel,
            )
    finally:
        storages.close()
    assert raised.value.code == 499
    assert s3.objects(bucket) == {}
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_copies_between_object_remotes_in_one_bucket_and_across_buckets(
    tmp_path: Path, bucket: str, s3: S3Server
) -> None:
    other = s3.bucket()
    roots: dict[str, Any] = {
        "data": tmp_path / "data",
        "one": ObjectLocation("s3", bucket, "one"),
        "two": ObjectLocation("s3", bucket, "two"),
        "far": ObjectLocation("s3", other, ""),
    }
    with running_worker(tmp_path, roots=roots) as handle:
        _file(handle, "x.bin", b"between remotes")
        with httpx.Client(base_url=handle.url, headers=handle.headers, timeout=30) as api:
            for src, dst in (("data", "one"), ("one", "two"), ("two", "far")):
                succeeded(
                    run(api, "/storage:copy", {"operations": [pair("x.bin", "x.bin", src, dst)]})
                )
    assert s3.objects(bucket) == {"one/x.bin": b"between remotes", "two/x.bin": b"between remotes"}
    assert s3.objects(other) == {"x.bin": b"between remotes"}
    for name, key in ((bucket, "two/x.bin"), (other, "x.bin")):
        assert s3.client().head_object(Bucket=name, Key=key)["Metadata"] == {
            "mtime": "1700000000.123456789",
            "xxh64": xxhash.xxh64_hexdigest(b"between remotes"),
        }


def test_worker_serve_takes_an_s3_remote(tmp_path: Path, bucket: str) -> None:
    from tests.helpers.processes import WorkerProcess

    worker = WorkerProcess(tmp_path, "s3-worker", "--no-auth", "--remote", f"b=s3://{bucket}/p")
    try:
        storages = httpx.get(f"{worker.url}/storage", timeout=30).json()["storage"]
        assert {s["name"]: s["type"] for s in storages}["b"] == "s3"
    finally:
        try:
            assert worker.terminate() == 0, worker.output()
        finally:
            worker.kill()


def test_a_missing_bucket_and_an_unreachable_endpoint_fail_items_naming_the_remote(
    tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    roots: dict[str, Any] = {"gone": ObjectLocation("s3", "no-such-bucket-here", "")}
    with (
        running_worker(tmp_path / "a", roots=roots) as handle,
        httpx.Client(base_url=handle.url, headers=handle.headers, timeout=30) as api,
    ):
        op = failed_with(run(api, "/storage:list", {"operations": [sp("", "gone")]}), 404)
    assert "s3 remote 'gone': bucket 'no-such-bucket-here' does not exist" in op["error"]

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{unused_port}")
    roots = {"far": ObjectLocation("s3", "some-bucket", "")}
    with (
        running_worker(tmp_path / "b", roots=roots) as handle,
        httpx.Client(base_url=handle.url, headers=handle.headers, timeout=60) as api,
    ):
        op = failed_with(run(api, "/storage:exists", {"operations": [sp("x", "far")]}), 503)
    assert "s3 remote 'far': cannot reach the endpoint" in op["error"]
    assert s3.secret_key not in op["error"]
