"""The preview engine: the real engine for reading, a model of the changes for writing.

`planner plan` runs the very action code `planner run` runs, against this engine. Reads
(list, exists, metadata-get, grants) go to the real worker and come back corrected by the changes
earlier actions of the preview would have made; writes (copy, move, mkdir, remove, rmdir,
metadata-set, grant, revoke) never leave this process: they only update that model. So the
preview sends no mutating request, and what it predicts is what the run's own decisions would be.
"""

from __future__ import annotations

import asyncio
import itertools
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from planner.api.codes import ItemCode
from planner.errors import PermanentApiError
from planner.runner.engine import (
    BatchStatus,
    Engine,
    Item,
    ItemKind,
    Outcome,
    RoleGrant,
    Target,
    TreePage,
)
from planner.runner.engine_wrapper import WrappedEngine
from planner.runner.levels import TooDeepError, walk_levels
from planner.runner.preview_overlay import (
    PREVIEW_MTIME,
    Overlay,
    PredictedFile,
    join_path,
    path_key,
    relative_to,
)
from planner.runner.preview_trees import PredictedTrees

READS = frozenset(
    {
        ItemKind.LIST,
        ItemKind.LIST_CHILDREN,
        ItemKind.LIST_QUICK,
        ItemKind.EXISTS,
        ItemKind.STAT,
        ItemKind.METADATA_GET,
    }
)
_SIMULATED = "preview-"


def _needs(kind: ItemKind, item: Item) -> list[tuple[Target, str]]:
    """The roles a write needs (docs/worker.md): reader of a copy's source, writer of what
    changes."""
    needs = [(item.target, "writer")]
    if item.src is not None:
        reads_src = kind in (ItemKind.COPY, ItemKind.COPY_TREE)
        needs.append((item.src, "reader" if reads_src else "writer"))
    return needs


@dataclass
class _Pending:
    kind: ItemKind
    items: Sequence[Item]
    outcomes: list[Outcome] | None = None  # set for simulated batches


