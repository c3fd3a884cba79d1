"""Worker benchmark: a 500-item copy batch of 4 KiB files (ops/s), one 256 MiB copy against
`cp` on the same disk (MB/s and ratio), and the latency of polling 500 children with
expand=true. Runs on a tmpfs (/dev/shm) when there is one.

Run: python -m tests.bench.bench_worker [--repeat 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from planner.worker.auth import Authenticator
from planner.worker.serve import EmbeddedWorker
from planner.worker.service import WorkerConfig

TOKEN = "bench-token"


def _wait(client: httpx.Client, op_id: str) -> dict[str, object]:
    while True:
        op = client.get("/operations", params={"ids": [op_id]}).json()["operations"][0]
        if op["state"] in ("succeeded", "failed"):
            return op  # type: ignore[no-any-return]
        time.sleep(0.002)


def bench(base: Path, repeat: int) -> None:
    src = base / "src"
    (src / "small").mkdir(parents=True)
    for i in range(500):
        (src / "small" / f"f{i:03d}.bin").write_bytes(os.urandom(4096))
    big = src / "big.bin"
    with big.open("wb") as handle:
        chunk = os.urandom(1 << 20)
        for _ in range(256):
            handle.write(chunk)
    config = WorkerConfig(
        state_dir=base / "state",
        remotes={"src": src},
        authenticator=Authenticator.single_token(TOKEN),
    )
    batch, big_worker, big_cp, polls = [], [], [], []
    with (
        EmbeddedWorker(config) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client,
    ):
        for n in range(repeat):
            ops = [
                {
                    "src": {"remote": "src", "path": f"small/f{i:03d}.bin"},
                    "dst": {"remote": "any", "path": f"run{n}/f{i:03d}.bin"},
                }
                for i in range(500)
            ]
            start = time.perf_counter()
            op_id = client.post("/storage:copy", json={"operations": ops}).json()["id"]
            op = _wait(client, op_id)
            batch.append(time.perf_counter() - start)
            assert op["state"] == "succeeded", op
            for _ in range(10):
                start = time.perf_counter()
                client.get("/operations", params={"ids": [op_id], "expand": "true"}).json()
                polls.append(time.perf_counter() - start)
            start = time.perf_counter()
            op_id = client.post(
                "/storage:copy",
                json={
                    "operations": [
                        {
                            "src": {"remote": "src", "path": "big.bin"},
                            "dst": {"remote": "any", "path": f"big{n}.bin"},
                        }
                    ]
                },
            ).json()["id"]
            assert _wait(client, op_id)["state"] == "succeeded"
            big_worker.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(["cp", str(big), str(base / f"cp{n}.bin")], check=True)
            big_cp.append(time.perf_counter() - start)
            for leftover in (base / "state" / "storage").glob("big*.bin"):
                leftover.unlink()
            (base / f"cp{n}.bin").unlink()
    b, w, c, p = (statistics.median(x) for x in (batch, big_worker, big_cp, polls))
    print(f"disk: {base}  (median of {repeat})")
    print(f"500 x 4 KiB copy batch: {b * 1000:.0f} ms  = {500 / b:.0f} ops/s")
    print(
        f"256 MiB copy: worker {256 / w:.0f} MB/s, cp {256 / c:.0f} MB/s, "
        f"worker/cp time ratio {w / c:.2f}"
    )
    print(f"poll of 500 children with expand=true: {p * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="planner-bench-", dir=args.dir))
    try:
        bench(base, args.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
