"""An injected clock and sleep for code that takes `clock=` and `sleep=`."""

from __future__ import annotations

import asyncio


class FakeTime:
    """A clock that only moves when the code under test sleeps: sleeping records the delay and
    advances the clock. With `real_pause`, each sleep also yields for real that long, so that a
    real worker (on its own thread) makes progress meanwhile."""

    def __init__(self, start: float = 1000.0, real_pause: float = 0.0) -> None:
        self.now = start
        self.real_pause = real_pause
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.real_pause:
            await asyncio.sleep(self.real_pause)
