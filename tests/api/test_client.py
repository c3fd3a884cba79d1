"""ApiClient against a scripted worker behind httpx.MockTransport: routes, auth, retries, the
error mapping, planner extensions and wait_for. Time is fake: sleeping only advances a clock."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from planner.api import wire
from planner.api.client import ApiClient, WaitTimeoutError
from planner.errors import (
    ApiError,
    ApiUnreachableError,
    AuthError,
    PermanentApiError,
    TransientApiError,
)
from tests.helpers.clock import FakeTime

pytestmark = pytest.mark.anyio

BASE = "http://worker.test/api/v1"
TOKEN = "tok-5ecret-Zq81"
API_KEY = "key-5ecret-Xw22"
CEILINGS = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 2.0]
EXTENSIONS = [
    wire.FEATURE_RECURSIVE_LIST,
    wire.FEATURE_RECENT_OPERATIONS,
    wire.FEATURE_CANCEL,
    wire.FEATURE_DELETE,
    wire.FEATURE_SHUTDOWN,
]

Answer = Callable[[httpx.Request], httpx.Response]


def reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
    """An answer: JSON when `body` is a dict or list, else raw text (or nothing)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict | list):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, text=body or "", headers=headers)

    return answer


def problem(status: int, title: str, detail: str, **headers: str) -> Answer:
    """An RFC 9457 problem answer."""
    body = {"title": title, "status": status, "detail": detail, "errors": []}
    return reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def fail(error: type[Exception], message: str = "boom") -> Answer:
    """An answer that raises a fresh `error` as a transport would."""

    def answer(request: httpx.Request) -> httpx.Response:
        raise error(message)

    return answer


def status_body(features: list[str]) -> dict[str, Any]:
    return {
        "ready": True,
        "time": "2026-11-22T10:00:00Z",
        "build_info": {"version": "1.0", "version_hash": "abc", "branch": "main"},
        "features": {"auth_types": ["bearer"], "operation_plugins": features},
    }


@dataclass
class FakeWorker:
    """Answers by (method, path) and records every request; a route's answers are used in
    turn and the last one repeats. Unknown routes answer 404."""

    features: list[str] = field(default_factory=lambda: list(EXTENSIONS))
    requests: list[httpx.Request] = field(default_factory=list)
    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, "/api/v1" + path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key == ("GET", "/api/v1/") and key not in self.routes:
            return httpx.Response(200, json=status_body(self.features))
        answers = self.routes.get(key)
        if not answers:
            return problem(404, "Not Found", f"no route {key}")(request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, "/api/v1" + path)]


