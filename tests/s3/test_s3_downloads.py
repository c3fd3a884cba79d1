"""Downloads from an object remote (s3 -> local) through the real CLI and embedded worker: a
fresh download lists and GETs, with no HEAD per object (the requests counted at the server);
mtime and XXH64 still land from the GET's own metadata; a wrong stored XXH64 still fails the
copy; and a destination that holds some files is compared with each object's stored mtime, as
the preview says."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xxhash

from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.s3server import S3Server

DOWN = """
    version: 1
    storages:
      back: {remote: local, root: ./back}
      bkt: {remote: bkt, root: data}
    copies:
      - {id: down, src: "bkt:tree/", dst: "back:tree/", overwrite: OVERWRITE}
"""
STORED_MTIME = "1700000000.123456789"  # what the objects' `mtime` metadata says
STORED_NS = 1_700_000_000_123_456_789


class Recorded:
    """A moto server of its own whose requests are recorded (moto's recorder, into a file)."""

    def __init__(self, server: S3Server, path: Path) -> None:
        self.server = server
        self.path = path

    def _call(self, action: str) -> bytes:
        request = urllib.request.Request(
            f"{self.server.endpoint}/moto-api/recorder/{action}", method="POST", data=b""
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return bytes(answer.read())

    def start(self) -> None:
        """Record from now on, what was recorded before forgotten."""
        self._call("reset-recording")
        self._call("start-recording")

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request since `start`, recording stopped."""
        self._call("stop-recording")
        lines = self.path.read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines if line.strip()]
        return [(r["method"], r["url"].split("?")[0].split("/", 3)[-1]) for r in found]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    path = tmp_path_factory.mktemp("recording") / "requests.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_RECORDER_FILEPATH", str(path))  # read by the server it starts
        server = S3Server()
    try:
        yield Recorded(server, path)
    finally:
        server.stop()


@pytest.fixture
def on_recorded(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> tuple[Recorded, str]:
    """The recorded server, a new bucket on it, and the test's AWS environment pointing there."""
    for name, value in recorded.server.env().items():
        monkeypatch.setenv(name, value)
    return recorded, recorded.server.bucket()


def put(server: S3Server, bucket: str, files: dict[str, bytes], **metadata: str) -> None:
    """Store `files` below `data/tree/` with another client, `mtime` and the right `xxh64`
    (unless `metadata` says otherwise)."""
    client = server.client()
    for rel, body in files.items():
        stored = {"mtime": STORED_MTIME, "xxh64": xxhash.xxh64_hexdigest(body), **metadata}
        client.put_object(Bucket=bucket, Key=f"data/tree/{rel}", Body=body, Metadata=stored)


def files(count: int) -> dict[str, bytes]:
    return {f"d{i % 3}/f{i}.bin": os.urandom(1000 + i) for i in range(count)}


def test_a_fresh_download_reads_each_object_once_and_asks_no_head(
    tmp_path: Path,
    on_recorded: tuple[Recorded, str],
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    recorded, bucket = on_recorded
    stored = files(9)
    put(recorded.server, bucket, stored)
    plan = write_plan(DOWN.replace("OVERWRITE", "if-different"))

    recorded.start()
    code, ran = run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")
    requests = recorded.requests()

    assert code == 0, ran
    assert actions_of(ran)["down"]["files_done"] == len(stored)
    # no HEAD at all: of no object, nor of the source (its trailing '/' says directory, and
    # the tree operation's listing finds it)
    assert [r for r in requests if r[0] == "HEAD"] == []
    gets = sorted(path for method, path in requests if method == "GET" and "/data/tree/" in path)
    assert gets == sorted(f"{bucket}/data/tree/{rel}" for rel in stored)
    for rel, body in stored.items():
        local = tmp_path / "back" / "tree" / rel
        assert local.read_bytes() == body
        assert local.stat().st_mtime_ns == STORED_NS, rel  # the GET's `mtime` metadata


def test_a_rerun_knows_what_the_download_read_and_asks_no_head(
    tmp_path: Path,
    on_recorded: tuple[Recorded, str],
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    recorded, bucket = on_recorded
    put(recorded.server, bucket, files(5))
    plan = write_plan(DOWN.replace("OVERWRITE", "if-different"))
    assert run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")[0] == 0

    recorded.start()
    code, again = run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")
    requests = recorded.requests()

    assert code == 0, again
    assert actions_of(again)["down"]["files_unchanged"] == 5
    assert [r for r in requests if r[0] == "PUT"] == []
    # the worker remembered what the download read: no HEAD of an object to stat it
    assert [r for r in requests if r[0] == "HEAD"] == []
    assert not [r for r in requests if r[0] == "GET" and "/data/tree/" in r[1]]


def test_a_wrong_stored_xxh64_fails_the_copy_and_leaves_nothing(
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    put(s3, bucket, {"bad.bin": b"these bytes hash otherwise"}, xxh64="0123456789abcdef")
    plan = write_plan(DOWN.replace("OVERWRITE", "if-different"))

    code, ran = run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")

    assert code != 0
    assert actions_of(ran)["down"]["files_done"] == 0
    back = tmp_path / "back"
    assert [p.name for p in back.rglob("*") if p.is_file()] == []  # no file, no temp


@pytest.mark.parametrize("overwrite", ["if-different", "if-newer", "always", "never"])
def test_a_download_over_some_files_compares_stored_mtimes_as_previewed(
    overwrite: str,
    tmp_path: Path,
    bucket: str,
    s3: S3Server,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    # every object's LastModified is now, its stored mtime 2023: a comparison by the listed
    # time instead of the stored one would decide otherwise for every file below
    stored = {
        "same.bin": b"a" * 100,  # same size and stored mtime: unchanged (never copied)
        "older.bin": b"b" * 100,  # the local file is older than the stored mtime
        "newer.bin": b"c" * 100,  # newer than the stored mtime, older than LastModified
        "resized.bin": b"d" * 100,
        "absent.bin": b"e" * 100,
    }
    put(s3, bucket, stored)
    local = tmp_path / "back" / "tree"
    local.mkdir(parents=True)
    for rel, when in (
        ("same.bin", STORED_NS),
        ("older.bin", STORED_NS - 10**9),
        ("newer.bin", STORED_NS + 10**9),
        ("resized.bin", STORED_NS),
    ):
        (local / rel).write_bytes(b"local" * (20 if rel != "resized.bin" else 3))
        os.utime(local / rel, ns=(when, when))
    plan = write_plan(DOWN.replace("OVERWRITE", overwrite))

    code, preview = preview_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")
    assert code == 0, preview
    code, ran = run_json(run_cli, plan, "--remote", f"bkt=s3://{bucket}")
    assert code == 0, ran

    copied = {i["key"] for i in actions_of(ran)["down"]["items"] if i["kind"] == "copy"}
    expected = {
        "if-different": {"older.bin", "newer.bin", "resized.bin", "absent.bin"},
        "if-newer": {"older.bin", "absent.bin"},
        "always": set(stored),
        "never": {"absent.bin"},
    }[overwrite]
    assert copied == expected
    (predicted,) = preview["actions"]
    assert {i["key"] for i in predicted["items"] if i["kind"] == "copy"} == expected
    assert predicted["files_unchanged"] == actions_of(ran)["down"]["files_unchanged"]
    for rel in expected:
        assert (local / rel).read_bytes() == stored[rel]
        assert (local / rel).stat().st_mtime_ns == STORED_NS
