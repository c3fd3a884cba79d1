"""Waiting for operations: poll them all in one request per round until every one is terminal.

The interval follows planner.api.retry.Backoff (0.1 s doubling to 2 s, full jitter) and goes back
to 0.1 s whenever an operation moved, so a busy run is watched closely and an idle one cheaply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from planner.api.codes import ItemCode
from planner.api.retry import Backoff, Clock, Sleep
from planner.api.wire import ErrorDetail, Operation, OperationState
from planner.errors import WaitTimeoutError

Poll = Callable[[list[str]], Awaitable[list[Operation]]]
OnProgress = Callable[[list[Operation]], Awaitable[None]]


def in_request_order(ids: list[str], answered: list[Operation]) -> list[Operation]:
    """One operation per requested id, in request order. An id the worker left out is answered
    as docs/api.md answers unknown ids, failed "unknown operation": never pending, or a wait
    hangs."""
    if [op.id for op in answered] == ids:
        return answered
    by_id = {op.id: op for op in answered}
    missing = ErrorDetail(code=ItemCode.NOT_FOUND, message="unknown operation")
    return [
        by_id.get(i)
        or Operation(
            id=i, state=OperationState.FAILED, error="unknown operation", error_detail=missing
        )
        for i in ids
    ]


def _snapshot(operations: list[Operation]) -> list[tuple[str, float, int]]:
    """What counts as progress: each operation's state, progress and progress_current."""
    return [(op.state.value, op.progress, op.progress_current) for op in operations]


async def wait_for_operations(
    poll: Poll,
    ids: list[str],
    *,
    timeout: float | None,  # noqa: ASYNC109 - measured on the injected clock, not the loop's
    on_progress: OnProgress | None,
    backoff: Backoff,
    clock: Clock,
    sleep: Sleep,
) -> list[Operation]:
    """Poll `ids` with `poll` (one call per round) until all are succeeded or failed.

    `on_progress` is awaited after every round with the operations in request order; `timeout`
    is measured on `clock` from the call, and a last round is polled when it is reached.

    Raises:
        WaitTimeoutError: `timeout` passed with operations still unfinished.
        ApiError: a poll failed (after the client's own retries).
    """
    if not ids:
        return []
    backoff.reset()
    deadline = None if timeout is None else clock() + timeout
    previous: list[tuple[str, float, int]] | None = None
    while True:
        operations = await poll(ids)
        if on_progress is not None:
            await on_progress(operations)
        if all(op.state.is_terminal for op in operations):
            return operations
        current = _snapshot(operations)
        if previous is not None and current != previous:
            backoff.reset()
        previous = current
        delay = backoff.next_delay()
        if deadline is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                unfinished = [op.id for op in operations if not op.state.is_terminal]
                raise WaitTimeoutError(
                    f"gave up waiting after {timeout:g} s: {len(unfinished)} of "
                    f"{len(operations)} operations unfinished ({_preview(unfinished)})",
                    unfinished,
                )
            delay = min(delay, remaining)
        await sleep(delay)


def _preview(ids: list[str], limit: int = 5) -> str:
    """A short list of ids for a message: the first `limit`, then a count of the rest."""
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
