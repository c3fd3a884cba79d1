"""`--inject-faults http=R,operation=R,delay=D,seed=N`: reproducible failures for resilience
tests (docs/worker.md). A fraction R of API requests answer HTTP 503, a fraction R of operation
items fail with a transient error, every request waits D (`item_delay`: every item, before it
runs; `file_delay`: a tree operation, before each file); one seeded generator per kind, so the
same seed and the same sequence of requests give the same faults. The embedded worker of
`planner run` takes the same text from the environment variable PLANNER_WORKER_FAULTS."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from planner.durations import parse_duration


@dataclass(frozen=True)
class FaultSpec:
    """What to inject; all zero means nothing."""

    http: float = 0.0
    operation: float = 0.0
    delay: float = 0.0
    item_delay: float = 0.0  # every operation item waits this long before it runs (cancellable)
    file_delay: float = 0.0  # a tree operation waits this long before each file (cancellable)
    seed: int = 0

    @property
    def is_active(self) -> bool:
        return bool(self.http or self.operation or self.delay or self.item_delay or self.file_delay)


_KEYS = ("http", "operation", "delay", "item_delay", "file_delay", "seed")


def parse_faults(text: str) -> FaultSpec:
    """Parse `http=0.2,operation=0.1,delay=50ms,seed=7`.

    Raises:
        ValueError: an unknown key or a value out of range.
    """
    values: dict[str, float | int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key not in _KEYS:
            raise ValueError(f"unknown key '{key}' ({', '.join(_KEYS)})")
        parsed = _fault_value(key, value)
        if parsed is None:
            raise ValueError(f"invalid '{part}'")
        values[key] = parsed
    return FaultSpec(**values)  # type: ignore[arg-type]


def _fault_value(key: str, value: str) -> float | int | None:
    try:
        if key == "seed":
            return int(value)
        if key in ("delay", "item_delay", "file_delay"):
            return parse_duration(value)
        rate = float(value)
    except ValueError:
        return None
    return rate if 0 <= rate <= 1 else None


class FaultInjector:
    """Draws the injected faults, reproducibly for a seed."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._http = random.Random(f"http-{spec.seed}")
        self._operation = random.Random(f"operation-{spec.seed}")
        self._lock = threading.Lock()

    def http_fails(self) -> bool:
        """Whether this API request answers 503."""
        if not self.spec.http:
            return False
        with self._lock:
            return self._http.random() < self.spec.http

    def item_fails(self) -> bool:
        """Whether this operation item fails with a transient error."""
        if not self.spec.operation:
            return False
        with self._lock:
            return self._operation.random() < self.spec.operation
