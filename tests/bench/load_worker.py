"""Load on a shared worker (issue 9, item 9): CLIENTS clients for DURATION seconds against a real
`planner worker serve` (a subprocess with a users file, its state on a tmpfs when there is one),
each mixing what a team's clients do: small copies, mkdirs and listings submitted and then polled,
`GET /storage`, and the admin's `GET /operations?limit=50`. A 503 with Retry-After is honoured.

It reports the worker's RSS (start, end, max: sampled from /proc/<pid>/status, and its VmHWM),
CPU of the worker and of this load generator, requests/s, p50/p99 latency per request kind,
status-code counts, and PASS/FAIL against the targets of issue 9:
  - worker RSS stays under 300 MiB;
  - no 5xx other than 503 with Retry-After (and no connection errors);
  - `GET /storage` p99 under 100 ms, overall and in every 10 s window;
and, after a SIGTERM at the end: exit 0, and nothing left queued or running in worker.db.
Exits 1 on FAIL.

Run: python -m tests.bench.load_worker [--clients 50] [--duration 180] [--users 10] [--procs 2]
     [--max-queued-items N] [--dir DIR]      (the report and the checks: load_report.py)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.bench.load_report import Tally, report

SEED = 20_240_901
SOURCE_FILES = 100  # 4 KiB files under data:src
ADMIN_TOKEN = "load-admin-token-0123456789"
# request kinds a client picks from at each step, with their weights
KINDS = {
    "POST /storage:copy": 20,
    "POST /storage:mkdir": 15,
    "POST /storage:list": 10,
    "GET /operations?ids": 30,
    "GET /storage": 20,
    "GET /operations?limit=50": 5,
}
TERMINAL = {"succeeded", "failed"}


# -- the worker --------------------------------------------------------------------------------
def user_token(n: int) -> str:
    return f"load-user-{n:02d}-token-0123456789"


def prepare(base: Path, users: int) -> tuple[Path, Path, Path]:
    """Source files, a users file, a state directory under `base`."""
    source = base / "data" / "src"
    source.mkdir(parents=True)
    rng = random.Random(SEED)
    for i in range(SOURCE_FILES):
        (source / f"f{i:03d}.bin").write_bytes(rng.randbytes(4096))
    users_file = base / "users.yaml"
    lines = ["users:", f"  - {{name: admin, token: {ADMIN_TOKEN}, admin: true}}"]
    lines += [f"  - {{name: user{n:02d}, token: {user_token(n)}}}" for n in range(users)]
    users_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base / "data", users_file, base / "state"


def start_worker(
    data: Path, users_file: Path, state: Path, log: Path, extra: list[str]
) -> tuple[Any, str]:
    command = [sys.executable, "-m", "planner", "worker", "serve", "--port", "0", *extra]
    command += ["--state-dir", str(state), "--users", str(users_file), "--remote", f"data={data}"]
    with open(log, "wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the worker did not start: {log.read_text(errors='replace')}")
    return proc, url


def grant(users: int, url: str) -> None:
    """Each user writes below load/<user>; everyone reads data:src."""
    permissions = [
        {
            "resource": {"path": f"load/user{n:02d}"},
            "role": "writer",
            "subject": {"type": "user", "id": f"user{n:02d}"},
        }
        for n in range(users)
    ]
    permissions.append(
        {"resource": {"path": "data:src"}, "role": "reader", "subject": {"type": "any"}}
    )
    response = httpx.post(
        f"{url}/permissions:set",
        json={"permissions": permissions},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    response.raise_for_status()


class Sampler(threading.Thread):
    """The worker's RSS (and CPU time) every half second, from /proc."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # (time, RSS MiB)
        self.done = threading.Event()

    def status(self, field_name: str) -> float:
        """A `kB` field of /proc/<pid>/status, in MiB."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                self.samples.append((time.monotonic(), self.status("VmRSS")))
            except OSError:
                return


# -- the clients -------------------------------------------------------------------------------
class LoadClient:
    """One client: a user's keep-alive connection, its own seeded choices, its pending ids."""

    def __init__(
        self, n: int, url: str, users: int, tally: Tally, end: float, limits: httpx.Limits
    ) -> None:
        self.n = n
        self.user = n % users
        self.rng = random.Random(SEED + n)
        self.tally = tally
        self.end = end
        self.http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {user_token(self.user)}"},
            timeout=60,
            limits=limits,
        )
        self.admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.pending: list[str] = []
        self.sequence = 0

    async def run(self) -> None:
        kinds, weights = list(KINDS), list(KINDS.values())
        try:
            while time.monotonic() < self.end:
                kind = self.rng.choices(kinds, weights)[0]
                if kind == "GET /operations?ids" and not self.pending:
                    kind = "GET /storage"
                await self.step(kind)
        finally:
            await self.http.aclose()

    async def step(self, kind: str) -> None:
        home = f"load/user{self.user:02d}/c{self.n:02d}"
        self.sequence += 1
        seq = self.sequence
        if kind == "POST /storage:copy":
            files = self.rng.sample(range(SOURCE_FILES), self.rng.randint(1, 5))
            body: Any = {
                "operations": [
                    {
                        "src": {"remote": "data", "path": f"src/f{i:03d}.bin"},
                        "dst": {"remote": "any", "path": f"{home}/r{seq}/f{i:03d}.bin"},
                    }
                    for i in files
                ]
            }
            await self.submit(kind, "/storage:copy", body)
        elif kind == "POST /storage:mkdir":
            count = self.rng.randint(1, 3)
            body = {"operations": [{"path": f"{home}/d{seq}/{i}"} for i in range(count)]}
            await self.submit(kind, "/storage:mkdir", body)
        elif kind == "POST /storage:list":
            path = {"remote": "data", "path": "src"} if seq % 2 else {"path": home}
            await self.submit(kind, "/storage:list", {"operations": [path]})
        elif kind == "GET /operations?ids":
            ids = self.pending[:20]
            response = await self.request(kind, "GET", "/operations", params={"ids": ids})
            if response is not None and response.status_code == 200:
                done = {op["id"] for op in response.json()["operations"] if op["state"] in TERMINAL}
                self.pending = [i for i in self.pending if i not in done]
        elif kind == "GET /storage":
            await self.request(kind, "GET", "/storage")
        else:
            params = {"limit": "50"}
            await self.request(kind, "GET", "/operations", params=params, admin=True)

    async def submit(self, kind: str, path: str, body: Any) -> None:
        response = await self.request(kind, "POST", path, json=body)
        if response is None:
            return
        if response.status_code == 200:
            self.tally.accepted += 1
            self.pending.append(response.json()["id"])
            del self.pending[:-200]  # a client forgets what it never saw end
        elif response.status_code == 503 and "retry-after" in response.headers:
            wait = min(float(response.headers["retry-after"]), self.end - time.monotonic())
            self.tally.retry_after_waits.append(wait)
            if wait > 0:
                await asyncio.sleep(wait)

    async def request(
        self, kind: str, method: str, path: str, *, admin: bool = False, **options: Any
    ) -> httpx.Response | None:
        if admin:
            options["headers"] = self.admin_headers
        start = time.monotonic()
        try:
            response = await self.http.request(method, path, **options)
        except httpx.HTTPError as exc:
            self.tally.unexpected[f"{kind}: {type(exc).__name__}"] += 1
            return None
        self.tally.latencies[kind].append((start, time.monotonic() - start))
        status = response.status_code
        busy = status == 503 and "retry-after" in response.headers
        self.tally.statuses[f"{status}{' (Retry-After)' if busy else ''}"] += 1
        if status >= 400 and not busy:  # any other refusal or error is unexpected here
            self.tally.unexpected[f"{kind}: HTTP {status} {response.text[:120]}"] += 1
        return response


