"""planner's client against the real embedded worker: retries on injected 503s, typed permanent
errors, and wait_for's backoff as observed through an injected clock and sleep."""

from __future__ import annotations

import asyncio
import random

import pytest

from planner.api.client import ApiClient
from planner.api.wire import Operation, StoragePath
from planner.errors import AuthError, PermanentApiError
from planner.worker.faults import FaultSpec
from tests.helpers.clock import FakeTime
from tests.helpers.workers import running_worker, start_worker


@pytest.fixture
def faulty_worker(tmp_path):
    with running_worker(tmp_path, faults=FaultSpec(http=0.5, seed=3)) as handle:
        yield handle


def test_injected_503s_are_retried_until_success(faulty_worker) -> None:
    fake = FakeTime(start=0.0, real_pause=0.002)

    async def scenario() -> list[int]:
        async with ApiClient(
            faulty_worker.url,
            token=faulty_worker.token,
            request_attempts=30,
            clock=fake.clock,
            sleep=fake.sleep,
            rng=random.Random(1),
        ) as api:
            return [len(await api.storages()) for _ in range(10)]

    assert asyncio.run(scenario()) == [3] * 10
    assert fake.sleeps, "with half of the requests failing, some must have been retried"


def test_permanent_errors_raise_typed_errors_at_once(worker) -> None:
    fake = FakeTime(start=0.0, real_pause=0.002)

    async def scenario() -> None:
        async with ApiClient(
            worker.url, token=worker.token, clock=fake.clock, sleep=fake.sleep
        ) as api:
            with pytest.raises(PermanentApiError) as caught:
                await api.copy([])
            assert caught.value.status == 422
        async with ApiClient(
            worker.url, token="wrong-token-value", clock=fake.clock, sleep=fake.sleep
        ) as api:
            with pytest.raises(AuthError) as denied:
                await api.storages()
            assert denied.value.status == 401
            assert "wrong-token-value" not in str(denied.value)

    asyncio.run(scenario())
    assert fake.sleeps == []


def test_wait_for_backs_off_while_nothing_changes_and_resets_on_progress(tmp_path) -> None:
    # two held operations (their items wait until cancelled): nothing changes between polls
    # until the test cancels the first after 3 rounds (a change: the backoff starts over), then
    # the second after 7; no race with real work finishing early
    embedded, worker = start_worker(tmp_path, pool_size=2, faults=FaultSpec(item_delay=600.0))
    try:
        fake = FakeTime(start=0.0, real_pause=0.002)
        seed = 11
        rounds: list[list[tuple[str, float, int]]] = []

        async def scenario() -> list[Operation]:
            async with ApiClient(
                worker.url,
                token=worker.token,
                clock=fake.clock,
                sleep=fake.sleep,
                rng=random.Random(seed),
            ) as api:
                held = [
                    await api.mkdir([StoragePath(path="one")]),
                    await api.mkdir([StoragePath(path="two")]),
                ]
                cancel_at = {3: held[0], 7: held[1]}

                async def record(ops: list[Operation]) -> None:
                    rounds.append([(o.state.value, o.progress, o.progress_current) for o in ops])
                    if len(rounds) in cancel_at:
                        await api.cancel(cancel_at[len(rounds)])

                return await api.wait_for(held, on_progress=record)

        ended = asyncio.run(scenario())
        assert [op.state.value for op in ended] == ["failed", "failed"]  # cancelled, both
        assert len(rounds) == len(fake.sleeps) + 1
        # replay the policy: full jitter under 0.1 * 2**n (capped at 2 s), n back to 0 whenever
        # a round differs from the one before
        rng, attempt, expected, resets = random.Random(seed), 0, [], 0
        previous = None
        for current in rounds[:-1]:
            if previous is not None and current != previous:
                attempt, resets = 0, resets + 1
            expected.append(rng.uniform(0.0, min(2.0, 0.1 * 2**attempt)))
            attempt += 1
            previous = current
        assert fake.sleeps == pytest.approx(expected)
        assert resets >= 1, "the first cancel is a change: the backoff starts over"
        assert len(fake.sleeps) >= 7, "waited through both held operations"
    finally:
        embedded.stop()
