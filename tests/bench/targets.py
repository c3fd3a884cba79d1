"""Issue 12's targets, measured in one command: a markdown table per workload (planner's median
beside its baselines' medians, the ratio, the target, PASS/FAIL) on stdout, progress on stderr,
and with --json FILE every series and table as JSON. Every baseline runs in this script,
interleaved with planner, repeat by repeat; the scratch folder is on a tmpfs (/dev/shm) when
there is one. Not part of the test run. See tests/bench/README.md.

Run: python -m tests.bench.targets [--quick] [--repeat 3] [--only small,many] [--old CHECKOUT]
         [--timeout 900] [--json results.json] [--dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.bench import external, workloads
from tests.bench import fixtures as fx
from tests.bench.report import Recorder, Table
from tests.bench.workloads import FULL, QUICK, Bench, say

Step = tuple[Callable[[Bench], None], list[Callable[[Bench], Table]]]
WORKLOADS: dict[str, Step] = {
    "small": (workloads.measure_small, [workloads.table_small]),
    "big": (workloads.measure_big, [workloads.table_big]),
    "quickstart": (workloads.measure_quickstart, []),  # in the floor's table
    "scale": (workloads.measure_scale, [workloads.table_scale]),
    "many": (workloads.measure_many, [workloads.table_many]),
    "external": (external.measure_external, [external.table_requests, external.table_fallback]),
}


def _first_line(command: list[str]) -> str:
    if not shutil.which(command[0]):
        return "not installed"
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout else "?"


def _machine(base: Path, args: argparse.Namespace) -> dict[str, object]:
    commit = subprocess.run(
        ["git", "-C", str(fx.REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_at_start": os.getloadavg(),
        "dir": str(base),
        "filesystem": _filesystem(base),
        "repeat": args.repeat,
        "quick": args.quick,
        "timeout": args.timeout,
        "old": str(args.old) if args.old else None,
        "rsync": _first_line(["rsync", "--version"]),
        "rclone": _first_line(["rclone", "version"]),
    }


def _filesystem(path: Path) -> str:
    done = subprocess.run(
        ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def bench(args: argparse.Namespace, base: Path) -> tuple[dict[str, object], list[Table], Bench]:
    sizes = QUICK if args.quick else FULL
    recorder = Recorder(args.timeout, fx.clean_env(), base)
    b = Bench(recorder, base, sizes, args.repeat, args.old)
    meta = _machine(base, args)
    meta["sizes"] = sizes.__dict__
    chosen = list(WORKLOADS) if args.only is None else args.only.split(",")
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"--only: no workload {unknown} (choose from {', '.join(WORKLOADS)})")
    say("warming up (bytecode, imports, the first start of planner)")
    # planner as installed: pip compiles its bytecode, which an editable checkout under
    # PYTHONDONTWRITEBYTECODE never gets (then every command compiles planner's sources anew)
    for checkout in [fx.REPO, *([args.old] if args.old else [])]:
        package = str(checkout / "planner")
        recorder.run("warmup", [sys.executable, "-m", "compileall", "-q", package])
    recorder.run("warmup", fx.floor_command())
    recorder.run("warmup", [sys.executable, "-m", "planner", "--help"])
    say("import floor")
    workloads.measure_floor(b)
    for name in chosen:
        say(f"{name}:")
        WORKLOADS[name][0](b)
    say("import floor, again")
    workloads.measure_floor(b)
    meta["load_at_end"] = os.getloadavg()
    tables = [workloads.table_fixed(b, quickstart="quickstart" in chosen)]
    tables += [make(b) for name in chosen for make in WORKLOADS[name][1]]
    return meta, tables, b


def markdown(meta: dict[str, object], tables: list[Table]) -> str:
    passed = sum(row.result == "PASS" for t in tables for row in t.rows)
    failed = sum(row.result == "FAIL" for t in tables for row in t.rows)
    head = [
        "## Issue 12 targets",
        "",
        f"{meta['date']}, commit {meta['commit']}, Python {meta['python']}, {meta['cpus']} CPUs, "
        f"{meta['dir']} ({meta['filesystem']}), medians of {meta['repeat']}"
        + (" (--quick: small sizes, not the targets' sizes)" if meta["quick"] else "")
        + f"; load average at start {_load(meta['load_at_start'])},"
        f" at end {_load(meta['load_at_end'])}; {meta['rsync']}; {meta['rclone']}",
        "",
        f"targets met: {passed}, missed: {failed}",
        "",
    ]
    return "\n".join(head) + "\n".join(t.markdown() for t in tables)


def _load(value: object) -> str:
    return "/".join(f"{x:.1f}" for x in value) if isinstance(value, tuple | list) else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=None, help="default 3 (--quick: 1)")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--old", type=Path, help="another checkout, for the fallback's baseline")
    parser.add_argument("--timeout", type=float, default=None, help="per command, seconds")
    parser.add_argument("--json", type=Path, help="also write every series and table here")
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.timeout = args.timeout or (120.0 if args.quick else 900.0)
    if args.old is not None:
        args.old = args.old.resolve()
        if not (args.old / "planner" / "__init__.py").is_file():
            raise SystemExit(f"--old {args.old}: not a checkout of planner")
    base = Path(tempfile.mkdtemp(prefix="planner-targets-", dir=args.dir))
    try:
        meta, tables, b = bench(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(markdown(meta, tables))
    if args.json is not None:
        document = {
            "meta": meta,
            "tables": [t.as_json() for t in tables],
            "series": dict(b.rec.series),
            "errors": b.rec.errors,
            "requests_by_route": b.routes,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
