"""An in-memory filesystem that answers engine items: the default handler of the fake engine
(planner/runner/testing.py). It keeps the worker's rules that the runner relies on (docs/api.md):
listings in the extended wire form, a file listing as itself, `mkdir -p`, copies and moves that
make the destination's parents and keep the mtime, 404 for a missing path, 409 for a path in the
way. It is a model for tests, not a second worker: no symlinks, no special files, no checksums
beyond those it is given. Tree items (copy-tree, compare-tree) decide with planner/tree, as the
worker does, and answer a TreeOutcome carrying their rows."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from planner.api.codes import ItemCode
from planner.runner.engine import Item, ItemKind, Outcome, Target, TreeRow
from planner.tree.decide import directories_to_make, expand_directory
from planner.tree.entry import Entry, EntryType
from planner.tree.filters import Filters

DEFAULT_MTIME_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z: fixed, so tests repeat

# (remote, path without leading or trailing "/"); "" is the remote's root, always a directory
_Key = tuple[str, str]


@dataclass
class MemoryEntry:
    """A file or a directory of the in-memory filesystem."""

    type: EntryType
    size: int = 0
    mtime_ns: int = DEFAULT_MTIME_NS
    checksum: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class TreeOutcome(Outcome):
    """The outcome of a tree item, with every row it wrote (the fake engine pages them)."""

    rows: list[TreeRow] = field(default_factory=list)


class _Refused(Exception):
    """An item that fails: its HTTP-like code and message."""

    def __init__(self, code: ItemCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _key(target: Target) -> _Key:
    return target.remote, target.path.strip("/")


def _parse(where: str) -> _Key:
    remote, sep, path = where.partition(":")
    if not sep:
        raise ValueError(f"{where!r}: expected 'remote:path'")
    return remote, path.strip("/")


def _under(path: str, top: str) -> bool:
    """`path` is strictly below `top`."""
    return path != top and (not top or path.startswith(top + "/"))


def rfc3339(mtime_ns: int) -> str:
    """An epoch in nanoseconds as the wire writes it: `2023-11-14T22:13:20.000001Z` (no fraction
    when it is zero)."""
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    micros = ns // 1000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


class MemoryFiles:
    """Files and directories per remote, changed by the items it is called with.

    Call it with an Item to get its Outcome (it is a fake engine's handler); set it up and inspect
    it with `add_file`, `add_dir`, `get` and `listing`, which name paths as `remote:path`.
    """

    def __init__(self) -> None:
        self.entries: dict[_Key, MemoryEntry] = {}
        # source files (`remote:path`) whose copy inside a tree item fails with a transient 503
        # (a copy item of the same file succeeds)
        self.unavailable_in_trees: set[str] = set()

    # -- set-up and inspection --------------------------------------------------------------------
    def add_file(
        self,
        where: str,
        size: int = 0,
        *,
        mtime_ns: int = DEFAULT_MTIME_NS,
        checksum: str | None = None,
    ) -> None:
        """Create (or replace) a file and its missing parents."""
        remote, path = _parse(where)
        self._make_parents(remote, path)
        self.entries[(remote, path)] = MemoryEntry("file", size, mtime_ns, checksum)

    def add_dir(self, where: str) -> None:
        """Create a directory and its missing parents."""
        remote, path = _parse(where)
        self._make_parents(remote, path)
        self.entries.setdefault((remote, path), MemoryEntry("dir"))

    def get(self, where: str) -> MemoryEntry | None:
        """The entry at `remote:path`, or None."""
        return self._lookup(_parse(where))

    def listing(self) -> list[str]:
        """Every path held, as `remote:path`, directories ending with "/" (to compare states)."""
        return sorted(
            f"{remote}:{path}" + ("/" if entry.type == "dir" else "")
            for (remote, path), entry in self.entries.items()
            if path
        )

    # -- the handler ------------------------------------------------------------------------------
    def __call__(self, item: Item) -> Outcome:
        """Run one item against the files; a failure is an Outcome with its code, not raised."""
        try:
            return self._run(item)
        except _Refused as refused:
            return Outcome(ok=False, error=f"{item.target}: {refused}", code=refused.code)

    def _run(self, item: Item) -> Outcome:
        key = _key(item.target)
        kind = item.kind
        if kind is ItemKind.EXISTS:
            return Outcome(ok=True, result=self._lookup(key) is not None)
        if kind is ItemKind.STAT:
            return Outcome(ok=True, result=_wire(posixpath.basename(key[1]), self._existing(key)))
        if kind in (ItemKind.LIST, ItemKind.LIST_CHILDREN):
            return Outcome(ok=True, result=self._list(key, recursive=kind is ItemKind.LIST))
        if kind is ItemKind.MKDIR:
            self._mkdir(key)
            return Outcome(ok=True)
        if kind is ItemKind.REMOVE:
            if self._existing(key).type == "dir":
                raise _Refused(ItemCode.CONFLICT, "is a directory (use rmdir)")
            del self.entries[key]
            return Outcome(ok=True)
        if kind is ItemKind.RMDIR:
            self._existing(key)
            if not key[1]:
                raise _Refused(ItemCode.FORBIDDEN, "a storage root cannot be removed")
            self._delete_tree(key)
            return Outcome(ok=True)
        if kind in (ItemKind.COPY, ItemKind.MOVE):
            if item.src is None:
                raise _Refused(ItemCode.INVALID, f"a {kind} needs a source")
            return self._transfer(_key(item.src), key, move=kind is ItemKind.MOVE)
        if kind is ItemKind.METADATA_GET:
            return Outcome(ok=True, result=self._metadata(self._existing(key)))
        if kind is ItemKind.METADATA_SET:
            self._set_custom(self._existing(key), item.data or {})
            return Outcome(ok=True)
        if kind in (ItemKind.COPY_TREE, ItemKind.COMPARE_TREE):
            if item.src is None:
                raise _Refused(ItemCode.INVALID, f"a {kind} needs a source")
            return self._tree(item.src, item.target, item.data or {}, kind is ItemKind.COPY_TREE)
        raise _Refused(ItemCode.INVALID, f"unknown item kind {kind!r}")

    # -- the operations ---------------------------------------------------------------------------
    def _lookup(self, key: _Key) -> MemoryEntry | None:
        if not key[1]:  # a remote's root always exists
            return self.entries.setdefault(key, MemoryEntry("dir"))
        return self.entries.get(key)

    def _existing(self, key: _Key) -> MemoryEntry:
        entry = self._lookup(key)
        if entry is None:
            raise _Refused(ItemCode.NOT_FOUND, "no such file or directory")
        return entry

    def _list(self, key: _Key, *, recursive: bool) -> list[dict[str, Any]]:
        found = self._existing(key)
        remote, top = key
        if found.type == "file":
            return [_wire(posixpath.basename(top), found)]
        listed = []
        for (r, path), entry in sorted(self.entries.items()):
            if r != remote or not _under(path, top):
                continue
            rel = path[len(top) + 1 :] if top else path
            if recursive or "/" not in rel:
                listed.append(_wire(rel, entry))
        return listed

    def _make_parents(self, remote: str, path: str) -> None:
        parent = posixpath.dirname(path)
        if parent:
            self._mkdir((remote, parent))

    def _mkdir(self, key: _Key) -> None:
        remote, path = key
        walked = ""
        for part in path.split("/") if path else []:
            walked = f"{walked}/{part}" if walked else part
            entry = self.entries.setdefault((remote, walked), MemoryEntry("dir"))
            if entry.type == "file":
                raise _Refused(ItemCode.CONFLICT, f"{remote}:{walked}: a file is in the way")

    def _delete_tree(self, key: _Key) -> None:
        remote, top = key
        for r, path in list(self.entries):
            if r == remote and (path == top or _under(path, top)):
                del self.entries[(r, path)]

    def _transfer(self, src: _Key, dst: _Key, *, move: bool) -> Outcome:
        source = self._lookup(src)
        if source is None:
            raise _Refused(ItemCode.NOT_FOUND, f"{src[0]}:{src[1]}: no such file or directory")
        there = self._lookup(dst)
        if source.type == "dir" and not move:
            raise _Refused(ItemCode.INVALID, f"{src[0]}:{src[1]}: is a directory")
        if there is not None and (there.type == "dir" or source.type == "dir"):
            raise _Refused(ItemCode.CONFLICT, "is in the way")
        self._make_parents(*dst)
        if not move:
            self.entries[dst] = replace(source, custom={})
            return Outcome(ok=True, size=source.size)
        moved = {
            (dst[0], dst[1] + path[len(src[1]) :]): entry
            for (remote, path), entry in self.entries.items()
            if remote == src[0] and (path == src[1] or _under(path, src[1]))
        }
        self._delete_tree(src)
        self.entries.update(moved)
        return Outcome(ok=True, size=source.size if source.type == "file" else 0)

    def _tree(self, src: Target, dst: Target, spec: Mapping[str, Any], copy: bool) -> Outcome:
        """A directory copy (or its comparison) as one item, decided by planner/tree."""
        if self._existing(_key(src)).type != "dir":
            raise _Refused(ItemCode.CONFLICT, f"{src}: is not a directory")
        source = [Entry.from_wire(w) for w in self._list(_key(src), recursive=True)]
        there = self._lookup(_key(dst))
        existing = [] if there is None else self._list(_key(dst), recursive=True)
        destination = [Entry.from_wire(w) for w in existing]
        filters = Filters(spec.get("include", ()), spec.get("exclude", ()))
        overwrite, symlinks = spec.get("overwrite", "if-different"), spec.get("symlinks", "follow")
        plan = expand_directory(
            source,
            destination,
            filters=filters,
            overwrite=overwrite,
            checksum=bool(spec.get("checksum")),
            symlinks=symlinks,
        )
        sums = {e.path: e.checksum for e in source}
        rows: list[TreeRow] = []
        counts = dict.fromkeys(("copied", "overwritten", "failed", "bytes", "dirs_made"), 0)
        for decision in plan.to_copy:
            path, reason, size = decision.path, decision.reason, decision.size
            code, error = None, None
            if reason == "conflict":
                code, error = ItemCode.CONFLICT, f"{dst.remote}:{dst.path}/{path}: is in the way"
            elif ":".join(_sub(src, path)) in self.unavailable_in_trees:
                code, error = ItemCode.TRANSIENT, "service unavailable (fake)"
            elif copy:
                self._transfer(_sub(src, path), _sub(dst, path), move=False)
            if code is not None:
                counts["failed"] += 1
                rows.append(TreeRow(path, "file", size, reason, "failed", None, code, error))
                continue
            counts["copied" if reason == "new" else "overwritten"] += 1
            counts["bytes"] += size
            state = "done" if copy else "planned"
            rows.append(TreeRow(path, "file", size, reason, state, sums.get(path)))
        if spec.get("empty_dirs", True):
            for path in directories_to_make(
                source, destination, filters=filters, symlinks=symlinks, holding=plan.directories
            ):
                if copy:
                    self._mkdir(_sub(dst, path))
                counts["dirs_made"] += 1
                rows.append(TreeRow(path, "dir", 0, "new", "done" if copy else "planned"))
        result = {
            **counts,
            "unchanged": len(plan.unchanged),
            "filtered": plan.filtered,
            "compared": plan.compared,
            "skipped": 0,
            "unreadable": 0,
            "rows": len(rows),
        }
        failed = next((r for r in rows if r.state == "failed"), None)
        if failed is None:
            return TreeOutcome(ok=True, result=result, rows=rows)
        error = f"{counts['failed']} file{'s' if counts['failed'] != 1 else ''} failed"
        return TreeOutcome(ok=False, result=result, error=error, code=failed.code, rows=rows)

    @staticmethod
    def _metadata(entry: MemoryEntry) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "size": entry.size,
            "type": entry.type,
            "mtime": rfc3339(entry.mtime_ns),
            "custom": dict(entry.custom),
        }
        if entry.checksum is not None:
            fields["checksum"] = entry.checksum
        return fields

    @staticmethod
    def _set_custom(entry: MemoryEntry, changes: Mapping[str, Any]) -> None:
        for name, value in changes.items():
            if value is None:
                entry.custom.pop(name, None)
            else:
                entry.custom[name] = value


def _sub(top: Target, rel: str) -> _Key:
    """The key of `rel` below the directory `top`."""
    remote, path = _key(top)
    return remote, f"{path}/{rel}" if path else rel


def _wire(name: str, entry: MemoryEntry) -> dict[str, Any]:
    """A list entry as the wire has it (docs/api.md)."""
    wire: dict[str, Any] = {
        "name": name,
        "type": entry.type,
        "size": entry.size,
        "mtime": rfc3339(entry.mtime_ns),
    }
    if entry.checksum is not None:
        wire["checksum"] = entry.checksum
    return wire
