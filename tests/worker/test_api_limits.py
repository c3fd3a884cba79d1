"""Issue 9, item 8: request bodies are bounded (`--max-body`, 413), a caller holding no role is
refused before its body is read, items per request are capped (`--max-items`, 413), and a large
body is parsed off the event loop while other clients are answered. Attackers speak raw HTTP
here: a declared body that is never sent shows the worker did not wait for it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from planner.worker import endpoint
from planner.worker.body import INLINE_BYTES, parse_json
from tests.helpers.cli import CliResult
from tests.helpers.processes import WorkerProcess
from tests.helpers.worker_api import assert_problem, grant, pair, sp, succeeded, wait_all
from tests.helpers.workers import (
    Users,
    WorkerHandle,
    running_worker,
    set_grants,
    users_worker,
)

TIMEOUT = 10.0  # a bound on waiting for an answer the worker owes at once


class RawRequest:
    """One HTTP/1.1 request written by hand on its own connection: the headers (with any
    Content-Length) first, the body only if and when the test sends it."""

    def __init__(self, url: str, method: str, route: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
        lines = [f"{method} {parts.path}{route} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.closed_after = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body) of the response; raises on a timeout."""
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
        }
        while len(body) < int(headers["content-length"]):
            body += self._recv()
        self.closed_after = headers.get("connection") == "close" and self.sock.recv(1) == b""
        self.sock.close()
        return int(status_line.split()[1]), headers, json.loads(body)

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        assert chunk, "the worker closed the connection without answering"
        return chunk


@pytest.fixture
def raw() -> Iterator[Callable[..., RawRequest]]:
    """Opens RawRequests (`raw(url, method, route, headers)`), all closed when the test ends."""
    opened: list[RawRequest] = []

    def open_one(*args: Any) -> RawRequest:
        opened.append(RawRequest(*args))
        return opened[-1]

    try:
        yield open_one
    finally:
        for request in opened:
            request.sock.close()


def _problem(answer: tuple[int, dict[str, str], dict[str, Any]], status: int) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"].startswith("application/problem+json")
    assert body["status"] == status
    return body


@pytest.fixture
def small(tmp_path: Path) -> Iterator[WorkerHandle]:
    """A worker accepting bodies of at most 64 KiB and 3 items per request."""
    with running_worker(tmp_path, max_body=64 * 1024, max_items=3) as handle:
        yield handle


def _auth(worker: WorkerHandle, **more: str) -> dict[str, str]:
    return {**worker.headers, "Content-Type": "application/json", **more}


# -- body size ---------------------------------------------------------------------------------
def test_a_body_declared_over_the_limit_is_refused_before_a_byte_of_it_is_sent(
    small: WorkerHandle, raw: Callable[..., RawRequest]
) -> None:
    attacker = raw(
        small.url, "POST", "/storage:copy", _auth(small, **{"Content-Length": "100000000"})
    )

    body = _problem(attacker.answer(), 413)

    assert "at most 65,536 bytes" in body["detail"]
    assert "--max-body" in body["detail"]
    assert attacker.closed_after  # the worker will not wait for, nor read, what follows


def test_a_streamed_body_that_grows_over_the_limit_is_refused_when_it_does(
    small: WorkerHandle, raw: Callable[..., RawRequest]
) -> None:
    attacker = raw(
        small.url, "POST", "/storage:mkdir", _auth(small, **{"Transfer-Encoding": "chunked"})
    )
    chunk = b"x" * 16384
    for _ in range(4):  # exactly the limit: the worker waits for more
        attacker.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    attacker.send(b"1\r\nx\r\n")  # one byte over

    body = _problem(attacker.answer(), 413)

    assert "at most 65,536 bytes" in body["detail"]
    assert attacker.closed_after


def test_a_body_at_the_limit_is_read(small: WorkerHandle) -> None:
    payload = json.dumps({"operations": [sp("at-limit")]})
    exact = payload + " " * (64 * 1024 - len(payload))
    with httpx.Client(base_url=small.url, headers=small.headers, timeout=TIMEOUT) as client:
        response = client.post("/storage:mkdir", content=exact.encode())
        assert response.status_code == 200, response.text
        succeeded(wait_all(client, [response.json()["id"]])[0])


