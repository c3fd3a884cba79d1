"""One path as a listing of its parent shows it: the `stat` extension's answer, which costs one
path where listing the parent costs its whole directory. Whatever that listing leaves out (a
temporary or special file, a symlink that dangles, loops or leads outside the root) is missing
here too, so a probe and a listing never disagree."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from planner.api.codes import ItemCode
from planner.worker.confine import Place
from planner.worker.file_info import FileInfo, file_info
from planner.worker.fileops import is_temp_name
from planner.worker.storage_errors import StorageError, as_storage_errors


def probe(open_place: Callable[[], Place], label: str, name: str) -> FileInfo:
    """The file or directory `open_place` opens, named `name` (the last segment as requested),
    exactly as a listing of its parent shows it: `is_link` when it is a symlink, followed
    inside the root.

    Raises:
        StorageError: 404 for what that listing leaves out (nothing there, a parent that is a
            file, a temporary or special file, a symlink that dangles, loops or leads outside
            the root); 400 an invalid path; 403 a parent outside the root.
    """
    with as_storage_errors(label):
        try:
            with open_place() as place:
                return _probe_place(place, name)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _missing(label) from exc


def _missing(label: str) -> StorageError:
    """The 404 of a path a listing of its parent would not show."""
    return StorageError(ItemCode.NOT_FOUND, f"{label}: no such file or directory")


def _probe_place(place: Place, name: str) -> FileInfo:
    if is_temp_name(place.name):
        raise _missing(place.label)
    st = place.lstat()
    linked = stat.S_ISLNK(st.st_mode)
    if linked:
        try:
            st = place.stat()
        except (StorageError, OSError) as exc:
            raise _missing(place.label) from exc
        if stat.S_ISDIR(st.st_mode) and _same_inode(st, os.fstat(place.dir_fd)):
            raise _missing(place.label)  # a link to its own directory: a listing's loop
    info = file_info(name, st, linked)
    if info is None:
        raise StorageError(ItemCode.NOT_FOUND, f"{place.label}: neither a file nor a directory")
    return info


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
