"""What confinement costs, old checkout against new, interleaved in one session (issue 9, item
4): `Storages.list(recursive=True)` of a 20,000-file tree, and a 20,000-file copy through the
embedded worker (one request), each on a named remote (confined) and on `local` (the host root).
Every measurement runs in a fresh interpreter importing one checkout (PYTHONPATH), old and new
alternating round by round, so both meet the same load on a shared machine; beside the wall time
of the measured part, the CPU time (user + system) of the whole child is reported, which load
from other processes disturbs less. Runs on a tmpfs (/dev/shm) when there is one. Not part of
the test run.

Run: python -m tests.bench.bench_confine --old ../wt-A-base [--new .] [--files 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs in the child interpreter; uses only what both checkouts have.
CHILD = r"""
import json, os, sys, tempfile, time
import httpx
from planner.worker.auth import Authenticator
from planner.worker.serve import EmbeddedWorker
from planner.worker.service import WorkerConfig
from planner.worker.storage import Storages

kind, remote, tree, scratch = sys.argv[1:5]
names = sorted(
    os.path.relpath(os.path.join(d, f), tree) for d, _, fs in os.walk(tree) for f in fs
)
if kind == "list":
    storages = Storages({"src": tree})
    path = "" if remote == "src" else tree
    storages.list(remote, path, recursive=True)  # warm the page cache and the code
    times = []
    for _ in range(3):
        start = time.perf_counter()
        found = storages.list(remote, path, recursive=True)
        times.append(time.perf_counter() - start)
    assert sum(e.type == "file" for e in found) == len(names), len(found)
    print(json.dumps(sorted(times)[1]))
else:
    state = tempfile.mkdtemp(dir=scratch)
    out = tempfile.mkdtemp(dir=scratch)
    config = WorkerConfig(
        state_dir=__import__("pathlib").Path(state),
        remotes={"src": tree, "dst": out},
        authenticator=Authenticator.single_token("bench"),
    )
    def place(name, root, named):
        return {"remote": named, "path": name} if remote != "local" else {
            "remote": "local", "path": f"{root}/{name}"
        }
    ops = [{"src": place(n, tree, "src"), "dst": place(n, out, "dst")} for n in names]
    with EmbeddedWorker(config) as url, httpx.Client(
        base_url=url, headers={"Authorization": "Bearer bench"}, timeout=120
    ) as client:
        start = time.perf_counter()
        op_id = client.post("/storage:copy", json={"operations": ops}).json()["id"]
        while True:
            op = client.get("/operations", params={"ids": [op_id]}).json()["operations"][0]
            if op["state"] in ("succeeded", "failed"):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    assert op["state"] == "succeeded", op
    print(json.dumps(elapsed))
"""

MEASURES = [("list", "src"), ("list", "local"), ("copy", "src"), ("copy", "local")]


def _tree(base: Path, files: int) -> Path:
    top = base / "tree"
    for i in range(files):
        d = top / f"d{i % 100:02d}"
        if i < 100:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
    return top


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(
    checkout: Path, kind: str, remote: str, tree: Path, scratch: Path
) -> tuple[float, float]:
    """(wall seconds of the measured part, CPU seconds of the whole child)."""
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    cpu = _cpu()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, remote, str(tree), str(scratch)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{checkout} {kind} {remote} failed: {done.stderr[-3000:]}")
    for leftover in scratch.iterdir():
        shutil.rmtree(leftover)
    return float(json.loads(done.stdout.strip().splitlines()[-1])), _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", type=Path, required=True, help="checkout before the change")
    parser.add_argument("--new", type=Path, default=Path.cwd(), help="checkout after it")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="planner-confine-bench-", dir=args.dir))
    checkouts = {"old": args.old.resolve(), "new": args.new.resolve()}
    results: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    try:
        tree = _tree(base, args.files)
        scratch = base / "scratch"
        scratch.mkdir()
        for n in range(args.rounds):
            for kind, remote in MEASURES:
                # alternate which goes first, so neither always meets a warmer machine
                order = ["old", "new"] if n % 2 == 0 else ["new", "old"]
                for label in order:
                    measured = _measure(checkouts[label], kind, remote, tree, scratch)
                    results.setdefault((kind, remote, label), []).append(measured)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.files} files, median of {args.rounds} rounds, old={args.old} new={args.new}")
    for kind, remote in MEASURES:
        where = "named remote" if remote == "src" else "local"
        for column, title in ((0, "wall"), (1, "cpu ")):
            old = [x[column] for x in results[(kind, remote, "old")]]
            new = [x[column] for x in results[(kind, remote, "new")]]
            mid_old, mid_new = statistics.median(old), statistics.median(new)
            print(
                f"  {kind:4s} {where:12s} {title}: old {mid_old:7.3f} s  new {mid_new:7.3f} s"
                f"  new/old {mid_new / mid_old:5.2f}   (old {', '.join(f'{x:.3f}' for x in old)};"
                f" new {', '.join(f'{x:.3f}' for x in new)})"
            )


if __name__ == "__main__":
    main()
