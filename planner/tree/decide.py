"""What a directory copy does, file by file: the source listing filtered by include/exclude and
symlinks, then compared with the destination listing under the overwrite policy (docs/run.md,
"Directory copies"). Pure: entries in, decisions out; shared by the runner (its item path and
its preview) and the worker (tree operations), so both decide alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from planner.gcpause import paused_gc
from planner.tree.entry import Entry
from planner.tree.filters import Filters
from planner.tree.policies import Overwrite, Symlinks

__all__ = [
    "Decision",
    "Expansion",
    "decide_fields",
    "decide_file",
    "directories_to_make",
    "expand_directory",
    "keeps_directory",
    "keeps_file",
    "needs_checksums",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """One file to copy and why: "new" (absent at the destination), "changed" (if-different),
    "newer" (if-newer), "always", or "conflict" (a directory is in the way at the destination,
    or a file where the destination needs a directory: the worker fails the item with 409)."""

    path: str  # relative to the copy's src and dst
    size: int
    reason: str


@dataclass
class Expansion:
    """What a directory copy needs to do; every list is sorted by path."""

    to_copy: list[Decision]
    unchanged: list[str]  # files the overwrite policy skipped
    filtered: int  # files left out by include/exclude or by `symlinks: skip`
    directories: list[str]  # directories holding a copied or unchanged file (with their parents)
    # `checksum: true`: files of equal size compared by checksum, and of those the ones where a
    # side's checksum is unknown (decided by mtime here: the caller hashes them and expands again)
    compared: int = 0
    unhashed: list[str] = field(default_factory=list)

    @property
    def bytes_to_copy(self) -> int:
        return sum(d.size for d in self.to_copy)


def decide_file(
    src: Entry, dst: Entry | None, *, overwrite: Overwrite, checksum: bool
) -> str | None:
    """The reason to copy `src` over `dst` (absent: None), or None when the policy skips it.

    Raises:
        ValueError: `src` is not a file.
    """
    if src.type != "file":
        raise ValueError(f"{src.path!r} is a directory, not a file")
    return _decide(src, dst, overwrite, checksum)[0]


def keeps_file(path: str, is_link: bool, *, filters: Filters, symlinks: Symlinks) -> bool:
    """Whether the source file at `path` is part of a directory copy: accepted by the filters
    and, under `symlinks: skip`, not reached through a link (`is_link`: itself or a directory
    above it is one). The files it leaves out are the copy's filtered ones."""
    if symlinks == "skip" and is_link:
        return False
    return filters.accepts_everything or filters.accepts(path)


def keeps_directory(path: str, is_link: bool, *, filters: Filters, symlinks: Symlinks) -> bool:
    """Whether the source directory at `path` may be made as an empty directory: the filters
    accept it with a trailing "/" (`exclude: [cache/]` leaves `cache` out) and, under
    `symlinks: skip`, it is not reached through a link."""
    if symlinks == "skip" and is_link:
        return False
    return filters.accepts_everything or filters.accepts(path + "/")


def needs_checksums(src: Entry, dst: Entry | None, *, overwrite: Overwrite, checksum: bool) -> bool:
    """Whether deciding `src` over `dst` compares checksums and one of them is unknown: the
    caller has the worker hash that side first (issue 10, item 4: never a silent fallback)."""
    return (
        checksum
        and overwrite == "if-different"
        and dst is not None
        and dst.type == "file"
        and src.size == dst.size
        and (src.checksum is None or dst.checksum is None)
    )


# what _decide tells besides the reason: no checksum compared, compared, or one side unknown
_NO_HASH, _HASHED, _UNHASHED = 0, 1, 2


def decide_fields(
    size: int, mtime_ns: int, dst: tuple[bool, int, int] | None, *, overwrite: Overwrite
) -> str | None:
    """`decide_file` without checksums, on the fields alone (no Entry built: the worker's tree
    loop decides every file with it): a source file of `size` and `mtime_ns` over `dst`, the
    destination's (is a file, size, mtime_ns), None when absent."""
    if dst is None:
        return "new"
    if not dst[0]:
        return "conflict"
    if overwrite == "always":
        return "always"
    if overwrite == "never":
        return None
    # The wire carries RFC 3339 with microseconds (docs/api.md), so a file whose mtime was
    # preserved by a copy compares equal only at that precision.
    if overwrite == "if-newer":
        return "newer" if mtime_ns // 1000 > dst[2] // 1000 else None
    if size != dst[1]:
        return "changed"
    return "changed" if mtime_ns // 1000 != dst[2] // 1000 else None


