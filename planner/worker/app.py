"""The worker's ASGI application: routes, lifespan (service start/stop), problem JSON for
unknown routes and methods, a last resort that turns any other failure into a problem-JSON 500
whose error id is also logged with the traceback, and connections closed after a large body
that was not read."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planner.api import wire
from planner.worker.body import INLINE_BYTES
from planner.worker.problems import problem
from planner.worker.routes import build_routes
from planner.worker.service import WorkerConfig, WorkerService

log = logging.getLogger("planner.worker")

PARSER_THREADS = 2  # large bodies parsed at once (each holds the GIL while json parses it)


class LastResort:
    """ASGI middleware: an exception no route handled answers a problem-JSON 500 naming an
    error id, and the log gets the same id with the traceback (issue 9, item 7)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            error_id = secrets.token_hex(8)
            log.exception(
                "internal error %s answering %s %s", error_id, scope["method"], scope["path"]
            )
            if started:  # too late for an answer of our own
                raise
            response = problem(
                500,
                f"internal error {error_id}: this is a bug; the worker's log has its details "
                "under this id",
                extra={"error_id": error_id},
            )
            await response(scope, receive, send)


class ClosesUnreadBodies:
    """ASGI middleware: the answer to a request whose large body was not read to its end (refused
    before it was read, or when it grew over --max-body) closes the connection, so the server
    does not go on receiving and discarding what the client still sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_large_body(scope):
            await self.app(scope, receive, send)
            return
        received = False

        async def receiving() -> Message:
            nonlocal received
            message = await receive()
            received = received or not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and not received:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receiving, sending)


def _declares_large_body(scope: Scope) -> bool:
    """Chunked, or a Content-Length over what the server buffers anyway (smaller bodies are
    cheaper to let the server discard than a new connection)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return not value.isdigit() or int(value) > INLINE_BYTES
    return False


def create_app(config: WorkerConfig) -> Starlette:
    """The worker as an ASGI app; `app.state.service` is its WorkerService once started."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            parser.shutdown(wait=True, cancel_futures=True)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return problem(status, f"{detail}: {request.method} {request.url.path}")

    wire.build_all()  # before requests are parsed in several threads
    service = WorkerService(config)
    parser = ThreadPoolExecutor(PARSER_THREADS, thread_name_prefix="planner-parse")
    app = Starlette(
        routes=build_routes(service),
        lifespan=lifespan,
        middleware=[Middleware(ClosesUnreadBodies), Middleware(LastResort)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.service = service
    app.state.parser = parser
    return app