async def drive(url: str, numbers: list[int], users: int, end: float) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    load = [LoadClient(n, url, users, tally, end, limits) for n in numbers]
    await asyncio.gather(*(c.run() for c in load))
    return tally


def drive_share(url: str, numbers: list[int], users: int, end: float) -> Tally:
    """One load process's clients (CLOCK_MONOTONIC is shared by every process on Linux)."""
    tally = asyncio.run(drive(url, numbers, users, end))
    tally.latencies = dict(tally.latencies)  # picklable
    return tally


def run_clients(url: str, clients: int, users: int, duration: float, procs: int) -> Tally:
    """CLIENTS clients spread over PROCS processes (one event loop each); their tallies summed."""
    end = time.monotonic() + duration
    shares = [list(range(clients))[p::procs] for p in range(procs)]
    if procs == 1:
        return drive_share(url, shares[0], users, end)
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        tallies = list(pool.map(drive_share, [url] * procs, shares, [users] * procs, [end] * procs))
    total = Tally()
    for tally in tallies:
        for kind, samples in tally.latencies.items():
            total.latencies[kind] += samples
        total.statuses += tally.statuses
        total.unexpected += tally.unexpected
        total.accepted += tally.accepted
        total.retry_after_waits += tally.retry_after_waits
    return total


def _own_cpu() -> float:
    """CPU seconds of this process and of the load processes it waited for."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def unfinished_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM operations WHERE finished = 0 OR state IN ('queued', 'running')"
        ).fetchone()
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds")
    parser.add_argument("--users", type=int, default=10, help="distinct users of the clients")
    parser.add_argument(
        "--procs", type=int, default=2, help="load processes the clients are spread over"
    )
    parser.add_argument(
        "--max-queued-items",
        type=int,
        help="the worker's bound (default: its own); a small one shows the 503s and Retry-After",
    )
    parser.add_argument("--dir", type=Path, help="where the worker's state goes (default: tmpfs)")
    args = parser.parse_args(argv)

    top = args.dir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    base = Path(tempfile.mkdtemp(prefix="planner-load-", dir=top))
    try:
        data, users_file, state = prepare(base, args.users)
        extra = ["--max-queued-items", str(args.max_queued_items)] if args.max_queued_items else []
        proc, url = start_worker(data, users_file, state, base / "worker.log", extra)
        try:
            grant(args.users, url)
            sampler = Sampler(proc.pid)
            rss_start = sampler.status("VmRSS")
            cpu_start, own_start = sampler.cpu_seconds(), _own_cpu()
            sampler.start()
            started = time.monotonic()
            tally = run_clients(url, args.clients, args.users, args.duration, args.procs)
            elapsed = time.monotonic() - started
            rss_end, peak = sampler.status("VmRSS"), sampler.status("VmHWM")
            worker_cpu = sampler.cpu_seconds() - cpu_start
            own_cpu = _own_cpu() - own_start
            sampler.done.set()
            sampler.join()
            proc.terminate()
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        unfinished = unfinished_in(state / "worker.db")
        return report(
            args,
            tally,
            list(KINDS),
            elapsed=elapsed,
            started=started,
            rss=(rss_start, rss_end, max([rss_end, *(r for _, r in sampler.samples)]), peak),
            cpu=(worker_cpu, own_cpu),
            exit_code=code,
            unfinished=unfinished,
            log=(base / "worker.log").read_text(errors="replace"),
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
