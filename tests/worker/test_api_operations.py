"""Operation records over HTTP against a real embedded worker: polling by ids (order, unknown ids,
expanded children), a 500-item batch, and planner's extensions (recent operations, cancel,
delete, shutdown)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.processes import WorkerProcess
from tests.helpers.worker_api import (
    TERMINAL,
    assert_aware_timestamp,
    assert_problem,
    failed_with,
    get_ops,
    pair,
    sp,
    submit,
    succeeded,
    wait_all,
    wait_running_with_progress,
)
from tests.helpers.workers import WorkerHandle, running_worker, start_worker

GIB = 1024**3
RATE = re.compile(r"^\d+(\.\d+)? (B|kB|MB|GB)/s$")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHandle]:
    """One real worker for the tests that do not count or stop operations."""
    with running_worker(tmp_path_factory.mktemp("api-operations")) as handle:
        yield handle


@pytest.fixture
def client(worker: WorkerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as c:
        yield c


def mkdirs(client: httpx.Client, *paths: str) -> str:
    return submit(client, "/storage:mkdir", {"operations": [sp(p) for p in paths]})


def assert_unknown(op: dict[str, Any], op_id: str) -> None:
    assert op["id"] == op_id
    assert op["state"] == "failed"
    assert op["error"] == "unknown operation"


# -- polling -----------------------------------------------------------------------------------
def test_operations_answers_one_entry_per_id_in_request_order(
    client: httpx.Client, ns: str
) -> None:
    a, b, c = (mkdirs(client, f"{ns}/{name}") for name in "abc")
    wait_all(client, [a, b, c])

    ops = get_ops(client, [c, a, "no-such-operation", b, a])

    assert [op["id"] for op in ops] == [c, a, "no-such-operation", b, a]
    assert_unknown(ops[2], "no-such-operation")
    assert [ops[i]["state"] for i in (0, 1, 3, 4)] == ["succeeded"] * 4


def test_an_unknown_id_is_a_terminal_failed_operation(client: httpx.Client) -> None:
    [polled] = get_ops(client, ["0123456789abcdef01234567"])
    single = client.get("/operations/0123456789abcdef01234567")

    assert_unknown(polled, "0123456789abcdef01234567")
    assert single.status_code == 200, single.text
    assert_unknown(single.json(), "0123456789abcdef01234567")


def test_expand_fills_children_detail_in_children_order(client: httpx.Client, ns: str) -> None:
    group = mkdirs(client, f"{ns}/x", f"{ns}/y", f"{ns}/z")

    [op] = wait_all(client, [group], expand=True)

    succeeded(op)
    assert len(op["children"]) == 3
    assert [c["id"] for c in op["children_detail"]] == op["children"]
    assert [c["description"] for c in op["children_detail"]] == [
        f"mkdir any:{ns}/{name}" for name in "xyz"
    ]
    assert all(c["state"] == "succeeded" for c in op["children_detail"])
    assert op["progress_current"] == op["progress_total"] == 3
    [plain] = get_ops(client, [group], expand=False)
    assert plain["children"] == op["children"]
    assert not plain["children_detail"]
    child = client.get(f"/operations/{op['children'][1]}").json()
    assert child == op["children_detail"][1]


def test_get_operation_by_id_answers_the_operation(client: httpx.Client, ns: str) -> None:
    op_id = mkdirs(client, f"{ns}/one")
    wait_all(client, [op_id])

    response = client.get(f"/operations/{op_id}")

    assert response.status_code == 200, response.text
    op = succeeded(response.json())
    assert op["id"] == op_id
    assert op["user_id"]
    assert op["succeeded_on"] == ["any"]
    for stamp in ("queued_at", "started_at", "ended_at"):
        assert_aware_timestamp(op[stamp])


def test_a_batch_of_500_copies_in_one_request_is_acknowledged_and_all_children_succeed(
    worker: WorkerHandle, client: httpx.Client, ns: str
) -> None:
    source = worker.roots["data"] / ns
    source.mkdir()
    for i in range(500):
        (source / f"f{i:03d}.bin").write_bytes(i.to_bytes(2, "big") * 2048)
    items = [pair(f"{ns}/f{i:03d}.bin", f"{ns}/out/f{i:03d}.bin") for i in range(500)]

    response = client.post("/storage:copy", json={"operations": items})

    assert response.is_success, response.text
    group = response.json()["id"]
    assert isinstance(group, str)
    assert group
    progress: list[float] = []
    deadline = time.monotonic() + 60
    while True:
        [op] = get_ops(client, [group], expand=True)
        assert isinstance(op["progress"], int | float)
        assert 0.0 <= op["progress"] <= 1.0
        progress.append(op["progress"])
        if op["state"] in TERMINAL:
            break
        assert time.monotonic() < deadline, op["progress"]
        time.sleep(0.02)
    assert progress == sorted(progress), "group progress went backwards"
    succeeded(op)
    assert op["progress"] == 1.0
    assert op["progress_current"] == op["progress_total"] == 500
    assert len(op["children_detail"]) == 500
    assert [c["state"] for c in op["children_detail"]] == ["succeeded"] * 500
    assert all(c["progress"] == 1.0 for c in op["children_detail"])
    assert all(c["progress_total"] == 4096 for c in op["children_detail"])
    out = worker.roots["any"] / ns / "out"
    assert sorted(p.name for p in out.iterdir()) == [f"f{i:03d}.bin" for i in range(500)]
    assert (out / "f321.bin").read_bytes() == (321).to_bytes(2, "big") * 2048


# -- recent operations -------------------------------------------------------------------------
def test_recent_operations_page_newest_first_with_next_after(worker: WorkerHandle) -> None:
    # the conftest `worker` would do too, but this module's worker has other tests' operations
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
        before = client.get("/operations", params={"limit": 1000}).json()["operations"]
        known = {op["id"] for op in before}
        submitted = [mkdirs(client, "recent/a"), mkdirs(client, "recent/b", "recent/c")]
        submitted += [mkdirs(client, f"recent/{i}") for i in range(3)]
        wait_all(client, submitted)

        pages: list[list[str]] = []
        after: str | None = None
        while len(pages) < 100:
            params: dict[str, Any] = {"limit": 2}
            if after is not None:
                params["after"] = after
            response = client.get("/operations", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            ids = [op["id"] for op in body["operations"] if op["id"] not in known]
            if not body["operations"]:
                break
            assert len(body["operations"]) <= 2
            pages.append(ids)
            after = body["next_after"]
            assert after == body["operations"][-1]["id"]

    listed = [i for page in pages for i in page]
    assert listed == list(reversed(submitted))


# -- cancel and delete -------------------------------------------------------------------------
@pytest.fixture
def one_slot_worker(tmp_path: Path) -> Iterator[WorkerHandle]:
    """A worker running one item at a time, so that what is submitted second stays queued."""
    with running_worker(tmp_path, pool_size=1) as handle:
        yield handle


def test_cancel_stops_running_and_queued_items_and_delete_forgets_finished_operations(
    one_slot_worker: WorkerHandle,
) -> None:
    worker = one_slot_worker
    with open(worker.roots["data"] / "big.bin", "wb") as handle:
        handle.truncate(2 * GIB)
    anyroot = worker.roots["any"]
    with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
        big = submit(client, "/storage:copy", {"operations": [pair("big.bin", "big.bin")]})
        queued = mkdirs(client, "q1", "q2")
        running = wait_running_with_progress(client, big)
        assert 0 < running["progress"] < 1
        assert running["progress_total"] == 2 * GIB
        assert 0 < running["progress_current"] < 2 * GIB
        assert RATE.match(running["rate"] or ""), running["rate"]
        [waiting] = get_ops(client, [queued])
        assert waiting["state"] == "queued"

        cancel_queued = client.post(f"/operations/{queued}:cancel")
        busy = client.delete(f"/operations/{big}")
        cancel_running = client.post(f"/operations/{big}:cancel")

        assert cancel_queued.status_code == 200, cancel_queued.text
        assert cancel_queued.json()["id"] == queued
        assert_problem(busy, 409)
        assert cancel_running.status_code == 200, cancel_running.text
        big_op, group = wait_all(client, [big, queued], expand=True)
        failed_with(big_op, 499)
        assert big_op["error"] == "cancelled"
        failed_with(group, 499)
        assert "cancelled" in group["error"]
        assert [c["error"] for c in group["children_detail"]] == ["cancelled", "cancelled"]
        assert not (anyroot / "big.bin").exists()
        assert not (anyroot / "q1").exists()
        assert [p.name for p in anyroot.iterdir()] == []  # no temporary file left behind

        done = mkdirs(client, "done")
        wait_all(client, [done])
        after_cancel = client.post(f"/operations/{done}:cancel")
        assert after_cancel.status_code == 200, after_cancel.text
        [still] = get_ops(client, [done])
        assert succeeded(still)["error"] is None

        assert client.delete(f"/operations/{done}").status_code == 204
        assert client.delete(f"/operations/{big}").status_code == 204
        assert_unknown(get_ops(client, [done])[0], done)
        assert_unknown(client.get(f"/operations/{big}").json(), big)
        assert_problem(client.delete(f"/operations/{done}"), 404)
        assert_problem(client.post("/operations/no-such-operation:cancel"), 404)


def test_deleting_a_group_forgets_its_children_too(client: httpx.Client, ns: str) -> None:
    group = mkdirs(client, f"{ns}/a", f"{ns}/b")
    [op] = wait_all(client, [group])

    assert client.delete(f"/operations/{group}").status_code == 204

    for forgotten in get_ops(client, [group, *op["children"]]):
        assert forgotten["error"] == "unknown operation"


# -- shutdown ----------------------------------------------------------------------------------
def test_shutdown_answers_2xx_and_the_worker_stops_serving(tmp_path: Path) -> None:
    embedded, worker = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=5.0) as client:
            response = client.post("/shutdown")

            assert response.is_success, response.text
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(worker.url, timeout=1.0)
            except httpx.TransportError:
                break
            assert time.monotonic() < deadline, "the worker still answers after /shutdown"
            time.sleep(0.02)
    finally:
        embedded.stop()


def test_shutdown_is_refused_when_the_worker_does_not_allow_it(tmp_path: Path) -> None:
    embedded, worker = start_worker(tmp_path, allow_shutdown=False)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=5.0) as client:
            assert_problem(client.post("/shutdown"), 403)
            assert client.get("/storage").status_code == 200
    finally:
        embedded.stop()


def test_shutdown_makes_a_serve_process_exit_0(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("shutdown-token-0123456789", encoding="utf-8")
    headers = {"Authorization": "Bearer shutdown-token-0123456789"}
    worker = WorkerProcess(
        tmp_path,
        "worker",
        "--state-dir",
        str(tmp_path / "state"),
        "--token-file",
        str(tmp_path / "token"),
        "--allow-shutdown",
    )
    try:
        response = httpx.post(f"{worker.url}/shutdown", headers=headers, timeout=10.0)
        code = worker.proc.wait(timeout=30)
    finally:
        worker.kill()

    assert response.is_success, response.text
    assert code == 0, worker.output()


# -- records across a restart ------------------------------------------------------------------
def test_finished_operations_survive_a_restart_with_their_children(tmp_path: Path) -> None:
    embedded, worker = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
            group = mkdirs(client, "a", "b")
            missing = submit(client, "/storage:remove", {"operations": [sp("missing")]})
            before = wait_all(client, [group, missing], expand=True)
    finally:
        embedded.stop()

    embedded, worker = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
            after = get_ops(client, [group, missing], expand=True)
            second = client.get(f"/operations/{after[0]['children'][1]}").json()
    finally:
        embedded.stop()

    group_op, missing_op = after
    succeeded(group_op)
    assert group_op["children"] == before[0]["children"]
    assert [c["id"] for c in group_op["children_detail"]] == group_op["children"]
    assert [c["state"] for c in group_op["children_detail"]] == ["succeeded", "succeeded"]
    assert second == group_op["children_detail"][1] == before[0]["children_detail"][1]
    failed_with(missing_op, 404)
    assert missing_op["error"] == before[1]["error"]
