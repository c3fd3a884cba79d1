"""Directory trees for moves across filesystems: a durable copy of a tree (files, directories and
symlinks as symlinks, modes and mtimes kept, everything fsynced) and the check that a destination
already holds a source tree. Iterative and descriptor-relative: each directory is re-opened by
its real path and checked (confine.Root.reopen_dir), so a walk holds two directories open
whatever the depth or width of the tree, and a symlink swapped in meanwhile is never followed."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from planner.api.codes import ItemCode
from planner.api.names import escape_name
from planner.worker.confine import Root, open_regular
from planner.worker.fileops import METHODS, copy_into, hash_fd
from planner.worker.storage_errors import SourceChangedError, StorageError
from planner.worker.treedelete import Identity, identity

_SPECIAL = "a special file cannot be moved across filesystems"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def key_of(st: os.stat_result) -> tuple[int, int]:
    """What identifies a directory between two opens: (st_dev, st_ino)."""
    return st.st_dev, st.st_ino


@dataclass(frozen=True)
class Side:
    """One directory of a tree walk: its root, real path and identity."""

    root: Root
    path: str
    key: tuple[int, int]

    def open(self) -> int:
        """Re-open it (O_RDONLY).

        Raises:
            SourceChangedError: it is gone, replaced or moved out of the root meanwhile.
        """
        fd = self.root.reopen_dir(self.path, self.key)
        if fd is None:
            raise SourceChangedError
        return fd

    def child(self, name: str, st: os.stat_result) -> Side:
        return Side(self.root, os.path.join(self.path, name), key_of(st))


def copy_tree(src: Side, src_st: os.stat_result, dst: Side, copied: set[Identity]) -> None:
    """Copy the content of the directory `src` (whose stat is `src_st`) into the empty
    directory `dst`: files (mode and
    mtime kept), directories and symlinks (as symlinks); then give every directory its source's
    mode and mtime and fsync it, deepest first, so the whole tree is durable when this returns.
    The identity of each source entry copied goes to `copied` (only those may be deleted).

    Raises:
        StorageError: 400 a special file (FIFO, socket, device) cannot be moved; 400 `dst` lies
            inside `src` (a mount point inside the tree made rename(2) answer EXDEV).
        OSError: from the filesystem; SourceChangedError when the source changes meanwhile.
    """
    copied.add(identity(src_st))
    pending = [(src, dst, "")]
    finish = [(dst, src_st)]
    while pending:
        source, target, prefix = pending.pop()
        sfd = source.open()
        try:
            dfd = target.open()
            try:
                with os.scandir(sfd) as scan:
                    entries = list(scan)
                for entry in entries:
                    st = entry.stat(follow_symlinks=False)
                    name = entry.name
                    if stat.S_ISREG(st.st_mode):
                        st = _copy_member(sfd, dfd, name)
                    elif stat.S_ISDIR(st.st_mode):
                        if key_of(st) == dst.key:
                            raise StorageError(
                                ItemCode.INVALID, "a directory cannot be moved into itself"
                            )
                        os.mkdir(name, 0o700, dir_fd=dfd)
                        made = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                        child = target.child(name, made)
                        pending.append(
                            (source.child(name, st), child, f"{prefix}{escape_name(name)}/")
                        )
                        finish.append((child, st))
                    elif stat.S_ISLNK(st.st_mode):
                        os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
                        os.utime(
                            name,
                            ns=(st.st_atime_ns, st.st_mtime_ns),
                            dir_fd=dfd,
                            follow_symlinks=False,
                        )
                    else:
                        raise StorageError(
                            ItemCode.INVALID,
                            f"{prefix}{escape_name(name)}: a special file cannot be moved "
                            "across filesystems",
                        )
                    copied.add(identity(st))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
    for target, st in reversed(finish):
        dfd = target.open()
        try:
            os.fchmod(dfd, stat.S_IMODE(st.st_mode))
            os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _copy_member(sfd: int, dfd: int, name: str) -> os.stat_result:
    """Copy the regular file `name` of `sfd` into `dfd` (mode and mtime kept) and fsync it;
    returns the source's fstat, unchanged during the copy."""
    src_fd, st = open_regular(name, sfd)
    try:
        dst_fd = os.open(name, _CREATE, 0o600, dir_fd=dfd)
        try:
            copy_into(src_fd, st, dst_fd, list(METHODS))
            os.fchmod(dst_fd, stat.S_IMODE(st.st_mode))
            os.fsync(dst_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    return st


def difference(src: Side, dst: Side, matched: set[Identity]) -> str | None:
    """Why the directory `dst` does not already hold everything of `src` (each file with the
    same size and either the same mtime or the same XXH64, each directory, each symlink with the
    same target), or None when it does; what matched in `dst` is fsynced on the way, so that the
    source can then be deleted (issue 9, item 13: finishing an interrupted move), and the
    identities of the source entries that matched go to `matched`. A destination that is the
    source itself (another mount of it) never matches."""
    pending = [(src, dst, "")]
    while pending:
        source, target, prefix = pending.pop()
        if source.key == target.key:
            return f"{prefix or './'} is the source itself"
        sfd = source.open()
        try:
            dfd = target.open()
            try:
                with os.scandir(sfd) as scan:
                    entries = list(scan)
                for entry in entries:
                    name = entry.name
                    st = entry.stat(follow_symlinks=False)
                    try:
                        there = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    except FileNotFoundError:
                        return f"{prefix}{escape_name(name)} is missing there"
                    if stat.S_IFMT(st.st_mode) != stat.S_IFMT(there.st_mode):
                        return f"{prefix}{escape_name(name)} is of another type there"
                    if key_of(st) == key_of(there):
                        return f"{prefix}{escape_name(name)} is the source itself"
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(
                            (
                                source.child(name, st),
                                target.child(name, there),
                                f"{prefix}{escape_name(name)}/",
                            )
                        )
                    elif stat.S_ISLNK(st.st_mode):
                        if os.readlink(name, dir_fd=sfd) != os.readlink(name, dir_fd=dfd):
                            return f"{prefix}{escape_name(name)} links elsewhere there"
                    elif not stat.S_ISREG(st.st_mode) or not _same_file(sfd, dfd, name, st, there):
                        return f"{prefix}{escape_name(name)} differs there"
                    matched.add(identity(st))
                os.fsync(dfd)
                matched.add(source.key)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)
    return None


def _same_file(sfd: int, dfd: int, name: str, st: os.stat_result, there: os.stat_result) -> bool:
    """Whether two regular files hold the same bytes (size, then mtime or XXH64); the
    destination is fsynced when they do."""
    if st.st_size != there.st_size:
        return False
    dst_fd, _ = open_regular(name, dfd)
    try:
        if st.st_mtime_ns != there.st_mtime_ns:
            src_fd, _ = open_regular(name, sfd)
            try:
                if hash_fd(src_fd) != hash_fd(dst_fd):
                    return False
            finally:
                os.close(src_fd)
        os.fsync(dst_fd)
    finally:
        os.close(dst_fd)
    return True
