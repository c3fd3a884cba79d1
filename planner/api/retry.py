"""Retrying transient API failures: exponential backoff with full jitter.

    delay(attempt) = uniform(0, min(cap, initial * multiplier ** attempt))    attempt = 0, 1, 2...

With the defaults the ceilings are 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0... seconds ("full jitter",
AWS Architecture Blog, "Exponential Backoff And Jitter"). Which answers are worth retrying is
decided here too: 425, 429 and 5xx are transient (docs/api.md, "Decisions where the HPS API is
silent"). Time and randomness are injected (clock, sleep, a seeded random.Random) so tests never
really sleep.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from planner.errors import (
    ApiError,
    AuthError,
    PermanentApiError,
    RetryLaterError,
    TransientApiError,
)

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# A Retry-After above this is not obeyed to the letter: a worker asking for an hour would
# otherwise stall a run silently. One minute is far above what a busy worker needs.
MAX_RETRY_AFTER = 60.0


class Backoff:
    """Exponential backoff with full jitter; `reset()` starts again from `initial`.

    `next_delay(n)` is the delay before retry n (0-based); `next_delay()` without an argument
    uses an internal counter that advances on each call, for loops that reset on progress.
    """

    def __init__(
        self,
        initial: float = 0.1,
        multiplier: float = 2.0,
        cap: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or multiplier < 1 or cap < initial:
            raise ValueError(
                f"invalid backoff: initial={initial} multiplier={multiplier} cap={cap} "
                "(need initial > 0, multiplier >= 1, cap >= initial)"
            )
        self.initial = initial
        self.multiplier = multiplier
        self.cap = cap
        self.rng = rng if rng is not None else random.Random()
        self.attempt = 0

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before retry `attempt`: min(cap, initial * mult**n)."""
        try:
            raw = self.initial * self.multiplier ** max(attempt, 0)
        except OverflowError:
            return self.cap
        return min(self.cap, raw) if math.isfinite(raw) else self.cap

    def next_delay(self, attempt: int | None = None) -> float:
        """A delay drawn uniformly from [0, ceiling(attempt)] (full jitter)."""
        if attempt is None:
            attempt = self.attempt
            self.attempt += 1
        return self.rng.uniform(0.0, self.ceiling(attempt))

    def next_ceiling(self) -> float:
        """The ceiling of the next attempt (no jitter), advancing the internal counter: the
        wait of a long poll, which the worker ends early when something happens."""
        ceiling = self.ceiling(self.attempt)
        self.attempt += 1
        return ceiling

    def reset(self) -> None:
        """Start again from the initial interval (the internal counter goes back to 0)."""
        self.attempt = 0


def is_transient_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 425 (too early), 429 and every 5xx."""
    return status in (425, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a numeric Retry-After header, capped at MAX_RETRY_AFTER; None when absent,
    negative or not a number (HTTP dates are not honoured: the worker only sends seconds)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def error_for_status(
    what: str,
    status: int,
    title: str,
    detail: str,
    retry_after: str | None = None,
    locations: tuple[str, ...] = (),
) -> ApiError:
    """The typed error of a non-2xx answer to `what` ("GET /api/v1/x"): 401/403 AuthError,
    425/429/5xx TransientApiError (RetryLaterError with a numeric Retry-After), any other
    PermanentApiError. `title` and `detail` come from the RFC 9457 problem body."""
    message = f"{what}: HTTP {status} {title}".rstrip() + (f": {detail}" if detail else "")
    if status in (401, 403):
        hint = "check the token or API key" if status == 401 else "the caller lacks the role"
        return AuthError(f"{message} ({hint})", status, detail, locations)
    if is_transient_status(status):
        seconds = parse_retry_after(retry_after)
        if seconds is not None:
            return RetryLaterError(message, status, detail, retry_after=seconds)
        return TransientApiError(message, status, detail)
    return PermanentApiError(message, status, detail, locations)


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    sleep: Sleep,
    clock: Clock,
    max_elapsed: float | None = None,
) -> T:
    """Await `fn()` up to `attempts` times, sleeping `backoff.next_delay(n)` between tries (at
    least a RetryLaterError's `retry_after`). Only TransientApiError is retried.

    `max_elapsed` (seconds on `clock`) stops early when the next sleep would pass it.

    Raises:
        TransientApiError: the last failure, once attempts (or the time budget) are used up.
        ApiError: any other failure of `fn`, at once.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    start = clock()
    for attempt in range(attempts):
        try:
            return await fn()
        except TransientApiError as exc:
            if attempt + 1 >= attempts:
                raise
            delay = backoff.next_delay(attempt)
            if isinstance(exc, RetryLaterError):
                delay = max(delay, exc.retry_after)
            if max_elapsed is not None and clock() + delay - start > max_elapsed:
                raise
        await sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")