# -- authorization before the body -------------------------------------------------------------
ROUTES_NAMING_PATHS = [
    "/storage:copy",
    "/storage:move",
    "/storage:exists",
    "/storage:list",
    "/storage:mkdir",
    "/storage:remove",
    "/storage:rmdir",
    "/metadata:get",
    "/metadata:set",
    "/permissions:get",
    "/permissions:set",
    "/permissions:remove",
]


@pytest.fixture
def users(tmp_path: Path) -> Iterator[Users]:
    with users_worker(tmp_path) as found:
        yield found


def test_a_caller_holding_no_role_is_refused_before_its_body_while_others_are_served(
    users: Users, raw: Callable[..., RawRequest]
) -> None:
    set_grants(users, grant("alice", "writer", "alice"))
    bob = {"Authorization": "Bearer bob-token", "Content-Type": "application/json"}
    # under --max-body, and never sent: a worker that waited for it would never answer
    waiting = {
        route: raw(users.worker.url, "POST", route, {**bob, "Content-Length": "1000000"})
        for route in ROUTES_NAMING_PATHS
    }
    oversized = raw(
        users.worker.url, "POST", "/storage:copy", {**bob, "Content-Length": "100000000"}
    )

    served = users.alice.get("/storage")
    refusals = {route: _problem(raw.answer(), 403) for route, raw in waiting.items()}

    assert served.status_code == 200
    for route, body in refusals.items():
        assert body["detail"] == "permission denied: 'bob' holds no role on any path", route
    assert all(raw.closed_after for raw in waiting.values())
    _problem(oversized.answer(), 403)
    assert oversized.closed_after


def test_a_caller_with_any_role_has_its_body_read_and_checked_per_path(users: Users) -> None:
    set_grants(users, grant("shared", "reader", None, "any"))

    outside = users.bob.post("/storage:mkdir", json={"operations": [sp("bob/new")]})
    read = users.bob.post("/storage:exists", json={"operations": [sp("shared/x")]})

    assert [e["location"] for e in assert_problem(outside, 403)["errors"]] == [
        "body.operations[0].path"
    ]
    assert read.status_code == 200, read.text


def test_holding_a_role_through_a_group_counts_and_losing_the_last_one_is_noticed(
    users: Users,
) -> None:
    cfd = grant("cfd", "writer", "cfd", "group")
    set_grants(users, cfd)
    by_group = users.alice.post("/storage:mkdir", json={"operations": [sp("cfd/x")]})
    removed = users.root.post("/permissions:remove", json={"permissions": [cfd]})
    after = users.alice.post("/storage:mkdir", json={"operations": [sp("cfd/y")]})

    assert by_group.status_code == 200, by_group.text
    assert removed.status_code == 200, removed.text
    assert assert_problem(after, 403)["detail"] == (
        "permission denied: 'alice' holds no role on any path"
    )


# -- items per request -------------------------------------------------------------------------
def _items(n: int) -> dict[str, dict[str, Any]]:
    """A body of `n` items for each route, and the key holding them."""
    paths = [f"p{i}" for i in range(n)]
    return {
        "/storage:mkdir": {"operations": [sp(p) for p in paths]},
        "/storage:copy": {"operations": [pair(p, f"{p}.copy", "any") for p in paths]},
        "/metadata:get": {"paths": paths},
        "/metadata:set": {"metadata": {p: {"custom": {"k": 1}} for p in paths}},
        "/permissions:set": {"permissions": [grant(p, "reader", "bob") for p in paths]},
        "/permissions:check": {"permissions": [grant(p, "reader", "bob") for p in paths]},
        "/permissions:get": {"permissions": [{"resource": {"path": p}} for p in paths]},
    }


def test_more_items_than_the_cap_are_413_naming_the_limit(small: WorkerHandle) -> None:
    with httpx.Client(base_url=small.url, headers=small.headers, timeout=TIMEOUT) as client:
        over = {route: client.post(route, json=body) for route, body in _items(4).items()}
        at_cap = {route: client.post(route, json=body) for route, body in _items(3).items()}

    for route, response in over.items():
        body = assert_problem(response, 413)
        assert body["title"] == "Content Too Large"  # RFC 9110, on every Python
        assert "at most 3 items per request (--max-items); got 4" in body["detail"], route
        assert [e["location"] for e in body["errors"]] == [f"body.{next(iter(_items(1)[route]))}"]
    assert {route: r.status_code for route, r in at_cap.items()} == dict.fromkeys(at_cap, 200)


