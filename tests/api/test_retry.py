"""Backoff with full jitter, the transient/permanent split of HTTP statuses, and retry_call."""

from __future__ import annotations

import random

import pytest

from planner.api.retry import (
    MAX_RETRY_AFTER,
    Backoff,
    error_for_status,
    is_transient_status,
    parse_retry_after,
    retry_call,
)
from planner.errors import (
    ApiError,
    AuthError,
    PermanentApiError,
    RetryLaterError,
    TransientApiError,
)
from tests.helpers.clock import FakeTime

pytestmark = pytest.mark.anyio

CEILINGS = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


class Script:
    """An async callable that raises the scripted errors in turn, then returns "ok"."""

    def __init__(self, *errors: ApiError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_ceilings_double_from_initial_up_to_the_cap() -> None:
    backoff = Backoff(rng=random.Random(1))
    assert [backoff.ceiling(n) for n in range(8)] == pytest.approx(CEILINGS)


def test_delays_are_full_jitter_below_each_ceiling() -> None:
    backoff = Backoff(rng=random.Random(1))
    for attempt, ceiling in enumerate(CEILINGS):
        draws = [backoff.next_delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # full jitter spans the interval, not a fixed value
        assert min(draws) < ceiling * 0.2


def test_a_seeded_rng_gives_the_same_delays() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.next_delay(n) for n in range(6)] == [second.next_delay(n) for n in range(6)]


def test_the_internal_counter_advances_and_reset_starts_again() -> None:
    backoff = Backoff(initial=1.0, multiplier=3.0, cap=100.0, rng=random.Random(0))
    for _ in range(3):
        backoff.next_delay()
    assert backoff.attempt == 3
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 1.0


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    backoff = Backoff(rng=random.Random(0))
    assert backoff.ceiling(10_000) == 2.0
    assert 0.0 <= backoff.next_delay(10_000) <= 2.0


@pytest.mark.parametrize(
    ("initial", "multiplier", "cap"), [(0.0, 2.0, 2.0), (0.1, 0.5, 2.0), (1.0, 2.0, 0.5)]
)
def test_nonsense_backoff_parameters_are_refused(
    initial: float, multiplier: float, cap: float
) -> None:
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(initial, multiplier, cap)


@pytest.mark.parametrize(
    ("status", "transient"),
    [(425, True), (429, True), (500, True), (502, True), (503, True), (599, True),
     (400, False), (401, False), (403, False), (404, False), (409, False), (422, False),
     (200, False), (302, False), (600, False)],
)  # fmt: skip
def test_transient_statuses_are_425_429_and_5xx(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), (" 1.5 ", 1.5), ("0", 0.0), ("-1", None), ("nan", None), ("soon", None),
     ("Wed, 21 Oct 2026 07:28:00 GMT", None), (None, None), ("86400", MAX_RETRY_AFTER)],
)  # fmt: skip
def test_retry_after_is_numeric_seconds_capped(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, PermanentApiError), (401, AuthError), (403, AuthError), (404, PermanentApiError),
     (409, PermanentApiError), (422, PermanentApiError), (418, PermanentApiError),
     (425, TransientApiError), (429, TransientApiError), (500, TransientApiError),
     (503, TransientApiError), (307, PermanentApiError)],
)  # fmt: skip
def test_error_for_status_picks_the_family(status: int, kind: type[ApiError]) -> None:
    error = error_for_status("GET /api/v1/x", status, "Title", "what went wrong")
    assert type(error) is kind
    assert error.status == status
    assert error.detail == "what went wrong"
    assert str(error).startswith(f"GET /api/v1/x: HTTP {status} Title: what went wrong")


def test_error_for_status_keeps_a_retry_after_on_transient_answers_only() -> None:
    throttled = error_for_status("GET /x", 429, "Too Many Requests", "", "2")
    assert isinstance(throttled, RetryLaterError)
    assert throttled.retry_after == 2.0
    assert str(throttled) == "GET /x: HTTP 429 Too Many Requests"
    assert not isinstance(error_for_status("GET /x", 404, "Not Found", "", "2"), RetryLaterError)


async def test_retry_call_returns_at_once_without_sleeping() -> None:
    time, fn = FakeTime(start=100.0), Script()
    backoff = Backoff(rng=random.Random(3))
    result = await retry_call(fn, attempts=5, backoff=backoff, sleep=time.sleep, clock=time.clock)
    assert (result, fn.calls, time.sleeps) == ("ok", 1, [])


async def test_retry_call_retries_transient_errors_with_growing_ceilings() -> None:
    time = FakeTime(start=100.0)
    fn = Script(*(TransientApiError("busy", 503) for _ in range(4)))
    backoff = Backoff(rng=random.Random(3))
    result = await retry_call(fn, attempts=5, backoff=backoff, sleep=time.sleep, clock=time.clock)
    assert (result, fn.calls) == ("ok", 5)
    assert len(time.sleeps) == 4
    assert all(0 <= s <= c for s, c in zip(time.sleeps, CEILINGS, strict=False))


async def test_retry_call_raises_the_last_transient_error_when_attempts_run_out() -> None:
    time = FakeTime(start=100.0)
    fn = Script(TransientApiError("first", 503), TransientApiError("last", 502))
    with pytest.raises(TransientApiError, match="last"):
        await retry_call(
            fn,
            attempts=2,
            backoff=Backoff(rng=random.Random(3)),
            sleep=time.sleep,
            clock=time.clock,
        )
    assert (fn.calls, len(time.sleeps)) == (2, 1)


@pytest.mark.parametrize(
    "error", [PermanentApiError("nope", 404), AuthError("who", 401)], ids=["404", "401"]
)
async def test_retry_call_does_not_retry_other_errors(error: ApiError) -> None:
    time, fn = FakeTime(start=100.0), Script(error)
    with pytest.raises(type(error)):
        await retry_call(
            fn,
            attempts=5,
            backoff=Backoff(rng=random.Random(3)),
            sleep=time.sleep,
            clock=time.clock,
        )
    assert (fn.calls, time.sleeps) == (1, [])


async def test_retry_call_waits_at_least_the_retry_after() -> None:
    time = FakeTime(start=100.0)
    fn = Script(RetryLaterError("slow down", 429, retry_after=7.5))
    backoff = Backoff(rng=random.Random(3))
    assert await retry_call(fn, attempts=3, backoff=backoff, sleep=time.sleep, clock=time.clock)
    assert time.sleeps == [7.5]


async def test_retry_call_stops_when_the_next_sleep_would_pass_max_elapsed() -> None:
    time = FakeTime(start=100.0)
    fn = Script(*(RetryLaterError("later", 503, retry_after=4.0) for _ in range(5)))
    with pytest.raises(RetryLaterError):
        await retry_call(
            fn,
            attempts=10,
            backoff=Backoff(rng=random.Random(3)),
            sleep=time.sleep,
            clock=time.clock,
            max_elapsed=10.0,
        )
    assert time.sleeps == [4.0, 4.0]
    assert fn.calls == 3


async def test_retry_call_needs_at_least_one_attempt() -> None:
    time = FakeTime(start=100.0)
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        await retry_call(
            Script(), attempts=0, backoff=Backoff(), sleep=time.sleep, clock=time.clock
        )
