"""The model of a preview's changes: what the actions previewed so far would have created,
deleted, changed in metadata and granted, per remote (preview.py corrects every real read by
it)."""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from planner.api.codes import ItemCode
from planner.runner.engine import Outcome, Target

# the mtime of directories the preview creates (files keep their source's)
PREVIEW_MTIME = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class PredictedFile:
    """A file as the preview predicts it (a wire list entry, minus its name)."""

    size: int
    mtime: str | None  # None: a tree comparison's file, until its source's mtime is read
    checksum: str | None = None
    origin: Target | None = None  # the real file it is a copy of (to hash it when asked)

    def wire(self) -> dict[str, Any]:
        """The file as a wire list entry, without its name."""
        mtime = self.mtime or PREVIEW_MTIME  # settled before any read (preview.py)
        entry: dict[str, Any] = {"type": "file", "size": self.size, "mtime": mtime}
        if self.checksum:
            entry["checksum"] = self.checksum
        return entry


def path_key(target: Target) -> tuple[str, str]:
    """(remote, path without a trailing "/"): how the overlay keys a path."""
    return target.remote, target.path.rstrip("/") if target.path != "/" else "/"


def is_under(path: str, top: str) -> bool:
    """`path` is `top` or below it ("" and "/" are roots)."""
    if top in ("", "/"):
        return True
    return path == top or path.startswith(top + "/")


def relative_to(path: str, top: str) -> str:
    """`path` relative to `top`, which holds it."""
    if top in ("", "/"):
        return path.lstrip("/")
    return path[len(top) + 1 :]


def join_path(top: str, rel: str) -> str:
    """`rel` below `top` ("" is a root)."""
    if not rel:
        return top
    if top in ("",):
        return rel
    return posixpath.join(top, rel)


@dataclass
class Overlay:
    """The changes of the preview so far, per remote: files and directories it would create,
    paths it would delete, custom metadata and grants it would change. Every question is
    answered from the paths concerned (by key, by ancestors, or by the created children of a
    directory), never by a scan of all the changes: a preview of thousands of actions asks it
    once or more per action."""

    files: dict[tuple[str, str], PredictedFile] = field(default_factory=dict)
    dirs: set[tuple[str, str]] = field(default_factory=set)
    gone: set[tuple[str, str]] = field(default_factory=set)
    custom: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    granted: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    revoked: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    # the created files and directories, by the key of their parent directory
    _children: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def hidden(self, remote: str, path: str) -> bool:
        """A real path the preview deleted (and did not create again)."""
        if not self.gone:  # the common case, asked once per listed entry
            return False
        return any((remote, top) in self.gone for top in _ancestors(path))

    def delete(self, remote: str, top: str) -> None:
        for path in self._created_below(remote, top):
            self.files.pop((remote, path), None)
            self.dirs.discard((remote, path))
            self._children.pop((remote, path), None)
            self._children.get((remote, _parent(path)), set()).discard(path)
        if self.custom:
            self.custom = {
                k: v for k, v in self.custom.items() if not (k[0] == remote and is_under(k[1], top))
            }
        self.gone.add((remote, top))

    def add_file(self, remote: str, path: str, entry: PredictedFile) -> None:
        self.files[(remote, path)] = entry
        self._children.setdefault((remote, _parent(path)), set()).add(path)
        self.add_dir(remote, _parent(path))

    def add_dir(self, remote: str, path: str) -> None:
        while path not in ("", "/") and (remote, path) not in self.dirs:
            self.dirs.add((remote, path))
            self._children.setdefault((remote, _parent(path)), set()).add(path)
            path = _parent(path)

    def touches(self, remote: str, top: str) -> bool:
        """Whether a change of the preview lies at or below `top`, or a file it created or a
        path it deleted at or above it: what a read of `top`'s tree must be corrected by."""
        return (
            any(r == remote and (is_under(p, top) or is_under(top, p)) for r, p in self.files)
            or any(r == remote and is_under(p, top) for r, p in self.dirs)
            or any(r == remote and (is_under(p, top) or is_under(top, p)) for r, p in self.gone)
        )

    def created(self, remote: str, top: str) -> list[tuple[str, dict[str, Any]]]:
        """Entries the preview created at or below `top`: (full path, wire entry)."""
        below = self._created_below(remote, top)
        found = [(p, self.files[(remote, p)].wire()) for p in below if (remote, p) in self.files]
        dir_entry = {"type": "dir", "size": 0, "mtime": PREVIEW_MTIME}
        return found + [(p, dict(dir_entry)) for p in below if (remote, p) in self.dirs]

    def _created_below(self, remote: str, top: str) -> list[str]:
        """The created paths at or below `top`, each parent before its children."""
        key = (remote, top)
        found = [top] if key in self.files or key in self.dirs else []
        tops = [top] if top not in ("", "/") else ["", "/"]  # a root's children: either form
        while tops:
            below = self._children.get((remote, tops.pop()), ())
            found.extend(below)
            tops.extend(p for p in below if (remote, p) in self.dirs)
        return found

    def exists(self, remote: str, path: str, outcome: Outcome) -> bool:
        """Whether a path exists as the preview sees it (`outcome`: the real exists)."""
        if (remote, path) in self.files or (remote, path) in self.dirs:
            return True
        if self.hidden(remote, path):
            return False
        return bool(outcome.result) if outcome.ok else False

    def metadata(self, remote: str, path: str, outcome: Outcome) -> Outcome:
        """A path's metadata as the preview sees it (`outcome`: the real metadata:get)."""
        changes = self.custom.get((remote, path))
        created = (remote, path) in self.files or (remote, path) in self.dirs
        if self.hidden(remote, path) and not created:
            return Outcome(
                ok=False, error="no such file or directory (predicted)", code=ItemCode.NOT_FOUND
            )
        if not outcome.ok and not created:
            return outcome
        fields = dict(outcome.result or {}) if outcome.ok else {}
        file = self.files.get((remote, path))
        if file is not None:  # the file the preview wrote, not the real one (if any)
            fields.update(size=file.size, mtime=file.mtime, type="file")
            fields.pop("checksum", None)
            if file.checksum:
                fields["checksum"] = file.checksum
        custom = dict(fields.get("custom") or {})
        for name, value in (changes or {}).items():
            if value is None:
                custom.pop(name, None)
            else:
                custom[name] = value
        fields["custom"] = custom
        return Outcome(ok=True, result=fields)


def _parent(path: str) -> str:
    return posixpath.dirname(path)


def _ancestors(path: str) -> list[str]:
    """`path` and every directory above it, up to both forms of a root ("" and "/")."""
    found = []
    while path not in ("", "/"):
        found.append(path)
        path = _parent(path)
    return [*found, "", "/"]
