"""The worker's ASGI application: routes, lifespan (service start/stop), problem JSON for
unknown routes and methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from planner.worker.problems import problem
from planner.worker.routes import build_routes
from planner.worker.service import WorkerConfig, WorkerService


def create_app(config: WorkerConfig) -> Starlette:
    """The worker as an ASGI app; `app.state.service` is its WorkerService once started."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return problem(status, f"{detail}: {request.method} {request.url.path}")

    service = WorkerService(config)
    app = Starlette(
        routes=build_routes(service),
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.service = service
    return app
