"""Race-free confinement of paths to a storage root (Linux: it reads /proc/self/fd).

A path is never resolved to a string that is used later. Its directory is *opened* (an O_PATH
descriptor; the kernel follows symlinks), the real path of the opened descriptor is checked to lie
inside the root, and the operation then acts on the last name relative to that same descriptor
(`openat`, `unlinkat`, `renameat`, ...). A symlink swapped in at any moment changes what a later
open finds, never what a checked descriptor refers to. A last name that is a symlink is followed
the same way (opened, then checked) for reading; writes (rename, unlink) act on the link itself.
Nothing is cached: every call opens and checks again (docs/worker.md, "Storages").
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from types import TracebackType

from planner.api.codes import ItemCode
from planner.worker.storage_errors import StorageError

O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_O_ANY = os.O_PATH | os.O_CLOEXEC
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# what an open of a missing, dangling or looping path fails with
_NOT_FOUND = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


def fd_path(fd: int) -> str:
    """The current real path of an open descriptor, as the kernel reports it."""
    return os.readlink(f"/proc/self/fd/{fd}")


def reopen(fd: int, flags: int) -> int:
    """A new descriptor with `flags` of the object `fd` (an O_PATH descriptor) refers to; the
    /proc magic link names that object itself, whatever its path is now."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)


