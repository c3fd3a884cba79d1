"""The one normalisation of the paths a request names (storage paths, metadata paths, permission
resources): validated and made canonical at submission, before authorization, so that the
permission check, the stores and the storages all see the same value (issue 9, item 1).

Rules (docs/api.md, "Paths"): a path on `local` is absolute, on any other remote relative to
its root; "." segments and one trailing "/" are dropped; `..` segments, empty segments
(`a//b`), NUL characters, lone surrogates, more than MAX_PATH_BYTES bytes or MAX_SEGMENTS
segments are refused. The canonical form of a remote's root is "" (`local`: "/"). A remote
name a request gives is checked by the rules of remote_names.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from planner.worker.problems import MAX_REPORTED
from planner.worker.remote_names import remote_name_problem

LOCAL = "local"
DEFAULT_REMOTE = "any"
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux: a longer path can never be opened
MAX_SEGMENTS = 512  # deep enough for any real tree, shallow enough for recursive code
MAX_SEGMENT_BYTES = 255  # NAME_MAX

# canonical paths (the fast path of `normalise` takes ASCII ones: characters are bytes)
_SEGMENT = rf"(?!\.\.?(?:/|\Z))[^/\x00]{{1,{MAX_SEGMENT_BYTES}}}"
_CANONICAL = re.compile(rf"(?:{_SEGMENT}(?:/{_SEGMENT})*)?")
_CANONICAL_LOCAL = re.compile(rf"/(?:{_SEGMENT}(?:/{_SEGMENT})*)?")


class PathError(ValueError):
    """A path that no route accepts; the message says why."""


def normalise(remote: str, path: str) -> str:
    """The canonical form of `path` on `remote`.

    Raises:
        PathError: the path breaks a rule of the module docstring.
    """
    # the common case, at C speed: ASCII, already canonical, within the limits
    if (
        path.isascii()
        and len(path) <= MAX_PATH_BYTES
        and (_CANONICAL_LOCAL if remote == LOCAL else _CANONICAL).fullmatch(path)
        and path.count("/") < MAX_SEGMENTS
    ):
        return path
    if not path.isascii():
        try:
            size = len(path.encode("utf-8"))
        except UnicodeEncodeError:
            raise PathError("lone surrogate in path (not valid Unicode)") from None
    else:
        size = len(path)
    if size > MAX_PATH_BYTES:
        raise PathError(f"path longer than {MAX_PATH_BYTES} bytes")
    if "\x00" in path:
        raise PathError("NUL character in path")
    absolute = path.startswith("/")
    if remote == LOCAL and not absolute:
        raise PathError("paths on 'local' must be absolute")
    if remote != LOCAL and absolute:
        raise PathError("path must be relative to the storage root (no leading '/')")
    segments = path[1:].split("/") if absolute else path.split("/")
    if segments[-1] == "" and len(segments) > 1:
        segments.pop()  # one trailing "/" names the same directory
    if len(segments) > MAX_SEGMENTS:
        raise PathError(f"path deeper than {MAX_SEGMENTS} segments")
    kept = []
    for segment in segments:
        if segment == "..":
            raise PathError("'..' segments are not allowed")
        if segment == "":
            if path in ("", "/"):
                continue
            raise PathError("empty path segment ('//')")
        if segment == ".":
            continue
        if len(segment) > MAX_SEGMENT_BYTES and len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise PathError(f"path segment longer than {MAX_SEGMENT_BYTES} bytes")
        kept.append(segment)
    joined = "/".join(kept)
    return "/" + joined if absolute else joined


def is_root_key(key: str) -> bool:
    """Whether a resource key (acl.resource_key) names the root of a remote: `""` (`any`),
    `remote:`, `local:/`; `any:a:` (the file `a:` on `any`) is no root."""
    head, sep, rest = key.partition(":")
    return key in ("", "/") or (bool(sep) and "/" not in head and rest in ("", "/"))


def split_resource(text: str, remotes: Iterable[str]) -> tuple[str, str]:
    """(remote, path) of a metadata path or permission resource: `remote:path` when `remote` is
    a known remote name, otherwise a path on the default remote `any` (`dir/a:b` included)."""
    head, sep, rest = text.partition(":")
    if sep and "/" not in head and head in remotes:
        return head, rest
    return DEFAULT_REMOTE, text


class PathChecker:
    """Normalises every path of one request, collecting the problems with their locations
    (`body.operations[3].dst.path`), so one answer names all of them."""

    def __init__(self, remotes: Iterable[str]) -> None:
        self.remotes = frozenset(remotes)
        self.problems: list[dict[str, Any]] = []
        self.count = 0

    def path(self, location: str, remote: str, path: str) -> str:
        """The canonical `path` on `remote` ("" after a problem, which is recorded; a remote
        that no remote could be called is located at the `remote` beside `location`)."""
        if remote not in self.remotes:
            wrong = remote_name_problem(remote)
            if wrong is not None:
                where = location.removesuffix(".path") + ".remote"
                self._record(where, wrong, remote)
                return ""
        try:
            return normalise(remote, path)
        except PathError as exc:
            self._record(location, str(exc), path)
            return ""

    def _record(self, location: str, message: str, value: str) -> None:
        self.count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append({"location": location, "message": message, "value": _shown(value)})

    def resource(self, location: str, text: str) -> tuple[str, str]:
        """(remote, canonical path) of a `remote:path` or plain path on `any`."""
        remote, path = split_resource(text, self.remotes)
        return remote, self.path(location, remote, path)

    def problem(self) -> tuple[str, list[dict[str, Any]]] | None:
        """(detail, errors) of the 422 answer, or None when every path was valid."""
        if not self.problems:
            return None
        first = self.problems[0]
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        return f"invalid path at {first['location']}: {first['message']}{more}", self.problems


def _shown(path: str) -> str | None:
    """A path or name as an answer may echo it (short, and only when it is valid Unicode)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return path if len(path) <= 200 else path[:200] + "…"