class PreviewEngine(WrappedEngine):
    """An Engine that reads through `real` and keeps every write to itself (see module doc)."""

    def __init__(self, real: Engine) -> None:
        super().__init__(real)
        self.overlay = Overlay()
        self.trees = PredictedTrees(self.overlay)
        self.known: dict[tuple[str, str], dict[str, Any]] = {}  # real entries seen, by full path
        self.batches: dict[str, _Pending] = {}
        self._ids = itertools.count(1)

    async def serves_tree(self, src: Target, dst: Target) -> bool:
        """A tree comparison reads the real trees: only when no earlier predicted change lies
        in either (else the listing path sees them, corrected), and when the caller may copy
        (else the item path predicts the refusal of each file, as the run meets it)."""
        touched = self.overlay.touches
        return (
            await self.real.serves_tree(src, dst)
            and not touched(*path_key(src))
            and not touched(*path_key(dst))
            and await self.real.may([(dst, "writer"), (src, "reader")])
        )

    async def tree_rows(self, handle: str, offset: int, limit: int) -> TreePage:
        page = await self.real.tree_rows(handle, offset, limit)
        self.trees.model(handle, page.rows)
        return page

    # -- batches ----------------------------------------------------------------------------------
    async def submit(self, kind: ItemKind, items: Sequence[Item]) -> str:
        if kind in READS:
            handle = await self.real.submit(kind, items)
            self.batches[handle] = _Pending(kind, items)
            return handle
        denied = await self._denied(kind, items)
        if kind is ItemKind.COPY_TREE and not denied:  # compared for real: a read
            compare = [Item(ItemKind.COMPARE_TREE, i.target, src=i.src, data=i.data) for i in items]
            handle = await self.real.submit(ItemKind.COMPARE_TREE, compare)
            self.batches[handle] = _Pending(kind, items)
            # rows are read while the comparison runs, before its outcome names their handle:
            # the operation's own id for one item, its children's (`<id>-<index>`) for several
            for index, item in enumerate(items):
                if item.src is not None:
                    rows = handle if len(items) == 1 else f"{handle}-{index}"
                    self.trees.expect(rows, item.src, item.target)
            return handle
        outcomes = [denied.get(i) or await self._apply(kind, item) for i, item in enumerate(items)]
        handle = f"{_SIMULATED}{next(self._ids)}"
        self.batches[handle] = _Pending(kind, items, outcomes)
        return handle

    async def poll(self, handles: Sequence[str], wait: float = 0.0) -> list[BatchStatus]:
        real = [h for h in handles if not h.startswith(_SIMULATED)]
        # a batch answered here is done already: nothing to wait for then
        wait = wait if len(real) == len(handles) else 0.0
        answered = {s.handle: s for s in (await self.real.poll(real, wait) if real else [])}
        statuses = []
        for handle in handles:
            if handle in answered:
                statuses.append(answered[handle])
                continue
            outcomes = self.batches[handle].outcomes or []
            ok = all(o.ok for o in outcomes)
            statuses.append(BatchStatus(handle, done=True, succeeded=ok, progress=1.0))
        return statuses

    async def outcomes(self, handle: str, count: int) -> list[Outcome]:
        pending = self.batches.pop(handle)
        if pending.outcomes is not None:
            return pending.outcomes
        found = await self.real.outcomes(handle, count)
        if pending.kind is ItemKind.COPY_TREE:
            for item, outcome in zip(pending.items, found, strict=False):
                if outcome.handle is not None and item.src is not None:
                    self.trees.expect(outcome.handle, item.src, item.target)
            return found
        if any(self.trees.needs_settling(item.target) for item in pending.items):
            await self.trees.settle(self._real_tree)
        if pending.kind is ItemKind.METADATA_GET:
            await self._hash_created(pending.items)
        return [
            self._corrected(pending.kind, i, o) for i, o in zip(pending.items, found, strict=False)
        ]

    async def _hash_created(self, items: Sequence[Item]) -> None:
        """Files the preview created have no real counterpart to hash (`checksum: true`): give
        them the checksum of the real file they are a copy of."""
        for item in items:
            created = self.overlay.files.get(path_key(item.target))
            if created is None or created.checksum or created.origin is None:
                continue
            outcome = await self._ask_now(ItemKind.METADATA_GET, created.origin)
            checksum = (outcome.result or {}).get("checksum") if outcome.ok else None
            if isinstance(checksum, str) and checksum:
                created.checksum = checksum

    async def cancel(self, handles: Sequence[str]) -> None:
        real = [h for h in handles if not h.startswith(_SIMULATED)]
        if real:
            await self.real.cancel(real)

    # -- permissions ------------------------------------------------------------------------------
    async def grants(self, resource: Target) -> list[RoleGrant]:
        remote, path = path_key(resource)
        held = {(g.subject_type, g.subject or "", g.role) for g in await self.real.grants(resource)}
        for r, p, kind, who, role in self.overlay.granted:
            if (r, p) == (remote, path):
                held.add((kind, who, role))
        for r, p, kind, who, role in self.overlay.revoked:
            if (r, p) == (remote, path):
                held.discard((kind, who, role))
        return [RoleGrant(resource, role, kind, who or None) for kind, who, role in sorted(held)]

    async def grant(self, grants: Sequence[RoleGrant]) -> None:
        await self._require_admin(grants)
        for g in grants:
            key = (*path_key(g.resource), g.subject_type, g.subject or "", g.role)
            self.overlay.revoked.discard(key)
            self.overlay.granted.add(key)

    async def revoke(self, grants: Sequence[RoleGrant]) -> None:
        await self._require_admin(grants)
        for g in grants:
            key = (*path_key(g.resource), g.subject_type, g.subject or "", g.role)
            self.overlay.granted.discard(key)
            self.overlay.revoked.add(key)

    # -- permissions the caller needs -------------------------------------------------------------
    async def _denied(self, kind: ItemKind, items: Sequence[Item]) -> dict[int, Outcome]:
        """The items the worker would refuse the caller (by index): one check for the batch,
        item by item only when the batch as a whole is refused."""
        needs = [_needs(kind, item) for item in items]
        if await self.real.may(list(dict.fromkeys(n for item in needs for n in item))):
            return {}
        refused = {}
        for index, item_needs in enumerate(needs):
            for target, role in item_needs:
                if not await self.real.may([(target, role)]):
                    refused[index] = Outcome(
                        ok=False,
                        error=f"permission denied (predicted): no {role} role on {target}",
                        code=ItemCode.FORBIDDEN,
                        refused=True,
                    )
                    break
        return refused

    async def _require_admin(self, grants: Sequence[RoleGrant]) -> None:
        resources = list(dict.fromkeys((g.resource, "admin") for g in grants))
        if not await self.real.may(resources):
            where = ", ".join(str(r) for r, _ in resources)
            raise PermanentApiError(f"permission denied (predicted): no admin role on {where}")

    # -- writes: the model ------------------------------------------------------------------------
    async def _apply(self, kind: ItemKind, item: Item) -> Outcome:
        remote, path = path_key(item.target)
        overlay = self.overlay
        if kind is ItemKind.MKDIR:
            overlay.add_dir(remote, path)
        elif kind in (ItemKind.REMOVE, ItemKind.RMDIR):
            overlay.delete(remote, path)
        elif kind is ItemKind.METADATA_SET:
            merged = overlay.custom.setdefault((remote, path), {})
            merged.update(dict(item.data or {}))
        elif kind is ItemKind.COPY:
            assert item.src is not None
            source = await self._file(item.src)
            if source is None:
                return Outcome(ok=False, error="no such file (predicted)", code=ItemCode.NOT_FOUND)
            origin = source.origin or item.src
            overlay.add_file(
                remote, path, PredictedFile(source.size, source.mtime, source.checksum, origin)
            )
            return Outcome(ok=True, size=source.size)
        elif kind is ItemKind.MOVE:
            assert item.src is not None
            return await self._move(item.src, item.target)
        return Outcome(ok=True)

    async def _move(self, src: Target, dst: Target) -> Outcome:
        remote, path = path_key(src)
        to_remote, to_path = path_key(dst)
        file = await self._file(src)
        if file is not None:
            moved = PredictedFile(file.size, file.mtime, file.checksum, file.origin or src)
            self.overlay.delete(remote, path)
            self.overlay.add_file(to_remote, to_path, moved)
            return Outcome(ok=True, size=file.size)
        try:
            entries = await self._tree(src)
        except TooDeepError as exc:
            return Outcome(ok=False, error=f"{src}: {exc} (predicted)", code=ItemCode.INVALID)
        if entries is None:
            return Outcome(
                ok=False, error="no such file or directory (predicted)", code=ItemCode.NOT_FOUND
            )
        self.overlay.delete(remote, path)
        self.overlay.add_dir(to_remote, to_path)
        for rel, wire in entries:
            target = join_path(to_path, rel)
            if wire["type"] == "dir":
                self.overlay.add_dir(to_remote, target)
            elif wire["type"] == "file":  # not what a listing reports as skipped
                origin = Target(src.remote, join_path(path, rel))  # still there in reality
                entry = PredictedFile(
                    int(wire["size"]), str(wire["mtime"]), wire.get("checksum"), origin
                )
                self.overlay.add_file(to_remote, target, entry)
        return Outcome(ok=True)

    async def _file(self, target: Target) -> PredictedFile | None:
        """A file as the preview sees it now (created, or real and not deleted)."""
        remote, path = path_key(target)
        if (remote, path) in self.overlay.files:
            if self.overlay.files[(remote, path)].mtime is None:
                await self.trees.settle(self._real_tree)
            return self.overlay.files[(remote, path)]
        if self.overlay.hidden(remote, path):
            return None
        wire = self.known.get((remote, path))
        if wire is None and self.real.stat_paths:  # not seen yet: ask (read-only)
            found = await self._ask_now(ItemKind.STAT, target)
            wire = found.result if found.ok else None
        elif wire is None:
            parent = Target(remote, posixpath.dirname(path))
            listed = await self._read_now(ItemKind.LIST_CHILDREN, parent)
            name = posixpath.basename(path)
            wire = next((e for e in listed or [] if e.get("name") == name), None)
        if wire is None or wire.get("type") != "file":
            return None
        return PredictedFile(int(wire["size"]), str(wire["mtime"]), wire.get("checksum"))

    async def _tree(
        self, top: Target, *, real: bool = False
    ) -> list[tuple[str, dict[str, Any]]] | None:
        """Everything below a directory as the preview sees it (`real`: as it really is, no
        prediction): (relative path, wire entry)."""
        read = self._real_read if real else self._read_now
        if self.real.recursive_listing:
            listed = await read(ItemKind.LIST, top)
            return None if listed is None else [(str(e["name"]), e) for e in listed]

        async def list_level(level: Sequence[str]) -> list[list[dict[str, Any]] | None]:
            return [
                await read(ItemKind.LIST_CHILDREN, Target(top.remote, join_path(top.path, rel)))
                for rel in level
            ]

        return await walk_levels(list_level)

    async def _real_tree(self, top: Target) -> list[tuple[str, dict[str, Any]]] | None:
        return await self._tree(top, real=True)

    async def _real_read(self, kind: ItemKind, target: Target) -> list[dict[str, Any]] | None:
        """One read of the real engine, waited for here, not corrected."""
        handle = await self.real.submit(kind, [Item(kind, target)])
        await self._finished(handle)
        (outcome,) = await self.real.outcomes(handle, 1)
        return list(outcome.result or []) if outcome.ok else None

    async def _finished(self, handle: str) -> None:
        delay = 0.005
        while not (await self.real.poll([handle]))[0].done:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _read_now(self, kind: ItemKind, target: Target) -> list[dict[str, Any]] | None:
        outcome = await self._ask_now(kind, target)
        return list(outcome.result or []) if outcome.ok else None

    async def _ask_now(self, kind: ItemKind, target: Target) -> Outcome:
        """One read, waited for here (as corrected by the overlay)."""
        handle = await self.submit(kind, [Item(kind, target)])
        await self._finished(handle)
        (outcome,) = await self.outcomes(handle, 1)
        return outcome

    # -- reads: the corrections -------------------------------------------------------------------
    def _corrected(self, kind: ItemKind, item: Item, outcome: Outcome) -> Outcome:
        remote, path = path_key(item.target)
        if kind is ItemKind.EXISTS:
            return Outcome(ok=True, result=self.overlay.exists(remote, path, outcome))
        if kind is ItemKind.METADATA_GET:
            return self.overlay.metadata(remote, path, outcome)
        if kind is ItemKind.STAT:
            return self._stat(remote, path, outcome)
        recursive = kind in (ItemKind.LIST, ItemKind.LIST_QUICK)
        return self._listing(remote, path, outcome, recursive=recursive)

    def _listing(self, remote: str, base: str, outcome: Outcome, *, recursive: bool) -> Outcome:
        overlay = self.overlay
        real = list(outcome.result or []) if outcome.ok else []
        if outcome.ok and overlay.hidden(remote, base):
            real = []
        single = len(real) == 1 and real[0].get("type") == "file" and not recursive
        entries: dict[str, dict[str, Any]] = {}
        for wire in real:
            name = str(wire.get("name", ""))
            full = base if single and name == posixpath.basename(base) else join_path(base, name)
            if wire.get("mtime_exact") is not False:  # a later stat reads the exact one
                self.known[(remote, full)] = wire
            if not overlay.hidden(remote, full):
                entries[name] = wire
        if (remote, base) in overlay.files:  # a file the preview wrote lists as itself
            (_, wire), *_ = overlay.created(remote, base)
            return Outcome(ok=True, result=[{"name": posixpath.basename(base), **wire}])
        created = overlay.created(remote, base)
        for full, wire in created:
            rel = relative_to(full, base)
            if not rel or (not recursive and "/" in rel):
                continue
            entries[rel] = {"name": rel, **wire}
        exists = outcome.ok and not overlay.hidden(remote, base)
        if not exists and not created and (remote, base) not in overlay.dirs:
            return (
                outcome
                if not outcome.ok
                else Outcome(ok=False, error="not found", code=ItemCode.NOT_FOUND)
            )
        return Outcome(ok=True, result=[entries[k] for k in sorted(entries)])

    def _stat(self, remote: str, path: str, outcome: Outcome) -> Outcome:
        """A path's entry as a one-level listing of its parent, corrected, would give it: what
        the preview created there, else the real entry unless the preview deleted it. Lookups
        by path only, so a probe costs the same however many changes came before it."""
        overlay = self.overlay
        name = posixpath.basename(path)
        created = overlay.files.get((remote, path))
        if created is not None:
            wire = created.wire()
        elif (remote, path) in overlay.dirs:
            wire = {"type": "dir", "size": 0, "mtime": PREVIEW_MTIME}
        elif outcome.ok and isinstance(outcome.result, dict):
            self.known[(remote, path)] = {**outcome.result, "name": name}
            if overlay.hidden(remote, path):
                return Outcome(ok=False, error="not found", code=ItemCode.NOT_FOUND)
            return outcome
        elif outcome.ok or outcome.code == ItemCode.NOT_FOUND or overlay.hidden(remote, path):
            return Outcome(ok=False, error="not found", code=ItemCode.NOT_FOUND)
        else:
            return outcome
        return Outcome(ok=True, result={"name": name, **wire})
