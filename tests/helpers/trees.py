"""Directory trees on disk: written from a dict, read back as bytes, stats or contents, and the
temporary copies (`.<name>.planner-tmp-<hex>`) the worker may leave."""

from __future__ import annotations

import os
import re
from pathlib import Path

TEMP_NAME = re.compile(r"^\..*\.planner-tmp-[0-9a-f]+$", re.DOTALL)


def temp_files(*tops: Path) -> list[Path]:
    """Temporary copies the worker left anywhere below `tops` (any name with the marker, so
    that "none left" also catches a misnamed one)."""
    return sorted(p for top in tops for p in top.rglob("*") if ".planner-tmp-" in p.name)


def tree_contents(top: Path) -> dict[str, bytes | str | None]:
    """Everything below `top`, links not followed: file bytes, link targets, None for
    directories (to compare a tree before and after)."""
    found: dict[str, bytes | str | None] = {}
    for path in sorted(top.rglob("*")):
        key = str(path.relative_to(top))
        if path.is_symlink():
            found[key] = os.readlink(path)
        elif path.is_dir():
            found[key] = None
        else:
            found[key] = path.read_bytes()
    return found


def make_tree(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """Write `files` ({"a/b.bin": content}) below root; returns them."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file below root (temporary copies aside): relative path -> content."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not TEMP_NAME.match(p.name)
    }


def tree_stats(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every regular file below root: relative path -> (inode, mtime_ns, ctime_ns)."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return out
