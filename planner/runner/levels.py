"""A whole tree from one-level listings, for workers without planner's recursive `list`
(docs/api.md, "planner extensions"): one call per level of the tree, each listing every directory
of that level."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

MAX_LEVELS = 256  # deeper than this is a symlink loop the worker did not cut

Listing = list[dict[str, Any]]
# lists each directory (relative to the top, "" for the top itself) one level deep: its wire
# entries, or None when it is gone
ListLevel = Callable[[Sequence[str]], Awaitable[list[Listing | None]]]


class TooDeepError(Exception):
    """The tree is deeper than MAX_LEVELS."""


async def walk_levels(list_level: ListLevel) -> list[tuple[str, dict[str, Any]]] | None:
    """Every entry below the top, as (path relative to the top, wire entry), directories before
    what they hold; None when the top itself is gone. A top that is a file lists as itself.

    Raises:
        TooDeepError: more than MAX_LEVELS levels.
    """
    level: Sequence[str] = [""]
    listed = await list_level(level)
    if listed[0] is None:
        return None
    found: list[tuple[str, dict[str, Any]]] = []
    for _ in range(MAX_LEVELS):
        deeper = []
        for rel, entries in zip(level, listed, strict=True):
            for entry in entries or []:
                path = f"{rel}/{entry['name']}" if rel else str(entry["name"])
                found.append((path, entry))
                if entry.get("type") == "dir":
                    deeper.append(path)
        if not deeper:
            return found
        level = deeper
        listed = await list_level(level)
    raise TooDeepError(f"more than {MAX_LEVELS} levels deep (a symlink loop?)")
