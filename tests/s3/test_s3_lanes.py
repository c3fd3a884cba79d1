"""The listing in parallel lanes (planner/worker/objects/lanes.py), against the real S3 server:
it gives every key below the path exactly once, whatever the lanes and however lane 0 is cut
short; and no key is told settled before the listing has told whether it is a directory too (a
key below its name, `name/...`, given, or, for the file of a top-level directory's own name
where two ranges meet, that directory told)."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import obstore
import pytest
from obstore.store import S3Store

from planner.worker.objects import lanes
from planner.worker.objects.client import make_store
from planner.worker.objects.location import ObjectLocation, parse_location
from tests.s3server import S3Server


def _keys(seed: int) -> list[str]:
    """A tree of many top-level directories, names that sort around their boundaries
    (`d05`, `d05-x`, `d05/...`, `d05.txt`), deeper directories and a file of a directory's own
    name at every depth."""
    rng = random.Random(seed)
    keys = {"top.txt", "d05", "d05-x", "d05.txt", "d05/a", "d05/a/b", "zz"}
    for d in range(12):
        for f in range(rng.randrange(1, 8)):
            keys.add(f"d{d:02}/f{f}")
        keys.add(f"d{d:02}/sub/inner{rng.randrange(5)}")
    return sorted(keys)


def _store(bucket: str) -> S3Store:
    location = parse_location(f"s3://{bucket}")
    assert isinstance(location, ObjectLocation)
    return make_store(location)


def _check(
    bucket: str, expected: list[str], release: threading.Event | None = None
) -> list[lanes.Batch]:
    """List `t/` of the bucket, checking each batch as it comes; `release`: set once three
    batches of keys came (lane 0's, when the top level's answer is held until then)."""
    store = _store(bucket)
    given: list[str] = []
    told: set[str] = set()  # the top level's directories, as told
    batches = []
    with contextlib.closing(lanes.listed(store, "t")) as listed:
        for batch in listed:
            batches.append(batch)
            given += [meta["path"][2:] for meta in batch.keys]
            if release is not None and sum(1 for b in batches if b.keys) == 3:
                release.set()
            told.update(directory[2:] for directory in batch.directories)
            for meta in batch.settled:
                name = meta["path"][2:]
                is_dir = any(k.startswith(f"{name}/") for k in expected)
                known = name in told or any(k.startswith(f"{name}/") for k in given)
                assert known == is_dir, name  # settled: whether it is a directory too is known
    assert sorted(given) == expected  # each once
    settled = sorted(meta["path"][2:] for b in batches for meta in b.settled)
    assert settled == expected  # every key, in the end
    return batches


@pytest.mark.parametrize("lane_0", [False, True], ids=["top-level-first", "lane-0-cut-mid-way"])
@pytest.mark.parametrize("ranges", [2, 5, 64])
def test_lanes_give_every_key_once_and_settle_none_too_early(
    s3: S3Server, bucket: str, ranges: int, lane_0: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanes, "RANGES", ranges)
    monkeypatch.setattr(lanes, "PAGE", 3)  # many pages per lane
    release = None
    if lane_0:  # lane 0 starts at once, gives three pages, then waits for the top level's answer
        release, answered = threading.Event(), threading.Event()
        monkeypatch.setattr(lanes, "FLAT_AFTER", 0)
        discover, real_list = lanes._discover, obstore.list

        def held(*args: Any) -> None:
            assert release is not None
            release.wait(timeout=60)
            discover(*args)
            answered.set()

        def paced(store: Any, prefix: str | None = None, **options: Any) -> Iterator[Any]:
            for page, chunk in enumerate(real_list(store, prefix, **options)):
                if prefix == "t" and page == 3:  # lane 0's fourth page
                    answered.wait(timeout=60)
                yield chunk

        monkeypatch.setattr(lanes, "_discover", held)
        monkeypatch.setattr(obstore, "list", paced)
    else:
        monkeypatch.setattr(lanes, "FLAT_AFTER", 60)  # the top level answers long before
    expected = _keys(seed=ranges)
    client = s3.client()
    for key in expected:
        client.put_object(Bucket=bucket, Key=f"t/{key}", Body=b"x")
    client.put_object(Bucket=bucket, Key="u/outside", Body=b"x")  # another path: never listed

    batches = _check(bucket, expected, release)

    directories = [d for b in batches for d in b.directories]
    assert sorted(directories) == sorted({f"t/{k.split('/')[0]}" for k in expected if "/" in k})
    told_at = next(i for i, b in enumerate(batches) if b.directories)
    assert sum(1 for b in batches[:told_at] if b.keys) == (3 if lane_0 else 0)
    assert any(b.keys for b in batches[told_at:])  # lanes of their own, lane 0 cut short


def test_a_path_without_directories_lists_as_one_lane(s3: S3Server, bucket: str) -> None:
    expected = [f"f{i:03}" for i in range(25)]
    client = s3.client()
    for key in expected:
        client.put_object(Bucket=bucket, Key=f"t/{key}", Body=b"x")

    batches = _check(bucket, expected)

    assert [d for b in batches for d in b.directories] == []


def test_stopping_early_stops_the_lanes(
    s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanes, "PAGE", 2)
    client = s3.client()
    for d in range(10):
        for f in range(10):
            client.put_object(Bucket=bucket, Key=f"t/d{d}/f{f}", Body=b"x")
    listed = lanes.listed(_store(bucket), "t")
    first = next(batch for batch in listed if batch.keys)
    listed.close()  # waits for the lanes: each stops after the page it is reading

    assert first.keys
    assert not [t for t in threading.enumerate() if t.name.startswith("planner-list")]
