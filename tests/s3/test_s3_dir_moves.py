"""Directory moves to, from and within object remotes: through the real CLI (a plan's `move` of
a directory) byte-exact in every direction, sources deleted only once every file is copied (a
failure part-way leaves every source file; the retried run finishes), a destination file that
differs refused before anything is copied, and no move reaching outside its bucket prefix."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.worker.objects.location import ObjectLocation
from planner.worker.storage import StorageError, Storages
from tests.helpers.s3 import S3Run
from tests.helpers.trees import make_tree, tree_bytes
from tests.s3server import S3Server

MTIME = 1_700_000_000_123_456_789  # ns


def _files(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"d{i % 3}/f{i:02d}.bin": rng.randbytes(rng.randrange(0, 3000)) for i in range(10)}
    files["top.txt"] = b"top"
    files["d0/deep/er/x.bin"] = rng.randbytes(100)
    return files


def _move_plan(s3_run: S3Run, src: str, dst: str) -> Path:
    return s3_run.write_plan(
        f"""
        version: 1
        storages:
          data: {{remote: local, root: ./data}}
          bkt: {{remote: bkt, root: area}}
          far: {{remote: far, root: area}}
        defaults:
          retry: {{attempts: 1}}
        moves:
          - {{id: mv, src: "{src}", dst: "{dst}"}}
        """
    )


def _upload(s3: S3Server, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    client = s3.client()
    for rel, data in files.items():
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{rel}",
            Body=data,
            Metadata={"mtime": f"{MTIME // 10**9}.{MTIME % 10**9:09d}"},
        )


def test_a_local_directory_moves_into_the_bucket_and_back(s3_run: S3Run) -> None:
    data = s3_run.tmp_path / "data"
    files = make_tree(data / "tree", _files(1))
    (data / "tree" / "empty-dir").mkdir()
    for rel in files:
        os.utime(data / "tree" / rel, ns=(MTIME, MTIME))
    far = s3_run.remote(name="far")  # unused here: the plan declares it

    code, up = s3_run.run(_move_plan(s3_run, "data:tree", "bkt:moved"), "--remote", far)

    assert code == 0, up
    assert s3_run.objects() == {f"pre/area/moved/{rel}": b for rel, b in files.items()}
    assert not (data / "tree").exists()

    code, down = s3_run.run(_move_plan(s3_run, "bkt:moved", "data:back"), "--remote", far)

    assert code == 0, down
    assert tree_bytes(data / "back") == files
    for rel in files:
        assert (data / "back" / rel).stat().st_mtime_ns == MTIME, rel
    assert s3_run.objects() == {}
    code, again = s3_run.run(_move_plan(s3_run, "bkt:moved", "data:back"), "--remote", far)
    assert (code, again["actions"][0]["files_unchanged"]) == (0, 1)  # done: nothing to do


@pytest.mark.parametrize("across", [False, True], ids=["same-bucket", "across-buckets"])
def test_a_prefix_moves_within_and_across_buckets(s3_run: S3Run, across: bool) -> None:
    other = s3_run.s3.bucket() if across else s3_run.bucket
    files = _files(2)
    _upload(s3_run.s3, s3_run.bucket, "pre/area/src", files)
    plan = _move_plan(s3_run, "bkt:src", "far:dst/moved")

    code, moved = s3_run.run(plan, "--remote", f"far=s3://{other}/far")

    assert code == 0, moved
    assert s3_run.s3.objects(other, "far/") == {
        f"far/area/dst/moved/{rel}": b for rel, b in files.items()
    }
    assert s3_run.objects("pre/") == {}
    head = s3_run.s3.client().head_object(Bucket=other, Key="far/area/dst/moved/top.txt")
    assert head["Metadata"]["mtime"] == "1700000000.123456789"


def test_a_failure_part_way_leaves_every_source_and_the_retried_run_finishes(
    s3_run: S3Run,
) -> None:
    files = _files(3)
    _upload(s3_run.s3, s3_run.bucket, "pre/area/src", files)
    lying = "pre/area/src/d1/f04.bin"  # its stored XXH64 does not match its bytes
    s3_run.s3.client().put_object(
        Bucket=s3_run.bucket,
        Key=lying,
        Body=files["d1/f04.bin"],
        Metadata={"xxh64": "0123456789abcdef"},
    )
    before = s3_run.objects()
    plan = _move_plan(s3_run, "bkt:src", "data:got")
    far = s3_run.remote(name="far")

    code, failed = s3_run.run(plan, "--remote", far)

    assert code == 1, failed
    assert s3_run.objects() == before  # every source object is there
    landed = tree_bytes(s3_run.tmp_path / "data" / "got")
    assert landed  # the files before it: copied, and kept
    assert "d1/f04.bin" not in landed
    assert all(files[rel] == data for rel, data in landed.items())

    s3_run.s3.client().put_object(Bucket=s3_run.bucket, Key=lying, Body=files["d1/f04.bin"])
    code, done = s3_run.run(plan, "--remote", far)

    assert code == 0, done
    assert tree_bytes(s3_run.tmp_path / "data" / "got") == files
    assert s3_run.objects() == {}


def test_a_local_source_failing_part_way_keeps_every_file(s3_run: S3Run) -> None:
    data = s3_run.tmp_path / "data"
    files = make_tree(data / "tree", _files(4))
    too_long = "/".join(["m" + "k" * 240] * 5) + "/x.bin"  # a key over 1,024 bytes: 400
    make_tree(data / "tree", {too_long: b"deep"})
    plan = _move_plan(s3_run, "data:tree", "bkt:moved")

    code, failed = s3_run.run(plan, "--remote", s3_run.remote(name="far"))

    assert code == 1, failed
    assert tree_bytes(data / "tree") == {**files, too_long: b"deep"}
    uploaded = s3_run.objects()
    assert uploaded  # the files before it were copied and stay
    assert all(files[k.removeprefix("pre/area/moved/")] == b for k, b in uploaded.items())


@pytest.fixture
def storages(tmp_path: Path, bucket: str) -> Iterator[Storages]:
    """`data` (a directory) and `bkt` (s3://BUCKET/pre)."""
    made = Storages({"data": tmp_path / "data", "bkt": ObjectLocation("s3", bucket, "pre")})
    try:
        yield made
    finally:
        made.close()


def _code(storages: Storages, *args: str) -> int:
    with pytest.raises(StorageError) as raised:
        storages.move(*args)
    return int(raised.value.code)


def test_a_destination_file_that_differs_is_refused_before_anything_is_copied(
    storages: Storages, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    files = make_tree(tmp_path / "data" / "tree", {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    _upload(s3, bucket, "pre/there", {"b.txt": b"other", "z.txt": b"z"})
    assert _code(storages, "data", "tree", "bkt", "there") == 409
    assert s3.objects(bucket) == {"pre/there/b.txt": b"other", "pre/there/z.txt": b"z"}
    assert tree_bytes(tmp_path / "data" / "tree") == files
    s3.client().put_object(Bucket=bucket, Key="pre/file", Body=b"a file")
    assert _code(storages, "data", "tree", "bkt", "file") == 409
    assert tree_bytes(tmp_path / "data" / "tree") == files


def test_moves_stay_inside_the_bucket_prefix(
    storages: Storages, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    _upload(s3, bucket, "pre/src", {"a.txt": b"a"})
    _upload(s3, bucket, "outside", {"keep.txt": b"keep"})
    for src, dst in (("src", "../outside"), ("../outside", "x"), ("src", "/abs")):
        assert _code(storages, "bkt", src, "bkt", dst) == 400, (src, dst)
    assert _code(storages, "bkt", "src", "bkt", "src/inner") == 400  # into itself
    assert _code(storages, "bkt", "", "data", "all") == 403  # the remote's root
    assert _code(storages, "data", "", "bkt", "all") == 403
    # a key with a `..` segment below the source (another client wrote it) names no path
    s3.client().put_object(Bucket=bucket, Key="pre/src/sub/../../../escape.txt", Body=b"x")
    if "pre/src/sub/../../../escape.txt" in s3.objects(bucket):
        assert _code(storages, "bkt", "src", "data", "got") == 400
        assert not (tmp_path / "escape.txt").exists()
        assert not (tmp_path / "data" / "escape.txt").exists()
    assert s3.objects(bucket, "outside/") == {"outside/keep.txt": b"keep"}
    assert s3.objects(bucket, "pre/src/a.txt") == {"pre/src/a.txt": b"a"}


def test_a_directory_marker_of_another_tool_is_neither_copied_nor_in_the_way(
    storages: Storages, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    _upload(s3, bucket, "pre/src", {"a.txt": b"a", "sub/b.txt": b"b", "empty.txt": b""})
    s3.client().put_object(Bucket=bucket, Key="pre/src/hollow/", Body=b"")  # a marker
    storages.move("bkt", "src", "data", "got")
    assert tree_bytes(tmp_path / "data" / "got") == {
        "a.txt": b"a",
        "sub/b.txt": b"b",
        "empty.txt": b"",
    }
    assert s3.objects(bucket) == {"pre/src/hollow/": b""}  # the marker stays
