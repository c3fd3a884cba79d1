"""The worker's storages: named remotes confined to a root directory (plus `local`, the host
filesystem), the file operations of the Data Transfer API on them, and the one place where
OSError becomes a per-item StorageError with an HTTP-like code.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from planner.worker import fileops
from planner.worker.fileops import CopyResult, MemoryTempRegistry, TempRegistry
from planner.worker.walk import walk

__all__ = [
    "CopyResult",
    "FileInfo",
    "MemoryTempRegistry",
    "StorageError",
    "Storages",
    "TempRegistry",
]

LOCAL = "local"

# errno -> code; anything not listed is 503 (transient: EIO, ENOSPC, EAGAIN, EBUSY, ESTALE, ...).
_ERRNO_CODES: dict[int, int] = {
    errno.ENOENT: 404,
    errno.EACCES: 403,
    errno.EPERM: 403,
    errno.EROFS: 403,
    errno.EEXIST: 409,
    errno.ENOTEMPTY: 409,
    errno.EISDIR: 409,
    errno.ENOTDIR: 409,
    # Not transient: retrying a bad path cannot help.
    errno.EINVAL: 400,
    errno.ELOOP: 400,
    errno.ENAMETOOLONG: 400,
}


class StorageError(Exception):
    """A per-item failure; `code` is HTTP-like: 400 invalid path or request, 403 outside the root
    or not allowed, 404 missing, 409 conflict, 499 cancelled, 503 transient (EIO, ENOSPC, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def code_for(exc: OSError) -> int:
    """The StorageError code of an OSError (503 for anything unlisted)."""
    return _ERRNO_CODES.get(exc.errno or 0, 503)


@contextmanager
def _translated(subject: str) -> Iterator[None]:
    """Turn OSError (and a cancelled copy) raised inside into StorageError about `subject`."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StorageError(code_for(exc), f"{subject}: {reason}") from exc
    except fileops.CopyCancelledError as exc:
        raise StorageError(499, "cancelled") from exc


@dataclass(frozen=True)
class FileInfo:
    """A file or directory as stat and list report it (`name` is relative to the listed
    directory in recursive listings, with "/" separators)."""

    name: str
    type: str
    size: int
    mtime_ns: int
    is_link: bool = False  # reached through a symbolic link (for `symlinks: skip`)

    @property
    def mtime(self) -> datetime:
        """The modification time, timezone-aware UTC, to the microsecond."""
        seconds, ns = divmod(self.mtime_ns, 1_000_000_000)
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=ns // 1000)


def _info(name: str, st: os.stat_result, is_link: bool = False) -> FileInfo | None:
    """FileInfo of a followed stat result; None for anything but files and directories."""
    if stat.S_ISDIR(st.st_mode):
        return FileInfo(name, "dir", 0, st.st_mtime_ns, is_link)
    if stat.S_ISREG(st.st_mode):
        return FileInfo(name, "file", st.st_size, st.st_mtime_ns, is_link)
    return None


_DIR_CACHE_SECONDS = 1.0


class Storages:
    """The remotes of one worker: `name -> root`, with `local` (root "/", absolute paths) always
    present. Every path is confined to its remote's root, symlinks included."""

    def __init__(
        self,
        remotes: Mapping[str, str | os.PathLike[str]],
        temp_registry: TempRegistry | None = None,
    ) -> None:
        """Create missing root directories.

        Raises:
            ValueError: `local` mapped to a root other than "/".
            StorageError: a root cannot be created.
        """
        self._roots: dict[str, str] = {LOCAL: "/"}
        for name, root in remotes.items():
            if name == LOCAL:
                if os.path.realpath(root) != "/":
                    raise ValueError("remote 'local' is the host filesystem; its root is '/'")
                continue
            with _translated(f"{name}: root {os.fspath(root)}"):
                os.makedirs(root, exist_ok=True)
            self._roots[name] = os.path.realpath(root)
        self._registry: TempRegistry = temp_registry or MemoryTempRegistry()
        # Directory resolutions are reused for a moment: a tree copy resolves the same few
        # directories thousands of times, and realpath (one lstat per component) dominated it.
        # The window is no wider in kind than the check-then-use race every resolution has.
        self._real_dirs: dict[str, tuple[float, str]] = {}
        self._made_dirs: dict[str, float] = {}

    def _real_dir(self, lexical: str) -> str:
        now = time.monotonic()
        cached = self._real_dirs.get(lexical)
        if cached is not None and now - cached[0] < _DIR_CACHE_SECONDS:
            return cached[1]
        real = os.path.realpath(lexical)
        if len(self._real_dirs) > 50_000:
            self._real_dirs.clear()
        self._real_dirs[lexical] = (now, real)
        return real

    def _ensure_dir(self, directory: str, *, known_missing: bool = False) -> None:
        """`mkdir -p`, skipped for a directory this worker made or saw a moment ago (unless the
        caller just found it missing)."""
        now = time.monotonic()
        seen = self._made_dirs.get(directory)
        if seen is not None and now - seen < _DIR_CACHE_SECONDS and not known_missing:
            return
        os.makedirs(directory, exist_ok=True)
        if len(self._made_dirs) > 50_000:
            self._made_dirs.clear()
        self._made_dirs[directory] = now

    def names(self) -> list[str]:
        """The remote names, sorted (`local` included)."""
        return sorted(self._roots)

    # -- confinement -------------------------------------------------------------------------

    def resolve(self, remote: str, path: str, *, for_write: bool = False) -> Path:
        """The filesystem path of `remote:path`, confined to the remote's root.

        For reading, the fully resolved (symlink-free) path. For writing, the resolved parent
        joined with the last name unresolved (so a rename or unlink acts on a link itself); the
        parent must then lie inside the root too.

        Raises:
            StorageError: 400 unknown remote or invalid path; 403 outside the storage root.
        """
        return Path(self._resolve(remote, path, for_write=for_write))

    def _resolve(
        self, remote: str, path: str, *, for_write: bool = False, check_link: bool = True
    ) -> str:
        """`resolve` as a string; with `check_link` False the last name is not looked at (the
        caller opens it with O_NOFOLLOW and comes back on ELOOP)."""
        root = self._roots.get(remote)
        if root is None:
            raise StorageError(400, f"unknown remote {remote!r} (known: {', '.join(self.names())})")
        parts = self._parts(remote, path)
        if not parts:
            return root
        lexical = os.path.join(root, *parts)
        parent = self._real_dir(os.path.dirname(lexical))
        if not fileops.is_inside(root, parent):
            raise StorageError(403, f"{remote}:{path}: outside the storage root")
        final = os.path.join(parent, parts[-1])
        if not check_link or not os.path.islink(final):
            return final
        real = os.path.realpath(final)
        if not fileops.is_inside(root, real):
            raise StorageError(403, f"{remote}:{path}: outside the storage root")
        # for writing, the link itself (a rename or unlink replaces it, never its target)
        return final if for_write else real

    @staticmethod
    def _parts(remote: str, path: str) -> list[str]:
        """The segments of a requested path, validated ("" and "." segments dropped)."""
        if "\x00" in path:
            raise StorageError(400, f"{remote}:{path!r}: NUL character in path")
        if remote == LOCAL and not path.startswith("/"):
            raise StorageError(400, f"{remote}:{path}: paths on 'local' must be absolute")
        if remote != LOCAL and path.startswith("/"):
            raise StorageError(400, f"{remote}:{path}: path must be relative to the storage root")
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise StorageError(400, f"{remote}:{path}: '..' is not allowed in paths")
        return parts

    def _is_root(self, remote: str, resolved: Path) -> bool:
        return str(resolved) == self._roots[remote]

    # -- reading -----------------------------------------------------------------------------

    def stat(self, remote: str, path: str) -> FileInfo:
        """The file or directory at `remote:path` (symlinks followed inside the root).

        Raises:
            StorageError: 404 missing; 400 neither a file nor a directory; see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            info = _info(_basename(path), os.stat(self.resolve(remote, path)))
        if info is None:
            raise StorageError(400, f"{remote}:{path}: neither a file nor a directory")
        return info

    def exists(self, remote: str, path: str) -> bool:
        """Whether a file or directory exists at `remote:path`.

        Raises:
            StorageError: see `resolve`; 403/503 when it cannot be told.
        """
        with _translated(f"{remote}:{path}"):
            try:
                os.stat(self.resolve(remote, path))
            except (FileNotFoundError, NotADirectoryError):
                return False
        return True

    def list(self, remote: str, path: str, *, recursive: bool = False) -> list[FileInfo]:
        """The entries of a directory sorted by name; for a file, just that file.

        Recursive listings hold every file and directory below, named by their path relative to
        the listed directory. Symlinks are followed only to targets inside the root; links that
        escape, dangle or loop back to a directory being listed are left out, as are special
        files and in-progress temporary files.

        Raises:
            StorageError: 404 missing; see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            real = self.resolve(remote, path)
            st = os.stat(real)
            if not stat.S_ISDIR(st.st_mode):
                info = _info(_basename(path), st)
                return [info] if info is not None else []
            found = walk(self._roots[remote], str(real), recursive=recursive)
            entries = [_info(name, entry, linked) for name, entry, linked in found]
            return sorted((e for e in entries if e is not None), key=lambda e: e.name)

    def checksum(self, remote: str, path: str) -> str:
        """The XXH64 (seed 0) lowercase hex of a file's content.

        Raises:
            StorageError: 404 missing; 409 a directory; see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            return fileops.hash_file(self.resolve(remote, path))

    # -- writing -----------------------------------------------------------------------------

    def mkdir(self, remote: str, path: str) -> bool:
        """`mkdir -p`: True if the directory was created, False if it existed.

        Raises:
            StorageError: 409 a file is in the way; see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            target = self.resolve(remote, path, for_write=True)
            if target.is_dir():
                return False
            try:
                os.makedirs(target)
            except FileExistsError:
                if not target.is_dir():
                    raise
                return False
            return True

    def remove(self, remote: str, path: str) -> None:
        """Delete a file or a symlink.

        Raises:
            StorageError: 404 missing; 409 a directory (use rmdir); see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            target = self.resolve(remote, path, for_write=True)
            if stat.S_ISDIR(os.lstat(target).st_mode):
                raise StorageError(409, f"{remote}:{path}: is a directory (use rmdir)")
            os.unlink(target)

    def rmdir(self, remote: str, path: str) -> None:
        """Delete a directory and everything below it (a file or symlink is deleted too);
        symlinks inside are removed, never followed.

        Raises:
            StorageError: 404 missing; 403 the storage root itself; see `resolve`.
        """
        with _translated(f"{remote}:{path}"):
            target = self.resolve(remote, path, for_write=True)
            if self._is_root(remote, target):
                raise StorageError(403, f"{remote}:{path}: the storage root cannot be removed")
            if stat.S_ISDIR(os.lstat(target).st_mode):
                shutil.rmtree(target)
            else:
                os.unlink(target)

    def move(self, src_remote: str, src_path: str, dst_remote: str, dst_path: str) -> None:
        """Rename a file or directory, within or across remotes; creates the parents of the
        destination and replaces an existing destination file. Across filesystems, copies
        atomically and then deletes the source.

        Raises:
            StorageError: 404 source missing; 409 destination in the way; see `resolve`.
        """
        with _translated(f"{src_remote}:{src_path} -> {dst_remote}:{dst_path}"):
            src = self.resolve(src_remote, src_path, for_write=True)
            dst = self.resolve(dst_remote, dst_path, for_write=True)
            if self._is_root(src_remote, src):
                raise StorageError(403, f"{src_remote}:{src_path}: the storage root cannot move")
            os.lstat(src)
            if src == dst:
                return
            os.makedirs(dst.parent, exist_ok=True)
            try:
                os.replace(src, dst)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                fileops.move_across_devices(src, dst, registry=self._registry)

    def copy(
        self,
        src_remote: str,
        src_path: str,
        dst_remote: str,
        dst_path: str,
        *,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        on_size: Callable[[int], None] | None = None,
    ) -> CopyResult:
        """Copy a file onto the full destination path, atomically, preserving its mtime; creates
        missing parents and replaces an existing destination file. `progress` gets the bytes
        copied so far after each chunk; `cancel` is checked between chunks.

        Raises:
            StorageError: 400 the source is a directory; 404 source missing; 409 the destination
                is a directory; 499 cancelled; see `resolve`.
        """
        with _translated(f"{src_remote}:{src_path} -> {dst_remote}:{dst_path}"):
            # Few syscalls per file (this runs 20,000 times for a tree): the source is opened
            # without following a final symlink (a link is resolved and confined only then),
            # its type comes from the open descriptor, a directory in the way fails the rename.
            src = self._resolve(src_remote, src_path, check_link=False)
            dst = self._resolve(dst_remote, dst_path, for_write=True)
            try:
                src_fd, st = fileops.open_regular(src)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise self._not_a_file(exc, src, src_remote, src_path) from exc
                src = self._resolve(src_remote, src_path)
                try:
                    src_fd, st = fileops.open_regular(src)
                except OSError as again:
                    raise self._not_a_file(again, src, src_remote, src_path) from again
            try:
                if dst == src:  # onto itself: nothing to write
                    return CopyResult(st.st_size, st.st_mtime_ns, fileops.hash_fd(src_fd))
                if on_size is not None:
                    on_size(st.st_size)
                parent = os.path.dirname(dst)
                self._ensure_dir(parent)
                try:
                    return fileops.copy_open_file(
                        src_fd, st, dst, registry=self._registry, progress=progress, cancel=cancel
                    )
                except FileNotFoundError:  # the parent went away since it was seen
                    self._ensure_dir(parent, known_missing=True)
                    return fileops.copy_open_file(
                        src_fd, st, dst, registry=self._registry, progress=progress, cancel=cancel
                    )
            except IsADirectoryError as exc:
                raise StorageError(409, f"{dst_remote}:{dst_path}: is a directory") from exc
            finally:
                os.close(src_fd)

    @staticmethod
    def _not_a_file(exc: OSError, src: str, remote: str, path: str) -> OSError | StorageError:
        """What a failed open of a copy's source means for the client."""
        if exc.errno == errno.EISDIR:
            return StorageError(400, "copy copies files; list the directory and copy its files")
        if exc.errno == errno.EINVAL and exc.filename == src:
            return StorageError(400, f"{remote}:{path}: not a regular file")
        return exc

    def cleanup_temp(self) -> int:
        """Delete every leftover temporary file the registry knows (call it before any copy
        starts); returns how many were deleted. Registered paths that are not temporary names of
        ours are forgotten, never deleted."""
        deleted = 0
        for leftover in self._registry.leftovers():
            path = Path(leftover)
            if not fileops.is_temp_name(path.name):
                self._registry.discard(leftover)
            elif fileops.discard_temp(path, self._registry):
                deleted += 1
        return deleted


def _basename(path: str) -> str:
    """The last segment of a requested path ("" for a root)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return parts[-1] if parts else ""
