"""Failure behaviour of the worker over HTTP: a copy killed with SIGKILL leaves no partial file
under its final name, and a restarted worker cleans up and reports it failed (transient);
injected HTTP and operation faults are reproducible for a seed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.errors import PlannerError
from planner.worker.faults import FaultSpec, parse_faults
from tests.helpers.cli import CliResult
from tests.helpers.processes import WorkerProcess
from tests.helpers.trees import temp_files
from tests.helpers.worker_api import (
    assert_problem,
    failed_with,
    pair,
    sp,
    submit,
    wait_all,
    wait_running_with_progress,
)
from tests.helpers.workers import WorkerHandle, running_worker

GIB = 1024**3


# -- a killed copy and a restart -----------------------------------------------------------------
def test_a_copy_killed_mid_way_leaves_no_destination_and_fails_transiently_after_restart(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(2 * GIB)
    state = tmp_path / "state"
    token = "restart-token-0123456789"
    (tmp_path / "token").write_text(token, encoding="utf-8")
    args = ("--state-dir", str(state), "--token-file", str(tmp_path / "token"))
    headers = {"Authorization": f"Bearer {token}"}
    destination = state / "storage/restart/big.bin"

    first = WorkerProcess(tmp_path, "first", *args)
    try:
        with httpx.Client(base_url=first.url, headers=headers, timeout=10.0) as client:
            op_id = submit(
                client,
                "/storage:copy",
                {"operations": [pair(str(big), "restart/big.bin", "local", "any")]},
            )
            wait_running_with_progress(client, op_id)
    finally:
        first.kill()
    assert first.proc.returncode == -9

    assert not destination.exists()
    second = WorkerProcess(tmp_path, "second", *args)
    try:
        with httpx.Client(base_url=second.url, headers=headers, timeout=10.0) as client:
            leftovers = temp_files(state / "storage")
            [polled] = client.get("/operations", params={"ids": [op_id]}).json()["operations"]
            single = client.get(f"/operations/{op_id}").json()
            later = submit(client, "/storage:mkdir", {"operations": [sp("after-restart")]})
            [after] = wait_all(client, [later])
        code = second.terminate()
    finally:
        second.kill()

    assert leftovers == []
    assert not destination.exists()
    for op in (polled, single):
        assert op["id"] == op_id
        failed_with(op, 503)
    assert after["state"] == "succeeded"
    assert code == 0, second.output()


# -- injected faults -----------------------------------------------------------------------------
@contextmanager
def faulty_worker(tmp_path: Path, spec: FaultSpec) -> Iterator[WorkerHandle]:
    with running_worker(tmp_path, faults=spec) as handle:
        yield handle


SEQUENCE: list[tuple[str, str, Any]] = [
    ("GET", "/storage", None),
    ("GET", "", None),
    ("POST", "/storage:mkdir", {"operations": [sp("faults/dir")]}),
    ("GET", "/operations", None),
    ("POST", "/permissions:check", {"permissions": []}),
]


def http_fault_indexes(tmp_path: Path, seed: int, count: int = 25) -> list[int]:
    """The indexes of the requests answered 503 among `count` requests of SEQUENCE."""
    faulted = []
    with (
        faulty_worker(tmp_path, FaultSpec(http=0.3, seed=seed)) as worker,
        httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client,
    ):
        for index in range(count):
            method, path, body = SEQUENCE[index % len(SEQUENCE)]
            response = client.request(method, path, json=body)
            if response.status_code == 503:
                assert_problem(response, 503)
                faulted.append(index)
            else:
                assert response.is_success, response.text
    return faulted


def test_injected_http_faults_are_reproducible_for_a_seed(tmp_path: Path) -> None:
    first = http_fault_indexes(tmp_path / "first", seed=7)
    again = http_fault_indexes(tmp_path / "again", seed=7)
    other = http_fault_indexes(tmp_path / "other", seed=8)

    assert first == again
    assert 0 < len(first) < 25
    assert other != first


def test_injected_operation_faults_fail_items_transiently(tmp_path: Path) -> None:
    with (
        faulty_worker(tmp_path, FaultSpec(operation=1.0, seed=1)) as worker,
        httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client,
    ):
        single = submit(client, "/storage:mkdir", {"operations": [sp("one")]})
        group = submit(client, "/storage:mkdir", {"operations": [sp("a"), sp("b"), sp("c")]})
        single_op, group_op = wait_all(client, [single, group])

    failed_with(single_op, 503)
    failed_with(group_op, 503)
    for child in group_op["children_detail"]:
        failed_with(child, 503)
    assert not (worker.roots["any"] / "one").exists()


def test_some_items_of_a_group_fail_with_503_and_the_others_succeed(tmp_path: Path) -> None:
    with (
        faulty_worker(tmp_path, FaultSpec(operation=0.5, seed=3)) as worker,
        httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client,
    ):
        group = submit(
            client, "/storage:mkdir", {"operations": [sp(f"d{i:02d}") for i in range(20)]}
        )
        [op] = wait_all(client, [group])

    children = op["children_detail"]
    failed = [c for c in children if c["state"] == "failed"]
    assert 0 < len(failed) < 20
    for child in failed:
        failed_with(child, 503)
    for i, child in enumerate(children):
        made = (worker.roots["any"] / f"d{i:02d}").is_dir()
        assert made == (child["state"] == "succeeded"), child
    failed_with(op, 503)  # every failure is transient, so the group's is too
    assert op["info"].get("transient") is True


# -- a fault specification that cannot be used -------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("bogus=1", "unknown key 'bogus' (http, operation, delay, item_delay, file_delay, seed)"),
        ("http=2", "invalid 'http=2'"),
        ("delay=soon", "invalid 'delay=soon'"),
    ],
)
def test_serve_refuses_a_fault_spec_it_cannot_use_as_a_usage_error(
    run_cli: Callable[..., CliResult], tmp_path: Path, spec: str, said: str
) -> None:
    result = run_cli(
        "worker", "serve", "--port", "0", "--no-auth", "--state-dir", tmp_path / "state",
        "--inject-faults", spec,
    )  # fmt: skip

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"planner: error: --inject-faults: {said}\n"


def test_the_worker_refuses_a_fault_spec_with_a_plain_value_error() -> None:
    with pytest.raises(ValueError, match=r"^unknown key 'bogus'") as raised:
        parse_faults("seed=3,bogus=1")
    assert not isinstance(raised.value, PlannerError)  # the CLI turns it into a usage error
