"""How long `planner run` and `rclone copy` take from launch to their first S3 request (issue
14: on a small download, planner's start-up is most of its gap to rclone). The S3 endpoint is a
probe: a listening socket on 127.0.0.1 that notes when the first connection arrives; the command
is then killed (it never gets an answer). Interleaved run by run; medians, the ratio, and the
host's steal seconds meanwhile. No S3 server is needed. `--old DIR`: another checkout of planner
(say, `git worktree add DIR REV`), timed beside them through PYTHONPATH.

    .venv/bin/python -m tests.bench.bench_s3_startup [--repeat 11] [--old DIR]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.bench import measure

PLAN = """
    version: 1
    storages:
      dst: {remote: local, root: DST}
      bkt: {remote: bkt, root: ""}
    copies:
      - {id: copy, src: "bkt:p/", dst: "dst:"}
"""
PATIENCE = 30.0  # seconds a command may take to make its first request


def first_request(
    command: list[str], env: dict[str, str], cwd: Path, probe: socket.socket
) -> float:
    """Seconds from launching `command` to the first connection on `probe`; the command (and
    its process group: planner's worker dies with planner) is killed then."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ready, _, _ = select.select([probe], [], [], PATIENCE)
        seconds = time.perf_counter() - started
        if not ready:
            raise measure.CommandFailed(f"{command[:3]}: no request within {PATIENCE} s")
        connection, _ = probe.accept()
        connection.close()
        return seconds
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        while select.select([probe], [], [], 0.2)[0]:  # its retries, before the next command
            probe.accept()[0].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--old", type=Path, help="another checkout of planner, timed too")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-s3start-", dir=args.dir))
    probe = socket.create_server(("127.0.0.1", 0))
    endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLANNER_"))}
    env.update(
        AWS_ACCESS_KEY_ID="probe",
        AWS_SECRET_ACCESS_KEY="probe-secret",
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION="us-east-1",
        RCLONE_S3_PROVIDER="Other",
        RCLONE_S3_ACCESS_KEY_ID="probe",
        RCLONE_S3_SECRET_ACCESS_KEY="probe-secret",
        RCLONE_S3_ENDPOINT=endpoint,
        RCLONE_S3_REGION="us-east-1",
        RCLONE_CONFIG="/dev/null",
    )
    series: dict[str, list[float]] = {"planner": [], "rclone": []}
    if args.old is not None:
        series["planner (--old)"] = []
    steal_before = measure.host_steal()
    try:
        for run in range(args.repeat):
            folder = work / f"p{run}"
            folder.mkdir()
            text = textwrap.dedent(PLAN).replace("DST", str(work / f"d{run}"))
            (folder / "plan.yaml").write_text(text, encoding="utf-8")
            planner = [sys.executable, "-m", "planner", "run", "-q", "plan.yaml"]
            planner += ["--remote", "bkt=s3://bucket"]
            checkouts = {"planner": env}
            if args.old is not None:
                checkouts["planner (--old)"] = {**env, "PYTHONPATH": str(args.old.resolve())}
            # in turn first: a plan's first run validates it with jsonschema, later ones not
            names = list(checkouts) if run % 2 == 0 else list(reversed(checkouts))
            for name in names:
                shutil.rmtree(folder / ".planner", ignore_errors=True)  # each from a fresh state
                series[name].append(first_request(planner, checkouts[name], folder, probe))
            rclone = ["rclone", "copy", ":s3:bucket/p", str(work / f"r{run}")]
            series["rclone"].append(first_request(rclone, env, work, probe))
        rclone_s = statistics.median(series["rclone"])
        print(f"| first S3 request after launch (median of {args.repeat}) | seconds | - rclone |")
        print("|---|---|---|")
        for name, values in series.items():
            median = statistics.median(values)
            print(f"| {name} | {median:.3f} | {median - rclone_s:+.3f} |")
        steal_after = measure.host_steal()
        if steal_before is not None and steal_after is not None:
            print(f"\nhost steal meanwhile: {steal_after - steal_before:.1f} s")
    finally:
        probe.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
