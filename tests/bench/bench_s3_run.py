"""`planner run` with an object remote against `rclone copy` to the same local S3 server (moto,
tests/s3server.py), issue 14's benchmark: 2,000 x 64 KiB and one 256 MiB file, local -> s3 and
s3 -> local, fresh destinations each run, interleaved run by run; medians, ratios, and the peak
memory of the 256 MiB upload (measure.py: the sum of planner's and its worker's peaks, and GNU
time's %M). Beside each time, the CPU seconds of the command's process tree (planner and its
worker; rclone) and of the S3 server while it ran: on a machine where the server and the client
share the cores, what the client spends is taken from the server. At the end, the steal seconds
of the host meanwhile (a hypervisor taking the machine's CPUs: a noisy run). rclone's s3 backend
is configured through its environment (RCLONE_S3_*).

    .venv/bin/python -m tests.bench.bench_s3_run [--files 2000] [--mib 256] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from tests.bench import measure
from tests.s3server import S3Server

PLAN = """
    version: 1
    storages:
      src: {remote: local, root: SRC}
      dst: {remote: local, root: DST}
      bkt: {remote: bkt, root: ""}
    copies:
      - {id: copy, src: "FROM", dst: "TO"}
"""


def _plan(folder: Path, src: Path, dst: Path, copy_from: str, copy_to: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(PLAN)
    for word, value in (("SRC", src), ("DST", dst), ("FROM", copy_from), ("TO", copy_to)):
        text = text.replace(word, str(value))
    (folder / "plan.yaml").write_text(text, encoding="utf-8")
    return folder / "plan.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-s3run-", dir=args.dir))
    server = S3Server()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLANNER_"))}
    env.update(server.env())
    env.update(
        RCLONE_S3_PROVIDER="Other",
        RCLONE_S3_ACCESS_KEY_ID=server.access_key,
        RCLONE_S3_SECRET_ACCESS_KEY=server.secret_key,
        RCLONE_S3_ENDPOINT=server.endpoint,
        RCLONE_S3_REGION="us-east-1",
        RCLONE_CONFIG="/dev/null",
    )
    planner = [sys.executable, "-m", "planner"]
    series: dict[str, list[float]] = {}
    steal: list[float] = []  # the host's steal seconds during each command

    def timed(key: str, command: list[str], cwd: Path, rss: bool = False) -> None:
        server_before = server.cpu_seconds()
        sample = measure.run(command, timeout=900, cwd=cwd, env=env, rss=rss)
        series.setdefault(key, []).append(sample.seconds)
        if sample.cpu is not None:
            series.setdefault(f"{key} CPU s", []).append(sample.cpu)
        series.setdefault(f"{key} server CPU s", []).append(server.cpu_seconds() - server_before)
        if sample.steal is not None:
            steal.append(sample.steal)
        if rss and sample.rss_sum is not None:
            series.setdefault(f"{key} peak MiB (sum)", []).append(sample.rss_sum)
        if rss and sample.rss_max is not None:
            series.setdefault(f"{key} peak MiB (%M)", []).append(sample.rss_max)

    try:
        small, big = work / "small", work / "big"
        for i in range(args.files):
            path = small / f"d{i % 20}" / f"f{i}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(64 * 1024))
        big.mkdir()
        with open(big / "big.bin", "wb") as handle:
            for _ in range(args.mib):
                handle.write(os.urandom(1024 * 1024))
        for run in range(args.repeat):
            bucket = server.bucket()
            remote = ["--remote", f"bkt=s3://{bucket}"]
            for shape, source in (("small", small), ("big", big)):
                up = _plan(work / f"p{run}{shape}up", source, work, "src:", f"bkt:p/{shape}/")
                down = _plan(
                    work / f"p{run}{shape}down",
                    work,
                    work / f"pd{run}{shape}",
                    f"bkt:p/{shape}/",
                    "dst:",
                )
                timed(
                    f"planner {shape} up",
                    [*planner, "run", str(up), "-q", *remote],
                    up.parent,
                    shape == "big",
                )
                timed(
                    f"rclone {shape} up",
                    ["rclone", "copy", str(source), f":s3:{bucket}/r/{shape}"],
                    work,
                )
                timed(
                    f"planner {shape} down",
                    [*planner, "run", str(down), "-q", *remote],
                    down.parent,
                )
                timed(
                    f"rclone {shape} down",
                    ["rclone", "copy", f":s3:{bucket}/r/{shape}", str(work / f"rd{run}{shape}")],
                    work,
                )
                shutil.rmtree(work / f"pd{run}{shape}", ignore_errors=True)
                shutil.rmtree(work / f"rd{run}{shape}", ignore_errors=True)
        print(f"| measurement (median of {args.repeat}) | value | vs rclone |")
        print("|---|---|---|")
        for key, values in series.items():
            median = statistics.median(values)
            other = series.get(key.replace("planner", "rclone"))
            ratio = (
                f"{median / statistics.median(other):.2f}x" if other and "planner" in key else ""
            )
            print(f"| {key} | {median:.2f} | {ratio} |")
        if steal:  # a noisy host shows here: compare only runs with little of it
            print(
                f"\nhost steal during the commands: {sum(steal):.1f} s in all, "
                f"{max(steal):.2f} s at most in one"
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
