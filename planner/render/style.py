"""Whether and how to colour text output: only on a terminal, never with NO_COLOR set."""

from __future__ import annotations

import os
from typing import IO

import click

_forced: bool | None = None  # `--color always|never`; None: decide by the stream


def force_color(value: bool | None) -> None:
    """Colour always (True), never (False), or as `use_color` decides (None): `--color`."""
    global _forced
    _forced = value


def use_color(stream: IO[str]) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org);
    `--color always|never` decides instead when given."""
    if _forced is not None:
        return _forced
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, color: bool, **style: object) -> str:
    """`click.style` when colouring, the text unchanged otherwise."""
    return click.style(text, **style) if color else text  # type: ignore[arg-type]
