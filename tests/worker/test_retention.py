"""Finished operations are pruned once older than the retention period (checked at start-up and
hourly); younger ones survive a restart."""

from __future__ import annotations

import time

import httpx

from tests.helpers.workers import start_worker


def _finished_mkdir(url: str, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=url, headers=headers) as client:
        op_id = str(
            client.post("/storage:mkdir", json={"operations": [{"path": "d"}]}).json()["id"]
        )
        deadline = time.monotonic() + 10
        while client.get(f"/operations/{op_id}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline, "mkdir did not finish"
            time.sleep(0.01)
        return op_id


def _state_after_restart(tmp_path, op_id: str, retention: float) -> tuple[str, str | None]:
    embedded, worker = start_worker(tmp_path, retention_seconds=retention)
    try:
        op = httpx.get(f"{worker.url}/operations/{op_id}", headers=worker.headers).json()
        return op["state"], op["error"]
    finally:
        embedded.stop()


def test_recent_operations_survive_a_restart_and_old_ones_are_pruned(tmp_path) -> None:
    embedded, worker = start_worker(tmp_path)
    try:
        op_id = _finished_mkdir(worker.url, worker.headers)
    finally:
        embedded.stop()
    assert _state_after_restart(tmp_path, op_id, retention=3600) == ("succeeded", None)
    time.sleep(0.05)  # the record must be older than the (tiny) retention below
    assert _state_after_restart(tmp_path, op_id, retention=0.01) == ("failed", "unknown operation")
