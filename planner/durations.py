"""Durations as plans write them: `250ms`, `30s`, `5m`, `1h30m`, `2d`, or a number of seconds."""

from __future__ import annotations

import re

DURATION_HINT = "use a number of seconds or units like 250ms, 30s, 5m, 1h30m, 2d"
_NUMBER = re.compile(r"\d+(?:\.\d+)?\Z")
_PARTS = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+\Z")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds in `value`.

    Raises:
        ValueError: when `value` is not a duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    text = value.strip() if isinstance(value, str) else ""
    if _NUMBER.match(text):
        return float(text)
    if not _PARTS.match(text):
        raise ValueError(f"invalid duration {value!r}")
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
