"""Calls and checks on the worker's HTTP API (the wire format) with an httpx client: submit,
poll until terminal, request bodies, and the shapes of operations and problems."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed"}


RFC3339_WITH_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def assert_aware_timestamp(text: Any) -> None:
    """`text` is RFC 3339 with a timezone (naive timestamps break the official client)."""
    assert isinstance(text, str), text
    assert RFC3339_WITH_ZONE.match(text), text
    assert datetime.fromisoformat(text).tzinfo is not None, text


def submit(client: httpx.Client, route: str, body: Any, params: Any = None) -> str:
    """POST a request that starts an operation; returns its id."""
    response = client.post(route, json=body, params=params)
    assert response.is_success, response.text
    answer = response.json()
    assert answer["location"] == f"/api/v1/operations/{answer['id']}"
    return str(answer["id"])


def wait_all(
    client: httpx.Client, ids: list[str], *, expand: bool = True, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Poll GET /operations until every operation is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/operations", params={"ids": ids, "expand": expand})
        assert response.status_code == 200, response.text
        ops: list[dict[str, Any]] = response.json()["operations"]
        if all(op["state"] in TERMINAL for op in ops):
            return ops
        assert time.monotonic() < deadline, f"operations still pending: {ops}"
        time.sleep(0.01)


def run(client: httpx.Client, route: str, body: Any, params: Any = None) -> dict[str, Any]:
    """Submit one request and return its terminal operation (children expanded)."""
    return wait_all(client, [submit(client, route, body, params)])[0]


def succeeded(op: dict[str, Any]) -> dict[str, Any]:
    assert op["state"] == "succeeded", op
    assert op["progress"] == 1.0, op
    return op


def failed_with(op: dict[str, Any], code: int) -> dict[str, Any]:
    assert op["state"] == "failed", op
    assert op["error"], op
    assert op["error_detail"]["code"] == code, op
    return op


def sp(path: str, remote: str | None = "any") -> dict[str, Any]:
    return {"path": path} if remote is None else {"path": path, "remote": remote}


def pair(src: str, dst: str, src_remote: str = "data", dst_remote: str = "any") -> dict[str, Any]:
    return {"src": sp(src, src_remote), "dst": sp(dst, dst_remote)}


def grant(path: str, role: str, sid: str | None, stype: str = "user") -> dict[str, Any]:
    return {
        "resource": {"path": path, "type": "document"},
        "role": role,
        "subject": {"id": sid, "type": stype},
    }


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert isinstance(body["errors"], list)
    return body


def get_ops(client: httpx.Client, ids: list[str], expand: bool = False) -> list[dict[str, Any]]:
    response = client.get("/operations", params={"ids": ids, "expand": expand})
    assert response.status_code == 200, response.text
    ops: list[dict[str, Any]] = response.json()["operations"]
    return ops


def wait_running_with_progress(client: httpx.Client, op_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        [op] = get_ops(client, [op_id])
        if op["state"] == "running" and op["progress"] > 0:
            return op
        assert op["state"] not in TERMINAL, op
        assert time.monotonic() < deadline, op
        time.sleep(0.005)
