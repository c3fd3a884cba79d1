"""RFC 9457 problem responses, locations in request bodies, and the translation of model
validation failures into located 422 problems."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from planner.api.wire import Problem, ProblemError
from planner.errors import WorkerError

PROBLEM_TYPE = "application/problem+json"
MAX_REPORTED = 20  # problems listed in one answer (the first ones)
M = TypeVar("M", bound=BaseModel)

# A problem's `title` is its status's name as RFC 9110 (section 15) gives it, from this table
# rather than `http.HTTPStatus`, whose phrases changed in Python 3.13 (422 was "Unprocessable
# Entity", 413 "Request Entity Too Large"): a worker answers the same on every Python.
TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    429: "Too Many Requests",  # RFC 6585
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class WireResponse(JSONResponse):
    """A JSON response that always renders: a record holding a lone surrogate (a file name that
    is not UTF-8, listed from disk) is written with escapes, a non-finite number (a record
    from a worker that accepted them) as null, instead of failing the request."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:  # UnicodeEncodeError, or a non-finite float
            text = json.dumps(_finite(content), separators=(",", ":"), allow_nan=False)
            return text.encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response (`extra`: extension members, e.g. `error_id`)."""
    body = Problem(
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=[ProblemError.model_validate(e) for e in errors or []],
        **(extra or {}),
    )
    return WireResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )


def validate_body(data: Any, model: type[M]) -> M:
    """A parsed JSON body as `model`.

    Raises:
        WorkerError: 422 for one that does not fit the model (each problem located).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = exc.errors()
        errors = [
            {"location": locate(e["loc"]), "message": e["msg"], "value": _shown(e.get("input"))}
            for e in found[:MAX_REPORTED]
        ]
        more = f" ({len(found)} problems, the first {MAX_REPORTED} listed)"
        if len(found) <= MAX_REPORTED:
            more = ""
        raise WorkerError(422, f"the request body does not match the API{more}", errors) from exc


def locate(parts: Iterable[str | int]) -> str:
    """The location of a value in a request body: `body.operations[3].dst.path`, with keys that
    are not identifiers quoted (`body.metadata["dir/a.txt"].custom`)."""
    return "body" + "".join(_step(p) for p in parts)


def _step(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if part.isidentifier():
        return f".{part}"
    return f"[{json.dumps(part)}]"


def _shown(value: Any) -> Any:
    """`value` as a problem may echo it: JSON of at most a few hundred characters, or None."""
    try:
        text = json.dumps(value, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return None
    return value if len(text) <= 300 else None