@pytest.mark.parametrize(
    ("junk", "message"),
    [
        ("[]", "at most 1,048 JSON objects and arrays (8 per item of --max-items); 2,004 sent"),
        ("null", "at most 1,216 JSON values (64 per item of --max-items); 2,005 sent"),
    ],
)
def test_a_body_of_many_small_values_is_refused_before_it_is_parsed(
    small: WorkerHandle, junk: str, message: str
) -> None:
    # 3 items allow 8 * 3 + 1024 objects and arrays, 64 * 3 + 1024 values; this fits in 64 KiB
    body = '{"operations": [{"path": "x"}], "junk": [' + ",".join([junk] * 2000) + "]}"
    with httpx.Client(base_url=small.url, headers=small.headers, timeout=TIMEOUT) as client:
        response = client.post("/storage:mkdir", content=body.encode())

    assert message in assert_problem(response, 413)["detail"]


# -- parsing off the event loop ----------------------------------------------------------------
def test_a_large_body_is_parsed_off_the_event_loop_while_others_are_answered(
    worker: WorkerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real: Callable[[bytes, int], Any] = parse_json  # what endpoint.parse_json is

    def gated(raw: bytes, max_items: int) -> Any:
        if len(raw) > INLINE_BYTES:  # hold the large body's parse until the test lets it go
            entered.set()
            assert release.wait(TIMEOUT)
        return real(raw, max_items)

    monkeypatch.setattr(endpoint, "parse_json", gated)
    large = {"operations": [sp(f"large/{i:05d}-{'x' * 40}") for i in range(2000)]}
    assert len(json.dumps(large)) > INLINE_BYTES
    answers: dict[str, httpx.Response] = {}

    def submit_large() -> None:
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=TIMEOUT) as c:
            answers["large"] = c.post("/storage:mkdir", json=large)

    sender = threading.Thread(target=submit_large)
    sender.start()
    try:
        assert entered.wait(TIMEOUT), "the large body was never parsed"
        with httpx.Client(base_url=worker.url, headers=worker.headers, timeout=TIMEOUT) as c:
            answers["other"] = c.get("/storage")  # while the large body is being parsed
        assert "large" not in answers
    finally:
        release.set()
        sender.join(TIMEOUT)

    assert answers["other"].status_code == 200
    assert answers["large"].status_code == 200, answers["large"].text


# -- the options -------------------------------------------------------------------------------
def test_serve_takes_max_body_and_max_items(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("limits-token\n", encoding="utf-8")
    process = WorkerProcess(
        tmp_path,
        "limits",
        "--state-dir",
        str(tmp_path / "state"),
        "--token-file",
        str(tmp_path / "token"),
        "--max-body",
        "1KiB",
        "--max-items",
        "2",
    )
    try:
        headers = {"Authorization": "Bearer limits-token"}
        with httpx.Client(base_url=process.url, headers=headers, timeout=TIMEOUT) as client:
            large = client.post("/storage:mkdir", content=b" " * 1025)
            many = client.post("/storage:mkdir", json={"operations": [sp("a"), sp("b"), sp("c")]})
        code = process.terminate()
    finally:
        process.kill()

    assert code == 0, process.output()
    assert "at most 1,024 bytes" in assert_problem(large, 413)["detail"]
    assert "at most 2 items" in assert_problem(many, 413)["detail"]


@pytest.mark.parametrize("value", ["0", "12XB", "-5", "1.5MiB", "MiB"])
def test_serve_refuses_a_max_body_that_is_not_a_size(
    run_cli: Callable[..., CliResult], tmp_path: Path, value: str
) -> None:
    result = run_cli("worker", "serve", "--state-dir", tmp_path / "state", "--max-body", value)

    assert result.code == 2
    assert f"--max-body {value!r}: expected a size such as 16MiB" in result.stderr
