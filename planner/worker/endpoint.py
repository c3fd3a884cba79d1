"""What every route of the worker shares: the wrapper that injects faults, authenticates and
turns WorkerError into problem JSON; the role check at submission; reading and parsing a body
(a large one off the event loop); and the JSON answers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from planner.api.wire import RoleType
from planner.errors import WorkerError
from planner.worker.auth import User
from planner.worker.body import off_loop, parse_json, read_body
from planner.worker.problems import MAX_REPORTED, WireResponse, problem
from planner.worker.service import WorkerService

API = "/api/v1"
Handler = Callable[[Request, WorkerService, User], Awaitable[Response]]
T = TypeVar("T")


def endpoint(
    service: WorkerService, handler: Handler, *, public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: injected latency and 503s, authentication, errors as problem JSON."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await answer(request)
        finally:
            # logged once answered, so a reader of the log knows the request was decided
            if service.config.request_log is not None:
                service.config.request_log.append((request.method, request.url.path))

    async def answer(request: Request) -> Response:
        spec = service.faults.spec
        if spec.delay:
            await asyncio.sleep(spec.delay)
        if service.faults.http_fails():
            return problem(503, "injected fault (--inject-faults)", headers={"Retry-After": "0"})
        user = service.authenticator.authenticate_request(
            request.headers.getlist("authorization"), request.headers.getlist("x-api-key")
        )
        if user is None and not public:
            return problem(
                401, "missing or invalid credentials", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            return await handler(request, service, user or User("anonymous"))
        except WorkerError as exc:
            return problem(exc.status, exc.detail, exc.errors, headers=exc.headers)

    return run


def require_roles(
    service: WorkerService, user: User, needs: list[tuple[str, str, RoleType]]
) -> None:
    """Refuse (403) a request naming a path the caller's roles do not cover (`needs` holds
    canonical resource keys: the ones the handlers then use)."""
    if user.is_admin:
        return
    denied: list[dict[str, object]] = [
        {
            "location": location,
            "message": f"'{user.name}' lacks the {role.value} role on {key}",
            "value": key,
        }
        for location, key, role in needs
        if not service.permissions.allows(user, key, role)
    ]
    if denied:
        raise WorkerError(403, f"permission denied: {denied[0]['message']}", denied[:MAX_REPORTED])


async def read_guarded_body(request: Request, service: WorkerService, user: User) -> bytes:
    """The raw body of a request that names paths, once the caller is known to hold some role
    (a caller holding none is refused before a byte of its body is read)."""
    if not service.permissions.has_any_grant(user):
        raise WorkerError(403, f"permission denied: '{user.name}' holds no role on any path")
    return await read_body(request, service.config.max_body)


async def parse_off_loop(
    request: Request, service: WorkerService, raw: bytes, work: Callable[[Any], T]
) -> T:
    """`work(parsed body)`: parsing, checking and authorizing a large body run off the loop."""
    parser: ThreadPoolExecutor = request.app.state.parser
    limit = service.config.max_items
    return await off_loop(len(raw), lambda: work(parse_json(raw, limit)), parser)


def ok_response(body: Any, status: int = 200) -> JSONResponse:
    """A JSON answer in wire form."""
    return WireResponse(body, status_code=status)


def accepted_response(op_id: str) -> JSONResponse:
    """The answer to a submission: the operation's id and where to poll it."""
    return ok_response({"id": op_id, "location": f"{API}/operations/{op_id}"})
