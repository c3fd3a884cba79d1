"""The trees, plans and commands the benchmarks share: source trees of random files, the plans
copying them (one directory copy, or one single-file copy per file as `for_each` writes it), and
the command lines of planner and of the tools it is compared with."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# what any Python tool with planner's declared dependencies pays before it does anything
FLOOR_IMPORTS = "import yaml, jsonschema, pydantic, networkx, httpx, click"
REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"


def clean_env() -> dict[str, str]:
    """This environment without planner's own variables (no API URL, token or storage)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PLANNER_")}


def tree(base: Path, name: str, files: int, size: int) -> Path:
    """`files` random files of `size` bytes under `base/name`, spread over 100 directories."""
    src = base / name
    for i in range(files):
        d = src / f"d{i % 100:02d}"
        if i < 100:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(os.urandom(size))
    return src


def flat(base: Path, name: str, files: int, size: int) -> Path:
    """`files` random files `f0.bin` ... of `size` bytes, all in one directory `base/name`."""
    src = base / name
    src.mkdir(parents=True)
    for i in range(files):
        (src / f"f{i}.bin").write_bytes(os.urandom(size))
    return src


def big(base: Path, mib: int) -> Path:
    """One random file of `mib` MiB, alone in directory `base/big`."""
    src = base / "big"
    src.mkdir(parents=True)
    with (src / "big.bin").open("wb") as handle:
        chunk = os.urandom(1 << 20)
        for _ in range(mib):
            handle.write(chunk)
    return src


def _storages(src: Path, dst: Path) -> str:
    return (
        "version: 1\nstorages:\n"
        f"  src: {{remote: local, root: {src}}}\n  dst: {{remote: local, root: {dst}}}\n"
    )


def tree_plan(folder: Path, src: Path, dst: Path) -> Path:
    """A plan in its own `folder` (its journal and embedded worker state go beside it) copying
    the directory `src` to `dst`: one directory copy."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.yaml"
    plan.write_text(_storages(src, dst) + "copies:\n  - {id: tree, src: 'src:', dst: 'dst:'}\n")
    return plan


def many_plan(folder: Path, src: Path, dst: Path, files: int) -> Path:
    """A plan in its own `folder` of `files` single-file copies `c0` ... of `src/f<i>.bin` to
    `dst/f<i>.bin`, written as one `for_each` entry (the shape it expands to)."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = folder / "plan.yaml"
    items = ", ".join(str(i) for i in range(files))
    plan.write_text(
        _storages(src, dst) + "copies:\n"
        f"  - {{id: 'c${{item}}', for_each: [{items}],"
        " src: 'src:f${item}.bin', dst: 'dst:f${item}.bin'}\n"
    )
    return plan


def quickstart(base: Path) -> Path:
    """A copy of examples/quickstart in `base/quickstart`; its plan."""
    target = base / "quickstart"
    shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns(".planner"))
    return target / "plan.yaml"


def floor_command() -> list[str]:
    return [sys.executable, "-c", FLOOR_IMPORTS]


def planner_run(plan: Path, api_url: str | None = None) -> list[str]:
    """`planner run` as a user runs it, quiet, with the JSON document on stdout."""
    via = ["--api-url", api_url] if api_url else []
    return [sys.executable, "-m", "planner", "run", str(plan), "-q", "--format", "json", *via]


def planner_plan(plan: Path, *, in_sync: bool) -> list[str]:
    """`planner plan` (the preview); in sync, exit 2 would say it found something to do."""
    detailed = ["--detailed-exitcode"] if in_sync else []
    return [sys.executable, "-m", "planner", "plan", str(plan), *detailed]


def rsync(src: Path, dst: Path, *, dry_run: bool = False) -> list[str]:
    return ["rsync", "-an" if dry_run else "-a", f"{src}/", str(dst)]


def rclone(src: Path, dst: Path, *, dry_run: bool = False) -> list[str]:
    dry = ["--dry-run"] if dry_run else []
    return ["rclone", "copy", "--transfers", "8", *dry, str(src), str(dst)]


def cp(src: Path, dst: Path) -> list[str]:
    return ["cp", "-r", str(src), str(dst)]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
