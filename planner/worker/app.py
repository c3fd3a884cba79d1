"""The worker's ASGI application: routes, lifespan (service start/stop), problem JSON for
unknown routes and methods, and a last resort that turns any other failure into a problem-JSON
500 whose error id is also logged with the traceback."""

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

    service = WorkerService(config)
    parser = ThreadPoolExecutor(PARSER_THREADS, thread_name_prefix="planner-parse")
    app = Starlette(
        routes=build_routes(service),
        lifespan=lifespan,
        middleware=[Middleware(LastResort)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.service = service
    app.state.parser = parser
    return app
