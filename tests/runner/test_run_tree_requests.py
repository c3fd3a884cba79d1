"""A directory copy through the real worker with tree operations costs a number of API
requests that does not grow with its files (submission, polls, pages of rows), and the same
copy on a plain worker goes file by file (the fallback)."""

from __future__ import annotations

import itertools
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from planner.api.retry import Backoff
from planner.worker.faults import FaultSpec
from tests.helpers.cli import CliResult, actions_of, run_json
from tests.helpers.trees import make_tree, tree_bytes
from tests.helpers.workers import start_worker

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - {id: tree, src: "src:", dst: "dst:copy/"}
"""


def copy_counting_requests(
    where: Path,
    files: int,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    **worker: Any,
) -> list[tuple[str, str]]:
    """Copy a tree of `files` files through a real worker; the requests it answered."""
    wanted = make_tree(where / "src", {f"d{i % 7}/f{i}.txt": b"%d" % i for i in range(files)})
    plan = where / "plan.yaml"
    plan.write_text(textwrap.dedent(PLAN).lstrip(), encoding="utf-8")
    log: list[tuple[str, str]] = []
    embedded, handle = start_worker(where / "worker", request_log=log, **worker)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", handle.token)
        code, document = run_json(run_cli, plan, "--api-url", handle.url)
    finally:
        embedded.stop()
    assert code == 0, document
    assert actions_of(document)["tree"]["files_done"] == files
    assert tree_bytes(where / "dst" / "copy") == wanted
    return log


def route(path: str) -> str:
    """A logged path with its operation id as `{id}`."""
    parts = path.split("/")
    if path.startswith("/api/v1/operations/") and len(parts) > 4:
        parts[4] = "{id}"
    return "/".join(parts)


def test_the_requests_of_a_directory_copy_do_not_grow_with_its_files(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    small = copy_counting_requests(tmp_path / "small", 200, run_cli, monkeypatch)
    large = copy_counting_requests(tmp_path / "large", 2_000, run_cli, monkeypatch)

    rows = ("GET", "/api/v1/operations/{id}/files")
    ended = ("GET", "/api/v1/operations/{id}")

    def besides_polls(log: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # polls follow the operation's duration (one round per backoff step), not its files;
        # so do the reads of the rows written while it runs (at most one per poll)
        requests = [(method, route(path)) for method, path in log]
        polls = requests.count(("GET", "/api/v1/operations"))
        assert requests.count(rows) <= polls + 1
        assert requests[-1] == rows  # the rest, once it ended: one page, up to 10,000 rows
        return [r for r in requests if r[1] != "/api/v1/operations" and r != rows]

    assert (
        besides_polls(large)
        == besides_polls(small)
        == [
            ("GET", "/api/v1/"),
            ("GET", "/api/v1/storage"),
            ("POST", "/api/v1/storage:copy_tree"),
            ended,
        ]
    )


def test_a_long_directory_copy_is_waited_for_with_a_growing_interval(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # each file waits 10 ms in the worker: the copy lasts 3 s at least, and reports progress
    # all along; its end is seen by a held poll, so progress does not hold the interval at its
    # first step (which made 10 polls a second, polls growing with the copy's duration)
    started = time.monotonic()
    log = copy_counting_requests(
        tmp_path, 300, run_cli, monkeypatch, faults=FaultSpec(file_delay=0.01)
    )
    elapsed = time.monotonic() - started  # the whole command: more than the copy lasted

    polls = log.count(("GET", "/api/v1/operations"))
    # a poll is held for its whole interval unless the copy ends: at most the intervals that
    # fit in the time the command took, and the one that saw the end
    ceilings = (Backoff().ceiling(n) for n in itertools.count())
    fitting = sum(
        1 for _ in itertools.takewhile(lambda c: c <= elapsed, itertools.accumulate(ceilings))
    )
    assert polls <= fitting + 1
    # the rows are journaled as the copy goes, on a clock of their own, not all at its end
    requests = [(method, route(path)) for method, path in log]
    ended = requests.index(("GET", "/api/v1/operations/{id}"))
    assert ("GET", "/api/v1/operations/{id}/files") in requests[:ended]


def test_a_plain_worker_copies_the_same_tree_file_by_file(
    tmp_path: Path, run_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = copy_counting_requests(
        tmp_path, 200, run_cli, monkeypatch, recursive_listing=False, tree_operations=False
    )

    assert ("POST", "/api/v1/storage:copy") in log
    assert not any("tree" in path for _, path in log)
