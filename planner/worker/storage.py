"""The worker's storages: named remotes confined to a root directory (plus `local`, the host
filesystem) or to an object store location (objects/), and the file operations of the Data
Transfer API on them. Every directory operation opens its path through confine.py and acts
relative to the checked descriptor; OSError becomes StorageError in storage_errors.py. An object
remote's operations go to its backend (objects/backend.py), copies and moves between kinds to
crosskind.py.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from planner.api.codes import ItemCode
from planner.worker import fileops, moves
from planner.worker.confine import Place, Root, sync_dir
from planner.worker.file_info import FileInfo, Listed, file_info
from planner.worker.fileops import CopyResult, MemoryTempRegistry, TempRegistry
from planner.worker.objects.location import ObjectLocation
from planner.worker.placecopy import copy_opened, open_source
from planner.worker.probe import probe
from planner.worker.segments import segments
from planner.worker.storage_errors import SourceChangedError, StorageError, as_storage_errors
from planner.worker.treedelete import remove_tree
from planner.worker.walk import listed_place

if TYPE_CHECKING:
    from planner.worker.objects.attributes import Cache
    from planner.worker.objects.backend import ObjectBackend

__all__ = [
    "CopyResult",
    "MemoryTempRegistry",
    "StorageError",
    "Storages",
    "TempRegistry",
]

LOCAL = "local"


class Storages:
    """The remotes of one worker: `name -> root`, with `local` (root "/", absolute paths) always
    present. Every path is confined to its remote's root, symlinks included, without a window
    between check and use (confine.py)."""

    def __init__(
        self,
        remotes: Mapping[str, str | os.PathLike[str] | ObjectLocation],
        temp_registry: TempRegistry | None = None,
        *,
        fsync: bool = False,
        cache: Cache | None = None,
    ) -> None:
        """Create missing root directories. With `fsync`, copies, mkdir, remove, rmdir and
        moves sync what they wrote before they return (moves across filesystems always do).
        Object remotes keep what they learn of objects in `cache` (objects/attributes.py).

        Raises:
            ValueError: `local` mapped to a root other than "/".
            StorageError: a root cannot be created; no /proc/self/fd to confine paths with; an
                object store cannot be configured.
        """
        self._roots: dict[str, Root] = {LOCAL: Root(LOCAL, "/")}
        self._objects: dict[str, ObjectBackend] = {}
        for name, root in remotes.items():
            if isinstance(root, ObjectLocation):
                # imported only for an object remote: a worker without one never loads it
                from planner.worker.objects.backend import ObjectBackend

                self._objects[name] = ObjectBackend(name, root, cache)
                continue
            if name == LOCAL:
                if os.path.realpath(root) != "/":
                    raise ValueError("remote 'local' is the host filesystem; its root is '/'")
                continue
            with as_storage_errors(f"{name}: root {os.fspath(root)}"):
                os.makedirs(root, exist_ok=True)
                self._roots[name] = Root(name, os.fspath(root))
        self._registry: TempRegistry = temp_registry or MemoryTempRegistry()
        self._fsync = fsync

    def names(self) -> list[str]:
        """The remote names, sorted (`local` included)."""
        return sorted([*self._roots, *self._objects])

    def kind(self, remote: str) -> str:
        """What GET /storage reports as the remote's type: `posix` for a directory, the URL
        scheme (`s3`) for object storage."""
        backend = self._objects.get(remote)
        return "posix" if backend is None else backend.kind

    def close(self) -> None:
        """Stop what the object backends run."""
        for backend in self._objects.values():
            backend.close()

    @property
    def registry(self) -> TempRegistry:
        """Where copies record their temporary files (for the tree operations' copies)."""
        return self._registry

    @property
    def fsync(self) -> bool:
        """Whether copies sync what they wrote before they return (--fsync)."""
        return self._fsync

    def resolve(self, remote: str, path: str) -> tuple[Root, list[str]]:
        """The root of `remote` and the segments of `path` below it, validated and unescaped
        (for the tree operations, which open everything below through the root themselves).

        Raises:
            StorageError: 400 unknown remote or invalid path.
        """
        root = self._roots.get(remote)
        if root is None:
            if remote in self._objects:
                raise StorageError(
                    ItemCode.INVALID,
                    f"{remote}: tree operations are not served on object storage (yet): "
                    "copy file by file",
                )
            raise StorageError(
                ItemCode.INVALID, f"unknown remote {remote!r} (known: {', '.join(self.names())})"
            )
        return root, segments(remote, path)

    def object_at(self, remote: str, path: str) -> tuple[ObjectBackend, list[str]] | None:
        """The backend of an object remote and the validated segments of `path` on it; None
        for a directory remote."""
        backend = self._objects.get(remote)
        return None if backend is None else (backend, segments(remote, path))

    def place(
        self, remote: str, path: str, *, make_parents: bool = False, sync: bool = False
    ) -> Place:
        """`remote:path` on a directory remote opened (crosskind.py): see `_place`."""
        return self._place(remote, path, make_parents=make_parents, sync=sync)

    # -- confinement -------------------------------------------------------------------------

    def _place(
        self, remote: str, path: str, *, make_parents: bool = False, sync: bool = False
    ) -> Place:
        """`remote:path` opened: its parent directory's checked descriptor and its last name.
        Parents made for it are synced with `sync` or --fsync.

        Raises:
            StorageError: 400 unknown remote or invalid path; 403 outside the storage root.
            OSError: the parent cannot be opened (or made, with `make_parents`).
        """
        root, parts = self.resolve(remote, path)
        label = f"{remote}:{path}"
        if not parts:
            fd, real = root.open_dir([], label)
            return Place(root, fd, real, ".", label)
        try:
            fd, real = root.open_dir(parts[:-1], label)
        except FileNotFoundError:
            if not make_parents:
                raise
            fd, real = root.make_dirs(parts[:-1], label, sync=sync or self._fsync)
        return Place(root, fd, real, parts[-1], label)

    def synced(self, *places: Place) -> None:
        """With --fsync, sync the parent directories of `places` (a change of their entries)."""
        if self._fsync:
            for place in places:
                sync_dir(place.dir_fd)

    # -- reading -----------------------------------------------------------------------------

    def stat(self, remote: str, path: str) -> FileInfo:
        """The file or directory at `remote:path` (symlinks followed inside the root).

        Raises:
            StorageError: 404 missing; 400 neither a file nor a directory; 403 outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].stat(on[1], f"{remote}:{path}")
        with as_storage_errors(f"{remote}:{path}"), self._place(remote, path) as place:
            info = file_info(_basename(path), place.stat())
        if info is None:
            raise StorageError(ItemCode.INVALID, f"{remote}:{path}: neither a file nor a directory")
        return info

    def probe(self, remote: str, path: str) -> FileInfo:
        """The entry at `remote:path` as a listing of its parent shows it (probe.py)."""
        if (on := self.object_at(remote, path)) is not None:
            return on[0].stat(on[1], f"{remote}:{path}")
        return probe(lambda: self._place(remote, path), f"{remote}:{path}", _basename(path))

    def exists(self, remote: str, path: str) -> bool:
        """Whether a file or directory exists at `remote:path`.

        Raises:
            StorageError: 400/403 as `stat`; 403/503 when it cannot be told.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].exists(on[1], f"{remote}:{path}")
        with as_storage_errors(f"{remote}:{path}"):
            try:
                with self._place(remote, path) as place:
                    place.stat()
            except (FileNotFoundError, NotADirectoryError):
                return False
        return True

    def list(self, remote: str, path: str, *, recursive: bool = False) -> list[FileInfo]:
        """The entries of a directory sorted by name (`listed` without what was skipped)."""
        return self.listed(remote, path, recursive=recursive).entries

    def listed(
        self, remote: str, path: str, *, recursive: bool = False, exact_mtimes: bool = True
    ) -> Listed:
        """The entries of a directory sorted by name; for a file, just that file.

        Recursive listings hold every file and directory below, named by their path relative to
        the listed directory. Symlinks are followed only to targets inside the root; links that
        escape, dangle or loop back to a directory being listed are left out, as are special
        files and in-progress temporary files; special files and loops are reported as skipped,
        and subdirectories that cannot be read as unreadable. Names are escaped
        (planner/api/names.py). Without `exact_mtimes`, an object remote gives the LastModified
        of an object it would have to HEAD for its stored mtime (`FileInfo.mtime_exact` False).

        Raises:
            StorageError: 404 missing; 403 outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            label = f"{remote}:{path}"
            return on[0].listed(on[1], label, recursive=recursive, heads=exact_mtimes)
        with as_storage_errors(f"{remote}:{path}"), self._place(remote, path) as place:
            return listed_place(place, _basename(path), recursive=recursive)

    def checksum(self, remote: str, path: str) -> str:
        """The XXH64 (seed 0) lowercase hex of a file's content.

        Raises:
            StorageError: 404 missing; 409 a directory; 503 the file changed while it was
                hashed; 403 outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].checksum(on[1], f"{remote}:{path}")
        with as_storage_errors(f"{remote}:{path}"):
            with self._place(remote, path) as place:
                fd, st = place.open_file()
            try:
                checksum = fileops.hash_fd(fd)
                fileops.ensure_unchanged(fd, st)
            except SourceChangedError as exc:
                raise StorageError(
                    ItemCode.TRANSIENT, f"{remote}:{path}: changed while it was hashed"
                ) from exc
            finally:
                os.close(fd)
        return checksum

    # -- writing -----------------------------------------------------------------------------

    def mkdir(self, remote: str, path: str) -> bool:
        """`mkdir -p`: True if the directory was created, False if it existed.

        Raises:
            StorageError: 409 a file is in the way; 403 outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].mkdir(on[1], f"{remote}:{path}")
        with (
            as_storage_errors(f"{remote}:{path}"),
            self._place(remote, path, make_parents=True) as place,
        ):
            if place.is_root:
                return False
            try:
                os.mkdir(place.name, dir_fd=place.dir_fd)
            except FileExistsError:
                if stat.S_ISDIR(place.stat().st_mode):
                    return False
                raise
            self.synced(place)
            return True

    def remove(self, remote: str, path: str) -> None:
        """Delete a file or a symlink.

        Raises:
            StorageError: 404 missing; 409 a directory (use rmdir); 403 outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].remove(on[1], f"{remote}:{path}")
        with as_storage_errors(f"{remote}:{path}"), self._place(remote, path) as place:
            st = place.lstat()
            if stat.S_ISDIR(st.st_mode):
                raise StorageError(
                    ItemCode.CONFLICT, f"{remote}:{path}: is a directory (use rmdir)"
                )
            place.check_link(st)
            moves.unlink(place)
            self.synced(place)

    def rmdir(self, remote: str, path: str) -> None:
        """Delete a directory and everything below it (a file or symlink is deleted too);
        symlinks inside are removed, never followed.

        Raises:
            StorageError: 404 missing; 403 the storage root itself, or outside the root.
        """
        if (on := self.object_at(remote, path)) is not None:
            return on[0].rmdir(on[1], f"{remote}:{path}")
        with as_storage_errors(f"{remote}:{path}"), self._place(remote, path) as place:
            if place.is_root:
                raise StorageError(
                    ItemCode.FORBIDDEN, f"{remote}:{path}: the storage root cannot be removed"
                )
            st = place.lstat()
            place.check_link(st)
            if stat.S_ISDIR(st.st_mode):
                remove_tree(place.dir_fd, place.name)
            else:
                moves.unlink(place)
            self.synced(place)

    def move(self, src_remote: str, src_path: str, dst_remote: str, dst_path: str) -> None:
        """Rename a file or directory, within or across remotes; creates the parents of the
        destination and replaces an existing destination file. Across filesystems, copies
        durably and then deletes the source (moves.py).

        Raises:
            StorageError: 404 source missing; 409 destination in the way; 403 outside a root.
        """
        if src_remote in self._objects or dst_remote in self._objects:
            from planner.worker import crosskind

            return crosskind.move(self, src_remote, src_path, dst_remote, dst_path)
        with (
            as_storage_errors(f"{src_remote}:{src_path} -> {dst_remote}:{dst_path}"),
            self._place(src_remote, src_path) as src,
        ):
            # parents are synced as they are made: a move across filesystems deletes its
            # source once the destination is durable, which includes its path
            moves.move_places(
                src,
                lambda: self._place(dst_remote, dst_path, make_parents=True, sync=True),
                registry=self._registry,
                synced=self.synced,
            )

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
        copied so far after each chunk; `cancel` is checked between chunks. With --fsync, the
        file and its directory are synced before this returns.

        Raises:
            StorageError: 400 the source is a directory; 404 source missing; 409 the destination
                is a directory; 499 cancelled; 503 the source changed during the copy; 403
                outside a root.
        """
        if src_remote in self._objects or dst_remote in self._objects:
            from planner.worker import crosskind

            return crosskind.copy(
                self,
                (src_remote, src_path),
                (dst_remote, dst_path),
                progress=progress,
                cancel=cancel,
                on_size=on_size,
            )
        with as_storage_errors(f"{src_remote}:{src_path} -> {dst_remote}:{dst_path}"):
            with self._place(src_remote, src_path) as src:
                src_fd, st = open_source(src)
            try:
                with self._place(dst_remote, dst_path, make_parents=True) as dst:
                    return copy_opened(
                        src_fd,
                        st,
                        dst,
                        registry=self._registry,
                        fsync=self._fsync,
                        progress=progress,
                        cancel=cancel,
                        on_size=on_size,
                    )
            finally:
                os.close(src_fd)

    def cleanup_temp(self) -> int:
        """Delete every leftover temporary file the registry knows (call it before any copy
        starts); returns how many were deleted. Registered paths that are not temporary names of
        ours are forgotten, never deleted; each is deleted through the checked descriptor of its
        directory, within the most specific root that holds it."""
        return fileops.delete_leftovers(self._roots.values(), self._registry)


def _basename(path: str) -> str:
    """The last segment of a requested path ("" for a root)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return parts[-1] if parts else ""
