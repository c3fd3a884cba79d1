"""Shutdown records everything (issue 9, item 10): when the worker stops (its stop, or SIGTERM to
`planner worker serve`), queued items end failed with code 499 `cancelled`, running ones are
cancelled, every record is written to worker.db before the process exits, and the next start
finds nothing queued or running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from planner.worker.auth import User
from planner.worker.faults import FaultSpec
from planner.worker.records import SHUTDOWN_ERROR
from planner.worker.service import ItemContext, ItemResult, WorkerConfig, WorkerService
from tests.helpers.processes import WorkerProcess
from tests.helpers.trees import temp_files
from tests.helpers.worker_api import failed_with, pair, sp, submit, wait_running_with_progress
from tests.helpers.workers import start_worker

GIB = 1024**3


def stored(db: Path) -> list[dict[str, Any]]:
    """Every operation row of a stopped worker's database: its columns and its stored body."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT id, state, finished, body FROM operations").fetchall()
    return [
        {"id": oid, "state": state, "finished": finished, "body": json.loads(body)}
        for oid, state, finished, body in rows
    ]


def assert_all_cancelled_by_shutdown(rows: list[dict[str, Any]]) -> None:
    """Every row ended, failed with 499; every item of a group too."""
    for row in rows:
        assert (row["state"], row["finished"]) == ("failed", 1), row
        body = row["body"]
        assert body["state"] == "failed", body
        assert body["error_detail"]["code"] == 499, body
        for item in body.get("items") or []:
            state, code, error = item[1], item[6], item[7]
            assert (state, code) == ("failed", 499), item
            assert error in (SHUTDOWN_ERROR, "cancelled"), item


def wait_running(client: httpx.Client, op_id: str) -> None:
    """Poll until the operation has an item running."""
    deadline = time.monotonic() + 20
    while True:
        [op] = client.get("/operations", params={"ids": [op_id]}).json()["operations"]
        if op["state"] == "running":
            return
        assert op["state"] == "queued", op
        assert time.monotonic() < deadline, op
        time.sleep(0.01)


def test_stopping_the_worker_fails_queued_and_running_items_and_writes_them_all(
    tmp_path: Path,
) -> None:
    held = FaultSpec(item_delay=600.0)  # every item waits until cancelled
    embedded, worker = start_worker(tmp_path, faults=held, pool_size=2)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
            group = submit(
                client, "/storage:mkdir", {"operations": [sp(f"g/{i}") for i in range(300)]}
            )
            singles = [
                submit(client, "/storage:mkdir", {"operations": [sp(f"s/{i}")]}) for i in range(40)
            ]
            wait_running(client, group)
    finally:
        embedded.stop()
    rows = stored(worker.state_dir / "worker.db")

    assert sorted(r["id"] for r in rows) == sorted([group, *singles])
    assert_all_cancelled_by_shutdown(rows)
    assert not (worker.roots["any"] / "g").exists()
    again, worker = start_worker(tmp_path)
    try:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0) as client:
            ops = client.get("/operations", params={"ids": [group, *singles]}).json()
            listed = client.get("/operations", params={"limit": 100}).json()["operations"]
    finally:
        again.stop()
    for op in ops["operations"]:
        assert failed_with(op, 499)["error"] in (
            SHUTDOWN_ERROR,
            f"300 of 300 items failed: {SHUTDOWN_ERROR}",
        ), op
        assert op["info"] == {"transient": True}, op  # clients send the work again
    assert len(listed) == 41
    assert_all_cancelled_by_shutdown(stored(worker.state_dir / "worker.db"))


def test_sigterm_under_load_records_every_operation_before_the_process_exits(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "big.bin", "wb") as handle:
        handle.truncate(2 * GIB)
    state = tmp_path / "state"
    token = "sigterm-token-0123456789"
    (tmp_path / "token").write_text(token, encoding="utf-8")
    serving = WorkerProcess(
        tmp_path,
        "serve",
        *("--state-dir", str(state), "--token-file", str(tmp_path / "token")),
        *("--remote", f"data={data}", "--pool", "1"),
    )
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=serving.url, headers=headers, timeout=10.0) as client:
            copy = submit(client, "/storage:copy", {"operations": [pair("big.bin", "big.bin")]})
            wait_running_with_progress(client, copy)  # it holds the only item thread
            queued = [
                submit(
                    client, "/storage:mkdir", {"operations": [sp(f"q{n}/{i}") for i in range(50)]}
                )
                for n in range(20)
            ]
        code = serving.terminate()
    finally:
        serving.kill()
    rows = stored(state / "worker.db")

    assert code == 0, serving.output()
    assert sorted(r["id"] for r in rows) == sorted([copy, *queued])
    assert_all_cancelled_by_shutdown(rows)
    assert not (state / "storage" / "big.bin").exists()
    assert temp_files(state) == []
    assert "Traceback" not in serving.output()


def test_items_that_do_not_stop_within_the_grace_period_are_recorded_failed_all_the_same(
    tmp_path: Path,
) -> None:
    started, released = threading.Event(), threading.Event()

    def stubborn(ctx: ItemContext) -> ItemResult:  # ignores its cancel flag, as a stuck syscall
        started.set()
        released.wait(60)
        return ItemResult()

    async def scenario() -> str:
        service = WorkerService(WorkerConfig(state_dir=tmp_path / "state"))
        await service.start()
        op_id = service.submit(User("alice"), "stubborn", [("stubborn", stubborn)])
        assert await asyncio.to_thread(started.wait, 30)
        await service.stop(grace=0.05)
        return op_id

    try:
        op_id = asyncio.run(scenario())
    finally:
        released.set()
    [row] = stored(tmp_path / "state" / "worker.db")

    assert row["id"] == op_id
    assert_all_cancelled_by_shutdown([row])
    assert row["body"]["error"] == SHUTDOWN_ERROR
