"""The async client of the Data Transfer API (docs/api.md): one keep-alive httpx.AsyncClient, one
typed method per route, retries of transient failures, and the one place where httpx (and
pydantic) exceptions become planner's ApiError tree.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from planner import __version__
from planner.api import wire
from planner.api.retry import Backoff, Clock, Sleep, error_for_status, retry_call
from planner.api.waiting import OnProgress, in_request_order, wait_for_operations
from planner.errors import (
    ApiUnreachableError,
    AuthError,
    PermanentApiError,
    TransientApiError,
    WaitTimeoutError,
)

__all__ = ["ApiClient", "WaitTimeoutError"]

API_PATH = "/api/v1"
EXPECTED_URL = "the API URL has the form http(s)://HOST:PORT/api/v1"
M = TypeVar("M", bound=pydantic.BaseModel)
Query = list[tuple[str, str]]


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every credential replaced: a message must never carry the token."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@contextmanager
def _as_api_errors(what: str, secrets: tuple[str, ...]) -> Iterator[None]:
    """Turn httpx and pydantic exceptions raised inside into ApiErrors, `raise ... from exc`.

    Transport failures are TransientApiError with no status (the caller retries them and
    reports ApiUnreachableError at the end); a URL httpx cannot use is ApiUnreachableError at
    once; anything else httpx raises, and an answer that is not the expected wire model, is a
    PermanentApiError. This is the only place that catches foreign exceptions.
    """
    try:
        yield
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ApiUnreachableError(_redact(f"{what}: unusable API URL: {exc}", secrets)) from exc
    except httpx.LocalProtocolError as exc:  # a request httpx refuses to send: no retry helps
        raise PermanentApiError(_redact(f"{what}: invalid request: {exc}", secrets)) from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TransientApiError(_redact(f"{what}: {reason}", secrets)) from exc
    except (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict) as exc:
        raise PermanentApiError(_redact(f"{what}: {type(exc).__name__}: {exc}", secrets)) from exc
    except pydantic.ValidationError as exc:
        first = exc.errors()[0] if exc.error_count() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = f"{what}: unexpected answer, not a {exc.title}: {where}: {first['msg']}"
        raise PermanentApiError(_redact(message, secrets)) from exc


def _problem_text(response: httpx.Response) -> tuple[str, str, tuple[str, ...]]:
    """(title, detail, error locations) of an error answer: from RFC 9457 problem JSON when it
    is one, else the reason phrase and the first line of the body."""
    if response.is_redirect:
        where = response.headers.get("location")
        return response.reason_phrase, f"unexpected redirect to {where}", ()
    try:
        problem = wire.Problem.model_validate_json(response.content)
    except pydantic.ValidationError:
        lines = response.text.strip().splitlines()
        return response.reason_phrase, lines[0][:200] if lines else "", ()
    locations = tuple(e.location for e in problem.errors if e.location)
    return problem.title or response.reason_phrase, problem.detail, locations


class ApiClient:
    """A client of one Data Transfer worker: `async with ApiClient(url, token=...) as api:`.

    `base_url` includes `/api/v1`. Requests are retried up to `request_attempts` times on
    transient failures (425, 429, 5xx, connection errors, timeouts) with jittered backoff; a
    numeric Retry-After is a minimum delay. POSTs are retried too, as the official client does:
    a storage request whose answer was lost may run twice, which copy/mkdir/remove tolerate.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        request_attempts: int = 5,
        concurrency: int = 16,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secrets = tuple(s for s in (token, api_key) if s)
        for name, secret in (("token", token), ("API key", api_key)):
            if secret and not (secret.isascii() and secret.isprintable()):
                # Checked here: httpx would fail with an error whose repr holds the secret.
                raise AuthError(
                    f"the {name} cannot be sent in an HTTP header (not printable ASCII)"
                )
        what = _redact(f"API base URL {self.base_url!r}", self._secrets)
        with _as_api_errors(what, self._secrets):
            url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ApiUnreachableError(f"{what}: expected http(s)://HOST:PORT{API_PATH}")
        self._where = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._prefix = url.path.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": f"planner/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if api_key:
            headers["X-API-Key"] = api_key
        self._auth = "bearer" if token else "api-key" if api_key else "none"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            # plain http never uses TLS (redirects are not followed): skip loading the CA bundle,
            # a tenth of a second of every command's start
            verify=url.scheme == "https",
        )
        self._attempts = request_attempts
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._backoff = Backoff(rng=self._rng)
        self._status: wire.StatusResponse | None = None
        self._status_lock = asyncio.Lock()
        self.requests_sent = 0  # HTTP requests, retries included

    def __repr__(self) -> str:
        return f"ApiClient({self._where + self._prefix!r}, auth={self._auth})"

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the keep-alive connections (idempotent)."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        body: wire.WireModel | None = None,
        raw: dict[str, Any] | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        """Send one request (retried), and return its 2xx answer.

        Raises:
            ApiUnreachableError: no answer after every attempt (connection errors, timeouts).
            AuthError: 401 or 403, at once.
            TransientApiError: 425, 429 or 5xx on the last attempt.
            PermanentApiError: any other 3xx/4xx, at once.
        """
        what = _redact(f"{method} {self._prefix}{path}", self._secrets)
        attempts = attempts or self._attempts
        # Only the top-level fields this client set: deprecated siblings stay off the wire.
        payload = (
            raw if body is None else body.model_dump(mode="json", include=body.model_fields_set)
        )
        query = tuple(params) if params else None  # a tuple: covariant, unlike list

        async def once() -> httpx.Response:
            with _as_api_errors(what, self._secrets):
                self.requests_sent += 1
                response = await self._http.request(method, path, params=query, json=payload)
            if not response.is_success:
                title, detail, locations = _problem_text(response)
                raise error_for_status(
                    what,
                    response.status_code,
                    _redact(title, self._secrets),
                    _redact(detail, self._secrets),
                    response.headers.get("retry-after"),
                    locations,
                )
            return response

        try:
            return await retry_call(
                once,
                attempts=attempts,
                backoff=self._backoff,
                sleep=self._sleep,
                clock=self._clock,
            )
        except TransientApiError as exc:
            if exc.status is not None:
                raise
            raise ApiUnreachableError(
                f"{exc} (cannot reach {self._where}, gave up after {attempts} "
                f"attempt{'s' if attempts > 1 else ''})"
            ) from exc

    async def _call(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        params: Query | None = None,
        body: wire.WireModel | None = None,
        raw: dict[str, Any] | None = None,
    ) -> M:
        """Send a request (a model `body`, or `raw` JSON) and parse its answer as `model`."""
        response = await self._request(method, path, params=params, body=body, raw=raw)
        with _as_api_errors(
            _redact(f"{method} {self._prefix}{path}", self._secrets), self._secrets
        ):
            return model.model_validate_json(response.content)

    async def _submit(
        self,
        path: str,
        body: wire.WireModel | None = None,
        params: Query | None = None,
        raw: dict[str, Any] | None = None,
    ) -> str:
        """POST a request that the worker runs asynchronously; the id of its operation."""
        answer = await self._call(
            wire.OperationIdResponse, "POST", path, body=body, params=params, raw=raw
        )
        return answer.id

    async def _cached_status(self) -> wire.StatusResponse:
        """The worker's status, fetched once (lazily) and kept; status() refreshes it."""
        async with self._status_lock:
            return self._status or await self.status()

    async def has_feature(self, name: str) -> bool:
        """Whether the worker advertises a planner extension (wire.FEATURE_*) in
        features.operation_plugins of its (cached) status."""
        return name in (await self._cached_status()).features.operation_plugins

    async def _require(self, feature: str, what: str) -> None:
        """Raise PermanentApiError when the worker does not advertise `feature`."""
        if not await self.has_feature(feature):
            raise PermanentApiError(
                f"{what} needs the planner extension {feature!r}, which the worker at "
                f"{self._where} does not advertise (status features.operation_plugins)"
            )

    async def status(self) -> wire.StatusResponse:
        """GET / : readiness, build info and features (refreshes the cached status).

        A base URL without the API path (`http://host:port`) whose root does not answer as a
        worker is tried again with `/api/v1` appended, and kept when that answers.

        Raises:
            PermanentApiError: neither answers as a worker; the message names the expected form.
        """
        try:
            self._status = await self._call(wire.StatusResponse, "GET", "/")
        except PermanentApiError as exc:
            if self._prefix.endswith(API_PATH):
                raise PermanentApiError(
                    f"{exc} (not a Data Transfer API: {EXPECTED_URL})", exc.status, exc.detail
                ) from exc
            self._status = await self._status_below_api_path(exc)
        return self._status

    async def _status_below_api_path(self, first: PermanentApiError) -> wire.StatusResponse:
        """The status at the base URL with `/api/v1` appended, which becomes the base URL."""
        tried = _redact(f"{self._where}{self._prefix}{API_PATH}", self._secrets)
        base, prefix = self._http.base_url, self._prefix
        self._http.base_url = httpx.URL(f"{self.base_url}{API_PATH}")
        self._prefix = f"{prefix}{API_PATH}"
        try:
            status = await self._call(wire.StatusResponse, "GET", "/")
        except PermanentApiError as exc:
            self._http.base_url, self._prefix = base, prefix
            raise PermanentApiError(
                f"{first} (not a Data Transfer API, and neither is {tried}: {EXPECTED_URL})",
                first.status,
                first.detail,
            ) from exc
        self.base_url = f"{self.base_url}{API_PATH}"
        return status

    async def storages(self) -> list[wire.StorageInfo]:
        """GET /storage : the configured storages."""
        return (await self._call(wire.StorageResponse, "GET", "/storage")).storage

    async def copy(self, operations: list[wire.SrcDst]) -> str:
        """POST /storage:copy ; the operation id."""
        return await self._submit("/storage:copy", wire.CopyRequest(operations=operations))

    async def submit_pairs(self, route: str, pairs: list[dict[str, Any]]) -> str:
        """POST /storage:copy or /storage:move with SrcDst pairs given as plain JSON (bulk
        submissions skip building models); the operation id."""
        return await self._submit(f"/storage:{route}", raw={"operations": pairs})

    async def copy_tree(self, operations: list[wire.TreeOperation]) -> str:
        """POST /storage:copy_tree : one directory copy per operation, walked, decided and
        copied by the worker; the operation id. Raises PermanentApiError unless the worker has
        FEATURE_TREE_COPY."""
        await self._require(wire.FEATURE_TREE_COPY, "a tree copy")
        return await self._submit("/storage:copy_tree", wire.TreeRequest(operations=operations))

    async def compare_tree(self, operations: list[wire.TreeOperation]) -> str:
        """POST /storage:compare_tree : what copy_tree would do, read-only; the operation id.
        Raises PermanentApiError unless the worker has FEATURE_TREE_COMPARE."""
        await self._require(wire.FEATURE_TREE_COMPARE, "a tree comparison")
        body = wire.TreeRequest(operations=operations)
        return await self._submit("/storage:compare_tree", body)

    async def tree_files(
        self, operation_id: str, offset: int, limit: int
    ) -> wire.TreeFilesResponse:
        """GET /operations/{id}/files?offset=K&limit=N : a page of a tree operation's rows.
        Raises PermanentApiError unless the worker has FEATURE_TREE_FILES."""
        await self._require(wire.FEATURE_TREE_FILES, "the rows of a tree operation")
        params = [("offset", str(offset)), ("limit", str(limit))]
        path = f"/operations/{quote(operation_id, safe='')}/files"
        return await self._call(wire.TreeFilesResponse, "GET", path, params=params)

    async def move(self, operations: list[wire.SrcDst]) -> str:
        """POST /storage:move ; the operation id."""
        return await self._submit("/storage:move", wire.CopyRequest(operations=operations))

    async def exists(self, paths: list[wire.StoragePath]) -> str:
        """POST /storage:exists ; the operation id (its result is true/false)."""
        return await self._submit("/storage:exists", wire.OperationsRequest(operations=paths))

    async def stat(self, paths: list[wire.StoragePath]) -> str:
        """POST /storage:stat ; the operation id (each item's result: `{"remote:path": entry}`,
        the path's extended list entry). Raises PermanentApiError unless the worker has
        FEATURE_STAT."""
        await self._require(wire.FEATURE_STAT, "a single-path stat")
        return await self._submit("/storage:stat", wire.OperationsRequest(operations=paths))

    async def mkdir(self, paths: list[wire.StoragePath]) -> str:
        """POST /storage:mkdir (mkdir -p) ; the operation id."""
        return await self._submit("/storage:mkdir", wire.OperationsRequest(operations=paths))

    async def remove(self, paths: list[wire.StoragePath]) -> str:
        """POST /storage:remove (files) ; the operation id."""
        return await self._submit("/storage:remove", wire.OperationsRequest(operations=paths))

    async def rmdir(self, paths: list[wire.StoragePath]) -> str:
        """POST /storage:rmdir (recursive) ; the operation id."""
        return await self._submit("/storage:rmdir", wire.OperationsRequest(operations=paths))

    async def operation(self, operation_id: str) -> wire.Operation:
        """GET /operations/{id} : one operation."""
        return await self._call(
            wire.Operation, "GET", f"/operations/{quote(operation_id, safe='')}"
        )

    async def operation_outcome(self, operation_id: str) -> wire.OperationOutcome:
        """GET /operations/{id}, read as `wire.OperationOutcome`: what tells how an ended batch's
        items ended (its children's states, results and errors), parsed cheaply; only that, on
        a worker with FEATURE_OUTCOME_VIEW (`view=outcome`: a group with children then has no
        result of its own)."""
        view = await self.has_feature(wire.FEATURE_OUTCOME_VIEW)
        return await self._call(
            wire.OperationOutcome,
            "GET",
            f"/operations/{quote(operation_id, safe='')}",
            params=[("view", "outcome")] if view else None,
        )

    async def operations(
        self, ids: list[str], *, expand: bool = False, wait: float = 0.0
    ) -> list[wire.Operation]:
        """GET /operations?ids=..&ids=.. : one operation per id, in request order (an id the
        worker leaves out comes back failed, "unknown operation", as docs/api.md answers it).
        With `wait` > 0 on a worker with FEATURE_WAIT, the answer is held until one of them
        ends or `wait` seconds pass (a worker without it answers at once)."""
        if not ids:
            return []  # GET /operations without ids lists recent operations instead
        params = [("ids", i) for i in ids] + ([("expand", "true")] if expand else [])
        if wait > 0 and await self.has_feature(wire.FEATURE_WAIT):
            params.append(("wait", f"{wait:.3f}"))
        answer = await self._call(wire.OperationsResponse, "GET", "/operations", params=params)
        return in_request_order(ids, answer.operations)

    async def recent_operations(
        self, limit: int = 50, after: str | None = None
    ) -> wire.OperationsResponse:
        """GET /operations?limit=N&after=ID : the caller's operations, newest first; `next_after`
        pages on. Raises PermanentApiError unless the worker has FEATURE_RECENT_OPERATIONS."""
        await self._require(wire.FEATURE_RECENT_OPERATIONS, "listing recent operations")
        params = [("limit", str(limit))] + ([("after", after)] if after else [])
        return await self._call(wire.OperationsResponse, "GET", "/operations", params=params)

    async def cancel(self, operation_id: str) -> None:
        """POST /operations/{id}:cancel : stop unfinished items, best effort. Raises
        PermanentApiError unless the worker has FEATURE_CANCEL."""
        await self._require(wire.FEATURE_CANCEL, "cancelling an operation")
        await self._request("POST", f"/operations/{quote(operation_id, safe='')}:cancel")

    async def delete_operation(self, operation_id: str) -> None:
        """DELETE /operations/{id} : forget a finished operation (it is not cancelled). Raises
        PermanentApiError unless the worker has FEATURE_DELETE."""
        await self._require(wire.FEATURE_DELETE, "deleting an operation")
        await self._request("DELETE", f"/operations/{quote(operation_id, safe='')}")

    async def get_metadata(self, paths: list[str]) -> str:
        """POST /metadata:get ; the operation id (metadata is in its result)."""
        return await self._submit("/metadata:get", wire.GetMetadataRequest(paths=paths))

    async def set_metadata(self, metadata: dict[str, wire.DataAssignment]) -> str:
        """POST /metadata:set (custom fields merged) ; the operation id."""
        return await self._submit("/metadata:set", wire.SetMetadataRequest(metadata=metadata))

    async def check_permissions(self, permissions: list[wire.RoleAssignment]) -> bool:
        """POST /permissions:check : whether every assignment holds."""
        body = wire.PermissionsRequest(permissions=permissions)
        path = "/permissions:check"
        return (await self._call(wire.CheckPermissionsResponse, "POST", path, body=body)).allowed

    async def check_roles(self, user: str, needs: Sequence[tuple[str, str]]) -> bool:
        """POST /permissions:check : whether `user` holds each (resource path, role) of `needs`,
        sent as plain JSON (a preview checks a batch's thousand paths at once: building the
        models cost three times the JSON)."""
        who = {"id": user, "type": wire.SubjectType.USER.value}
        assignments = [
            {"resource": {"path": path, "type": "document"}, "role": role, "subject": who}
            for path, role in needs
        ]
        answer = await self._call(
            wire.CheckPermissionsResponse,
            "POST",
            "/permissions:check",
            raw={"permissions": assignments},
        )
        return answer.allowed

    async def get_permissions(self, queries: list[wire.RoleQuery]) -> list[wire.RoleAssignment]:
        """POST /permissions:get : the assignments matching the queries (null matches all)."""
        body = wire.PermissionsQueryRequest(permissions=queries)
        path = "/permissions:get"
        return (await self._call(wire.PermissionsResponse, "POST", path, body=body)).permissions

    async def set_permissions(self, permissions: list[wire.RoleAssignment]) -> None:
        """POST /permissions:set : grant the assignments."""
        body = wire.PermissionsRequest(permissions=permissions)
        await self._request("POST", "/permissions:set", body=body)

    async def remove_permissions(self, permissions: list[wire.RoleAssignment]) -> None:
        """POST /permissions:remove : revoke the assignments (missing ones are fine)."""
        body = wire.PermissionsRequest(permissions=permissions)
        await self._request("POST", "/permissions:remove", body=body)

    async def shutdown(self) -> None:
        """POST /shutdown : ask the worker to exit (sent once: a retry would find it gone)."""
        await self._request("POST", "/shutdown", attempts=1)

    async def wait_for(
        self,
        ids: list[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - measured on the injected clock
        on_progress: OnProgress | None = None,
        expand: bool = False,
    ) -> list[wire.Operation]:
        """Poll `ids` (one GET /operations per round) until every operation is succeeded or
        failed; the operations in request order. See planner.api.waiting.

        Raises:
            WaitTimeoutError: `timeout` seconds (on the injected clock) passed first.
        """

        async def poll(batch: list[str]) -> list[wire.Operation]:
            return await self.operations(batch, expand=expand)

        return await wait_for_operations(
            poll,
            ids,
            timeout=timeout,
            on_progress=on_progress,
            backoff=Backoff(rng=self._rng),
            clock=self._clock,
            sleep=self._sleep,
        )

    # Defined last: below a method named `list`, annotations would read it instead of the builtin.
    async def list(
        self,
        paths: list[wire.StoragePath],
        *,
        extended: bool = False,
        recursive: bool = False,
        listed_mtimes: bool = False,
    ) -> str:
        """POST /storage:list?mode=basic|extended[&recursive=true][&mtimes=listed] ; the
        operation id. Raises PermanentApiError for a recursive listing unless the worker has
        FEATURE_RECURSIVE_LIST, and for `listed_mtimes` unless it has FEATURE_LISTED_MTIMES."""
        params = [("mode", "extended" if extended else "basic")]
        if recursive:
            await self._require(wire.FEATURE_RECURSIVE_LIST, "a recursive listing")
            params.append(("recursive", "true"))
        if listed_mtimes:
            await self._require(wire.FEATURE_LISTED_MTIMES, "a listing with listed mtimes")
            params.append(("mtimes", "listed"))
        body = wire.OperationsRequest(operations=paths)
        return await self._submit("/storage:list", body, params=params)
