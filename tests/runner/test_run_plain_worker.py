"""`planner run` and `planner plan` against a worker without planner's recursive `list` and
`stat` extensions (as the HPS worker is): directory copies list the trees level by level, and a
path's type comes from a listing of its parent, through the real CLI and a real worker
configured that way."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import CliResult, actions_of, copied_keys, run_json
from tests.helpers.trees import make_tree, tree_bytes
from tests.helpers.workers import WorkerHandle, start_worker

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:copy/", exclude: ["*.tmp"]}
"""


@pytest.fixture
def plain_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerHandle]:
    embedded, handle = start_worker(
        tmp_path / "worker",
        recursive_listing=False,
        stat=False,
        tree_operations=False,
        outcome_view=False,
    )
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield handle
    finally:
        embedded.stop()


def test_the_worker_under_test_lacks_the_extension(plain_worker: WorkerHandle) -> None:
    status = httpx.get(f"{plain_worker.url}/", headers=plain_worker.headers).json()
    assert "planner.list.recursive" not in status["features"]["operation_plugins"]
    assert "planner.stat" not in status["features"]["operation_plugins"]
    assert "planner.operations.outcome" not in status["features"]["operation_plugins"]


def test_a_deep_tree_is_copied_byte_exact_listing_level_by_level(
    tmp_path: Path,
    plain_worker: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    rng = random.Random(11)
    files = {
        f"{'/'.join(f'l{d}' for d in range(depth))}/f{i}.{ext}".lstrip("/"): rng.randbytes(100)
        for i, (depth, ext) in enumerate(
            (rng.randint(0, 5), rng.choice(["bin", "tmp"])) for _ in range(40)
        )
    }
    make_tree(tmp_path / "src", files)
    wanted = {k: v for k, v in files.items() if not k.endswith(".tmp")}
    plan = write_plan(PLAN)

    preview = run_cli("plan", plan, "--api-url", plain_worker.url, "--format", "json")
    assert preview.code == 0, preview.stderr
    predicted = {a["id"]: a for a in json.loads(preview.stdout)["actions"]}["tree"]
    assert predicted["files"] == len(wanted)

    code, document = run_json(run_cli, plan, "--api-url", plain_worker.url)
    assert code == 0, document
    assert tree_bytes(tmp_path / "dst" / "copy") == wanted
    assert copied_keys(document, "tree") == set(wanted)

    code, again = run_json(run_cli, plan, "--api-url", plain_worker.url)
    assert code == 0
    tree = actions_of(again)["tree"]
    assert (tree["files_done"], tree["files_unchanged"]) == (0, len(wanted))


def test_a_directory_move_and_a_copy_of_its_result_are_previewed_exactly(
    tmp_path: Path,
    plain_worker: WorkerHandle,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    make_tree(tmp_path / "src" / "batch", {"a.bin": b"a", "x/b.bin": b"bb", "x/y/c.bin": b"ccc"})
    plan = write_plan(
        """
        version: 1
        storages:
          src: {remote: local, root: ./src}
          dst: {remote: local, root: ./dst}
        moves:
          - {id: park, src: "src:batch", dst: "dst:parked"}
        copies:
          - {id: again, src: "dst:parked/", dst: "dst:copy/"}
        """
    )
    preview = run_cli("plan", plan, "--api-url", plain_worker.url, "--format", "json")
    assert preview.code == 0, preview.stdout + preview.stderr
    predicted = {a["id"]: a for a in json.loads(preview.stdout)["actions"]}

    code, document = run_json(run_cli, plan, "--api-url", plain_worker.url)

    assert code == 0, document
    ran = actions_of(document)
    assert predicted["again"]["files"] == ran["again"]["files_done"] == 3
    assert {i["key"] for i in predicted["again"]["items"]} == copied_keys(document, "again")
    assert tree_bytes(tmp_path / "dst" / "copy") == {
        "a.bin": b"a",
        "x/b.bin": b"bb",
        "x/y/c.bin": b"ccc",
    }
