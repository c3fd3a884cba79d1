"""RFC 9457 problem responses, and the translation of request-parsing failures into them."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from planner.api.wire import Problem, ProblemError
from planner.errors import WorkerError

PROBLEM_TYPE = "application/problem+json"
M = TypeVar("M", bound=BaseModel)


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        title=HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
        status=status,
        detail=detail,
        errors=[ProblemError.model_validate(e) for e in errors or []],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )


async def parse_body(request: Request, model: type[M]) -> M:
    """The request body as `model`.

    Raises:
        WorkerError: 400 for a body that is not JSON, 422 for one that does not fit the model
            (each problem located as `body.operations[0].dst.path`).
    """
    return validate_body(await read_json(request), model)


async def read_json(request: Request) -> Any:
    """The request body as JSON (an empty body is `{}`).

    Raises:
        WorkerError: 400 for a body that is not JSON.
    """
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorkerError(400, f"request body is not valid JSON: {exc}") from exc


def validate_body(data: Any, model: type[M]) -> M:
    """A parsed JSON body as `model`.

    Raises:
        WorkerError: 422 for one that does not fit the model (each problem located).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "location": "body." + _location(e["loc"]),
                "message": e["msg"],
                "value": e.get("input") if _is_json(e.get("input")) else None,
            }
            for e in exc.errors()
        ]
        raise WorkerError(422, "the request body does not match the API", errors) from exc


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
