"""What `--remote NAME=...` accepts as a remote's root (planner/worker/objects/location.py), and
the object metadata formats (attributes.py): pure functions, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.worker.objects.attributes import format_mtime, parse_mtime, stamp
from planner.worker.objects.location import ObjectLocation, parse_location


def test_paths_and_file_urls_are_directories(tmp_path: Path) -> None:
    assert parse_location(str(tmp_path)) == tmp_path.resolve()
    assert parse_location(f"file://{tmp_path}") == tmp_path.resolve()
    assert parse_location(f"file://localhost{tmp_path}") == tmp_path.resolve()


def test_s3_urls_name_a_bucket_and_a_prefix() -> None:
    assert parse_location("s3://bucket-1") == ObjectLocation("s3", "bucket-1", "")
    where = parse_location("s3://bucket-1//a/b/")
    assert where == ObjectLocation("s3", "bucket-1", "a/b")
    assert isinstance(where, ObjectLocation)
    assert (where.url, where.key_prefix()) == ("s3://bucket-1/a/b", "a/b/")


@pytest.mark.parametrize(
    "text",
    [
        "file://host/x",
        "gs://bucket-1/x",
        "s3://bucket-1/x?versionId=1",
        "s3://bucket-1/a/../b",
        "s3://Bucket_1",
        "s3://a..b",
    ],
)
def test_what_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_location(text)


def test_mtime_in_rclones_format_round_trips() -> None:
    assert format_mtime(1_700_000_000_123_456_789) == "1700000000.123456789"
    assert parse_mtime("1700000000.123456789") == 1_700_000_000_123_456_789
    assert parse_mtime("1700000000") == 1_700_000_000_000_000_000
    assert [parse_mtime(t) for t in (None, "", "soon", "inf", "nan")] == [None] * 5


def test_an_etag_stamp_is_a_positive_integer_that_sqlite_keeps() -> None:
    assert stamp(None) is None
    value = stamp('"5d41402abc4b2a76b9719d911017c592"')
    assert value is not None
    assert 0 < value < 2**63
    assert stamp('"other"') != value


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        ("GenericError", 503, "s3 remote 'r': Generic S3 error: status code: 503"),
        ("GenericError", 403, "s3 remote 'r': access denied: k"),
        ("InvalidPathError", 400, "k: not a valid object key"),
        ("AlreadyExistsError", 409, "k: changed meanwhile"),
        ("NotFoundError", 404, "k: no such file or directory"),
    ],
)
def test_store_errors_become_item_errors_naming_the_remote(
    error: str, code: int, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import obstore.exceptions

    from planner.worker.objects.client import object_errors
    from planner.worker.storage_errors import StorageError

    secret = "the-secret-key-0123"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    status = {503: "status code: 503 <Code>SlowDown</Code>", 403: "status code: 403"}
    text = f"Generic S3 error: {status.get(code, '')} {secret}\nDebug source: ..."
    raised = getattr(obstore.exceptions, error)(text)
    with (
        pytest.raises(StorageError) as caught,
        object_errors("r", ObjectLocation("s3", "b-1"), "k"),
    ):
        raise raised
    assert caught.value.code == code
    assert caught.value.message.startswith(says)
    assert secret not in caught.value.message
    assert "Debug source" not in caught.value.message