def _decide(
    src: Entry, dst: Entry | None, overwrite: Overwrite, checksum: bool
) -> tuple[str | None, int]:
    """(reason or None, whether checksums were compared: _NO_HASH, _HASHED or _UNHASHED; with
    _UNHASHED the reason falls back to size + mtime)."""
    if (
        checksum
        and overwrite == "if-different"
        and dst is not None
        and dst.type == "file"
        and src.size == dst.size
    ):
        if src.checksum is not None and dst.checksum is not None:
            return ("changed" if src.checksum != dst.checksum else None), _HASHED
        return ("changed" if src.mtime_ns // 1000 != dst.mtime_ns // 1000 else None), _UNHASHED
    fields = None if dst is None else (dst.type == "file", dst.size, dst.mtime_ns)
    return decide_fields(src.size, src.mtime_ns, fields, overwrite=overwrite), _NO_HASH


def expand_directory(
    src: Sequence[Entry],
    dst: Sequence[Entry],
    *,
    filters: Filters,
    overwrite: Overwrite,
    checksum: bool,
    symlinks: Symlinks,
) -> Expansion:
    """The file items of a directory copy, from recursive listings of `src` and `dst`.

    Only files are copied (the worker creates a copy's destination parents); directory entries
    only matter for `symlinks: skip`, which drops a linked file and everything below a linked
    directory. Filtered files are counted; the rest are copied or left unchanged by `overwrite`.
    """
    skip_links = symlinks == "skip"
    linked_dirs = {e.path for e in src if skip_links and e.is_link and e.type == "dir"}
    expansion = Expansion([], [], 0, [])
    with paused_gc():  # see planner/gcpause.py: one Decision per file, none in a cycle
        dst_by_path = {e.path: e for e in dst}
        # Per directory holding a kept file (and its ancestors): whether a destination file
        # stands where it must be a directory, a conflict for every file below.
        parents: dict[str, bool] = {}
        for entry in src:
            if entry.type != "file":
                continue
            path = entry.path
            is_link = entry.is_link or bool(linked_dirs and _is_below(path, linked_dirs))
            if not keeps_file(path, is_link, filters=filters, symlinks=symlinks):
                expansion.filtered += 1
                continue
            parent = path.rpartition("/")[0]
            blocked = parents.get(parent)
            if blocked is None:
                blocked = _add_parents(parent, parents, dst_by_path)
            if blocked:
                reason: str | None = "conflict"
            else:
                reason, hashing = _decide(entry, dst_by_path.get(path), overwrite, checksum)
                if hashing == _HASHED:
                    expansion.compared += 1
                elif hashing == _UNHASHED:
                    expansion.unhashed.append(path)
            if reason is None:
                expansion.unchanged.append(path)
            else:
                expansion.to_copy.append(Decision(path, entry.size, reason))
    expansion.to_copy.sort(key=lambda d: d.path)
    expansion.unchanged.sort()
    expansion.unhashed.sort()
    expansion.directories = sorted(p for p in parents if p)
    return expansion


def decide_new_file(
    path: str,
    size: int,
    dst: Mapping[str, Entry],
    parents: dict[str, bool],
    *,
    filters: Filters,
    symlinks: Symlinks,
) -> Decision | None:
    """What `expand_directory` decides for the source file `path` (not a link) when nothing is
    at `path` at the destination, known before the rest of the source is: a "new" copy, or None
    when the filters leave it out, a destination file stands where a directory above it must be
    (a conflict), or something is at `path` (`parents`: a cache as `expand_directory` keeps)."""
    if path in dst or not keeps_file(path, False, filters=filters, symlinks=symlinks):
        return None
    if _add_parents(path.rpartition("/")[0], parents, dst):
        return None
    return Decision(path, size, "new")


def _is_below(path: str, directories: set[str]) -> bool:
    """Whether one of `path`'s ancestors is in `directories`."""
    end = path.find("/")
    while end >= 0:
        if path[:end] in directories:
            return True
        end = path.find("/", end + 1)
    return False


def _add_parents(directory: str, parents: dict[str, bool], dst: Mapping[str, Entry]) -> bool:
    """Record `directory` and its ancestors in `parents`; whether a destination file stands
    where one of them must be a directory. Iterative: depth is unbounded."""
    missing = []
    head = directory
    while head not in parents:
        missing.append(head)
        if not head:
            break
        head = head.rpartition("/")[0]
    blocked = parents.get(head, False)
    for name in reversed(missing):
        found = dst.get(name) if name else None
        blocked = blocked or (found is not None and found.type == "file")
        parents[name] = blocked
    return blocked


def directories_to_make(
    src: Sequence[Entry],
    dst: Sequence[Entry],
    *,
    filters: Filters,
    symlinks: Symlinks,
    holding: Sequence[str],
) -> list[str]:
    """The source directories a directory copy creates itself (empty ones, as `cp -r` and
    `rsync -a` copy them): those the destination lacks that no file of the copy lies in (the
    worker makes a copied file's parents; `holding` lists those directories), and only the
    deepest of them (making one makes its parents). A directory is kept when the filters accept
    its path with a trailing "/" (`exclude: [cache/]` leaves `cache` out, `include: ["*.txt"]`
    every directory) and, under `symlinks: skip`, when it is not reached through a link."""
    there = {e.path for e in dst if e.type == "dir"}
    covered = set(holding)
    wanted = [
        e.path
        for e in src
        if e.type == "dir"
        and e.path
        and keeps_directory(e.path, e.is_link, filters=filters, symlinks=symlinks)
        and e.path not in there
        and e.path not in covered
    ]
    wanted.sort()
    # sorted, a directory's descendants follow it directly: keep an entry unless the next one
    # lies below it
    following = [*wanted[1:], ""] if wanted else []
    return [
        path
        for path, after in zip(wanted, following, strict=True)
        if not after.startswith(path + "/")
    ]