def sync_dir(dir_fd: int) -> None:
    """fsync the directory `dir_fd` refers to (an O_PATH descriptor cannot be synced itself)."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def join(directory: str, name: str) -> str:
    """`directory/name` (os.path.join costs more, and this runs for every file of a tree)."""
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


def is_inside(root: str, real: str) -> bool:
    """Whether the real path `real` is `root` or lies below it."""
    return root == "/" or real == root or real.startswith(root + os.sep)


def open_regular(
    name: str, dir_fd: int | None = None, *, flags: int = _O_READ
) -> tuple[int, os.stat_result]:
    """Open a regular file for reading, without following a final symlink (ELOOP) or blocking on
    a FIFO; anything but a regular file is EISDIR (a directory) or EINVAL."""
    fd = os.open(name, flags, dir_fd=dir_fd)
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        return fd, st
    os.close(fd)
    code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
    raise OSError(code, "not a regular file", name)


def open_listed(
    name: str, dir_fd: int, listed: os.stat_result | None
) -> tuple[int, os.stat_result]:
    """`open_regular` for a name that a listing of `dir_fd` has just seen as a regular file
    (`listed`: its lstat there), without a stat of its own: the copy's final check
    (fileops.ensure_unchanged) compares the file it read with `listed`, its inode included, so
    a name replaced since the listing fails as changed. Without `listed`, `open_regular`."""
    if listed is None:
        return open_regular(name, dir_fd)
    return os.open(name, _O_READ, dir_fd=dir_fd), listed


class Root:
    """A storage root: a directory every path of one remote stays in. `/` (the `local` remote,
    the host's filesystem) contains everything, so nothing is checked for it."""

    __slots__ = ("is_host", "name", "path")

    def __init__(self, name: str, path: str) -> None:
        """`path` must name an existing directory.

        Raises:
            OSError: it cannot be opened.
            StorageError: 500 /proc/self/fd is not available (not Linux, or no /proc mounted).
        """
        self.name = name
        self.is_host = os.path.realpath(path) == "/"
        if self.is_host:
            self.path = "/"
            return
        fd = os.open(path, O_DIR)
        try:
            self.path = fd_path(fd)  # the kernel's spelling, which every check compares with
        except OSError as exc:
            raise StorageError(
                ItemCode.INTERNAL,
                f"{name}: confining a storage root needs Linux /proc/self/fd ({exc.strerror})",
            ) from exc
        finally:
            os.close(fd)

    def check(self, fd: int, label: str) -> str:
        """The real path of `fd`, which must be inside this root.

        Raises:
            StorageError: 403 it is not.
        """
        if self.is_host:
            return fd_path(fd)
        real = fd_path(fd)
        if not is_inside(self.path, real):
            raise StorageError(ItemCode.FORBIDDEN, f"{label}: outside the storage root")
        return real

    def escapes(self, lexical: str) -> bool:
        """Whether a path that could not be opened would lead outside the root (only to tell a
        missing path, 404, from an escaping one, 403, as realpath sees it now)."""
        return not self.is_host and not is_inside(self.path, os.path.realpath(lexical))

    def open_dir(self, parts: list[str], label: str) -> tuple[int, str]:
        """An O_PATH descriptor of the directory `root/parts`, checked inside the root, and its
        real path. The caller closes it.

        Raises:
            StorageError: 403 it leads outside the root.
            OSError: it cannot be opened (ENOENT, ENOTDIR, ...).
        """
        lexical = join(self.path, "/".join(parts)) if parts else self.path
        try:
            fd = os.open(lexical, O_DIR)
        except OSError as exc:
            if exc.errno in _NOT_FOUND and self.escapes(lexical):
                raise StorageError(
                    ItemCode.FORBIDDEN, f"{label}: outside the storage root"
                ) from exc
            raise
        if self.is_host:
            return fd, lexical
        try:
            return fd, self.check(fd, label)
        except BaseException:
            os.close(fd)
            raise

    def make_dirs(self, parts: list[str], label: str, *, sync: bool = False) -> tuple[int, str]:
        """`mkdir -p root/parts` one component at a time, each made and opened relative to the
        checked descriptor of its parent; returns the last one like `open_dir`. With `sync`,
        each directory that got a new entry is fsynced.

        Raises:
            StorageError: 403 a component leads outside the root.
            OSError: a component cannot be made (EEXIST/ENOTDIR: something else is in the way).
        """
        fd, real = self.open_dir([], label)
        try:
            for part in parts:
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
                else:
                    if sync:
                        sync_dir(fd)
                child, real = self.enter(fd, real, part, label)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd, real

    def enter(self, dir_fd: int, dir_path: str, name: str, label: str) -> tuple[int, str]:
        """An O_PATH descriptor of the directory `name` in `dir_fd` and its real path; a symlink
        is followed only to a directory inside the root.

        Raises:
            StorageError: 403 it leads outside the root.
            OSError: not a directory (ENOTDIR), missing (ENOENT), ...
        """
        try:
            fd = os.open(name, O_DIR | os.O_NOFOLLOW, dir_fd=dir_fd)
        except NotADirectoryError:  # a symlink (or a file: the followed open says which)
            fd = self.follow(dir_fd, dir_path, name, label, flags=O_DIR)
            try:
                return fd, self.check(fd, label)
            except BaseException:
                os.close(fd)
                raise
        return fd, join(dir_path, name)

    def follow(
        self, dir_fd: int, dir_path: str, name: str, label: str, *, flags: int = _O_ANY
    ) -> int:
        """An O_PATH descriptor of what the symlink `name` in `dir_fd` leads to, checked inside
        the root (the link is opened by the kernel, then the opened object is checked).

        Raises:
            StorageError: 403 it leads outside the root (also when it dangles there).
            OSError: it dangles (ENOENT) or loops (ELOOP) inside the root.
        """
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in _NOT_FOUND and self.escapes(join(dir_path, name)):
                raise StorageError(
                    ItemCode.FORBIDDEN, f"{label}: outside the storage root"
                ) from exc
            raise
        try:
            self.check(fd, label)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def reopen_dir(self, path: str, key: tuple[int, int]) -> int | None:
        """An O_RDONLY descriptor of the directory that was seen at the real path `path` with
        (st_dev, st_ino) `key`; None when it is gone, moved, replaced or now outside the root
        (walks re-open each directory so that they hold few descriptors, however deep or wide
        the tree)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _NOT_FOUND:
                return None
            raise
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == key and (
                self.is_host or is_inside(self.path, fd_path(fd))
            ):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return None


class Place:
    """`remote:path` opened for one operation: the checked descriptor of its parent directory
    and its last name ("." for the root itself). Use it as a context manager (it closes the
    descriptor)."""

    __slots__ = ("dir_fd", "dir_path", "label", "name", "root")

    def __init__(self, root: Root, dir_fd: int, dir_path: str, name: str, label: str) -> None:
        self.root = root
        self.dir_fd = dir_fd
        self.dir_path = dir_path
        self.name = name
        self.label = label

    def __enter__(self) -> Place:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the parent's descriptor (once)."""
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    @property
    def is_root(self) -> bool:
        return self.name == "."

    @property
    def path(self) -> str:
        """The real path of the last name (for messages and the temp-file journal)."""
        return self.dir_path if self.is_root else join(self.dir_path, self.name)

    def lstat(self) -> os.stat_result:
        """The last name itself (a symlink is not followed)."""
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def lstat_or_none(self) -> os.stat_result | None:
        """`lstat`, or None when nothing has the last name."""
        try:
            return self.lstat()
        except FileNotFoundError:
            return None

    def target(self) -> int:
        """An O_PATH descriptor of what the last name is, a symlink followed only to a target
        inside the root. The caller closes it.

        Raises:
            StorageError: 403 a symlink leading outside the root.
            OSError: missing, dangling, looping.
        """
        fd = os.open(self.name, _O_ANY | os.O_NOFOLLOW, dir_fd=self.dir_fd)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISLNK(st.st_mode):
            return fd
        os.close(fd)
        return self.root.follow(self.dir_fd, self.dir_path, self.name, self.label)

    def open_file(self) -> tuple[int, os.stat_result]:
        """The last name opened for reading and its fstat: a regular file, or a symlink followed
        only to one inside the root. The caller closes it.

        Raises:
            StorageError: 403 a symlink leading outside the root.
            OSError: missing; EISDIR a directory; EINVAL anything else but a regular file.
        """
        try:
            return open_regular(self.name, self.dir_fd)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
        fd = self.root.follow(self.dir_fd, self.dir_path, self.name, self.label)
        try:
            return open_regular(f"/proc/self/fd/{fd}", flags=_O_READ & ~os.O_NOFOLLOW)
        finally:
            os.close(fd)

    def stat(self) -> os.stat_result:
        """What the last name is, a symlink followed only to a target inside the root."""
        st = self.lstat()
        if not stat.S_ISLNK(st.st_mode):
            return st
        fd = self.root.follow(self.dir_fd, self.dir_path, self.name, self.label)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def check_link(self, st: os.stat_result | None) -> None:
        """For a write acting on the last name itself: when it is a symlink (`st`, its lstat),
        the link must not lead outside the root (so a client never gets to treat an escaping
        link as its own).

        Raises:
            StorageError: 403 it does.
        """
        if st is None or not stat.S_ISLNK(st.st_mode):
            return
        # dangling or looping inside the root is fine: the write replaces the link itself
        with contextlib.suppress(OSError):
            os.close(self.root.follow(self.dir_fd, self.dir_path, self.name, self.label))
