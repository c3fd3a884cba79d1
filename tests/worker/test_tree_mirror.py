"""Mirror tree operations over HTTP against a real worker (docs/api.md, "Tree operations"):
`mirror: true` in a copy_tree body deletes what the destination holds beyond the filtered source
after the copies, one row per path (reason "extraneous", children before their directory);
compare_tree plans the same rows; symlinks (dangling ones too) go as links; `max_delete` and a
failed copy stop every deletion."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.api import wire
from tests.helpers.worker_api import assert_problem, failed_with, run, succeeded
from tests.helpers.workers import WorkerHandle, running_worker
from tests.worker.test_tree_operations import COMPARE, COPY, all_rows, make, tree


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    with running_worker(tmp_path) as handle:
        yield handle


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


def contents(top: Path) -> dict[str, str | None]:
    """Everything below `top`, links not followed: text, link targets, None for directories."""
    found: dict[str, str | None] = {}
    for path in sorted(top.rglob("*")):
        key = str(path.relative_to(top))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[key] = None
        else:
            found[key] = path.read_text()
    return found


@pytest.fixture
def trees(worker: WorkerHandle) -> Path:
    data = worker.roots["data"]
    make(data / "src", {"a.txt": "a", "sub/b.txt": "bb", "skip.tmp": "s"})
    make(
        data / "dst",
        {"a.txt": "a", "sub/old.txt": "old", "gone/deep/x.bin": "xx", "gone/y.bin": "y"},
    )
    make(data / "dst", {"keep.tmp": "private", "sub/cache.tmp": "c"})
    make(data / "outside", {"precious.txt": "p"})
    (data / "dst" / "to-outside").symlink_to("../outside")
    (data / "dst" / "dangling").symlink_to("/nonexistent/nowhere")
    return data


def extraneous(rows: list[list[Any]]) -> list[tuple[str, str, int, str]]:
    return [(r[0], r[1], r[2], r[4]) for r in rows if r[3] == "extraneous"]


EXPECTED = {
    ("dangling", "file", 0),
    ("gone/deep/x.bin", "file", 2),
    ("gone/deep", "dir", 0),
    ("gone/y.bin", "file", 1),
    ("gone", "dir", 0),
    ("sub/old.txt", "file", 3),
    ("to-outside", "file", 0),
}


def test_the_feature_is_advertised(client: httpx.Client) -> None:
    features = client.get("/").json()["features"]["operation_plugins"]
    assert wire.FEATURE_TREE_MIRROR in features


def test_a_mirror_deletes_one_row_per_path_after_the_copies(
    trees: Path, client: httpx.Client
) -> None:
    op = succeeded(run(client, COPY, tree(exclude=["*.tmp"], mirror=True)))

    assert (op["result"]["to_delete"], op["result"]["deleted"]) == (7, 7)
    rows = all_rows(client, op["id"])
    deleted = extraneous(rows)
    assert {(p, k, s) for p, k, s, _ in deleted} == EXPECTED
    assert {state for *_, state in deleted} == {"done"}
    order = [p for p, *_ in deleted]
    assert order.index("gone/deep/x.bin") < order.index("gone/deep") < order.index("gone")
    # the copies' rows come first
    assert [r[0] for r in rows[: len(rows) - len(deleted)]] == ["a.txt", "sub/b.txt"]
    assert contents(trees / "dst") == {
        "a.txt": "a",
        "keep.tmp": "private",
        "sub": None,
        "sub/b.txt": "bb",
        "sub/cache.tmp": "c",
    }
    assert contents(trees / "outside") == {"precious.txt": "p"}  # behind a link: untouched


def test_delete_excluded_deletes_the_protected_files_too(trees: Path, client: httpx.Client) -> None:
    body = tree(exclude=["*.tmp"], mirror=True, delete_excluded=True)

    op = succeeded(run(client, COPY, body))

    deleted = {p for p, *_ in extraneous(all_rows(client, op["id"]))}
    assert {"keep.tmp", "sub/cache.tmp"} <= deleted
    assert contents(trees / "dst") == {"a.txt": "a", "sub": None, "sub/b.txt": "bb"}


def test_a_comparison_plans_the_deletions_and_deletes_nothing(
    trees: Path, client: httpx.Client
) -> None:
    before = contents(trees / "dst")

    op = succeeded(run(client, COMPARE, tree(exclude=["*.tmp"], mirror=True)))

    assert op["result"]["to_delete"] == 7
    deleted = extraneous(all_rows(client, op["id"]))
    assert {(p, k, s) for p, k, s, _ in deleted} == EXPECTED
    assert {state for *_, state in deleted} == {"planned"}
    assert contents(trees / "dst") == before


def test_max_delete_fails_the_item_before_any_deletion(trees: Path, client: httpx.Client) -> None:
    op = failed_with(run(client, COPY, tree(exclude=["*.tmp"], mirror=True, max_delete=6)), 409)

    assert "mirror: 7 deletions needed, more than max_delete 6: nothing deleted" in op["error"]
    assert extraneous(all_rows(client, op["id"])) == []
    assert (trees / "dst" / "gone" / "y.bin").exists()
    assert (trees / "dst" / "sub" / "b.txt").read_text() == "bb"  # the copies were made
    assert os.path.islink(trees / "dst" / "dangling")


def test_a_failed_copy_deletes_nothing(trees: Path, client: httpx.Client) -> None:
    (trees / "dst" / "sub" / "b.txt").mkdir()  # a directory where a file must go

    op = run(client, COPY, tree(exclude=["*.tmp"], mirror=True))

    assert op["state"] == "failed"
    assert extraneous(all_rows(client, op["id"])) == []
    assert (trees / "dst" / "gone" / "y.bin").exists()


def test_mirror_keys_are_validated(client: httpx.Client) -> None:
    response = client.post(COPY, json=tree(mirror=True, max_delete=-1))
    assert_problem(response, 422)
    response = client.post(COPY, json=tree(mirror="yes"))
    assert_problem(response, 422)


def test_a_deleted_path_takes_its_metadata_with_it(trees: Path, client: httpx.Client) -> None:
    tagged = {"metadata": {"data:dst/sub/old.txt": {"custom": {"owner": "cfd"}}}}
    succeeded(run(client, "/metadata:set", tagged))

    succeeded(run(client, COPY, tree(exclude=["*.tmp"], mirror=True)))

    (trees / "dst" / "sub" / "old.txt").write_text("back, by hand")
    op = succeeded(run(client, "/metadata:get", {"paths": ["data:dst/sub/old.txt"]}))
    assert "owner" not in str(op["result"])
