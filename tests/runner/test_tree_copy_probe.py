"""A directory copy whose source ends in '/' on a worker with tree operations: the tree
operation is the first request about the source (its own listing tells whether a directory is
there), so the copy asks no `storage:stat` first; a file or nothing at that path fails the
action as the probe did. Through the real CLI and a real worker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.helpers.workers import WorkerHandle, start_worker

STAT = ("POST", "/api/v1/storage:stat")
COPY_TREE = ("POST", "/api/v1/storage:copy_tree")
COMPARE_TREE = ("POST", "/api/v1/storage:compare_tree")


class Logged(NamedTuple):
    """A real worker, the (method, path) of every request it served, and the plan's data folder."""

    handle: WorkerHandle
    log: list[tuple[str, str]]
    data: Path


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Logged]:
    log: list[tuple[str, str]] = []
    embedded, handle = start_worker(tmp_path / "worker", request_log=log)
    monkeypatch.setenv("PLANNER_TOKEN", handle.token)
    try:
        yield Logged(handle, log, handle.roots["data"] / "area")
    finally:
        embedded.stop()


def _plan(write_plan: Callable[..., Path], src: str, data: Path) -> Path:
    return write_plan(
        f"""
        version: 1
        storages:
          d: {{remote: data, root: "{data.name}"}}
        copies:
          - {{id: tree, src: "d:{src}", dst: "d:out/"}}
        """
    )


def test_a_source_ending_in_a_slash_is_copied_without_a_probe(
    logged: Logged,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, log, data = logged
    for i in range(5):
        (data / "in" / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        (data / "in" / f"d{i % 2}" / f"f{i}.txt").write_text(f"file {i}\n")
    plan = _plan(write_plan, "in/", data)

    code, preview = preview_json(run_cli, plan, "--api-url", handle.url)
    assert code == 0, preview
    previewed = Counter(log)
    log.clear()
    code, document = run_json(run_cli, plan, "--api-url", handle.url)
    assert code == 0, document
    ran = Counter(log)

    assert (previewed[STAT], previewed[COMPARE_TREE]) == (0, 1)
    assert (ran[STAT], ran[COPY_TREE]) == (0, 1)
    assert actions_of(document)["tree"]["files_done"] == 5
    for i in range(5):
        copied = data / "out" / f"d{i % 2}" / f"f{i}.txt"
        assert copied.read_text() == f"file {i}\n"


def test_without_the_slash_the_source_is_still_probed(
    logged: Logged,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, log, data = logged
    (data / "in").mkdir(parents=True)
    (data / "in" / "f.txt").write_text("f\n")

    code, document = run_json(run_cli, _plan(write_plan, "in", data), "--api-url", handle.url)

    assert code == 0, document
    assert Counter(log)[STAT] >= 1  # a file or a directory: the answer decides the copy
    assert (data / "out" / "f.txt").read_text() == "f\n"


@pytest.mark.parametrize(
    ("file_there", "error"),
    [
        (True, "d:in/: is a file, but the trailing '/' asks for a directory"),
        (False, "d:in/ (root area → data:area/in): no such file or directory"),
    ],
    ids=["a-file", "nothing"],
)
def test_a_file_or_nothing_where_the_slash_asks_for_a_directory_fails_the_copy(
    file_there: bool,
    error: str,
    logged: Logged,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    handle, _, data = logged
    data.mkdir(parents=True)
    if file_there:
        (data / "in").write_text("a file, not a directory\n")
    plan = _plan(write_plan, "in/", data)

    code, document = run_json(run_cli, plan, "--api-url", handle.url)
    assert code == 1, document
    assert actions_of(document)["tree"]["error"] == error
    code, preview = preview_json(run_cli, plan, "--api-url", handle.url)
    assert code == 1, preview
    assert preview["actions"][0]["error"] == error
    assert not (data / "out").exists()
