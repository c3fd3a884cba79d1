"""Trees a directory copy can only partly read: an unreadable subdirectory (by mode, for a
process without root's read-override capabilities, or refused by the in-process worker), and
the byte-level view of a tree to compare source and destination with."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.worker import confine, walk


def raw_tree(top: Path) -> dict[bytes, bytes | None]:
    """Every file and directory below `top` by its name's bytes: content, None for a directory."""
    found: dict[bytes, bytes | None] = {}
    base = bytes(top)
    for directory, dirs, files in os.walk(base):
        rel = os.path.relpath(directory, base)
        prefix = b"" if rel == b"." else rel + b"/"
        found.update({prefix + d: None for d in dirs})
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                found[prefix + name] = handle.read()
    return found


SIM_PLAN = """
    version: 1
    storages:
      src: {remote: local, root: ./src}
      dst: {remote: local, root: ./dst}
    copies:
      - id: results
        src: src:sim/
        dst: dst:copy/
"""
# root reads any directory: without these capabilities, mode 000 refuses root too (the CLI and
# the embedded worker it starts run without them)
UNPRIVILEGED = (
    ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
)


def planner_unprivileged(command: str, plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`planner COMMAND PLAN ARGS...` as a process that file modes restrict, even as root."""
    env = {k: v for k, v in os.environ.items() if k not in ("PLANNER_API_URL", "PLANNER_TOKEN")}
    return subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-m", "planner", command, str(plan), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def unreadable_sim(root: Path) -> Path:
    """root/src/sim with out/private unreadable (mode 000) beside readable files and
    directories; returns out/private."""
    for rel in (
        "out/a.txt",
        "out/private/secret.txt",
        "out/private/deep/more.txt",
        "out/pub/b.txt",
    ):
        path = root / "src" / "sim" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    private = root / "src" / "sim" / "out" / "private"
    private.chmod(0)
    return private


def refuse_to_open(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `directory` readable by mode, but have the in-process worker refuse to open it as
    it would refuse an unprivileged user (root reads any directory)."""
    directory.chmod(0o755)
    opened = walk.reopen  # type: ignore[attr-defined]  # the listing's (walk.listed_place)

    def refusing(fd: int, flags: int) -> int:
        if confine.fd_path(fd) == str(directory):
            raise PermissionError(errno.EACCES, "Permission denied")
        return opened(fd, flags)

    monkeypatch.setattr(walk, "reopen", refusing)


def refuse_to_walk_into(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Have the in-process worker's level-by-level walks (tree operations) refuse to open
    `directory` as they would for an unprivileged user (root reads any directory)."""
    opened = confine.Root.reopen_dir

    def refusing(self: confine.Root, path: str, key: tuple[int, int]) -> int | None:
        if path == str(directory):
            raise PermissionError(errno.EACCES, "Permission denied")
        return opened(self, path, key)

    monkeypatch.setattr(confine.Root, "reopen_dir", refusing)
