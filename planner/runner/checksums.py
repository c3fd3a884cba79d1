"""`checksum: true` made honest (issue 10, item 4): the files whose checksum a listing did not
carry are hashed by the worker (XXH64, `metadata:get`); a worker that cannot hash fails the
action instead of a silent fallback to size and mtime."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from planner.runner.context import ActionContext, ActionFailedError
from planner.runner.engine import Item, ItemKind, Target
from planner.tree.entry import Entry


async def with_checksums(
    ctx: ActionContext,
    entries: list[Entry],
    paths: Iterable[str],
    locate: Callable[[str], Target],
) -> list[Entry]:
    """`entries` with the checksum of each file at `paths` (found at `locate(path)`) that lacked
    one, hashed by the worker (`metadata:get` computes and records it, docs/api.md).

    Raises:
        ActionFailedError: the worker could not hash a file, or answered without a checksum
            (a worker without planner's extensions): comparing less would be silent.
    """
    by_path = {e.path: e for e in entries}
    wanted = [p for p in paths if (e := by_path.get(p)) and e.type == "file" and not e.checksum]
    if not wanted:
        return entries
    hashed = await hash_files(ctx, [locate(p) for p in wanted])
    for path, checksum in zip(wanted, hashed, strict=True):
        by_path[path] = dataclasses.replace(by_path[path], checksum=checksum)
    return list(by_path.values())


async def hash_files(ctx: ActionContext, where: list[Target]) -> list[str]:
    """The XXH64 of each file, from the worker's `metadata:get` (see `with_checksums`)."""
    outcomes = await ctx.run([Item(ItemKind.METADATA_GET, t) for t in where])
    sums = []
    for path, outcome in zip(where, outcomes, strict=True):
        if not outcome.ok:
            code = f" (code {outcome.code})" if outcome.code else ""
            raise ActionFailedError(f"cannot hash {path}: {outcome.error}{code}")
        checksum = (outcome.result or {}).get("checksum")
        if not isinstance(checksum, str) or not checksum:
            raise ActionFailedError(
                f"checksum: true, but the worker gives no checksum for {path} (neither in its "
                "listing nor from metadata:get); use a worker that hashes files, or drop "
                "`checksum: true` to compare sizes and mtimes"
            )
        sums.append(checksum.lower())
    return sums