class CeilingRandom(random.Random):
    """Draws the top of every jitter interval, so delays equal their ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def connect(worker: FakeWorker, fake_time: FakeTime) -> Callable[..., ApiClient]:
    """Build an ApiClient on the fake worker and fake time; keyword arguments override."""

    def make(**overrides: Any) -> ApiClient:
        options: dict[str, Any] = {
            "token": TOKEN,
            "transport": httpx.MockTransport(worker.handle),
            "clock": fake_time.clock,
            "sleep": fake_time.sleep,
            "rng": random.Random(1234),
        }
        options.update(overrides)
        return ApiClient(options.pop("base_url", BASE), **options)

    return make


@pytest.fixture
async def api(connect: Callable[..., ApiClient]) -> AsyncIterator[ApiClient]:
    async with connect() as client:
        yield client


# --- routes ---------------------------------------------------------------------------------

SRC = wire.StoragePath(path="in/a.txt", remote="scratch")
PAIR = wire.SrcDst(src=SRC, dst=wire.StoragePath(path="out/a.txt"))
PAIR_JSON = {
    "src": {"path": "in/a.txt", "remote": "scratch"},
    "dst": {"path": "out/a.txt", "remote": "any"},
}
PATHS = [wire.StoragePath(path="d1"), wire.StoragePath(path="/tmp/d2", remote="local")]
PATHS_JSON = {
    "operations": [{"path": "d1", "remote": "any"}, {"path": "/tmp/d2", "remote": "local"}]
}
GRANT = wire.RoleAssignment(
    resource=wire.Resource(path="dir"), role=wire.RoleType.READER, subject=wire.Subject(id="alice")
)
GRANT_JSON = {
    "resource": {"path": "dir", "type": "document"},
    "role": "reader",
    "subject": {"id": "alice", "type": "user"},
}
OP_ID = {"id": "op-1", "location": "/api/v1/operations/op-1"}
OP = {"id": "op-1", "state": "succeeded", "progress": 1.0, "queued_at": "2026-11-22T10:00:00Z"}


@dataclass(frozen=True)
class Route:
    """One route of docs/api.md: how the client is called and what must go over the wire."""

    call: Callable[[ApiClient], Awaitable[object]]
    method: str
    path: str
    answer: Answer
    result: object
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None


ROUTES = {
    "status": Route(
        lambda a: a.status(), "GET", "/", reply(200, status_body(["x"])),
        wire.StatusResponse.model_validate(status_body(["x"])),
    ),
    "storages": Route(
        lambda a: a.storages(), "GET", "/storage",
        reply(200, {"storage": [{"name": "any", "type": "disk", "priority": 0}]}),
        [wire.StorageInfo(name="any", type="disk")],
    ),
    "copy": Route(
        lambda a: a.copy([PAIR]), "POST", "/storage:copy", reply(200, OP_ID), "op-1",
        body={"operations": [PAIR_JSON]},
    ),
    "move": Route(
        lambda a: a.move([PAIR]), "POST", "/storage:move", reply(200, OP_ID), "op-1",
        body={"operations": [PAIR_JSON]},
    ),
    "exists": Route(
        lambda a: a.exists(PATHS), "POST", "/storage:exists", reply(200, OP_ID), "op-1",
        body=PATHS_JSON,
    ),
    "list": Route(
        lambda a: a.list(PATHS), "POST", "/storage:list", reply(200, OP_ID), "op-1",
        query=[("mode", "basic")], body=PATHS_JSON,
    ),
    "list-extended-recursive": Route(
        lambda a: a.list(PATHS, extended=True, recursive=True), "POST", "/storage:list",
        reply(200, OP_ID), "op-1", query=[("mode", "extended"), ("recursive", "true")],
        body=PATHS_JSON,
    ),
    "mkdir": Route(
        lambda a: a.mkdir(PATHS), "POST", "/storage:mkdir", reply(200, OP_ID), "op-1",
        body=PATHS_JSON,
    ),
    "remove": Route(
        lambda a: a.remove(PATHS), "POST", "/storage:remove", reply(200, OP_ID), "op-1",
        body=PATHS_JSON,
    ),
    "rmdir": Route(
        lambda a: a.rmdir(PATHS), "POST", "/storage:rmdir", reply(200, OP_ID), "op-1",
        body=PATHS_JSON,
    ),
    "operation": Route(
        lambda a: a.operation("op-1"), "GET", "/operations/op-1", reply(200, OP),
        wire.Operation.model_validate(OP),
    ),
    "operations": Route(
        lambda a: a.operations(["op-1", "op-2"], expand=True), "GET", "/operations",
        reply(200, {"operations": [OP, {**OP, "id": "op-2"}]}),
        [wire.Operation.model_validate(OP), wire.Operation.model_validate({**OP, "id": "op-2"})],
        query=[("ids", "op-1"), ("ids", "op-2"), ("expand", "true")],
    ),
    "recent-operations": Route(
        lambda a: a.recent_operations(limit=10, after="op-9"), "GET", "/operations",
        reply(200, {"operations": [OP], "next_after": "op-1"}),
        wire.OperationsResponse(operations=[wire.Operation.model_validate(OP)], next_after="op-1"),
        query=[("limit", "10"), ("after", "op-9")],
    ),
    "cancel": Route(
        lambda a: a.cancel("op-1"), "POST", "/operations/op-1:cancel", reply(202), None
    ),
    "delete-operation": Route(
        lambda a: a.delete_operation("op-1"), "DELETE", "/operations/op-1", reply(204), None
    ),
    "get-metadata": Route(
        lambda a: a.get_metadata(["d/f", "d/g"]), "POST", "/metadata:get", reply(200, OP_ID),
        "op-1", body={"paths": ["d/f", "d/g"]},
    ),
    "set-metadata": Route(
        lambda a: a.set_metadata({"d/f": wire.DataAssignment(custom={"k": "v", "gone": None})}),
        "POST", "/metadata:set", reply(200, OP_ID), "op-1",
        body={"metadata": {"d/f": {"compressed_size": None, "compression": None,
                                   "custom": {"k": "v", "gone": None}, "uncompressed_size": None}}},
    ),
    "check-permissions": Route(
        lambda a: a.check_permissions([GRANT]), "POST", "/permissions:check",
        reply(200, {"allowed": True}), True, body={"permissions": [GRANT_JSON]},
    ),
    "check-roles": Route(
        lambda a: a.check_roles("alice", [("dir", "reader")]), "POST", "/permissions:check",
        reply(200, {"allowed": True}), True, body={"permissions": [GRANT_JSON]},
    ),
    "get-permissions": Route(
        lambda a: a.get_permissions([wire.RoleQuery(subject=wire.Subject(id="alice"))]), "POST",
        "/permissions:get", reply(200, {"permissions": [GRANT_JSON]}), [GRANT],
        body={"permissions": [{"resource": None, "role": None,
                               "subject": {"id": "alice", "type": "user"}}]},
    ),
    "set-permissions": Route(
        lambda a: a.set_permissions([GRANT]), "POST", "/permissions:set", reply(200, {}), None,
        body={"permissions": [GRANT_JSON]},
    ),
    "remove-permissions": Route(
        lambda a: a.remove_permissions([GRANT]), "POST", "/permissions:remove", reply(204), None,
        body={"permissions": [GRANT_JSON]},
    ),
    "shutdown": Route(lambda a: a.shutdown(), "POST", "/shutdown", reply(200, {}), None),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ROUTES))
async def test_each_route_sends_its_method_path_query_and_body(
    name: str, worker: FakeWorker, api: ApiClient
) -> None:
    route = ROUTES[name]
    worker.on(route.method, route.path, route.answer)
    assert await route.call(api) == route.result
    request = worker.sent(route.method, route.path)[-1]
    assert request.url.query.decode() == str(httpx.QueryParams(tuple(route.query)))
    assert request.url.params.multi_items() == route.query
    if route.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == route.body


async def test_routes_keep_the_literal_colon_and_quote_ids(
    worker: FakeWorker, api: ApiClient
) -> None:
    worker.on("POST", "/storage:copy", reply(200, OP_ID))
    worker.on("GET", "/operations/a/b c", reply(200, OP))  # routed by the decoded path
    await api.copy([PAIR])
    await api.operation("a/b c")
    assert str(worker.requests[0].url) == "http://worker.test/api/v1/storage:copy"
    assert worker.requests[1].url.raw_path == b"/api/v1/operations/a%2Fb%20c"


@pytest.mark.parametrize("base_url", [BASE, BASE + "/"])
async def test_the_base_url_may_end_with_a_slash(
    base_url: str, worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    worker.on("POST", "/storage:mkdir", reply(200, OP_ID))
    async with connect(base_url=base_url) as api:
        await api.status()
        await api.mkdir(PATHS)
    assert [str(r.url) for r in worker.requests] == [
        "http://worker.test/api/v1/",
        "http://worker.test/api/v1/storage:mkdir",
    ]


# --- auth -------------------------------------------------------------------------------------


async def test_a_token_is_sent_as_a_bearer_credential(worker: FakeWorker, api: ApiClient) -> None:
    await api.status()
    headers = worker.requests[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-api-key" not in headers
    assert headers["accept"] == "application/json"


async def test_an_api_key_is_sent_as_x_api_key(
    worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    async with connect(token=None, api_key=API_KEY) as api:
        await api.status()
    headers = worker.requests[0].headers
    assert headers["x-api-key"] == API_KEY
    assert "authorization" not in headers


async def test_the_repr_shows_the_url_and_the_kind_of_credential_only(
    connect: Callable[..., ApiClient],
) -> None:
    async with connect(base_url="http://user:pw@worker.test:8080/api/v1/") as api:
        assert repr(api) == "ApiClient('http://worker.test:8080/api/v1', auth=bearer)"
    async with connect(token=None, api_key=API_KEY) as api:
        assert repr(api) == "ApiClient('http://worker.test/api/v1', auth=api-key)"


@pytest.mark.parametrize("secret", ["caf\u00e9-token", "two\nlines"])
def test_a_credential_that_cannot_be_a_header_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(AuthError, match="token cannot be sent in an HTTP header") as caught:
        ApiClient(BASE, token=secret)
    assert secret not in repr(caught.value)
    assert caught.value.__cause__ is None


# --- retries and the error mapping ------------------------------------------------------------


async def test_a_503_is_retried_until_the_worker_answers(
    worker: FakeWorker, fake_time: FakeTime, api: ApiClient
) -> None:
    busy = problem(503, "Service Unavailable", "worker overloaded")
    worker.on("POST", "/storage:copy", busy, busy, reply(200, OP_ID))
    assert await api.copy([PAIR]) == "op-1"
    assert len(worker.sent("POST", "/storage:copy")) == 3
    assert len(fake_time.sleeps) == 2
    assert all(0 <= s <= c for s, c in zip(fake_time.sleeps, CEILINGS, strict=False))


@pytest.mark.parametrize("status", [425, 429, 503])
async def test_a_retry_after_is_a_minimum_delay(
    status: int, worker: FakeWorker, fake_time: FakeTime, api: ApiClient
) -> None:
    worker.on("GET", "/storage", problem(status, "Later", "busy", retry_after="3"),
              reply(200, {"storage": [{"name": "any"}]}))  # fmt: skip
    assert await api.storages() == [wire.StorageInfo(name="any")]
    assert fake_time.sleeps == [3.0]


async def test_a_persistent_503_raises_a_transient_error_after_every_attempt(
    worker: FakeWorker, fake_time: FakeTime, api: ApiClient
) -> None:
    worker.on("POST", "/storage:copy", problem(503, "Service Unavailable", "worker overloaded"))
    with pytest.raises(TransientApiError) as caught:
        await api.copy([PAIR])
    assert type(caught.value) is TransientApiError
    assert str(caught.value) == (
        "POST /api/v1/storage:copy: HTTP 503 Service Unavailable: worker overloaded"
    )
    assert (caught.value.status, caught.value.detail) == (503, "worker overloaded")
    assert len(worker.requests) == 5
    assert len(fake_time.sleeps) == 4


@pytest.mark.parametrize(
    ("status", "title", "kind", "message"),
    [
        (400, "Bad Request", PermanentApiError, "HTTP 400 Bad Request: bad path"),
        (401, "Unauthorized", AuthError,
         "HTTP 401 Unauthorized: bad path (check the token or API key)"),
        (403, "Forbidden", AuthError, "HTTP 403 Forbidden: bad path (the caller lacks the role)"),
        (404, "Not Found", PermanentApiError, "HTTP 404 Not Found: bad path"),
        (409, "Conflict", PermanentApiError, "HTTP 409 Conflict: bad path"),
        (422, "Unprocessable Content", PermanentApiError,
         "HTTP 422 Unprocessable Content: bad path"),
    ],
)  # fmt: skip
async def test_client_errors_fail_at_once_with_their_type(
    status: int,
    title: str,
    kind: type[ApiError],
    message: str,
    worker: FakeWorker,
    fake_time: FakeTime,
    api: ApiClient,
) -> None:
    worker.on("POST", "/storage:copy", problem(status, title, "bad path"))
    with pytest.raises(kind) as caught:
        await api.copy([PAIR])
    assert type(caught.value) is kind
    assert str(caught.value) == f"POST /api/v1/storage:copy: {message}"
    assert caught.value.status == status
    assert (len(worker.requests), fake_time.sleeps) == (1, [])


async def test_an_error_body_that_is_not_problem_json_is_quoted(
    worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    worker.on("GET", "/storage", reply(502, "upstream connect error\n<html>...</html>"))
    async with connect(request_attempts=1) as api:
        with pytest.raises(TransientApiError) as caught:
            await api.storages()
    assert str(caught.value) == "GET /api/v1/storage: HTTP 502 Bad Gateway: upstream connect error"


async def test_a_redirect_is_permanent(worker: FakeWorker, api: ApiClient) -> None:
    worker.on("GET", "/storage", reply(307, "", {"location": "http://elsewhere/"}))
    with pytest.raises(PermanentApiError, match="unexpected redirect to http://elsewhere/"):
        await api.storages()
    assert len(worker.requests) == 1


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"location": "/x"}'])
async def test_a_2xx_answer_that_is_not_the_wire_model_is_permanent(
    body: str, worker: FakeWorker, api: ApiClient
) -> None:
    worker.on("POST", "/storage:copy", reply(200, body))
    with pytest.raises(PermanentApiError, match=r"^POST /api/v1/storage:copy: unexpected answer"):
        await api.copy([PAIR])


async def test_connection_errors_are_retried_then_unreachable(
    worker: FakeWorker, fake_time: FakeTime, api: ApiClient
) -> None:
    worker.on("GET", "/storage", fail(httpx.ConnectError, "[Errno 111] Connection refused"))
    with pytest.raises(ApiUnreachableError) as caught:
        await api.storages()
    assert str(caught.value) == (
        "GET /api/v1/storage: ConnectError: [Errno 111] Connection refused "
        "(cannot reach http://worker.test, gave up after 5 attempts)"
    )
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, TransientApiError)
    assert isinstance(caught.value.__cause__.__cause__, httpx.ConnectError)
    assert (len(worker.requests), len(fake_time.sleeps)) == (5, 4)


@pytest.mark.parametrize(
    "error", [httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.ReadError, httpx.PoolTimeout]
)
async def test_a_dropped_request_is_retried(
    error: type[Exception], worker: FakeWorker, api: ApiClient
) -> None:
    worker.on("GET", "/operations/op-1", fail(error), reply(200, OP))
    assert (await api.operation("op-1")).id == "op-1"
    assert len(worker.requests) == 2


async def test_shutdown_is_sent_only_once(worker: FakeWorker, api: ApiClient) -> None:
    worker.on("POST", "/shutdown", fail(httpx.RemoteProtocolError, "Server disconnected"))
    with pytest.raises(ApiUnreachableError, match=r"gave up after 1 attempt\)"):
        await api.shutdown()
    assert len(worker.requests) == 1


RETRIED = "retried, then ApiUnreachableError"
# Every exception class httpx exports, and what it becomes. A new httpx exception fails
# test_the_mapping_names_every_httpx_exception until it is placed here (and in _as_api_errors).
HTTPX_MAPPING: dict[type[Exception], tuple[type[ApiError], int]] = {
    httpx.HTTPError: (PermanentApiError, 1),
    httpx.RequestError: (PermanentApiError, 1),
    httpx.TransportError: (ApiUnreachableError, 3),
    httpx.TimeoutException: (ApiUnreachableError, 3),
    httpx.ConnectTimeout: (ApiUnreachableError, 3),
    httpx.ReadTimeout: (ApiUnreachableError, 3),
    httpx.WriteTimeout: (ApiUnreachableError, 3),
    httpx.PoolTimeout: (ApiUnreachableError, 3),
    httpx.NetworkError: (ApiUnreachableError, 3),
    httpx.ConnectError: (ApiUnreachableError, 3),
    httpx.ReadError: (ApiUnreachableError, 3),
    httpx.WriteError: (ApiUnreachableError, 3),
    httpx.CloseError: (ApiUnreachableError, 3),
    httpx.ProtocolError: (ApiUnreachableError, 3),
    httpx.RemoteProtocolError: (ApiUnreachableError, 3),
    httpx.ProxyError: (ApiUnreachableError, 3),
    httpx.DecodingError: (ApiUnreachableError, 3),
    httpx.LocalProtocolError: (PermanentApiError, 1),
    httpx.UnsupportedProtocol: (ApiUnreachableError, 1),
    httpx.TooManyRedirects: (PermanentApiError, 1),
    httpx.HTTPStatusError: (PermanentApiError, 1),
    httpx.InvalidURL: (ApiUnreachableError, 1),
    httpx.CookieConflict: (PermanentApiError, 1),
    httpx.StreamError: (PermanentApiError, 1),
    httpx.StreamConsumed: (PermanentApiError, 1),
    httpx.StreamClosed: (PermanentApiError, 1),
    httpx.ResponseNotRead: (PermanentApiError, 1),
    httpx.RequestNotRead: (PermanentApiError, 1),
}


def test_the_mapping_names_every_httpx_exception() -> None:
    exported = {
        value
        for value in vars(httpx).values()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert exported == set(HTTPX_MAPPING)


def _instance(error: type[Exception], request: httpx.Request) -> Exception:
    if error is httpx.HTTPStatusError:
        return error("bad", request=request, response=httpx.Response(500, request=request))
    try:
        return error("boom")
    except TypeError:  # StreamConsumed and friends take no message
        return error()


@pytest.mark.parametrize("error", list(HTTPX_MAPPING), ids=lambda e: e.__name__)
async def test_every_httpx_exception_becomes_an_api_error(
    error: type[Exception], worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    kind, requests = HTTPX_MAPPING[error]

    def answer(request: httpx.Request) -> httpx.Response:
        raise _instance(error, request)

    worker.on("GET", "/storage", answer)
    async with connect(request_attempts=3) as api:
        with pytest.raises(ApiError) as caught:
            await api.storages()
    assert type(caught.value) is kind
    assert str(caught.value).startswith("GET /api/v1/storage: ")
    assert len(worker.requests) == requests


@pytest.mark.parametrize(
    "base_url", ["ftp://worker.test/api/v1", "worker.test:8080", "http://[::1"]
)
def test_an_unusable_base_url_is_refused(base_url: str) -> None:
    with pytest.raises(ApiUnreachableError, match="API base URL"):
        ApiClient(base_url, token=TOKEN)


# --- the token never leaks --------------------------------------------------------------------


def _chain(error: BaseException | None) -> list[BaseException]:
    found = []
    while error is not None:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


@pytest.mark.parametrize(
    "answer",
    [
        problem(401, "Unauthorized", f"token {TOKEN} expired"),
        problem(403, "Forbidden", f"key {API_KEY} lacks the writer role"),
        problem(503, "Unavailable", f"retrying {TOKEN}"),
        reply(500, f"{TOKEN}\ntrace"),
        fail(httpx.ConnectError, f"refused for Bearer {TOKEN}"),
        fail(httpx.LocalProtocolError, f"Illegal header value {API_KEY}"),
    ],
    ids=["401", "403", "503", "500-text", "connect", "local-protocol"],
)
async def test_no_credential_appears_in_errors_or_reprs(
    answer: Answer, worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    worker.on("GET", "/storage", answer)
    async with connect(api_key=API_KEY, request_attempts=2) as api:
        assert TOKEN not in repr(api)
        assert API_KEY not in repr(api)
        with pytest.raises(ApiError) as caught:
            await api.storages()
    ours = [e for e in _chain(caught.value) if isinstance(e, ApiError)]
    assert ours
    for error in ours:
        for text in (str(error), repr(error), error.detail):
            assert TOKEN not in text
            assert API_KEY not in text
    assert "***" in str(caught.value)


# --- planner extensions -----------------------------------------------------------------------

EXTENSION_CALLS: dict[str, Callable[[ApiClient], Awaitable[object]]] = {
    wire.FEATURE_RECENT_OPERATIONS: lambda a: a.recent_operations(),
    wire.FEATURE_CANCEL: lambda a: a.cancel("op-1"),
    wire.FEATURE_DELETE: lambda a: a.delete_operation("op-1"),
    wire.FEATURE_RECURSIVE_LIST: lambda a: a.list(PATHS, recursive=True),
}


@pytest.mark.parametrize("feature", list(EXTENSION_CALLS))
async def test_extensions_are_refused_when_the_worker_does_not_advertise_them(
    feature: str, worker: FakeWorker, api: ApiClient
) -> None:
    worker.features = [f for f in EXTENSIONS if f != feature]
    with pytest.raises(PermanentApiError) as caught:
        await EXTENSION_CALLS[feature](api)
    assert f"needs the planner extension '{feature}'" in str(caught.value)
    assert "http://worker.test" in str(caught.value)
    assert [(r.method, r.url.path) for r in worker.requests] == [("GET", "/api/v1/")]


async def test_the_status_is_fetched_once_for_feature_checks(
    worker: FakeWorker, api: ApiClient
) -> None:
    worker.features = [wire.FEATURE_CANCEL]
    worker.on("POST", "/operations/op-1:cancel", reply(202))
    assert await api.has_feature(wire.FEATURE_CANCEL)
    assert not await api.has_feature(wire.FEATURE_DELETE)
    await api.cancel("op-1")
    await api.cancel("op-1")
    assert len(worker.sent("GET", "/")) == 1
    assert len(worker.sent("POST", "/operations/op-1:cancel")) == 2


@pytest.mark.parametrize("advertised", [True, False])
async def test_an_outcome_is_asked_as_the_outcome_view_only_where_advertised(
    worker: FakeWorker, api: ApiClient, advertised: bool
) -> None:
    worker.features = [wire.FEATURE_OUTCOME_VIEW] if advertised else []
    worker.on("GET", "/operations/op-1", reply(200, OP))
    found = await api.operation_outcome("op-1")
    assert found.id == OP["id"]
    (request,) = worker.sent("GET", "/operations/op-1")
    assert request.url.params.multi_items() == ([("view", "outcome")] if advertised else [])


async def test_a_plain_listing_needs_no_extension(worker: FakeWorker, api: ApiClient) -> None:
    worker.features = []
    worker.on("POST", "/storage:list", reply(200, OP_ID))
    assert await api.list(PATHS, extended=True) == "op-1"
    assert worker.sent("GET", "/") == []


# --- operations and wait_for ------------------------------------------------------------------


def op(
    op_id: str, state: str = "running", progress: float = 0.0, current: int = 0
) -> dict[str, Any]:
    return {"id": op_id, "state": state, "progress": progress, "progress_current": current}


def rounds(*answers: list[dict[str, Any]]) -> list[Answer]:
    """GET /operations answers, one per polling round."""
    return [reply(200, {"operations": ops}) for ops in answers]


async def test_operations_of_no_ids_sends_nothing(worker: FakeWorker, api: ApiClient) -> None:
    assert await api.operations([]) == []
    assert await api.wait_for([]) == []
    assert worker.requests == []


async def test_operations_come_back_in_request_order(worker: FakeWorker, api: ApiClient) -> None:
    worker.on("GET", "/operations", *rounds([op("b"), op("a", "succeeded")]))
    answered = await api.operations(["a", "b", "c"])
    assert [(o.id, o.state.value) for o in answered] == [
        ("a", "succeeded"),
        ("b", "running"),
        ("c", "failed"),  # left out by the worker: unknown, as docs/api.md answers it
    ]
    assert answered[2].error == "unknown operation"


async def test_wait_for_polls_every_id_in_one_request_per_round(
    worker: FakeWorker, api: ApiClient
) -> None:
    ids = [f"op-{n:03d}" for n in range(60)]
    worker.on(
        "GET",
        "/operations",
        *rounds(
            [op(i, "queued") for i in ids],
            [op(i, "running", 0.5) for i in ids],
            [op(i, "succeeded" if n % 7 else "failed", 1.0) for n, i in enumerate(ids)],
        ),
    )
    done = await api.wait_for(ids, expand=True)
    assert [o.id for o in done] == ids
    assert all(o.state.is_terminal for o in done)
    assert len(worker.requests) == 3
    for request in worker.requests:
        assert request.url.params.get_list("ids") == ids
        assert request.url.params["expand"] == "true"


async def test_wait_for_backs_off_from_a_tenth_of_a_second_to_two_seconds(
    worker: FakeWorker, fake_time: FakeTime, connect: Callable[..., ApiClient]
) -> None:
    worker.on("GET", "/operations", *rounds(*[[op("a")]] * 8, [op("a", "succeeded", 1.0)]))
    async with connect(rng=CeilingRandom()) as api:
        await api.wait_for(["a"])
    assert fake_time.sleeps == pytest.approx(CEILINGS[:8])


async def test_wait_for_delays_are_jittered_below_their_ceilings(
    worker: FakeWorker, fake_time: FakeTime, api: ApiClient
) -> None:
    worker.on("GET", "/operations", *rounds(*[[op("a")]] * 9, [op("a", "succeeded", 1.0)]))
    await api.wait_for(["a"])
    assert len(fake_time.sleeps) == 9
    assert all(0 <= s <= c for s, c in zip(fake_time.sleeps, CEILINGS, strict=True))
    assert fake_time.sleeps != pytest.approx(CEILINGS)


async def test_wait_for_polls_fast_again_after_progress(
    worker: FakeWorker, fake_time: FakeTime, connect: Callable[..., ApiClient]
) -> None:
    still = [op("a", "queued"), op("b")]
    worker.on(
        "GET",
        "/operations",
        *rounds(
            still, still, still, still,
            [op("a", "queued"), op("b", progress=0.5)],  # progress moved
            [op("a", "queued"), op("b", progress=0.5)],
            [op("a", "running"), op("b", progress=0.5)],  # state moved
            [op("a", "running"), op("b", progress=0.5, current=10)],  # bytes moved
            [op("a", "succeeded", 1.0), op("b", "succeeded", 1.0)],
        ),
    )  # fmt: skip
    async with connect(rng=CeilingRandom()) as api:
        await api.wait_for(["a", "b"])
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.1, 0.2, 0.1, 0.1])


async def test_wait_for_gives_up_when_its_timeout_passes(
    worker: FakeWorker, fake_time: FakeTime, connect: Callable[..., ApiClient]
) -> None:
    worker.on("GET", "/operations", *rounds([op("a"), op("b", "succeeded", 1.0), op("c")]))
    async with connect(rng=CeilingRandom()) as api:
        with pytest.raises(WaitTimeoutError) as caught:
            await api.wait_for(["a", "b", "c"], timeout=1.0)
    assert isinstance(caught.value, TransientApiError)
    assert str(caught.value) == "gave up waiting after 1 s: 2 of 3 operations unfinished (a, c)"
    assert caught.value.unfinished == ["a", "c"]
    assert fake_time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.3])
    assert fake_time.now == pytest.approx(1001.0)
    assert len(worker.requests) == 5  # a last poll once the timeout is reached


async def test_wait_for_reports_progress_after_every_round(
    worker: FakeWorker, api: ApiClient
) -> None:
    worker.on(
        "GET",
        "/operations",
        *rounds(
            [op("a", "queued"), op("b", "queued")],
            [op("a", progress=0.5), op("b", "failed")],
            [op("a", "succeeded", 1.0), op("b", "failed")],
        ),
    )
    seen: list[list[tuple[str, str]]] = []

    async def on_progress(operations: list[wire.Operation]) -> None:
        seen.append([(o.id, o.state.value) for o in operations])

    done = await api.wait_for(["a", "b"], on_progress=on_progress)
    assert seen == [
        [("a", "queued"), ("b", "queued")],
        [("a", "running"), ("b", "failed")],
        [("a", "succeeded"), ("b", "failed")],
    ]
    assert [(o.id, o.state.value) for o in done] == seen[-1]


async def test_wait_for_passes_on_api_errors(worker: FakeWorker, api: ApiClient) -> None:
    worker.on("GET", "/operations", problem(401, "Unauthorized", "token expired"))
    with pytest.raises(AuthError):
        await api.wait_for(["a"])


async def test_an_engine_asks_the_worker_who_may_write_and_assumes_yes_when_it_cannot_tell(
    worker: FakeWorker, connect: Callable[..., ApiClient]
) -> None:
    from planner.runner.api_engine import ApiEngine
    from planner.runner.engine import Target

    op = {"id": "op1", "state": "succeeded", "user_id": "alice", "result": True}
    worker.on("POST", "/storage:exists", reply(200, {"id": "op1", "location": "x"}))
    worker.on("GET", "/operations/op1", reply(200, op))
    worker.on("POST", "/permissions:check", reply(200, {"allowed": False}))
    engine = ApiEngine(connect())
    needs = [(Target("any", "out/f"), "writer")]

    assert await engine.may(needs) is False
    asked = json.loads(worker.sent("POST", "/permissions:check")[0].content)
    assert asked["permissions"][0]["subject"] == {"id": "alice", "type": "user"}
    assert asked["permissions"][0]["resource"]["path"] == "out/f"

    worker.on("POST", "/permissions:check", problem(404, "Not Found", "no such route"))
    assert await engine.may(needs) is True  # a worker without the route: cannot tell
    calls = len(worker.requests)
    assert await engine.may(needs) is True
    assert len(worker.requests) == calls  # and it does not ask again
    await engine.close()
