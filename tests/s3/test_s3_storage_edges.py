"""`Storages` with an object remote, called directly against the real S3 server: the edges of
each route (directories where files are expected, objects another client wrote without planner's
metadata, a stored checksum that does not match the bytes, moves of directories)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash

from planner.worker.objects.location import ObjectLocation
from planner.worker.storage import StorageError, Storages
from tests.s3server import S3Server


@pytest.fixture
def storages(tmp_path: Path, bucket: str) -> Iterator[Storages]:
    """`data` (a directory with f.txt) and `bkt` (s3://BUCKET/pre)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_bytes(b"file")
    made = Storages({"data": tmp_path / "data", "bkt": ObjectLocation("s3", bucket, "pre")})
    try:
        yield made
    finally:
        made.close()


def _code(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(StorageError) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return int(raised.value.code)


def test_directories_where_files_are_expected(storages: Storages) -> None:
    storages.copy("data", "f.txt", "bkt", "d/f.txt")
    assert _code(storages.copy, "bkt", "", "data", "x") == 400  # the root is a directory
    assert _code(storages.copy, "data", "f.txt", "bkt", "") == 409
    assert _code(storages.copy, "bkt", "d/f.txt", "data", "") == 409
    assert _code(storages.copy, "bkt", "", "bkt", "x") == 400
    assert _code(storages.checksum, "bkt", "d") == 409
    assert _code(storages.checksum, "bkt", "nothing") == 404
    assert _code(storages.remove, "bkt", "nothing") == 404
    assert _code(storages.remove, "bkt", "") == 409
    assert storages.mkdir("bkt", "") is False
    assert _code(storages.move, "bkt", "d", "bkt", "d/in") == 400  # a directory into itself
    storages.move("bkt", "d/f.txt", "bkt", "d/f.txt")  # onto itself: nothing to do
    assert storages.stat("bkt", "d/f.txt").size == 4
    assert _code(storages.resolve, "bkt", "d") == 400  # no tree operations on object storage


def test_objects_without_planners_metadata(storages: Storages, s3: S3Server, bucket: str) -> None:
    client = s3.client()
    client.put_object(Bucket=bucket, Key="pre/bare.bin", Body=b"bare bytes")
    client.put_object(
        Bucket=bucket, Key="pre/odd.bin", Body=b"odd", Metadata={"mtime": "soon", "xxh64": "XYZ"}
    )
    assert storages.checksum("bkt", "bare.bin") == xxhash.xxh64_hexdigest(b"bare bytes")
    odd = storages.stat("bkt", "odd.bin")  # unreadable metadata: LastModified, no checksum
    assert odd.size == 3
    assert odd.mtime_ns > 0
    assert storages.checksum("bkt", "odd.bin") == xxhash.xxh64_hexdigest(b"odd")
    # copied between buckets' keys without a stored xxh64: hashed on the way
    result = storages.copy("bkt", "bare.bin", "bkt", "copy.bin")
    assert result.checksum == xxhash.xxh64_hexdigest(b"bare bytes")
    assert _code(storages.copy, "bkt", "missing.bin", "bkt", "copy2.bin") == 404


def test_a_download_whose_bytes_do_not_match_the_stored_xxh64_fails_and_writes_nothing(
    storages: Storages, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3.client().put_object(
        Bucket=bucket, Key="pre/lying.bin", Body=b"content", Metadata={"xxh64": "0123456789abcdef"}
    )
    assert _code(storages.copy, "bkt", "lying.bin", "data", "got/lying.bin") == 503
    assert sorted(os.listdir(tmp_path / "data" / "got")) == []  # no temporary file left


def test_a_move_from_a_directory_to_the_bucket_and_back(
    storages: Storages, s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    storages.move("data", "f.txt", "bkt", "m/f.txt")
    assert not (tmp_path / "data" / "f.txt").exists()
    storages.move("bkt", "m/f.txt", "bkt", "n/f.txt")
    storages.move("bkt", "n/f.txt", "data", "f.txt")
    assert (tmp_path / "data" / "f.txt").read_bytes() == b"file"
    assert s3.objects(bucket) == {}
