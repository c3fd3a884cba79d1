"""`planner run` against rsync -a, rclone copy and cp, on the same trees, in one script:
20,000 files of 4 KiB, and one 256 MiB file; also the API requests per file. Every tool runs
as a fresh process into a fresh destination, so planner's times include its start-up (imports,
the embedded worker's start and stop). Beside those, each tree also gets: planner's copy action
alone (the data path) against cp; a re-run with nothing to do (the fixed cost) against an
in-sync rsync -a; and the preview of the in-sync tree against rsync -an. Runs on a tmpfs
(/dev/shm) when there is one. Not part of the test run.

Run: python -m tests.bench.bench_run [--files 20000] [--mib 256] [--repeat 3] [--dir DIR]
Needs rsync and rclone on PATH for their columns (apt-get install rsync rclone). Issue 12's
targets (these workloads and more, with PASS/FAIL): python -m tests.bench.targets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import fixtures as fx


def _planner(plan: Path) -> tuple[float, int, float]:
    """`planner run` as a user runs it (a fresh process: imports, the embedded worker's start
    and stop included); the seconds, the API requests its JSON document counts, and the copy
    action's own duration (the data path, without the command's fixed costs)."""
    command, environment = fx.planner_run(plan), fx.clean_env()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"planner run failed ({done.returncode}): {done.stderr[-2000:]}")
    document = json.loads(done.stdout)
    (action,) = document["actions"]
    return elapsed, int(document["totals"]["api_requests"]), float(action["duration"])


def _preview(plan: Path) -> float:
    """`planner plan` of a plan whose destination is in sync."""
    command, environment = fx.planner_plan(plan, in_sync=True), fx.clean_env()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"planner plan found changes or failed ({done.returncode}): {done.stdout}")
    return elapsed


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench(base: Path, files: int, mib: int, repeat: int) -> None:
    trees = {"small": fx.tree(base, "small", files, 4096), "big": fx.big(base, mib)}
    has_rsync, has_rclone = shutil.which("rsync"), shutil.which("rclone")
    for name, src in trees.items():
        rows: dict[str, list[float]] = {"planner": [], "cp -r": []}
        if has_rsync:
            rows["rsync -a"] = []
        if has_rclone:
            rows["rclone copy"] = []
        requests = 0
        # beside each other: planner's copy action alone and cp; an in-sync re-run and an
        # in-sync rsync -a (fixed costs); the in-sync preview and rsync -an
        extra: dict[str, list[float]] = {k: [] for k in ("action", "rerun", "resync", "plan", "-n")}
        for n in range(repeat):

            def fresh(tag: str) -> Path:
                return base / f"out-{name}-{tag}-{n}"  # noqa: B023

            plan = fx.tree_plan(base / f"plans-{name}-{n}", src, fresh("planner"))
            elapsed, requests, action = _planner(plan)
            rows["planner"].append(elapsed)
            extra["action"].append(action)
            extra["rerun"].append(_planner(plan)[0])
            extra["plan"].append(_preview(plan))
            rows["cp -r"].append(_timed(fx.cp(src, fresh("cp"))))
            if has_rsync:
                rows["rsync -a"].append(_timed(fx.rsync(src, fresh("rsync"))))
                extra["resync"].append(_timed(fx.rsync(src, fresh("rsync"))))
                extra["-n"].append(_timed(fx.rsync(src, fresh("rsync"), dry_run=True)))
            if has_rclone:
                rows["rclone copy"].append(_timed(fx.rclone(src, fresh("rclone"))))
            for out in [*base.glob("out-*"), *base.glob("plans-*")]:
                shutil.rmtree(out)
        medians = {k: statistics.median(v) for k, v in rows.items()}
        more = {k: statistics.median(v) for k, v in extra.items() if v}
        count = files if name == "small" else 1
        print(f"\n{name}: {count} files, median of {repeat} ({base})")
        for tool, seconds in medians.items():
            line = f"  {tool:12s} {seconds:8.3f} s"
            if tool != "planner":
                line += f"   planner/{tool} time ratio: {medians['planner'] / seconds:5.2f}"
            print(line)
        print(f"  API requests: {requests} ({requests / count:.4f} per file)")
        print(
            f"  data path: planner's copy action {more['action']:6.3f} s,"
            f" cp {medians['cp -r']:6.3f} s, ratio {more['action'] / medians['cp -r']:5.2f}"
        )
        for label, ours, theirs, tool in (
            ("nothing to do", "rerun", "resync", "rsync -a"),
            ("in sync", "plan", "-n", "rsync -an"),
        ):
            command = "planner run" if ours == "rerun" else "planner plan"
            line = f"  {label}: {command} {more[ours]:6.3f} s"
            if theirs in more:
                line += f", {tool} {more[theirs]:6.3f} s, ratio {more[ours] / more[theirs]:5.2f}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--mib", type=int, default=256, help="the size of the big file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="planner-run-bench-", dir=args.dir))
    try:
        bench(base, args.files, args.mib, args.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
