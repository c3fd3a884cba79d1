"""Request bodies: read with a hard size limit, and parsed as strict JSON that every store can
write and read back (issue 9, items 6 to 8).

A body holding anything the worker could not answer again later is refused with a located 422:
lone surrogates in any string or key, NaN and infinities (`1e999` too), integers outside
int64, nesting deeper than MAX_DEPTH. Parsing and checking a large body runs on a thread, so
the event loop keeps serving other clients meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request

from planner.errors import WorkerError
from planner.worker.problems import locate

MAX_DEPTH = 64  # JSON nesting; the API's own bodies nest 5 deep
# JSON per item of --max-items (a copy pair takes 3 objects and 7 values); the parse of the
# largest body they allow costs tens of milliseconds, not seconds
CONTAINERS_PER_ITEM = 8
VALUES_PER_ITEM = 64
INLINE_BYTES = 64 * 1024  # smaller bodies are parsed on the event loop (a thread hop costs more)
_INT64 = (-(2**63), 2**63 - 1)
# the only way a lone surrogate can reach a decoded body: a \uD800-\uDFFF escape
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to exceed `limit` bytes: from its
    Content-Length before a byte is read, otherwise while it streams in.

    Raises:
        WorkerError: 413 for a body over the limit; 400 for an invalid Content-Length.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise WorkerError(400, f"invalid Content-Length {declared[:40]!r}")
        if len(declared) > 19 or int(declared) > limit:
            raise _too_large(limit, f"{declared} bytes declared")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "more was sent")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, seen: str) -> WorkerError:
    return WorkerError(
        413, f"request body too large: at most {limit:,} bytes are accepted (--max-body); {seen}"
    )


class _Rejected:
    """Stands in a parsed body for a value the worker refuses (located by `check`)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def parse_json(raw: bytes, max_items: int) -> Any:
    """A body as JSON (an empty body is `{}`), strictly.

    Raises:
        WorkerError: 400 for a body that is not UTF-8 JSON; 413 for one holding more JSON
            values, or objects and arrays, per item of `max_items` than VALUES_PER_ITEM and
            CONTAINERS_PER_ITEM (counted before it is parsed); 422 (located) for one holding
            a value the worker refuses (see the module docstring).
    """
    _within_counts(raw, max_items)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise WorkerError(400, f"request body is not valid UTF-8: {exc}") from exc
    if not text.strip():
        return {}
    rejected: list[bool] = []

    def reject(message: str) -> _Rejected:
        rejected.append(True)
        return _Rejected(message)

    def number(text: str) -> int | _Rejected:
        if len(text) > 20:  # also spares int() its 4,300-digit ValueError
            return reject("integer out of range (64-bit signed integers only)")
        value = int(text)
        if not _INT64[0] <= value <= _INT64[1]:
            return reject("integer out of range (64-bit signed integers only)")
        return value

    def real(text: str) -> float | _Rejected:
        value = float(text)
        return value if math.isfinite(value) else reject("number out of range (not finite)")

    try:
        data = json.loads(
            text,
            parse_int=number,
            parse_float=real,
            parse_constant=lambda name: reject(f"{name} is not a JSON number"),
        )
    except json.JSONDecodeError as exc:
        raise WorkerError(400, f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise WorkerError(422, _too_deep(), [{"location": "body", "message": _too_deep()}]) from exc
    check(data, deep=bool(rejected) or _SURROGATE_ESCAPE.search(raw) is not None)
    return data


def _within_counts(raw: bytes, max_items: int) -> None:
    """Refuse a body with more values than its parse should cost (memory, and time holding
    the GIL: json parses in C). Counted at C speed from brackets and commas, an upper bound
    (those inside strings count too)."""
    containers = raw.count(b"{") + raw.count(b"[")
    values = containers + raw.count(b",") + 1
    for count, per_item, what in (
        (containers, CONTAINERS_PER_ITEM, "JSON objects and arrays"),
        (values, VALUES_PER_ITEM, "JSON values"),
    ):
        allowed = per_item * max_items + 1024
        if count > allowed:
            raise WorkerError(
                413,
                f"request body too large: at most {allowed:,} {what} ({per_item} per item of "
                f"--max-items); {count:,} sent",
            )


def _too_deep() -> str:
    return f"JSON nested deeper than {MAX_DEPTH} levels"


def check(data: Any, *, deep: bool = True) -> None:
    """Refuse a parsed body nested deeper than MAX_DEPTH; with `deep`, also one holding a
    rejected value or a lone surrogate (in a string or a key). Iterative: no recursion limit.

    Raises:
        WorkerError: 422 naming the first problem's location (`body.metadata["a"].custom.k`).
    """
    if not deep and _depth_within(data):
        return
    # (value, depth, parent entry, key): entries chain to the root to build a location lazily
    stack: list[tuple[Any, int, Any, Any]] = [(data, 0, None, None)]
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        kind = type(value)
        if kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                _fail(entry, _too_deep())
            if kind is dict:
                for key, item in value.items():
                    if deep and not _is_unicode(key):
                        _fail((key, depth + 1, entry, key), "lone surrogate in a key")
                    if type(item) in (dict, list) or deep:
                        stack.append((item, depth + 1, entry, key))
            else:
                for index, item in enumerate(value):
                    if type(item) in (dict, list) or deep:
                        stack.append((item, depth + 1, entry, index))
        elif not deep:
            continue
        elif kind is str:
            if not _is_unicode(value):
                _fail(entry, "lone surrogate in a string (not valid Unicode)")
        elif kind is _Rejected:
            _fail(entry, value.message)


def _depth_within(data: Any) -> bool:
    """Whether no container nests MAX_DEPTH deep: the fast pass, level by level, containers
    only, no locations."""
    level = [data] if type(data) in (dict, list) else []
    for _ in range(MAX_DEPTH):
        if not level:
            return True
        deeper: list[Any] = []
        add = deeper.append
        for value in level:
            for item in value.values() if type(value) is dict else value:
                kind = type(item)
                if kind is dict or kind is list:
                    add(item)
        level = deeper
    return not level


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fail(entry: tuple[Any, int, Any, Any], message: str) -> None:
    parts: list[Any] = []
    while entry[2] is not None:
        parts.append(entry[3])
        entry = entry[2]
    location = locate(reversed(parts))  # a key with a surrogate is written as a JSON escape
    raise WorkerError(
        422, f"{location}: {message}", [{"location": location, "message": message, "value": None}]
    )


async def off_loop(size: int, work: Callable[[], T], pool: ThreadPoolExecutor) -> T:
    """`work()`, on `pool` when the body it reads is larger than INLINE_BYTES (parsing and
    checking a body of megabytes takes tenths of a second the other clients must not wait)."""
    if size <= INLINE_BYTES:
        return work()
    return await asyncio.get_running_loop().run_in_executor(pool, work)
