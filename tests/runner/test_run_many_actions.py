"""Plans of many single-file copies (the shape `for_each` writes) through the real CLI and a real
worker: each action probes its own two paths with `storage:stat` items that the actions share
batches of, never by listing the directory around them, so the requests and the entries the
worker lists stay linear in actions; a worker without the `stat` extension still gets the copies
right by listing the parent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult, actions_of, preview_json, run_json
from tests.helpers.workers import start_worker

ACTIONS = 300
LIST = ("POST", "/api/v1/storage:list")
STAT = ("POST", "/api/v1/storage:stat")
COPY = ("POST", "/api/v1/storage:copy")


def _plan(tmp_path: Path, write_plan: Callable[..., Path], files: int) -> Path:
    """`files` files in one directory `src/`, and a plan copying each by its own action."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(files):
        (src / f"f{i}.bin").write_bytes(f"file {i}\n".encode() * (i % 7 + 1))
    items = ", ".join(str(i) for i in range(files))
    return write_plan(
        f"""
        version: 1
        storages:
          src: {{remote: local, root: ./src}}
          dst: {{remote: local, root: ./dst}}
        copies:
          - {{id: 'c${{item}}', for_each: [{items}], src: 'src:f${{item}}.bin',
              dst: 'dst:f${{item}}.bin'}}
        """
    )


def _requests(log: list[tuple[str, str]]) -> Counter[tuple[str, str]]:
    counted = Counter(log)
    log.clear()
    return counted


def test_single_file_copies_probe_their_own_paths_in_shared_batches(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = _plan(tmp_path, write_plan, ACTIONS)
    log: list[tuple[str, str]] = []
    embedded, handle = start_worker(tmp_path / "worker", request_log=log)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", handle.token)
        url = ("--api-url", handle.url)

        code, preview = preview_json(run_cli, plan, *url)
        assert code == 0, preview
        assert preview["totals"]["to_copy"] == ACTIONS
        previewed = _requests(log)

        code, document = run_json(run_cli, plan, *url)
        assert code == 0, document
        ran = _requests(log)
        for i in range(ACTIONS):
            assert (tmp_path / "dst" / f"f{i}.bin").read_bytes() == (
                tmp_path / "src" / f"f{i}.bin"
            ).read_bytes()

        code, again = run_json(run_cli, plan, *url)
        assert code == 0, again
        rerun = _requests(log)
        assert {a["change"] for a in actions_of(again).values()} == {"unchanged"}
    finally:
        embedded.stop()

    for requests in (previewed, ran, rerun):
        # the directory holding the 300 files is never listed: that would be 300 entries per
        # action; the 600 probes (source and destination of each action) share a few requests
        assert requests[LIST] == 0, requests
        assert 0 < requests[STAT] <= 6, requests
    assert ran[COPY] <= 2, ran
    assert rerun[COPY] == 0, rerun


def test_a_worker_without_stat_gets_single_file_copies_right_by_listing_parents(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = _plan(tmp_path, write_plan, 20)
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "f3.bin").write_bytes(b"older and different")
    log: list[tuple[str, str]] = []
    embedded, handle = start_worker(tmp_path / "worker", request_log=log, stat=False)
    try:
        monkeypatch.setenv("PLANNER_TOKEN", handle.token)
        code, document = run_json(run_cli, plan, "--api-url", handle.url)
    finally:
        embedded.stop()

    assert code == 0, document
    changes = Counter(a["change"] for a in actions_of(document).values())
    assert changes == {"create": 19, "update": 1}
    for i in range(20):
        assert (tmp_path / "dst" / f"f{i}.bin").read_bytes() == (
            tmp_path / "src" / f"f{i}.bin"
        ).read_bytes()
    requests = Counter(log)
    assert requests[STAT] == 0
    assert requests[LIST] > 0


def test_a_worker_without_the_outcome_view_gives_the_same_outcomes(
    tmp_path: Path,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = _plan(tmp_path, write_plan, 20)
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "f3.bin").write_bytes(b"older and different")
    (tmp_path / "dst" / "f5.bin").write_bytes(b"newer and different")
    documents = []
    for view in (False, True):
        log: list[tuple[str, str]] = []
        worker = tmp_path / f"worker-{view}"
        embedded, handle = start_worker(worker, request_log=log, outcome_view=view)
        try:
            monkeypatch.setenv("PLANNER_TOKEN", handle.token)
            code, document = preview_json(run_cli, plan, "--api-url", handle.url)
        finally:
            embedded.stop()
        assert code == 0, document
        assert Counter(log)[STAT] > 0
        documents.append(document)

    without, with_view = documents
    assert without["totals"] == with_view["totals"]
    assert (without["totals"]["to_copy"], without["totals"]["to_overwrite"]) == (18, 2)
    assert without["actions"] == with_view["actions"]
