"""Durations as plans write them: `250ms`, `30s`, `5m`, `1h30m`, `2d`, or a number of seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HINT = "use a number of seconds or units like 250ms, 30s, 5m, 1h30m, 2d"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float) -> float:
    """Seconds in `value`.

    Raises:
        ValueError: when `value` is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: must not be negative")
        return float(value)
    text = value.strip()
    try:
        return float(text) if text and float(text) >= 0 else _fail(value)
    except ValueError:
        pass
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        _fail(value)
    return total


def _fail(value: object) -> float:
    raise ValueError(f"invalid duration {value!r}")


def format_duration(seconds: float) -> str:
    """The shortest plan-style spelling of `seconds` (e.g. 90 -> '1m30s')."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out
