"""Bounding the queued work (`--max-queued-items`, docs/worker.md "Limits"): items queued or
running are counted per user; a submission that would pass the bound, or its user's fair share of
it, is refused with 503 and a Retry-After estimated from the recent completion rate, and one that
is larger than the whole bound (it could never fit) with 413.

The fair share is the bound divided by the number of users with work in the queue or waiting for
room (refused lately), the submitter included: a user alone may fill the queue, and as soon as
another user is refused for lack of room, the first one is refused too until it is back under its
share, so the slots its items free are kept for the newcomer (for a while: a user who does not
come back within its Retry-After and WAITING_GRACE stops counting).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from planner.errors import WorkerError

DEFAULT_MAX_QUEUED_ITEMS = 10_000
# bounds of the Retry-After answered with a 503; the estimate when nothing finished lately
RETRY_AFTER_MIN, RETRY_AFTER_MAX, RETRY_AFTER_UNKNOWN = 1, 30, 5
_RATE_SAMPLES = 256  # completion times kept for the rate estimate
WAITING_GRACE = 10.0  # seconds a refused user keeps its share after its Retry-After


class QueueBound:
    """How many items each user has queued or running, and whether more may be admitted.

    `admit` runs on the event loop; `finished` on item threads (and the loop, for cancels).
    """

    def __init__(
        self, limit: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.total = 0
        self.by_user: dict[str, int] = {}
        self.finishes: deque[float] = deque(maxlen=_RATE_SAMPLES)
        self.waiting: dict[str, float] = {}  # refused users, until when they count as active
        self.lock = threading.Lock()

    def admit(self, user: str, count: int) -> None:
        """Count `count` new items of `user`, or refuse them.

        Raises:
            WorkerError: 413 when `count` exceeds the whole bound; 503 with Retry-After when the
                queue, or the user's share of it, has no room for them now.
        """
        limit = self.limit
        with self.lock:
            if limit is not None:
                self._check(user, count, limit)
                self.waiting.pop(user, None)
            self.total += count
            self.by_user[user] = self.by_user.get(user, 0) + count

    def _check(self, user: str, count: int, limit: int) -> None:  # with self.lock held
        if count > limit:
            raise WorkerError(
                413,
                f"this request has {count} items; the worker queues at most {limit} items at "
                "once (--max-queued-items): split it into smaller requests",
            )
        now = self.clock()
        self.waiting = {u: until for u, until in self.waiting.items() if until > now}
        active = len(self.by_user.keys() | self.waiting.keys() | {user})
        mine = self.by_user.get(user, 0)
        share = math.ceil(limit / active)
        if self.total + count > limit:
            excess = self.total + count - limit
            why = f"{self.total} items are queued or running, at most {limit} (--max-queued-items)"
        elif mine + count > share:
            excess = mine + count - share
            why = (
                f"'{user}' has {mine} items queued or running and its share of the queue is "
                f"{share} while {active} users have work in it or wait for room"
            )
        else:
            return
        seconds = self._retry_after(excess, now)
        self.waiting[user] = now + seconds + WAITING_GRACE
        raise WorkerError(
            503,
            f"the worker is busy: {why}; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    def _retry_after(self, excess: int, now: float) -> int:
        """Seconds until `excess` items have finished, at the recent completion rate."""
        if not self.finishes:
            return RETRY_AFTER_UNKNOWN
        span = now - self.finishes[0]
        if span <= 0:
            return RETRY_AFTER_MIN
        rate = len(self.finishes) / span
        return max(RETRY_AFTER_MIN, min(RETRY_AFTER_MAX, math.ceil(excess / rate)))

    def finished(self, user: str, count: int = 1) -> None:
        """One item of `user`, counted as `count` when admitted, ended (succeeded, failed or
        cancelled)."""
        now = self.clock()
        with self.lock:
            self.total -= count
            left = self.by_user[user] - count
            if left:
                self.by_user[user] = left
            else:
                del self.by_user[user]
            self.finishes.append(now)
