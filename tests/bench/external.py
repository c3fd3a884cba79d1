"""The workloads that run planner against a worker of its own (`--api-url`), started by the
harness from tests/bench/worker_proc.py: the API requests of a directory copy (counted by the
worker), and the fallback path, a worker with planner's extensions off (as the HPS worker has
none), whose time is compared with another checkout's (`--old`) when given."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bench import fixtures as fx
from tests.bench.report import Row, Table, ratio_row
from tests.bench.worker_proc import FAST_PATH_FEATURES, PLAIN_WORKER
from tests.bench.workloads import KIB, Bench, run_document, say

WORKER_SCRIPT = Path(__file__).with_name("worker_proc.py")
START_TIMEOUT = 30.0
# the harness's own GET of the status, before planner's run: not counted
HARNESS_REQUESTS = 1
HARNESS_ROUTE = "GET /api/v1"


@dataclass
class Counts:
    """What a worker answered, read when it stopped."""

    total: int | None = None  # None: not read (the worker did not stop cleanly)
    by_route: dict[str, int] | None = None
    flags_missing: list[str] | None = None
    planner: str = ""  # the package the worker served


@contextlib.contextmanager
def worker(state: Path, *, plain: bool, checkout: Path | None) -> Iterator[tuple[str, Counts]]:
    """A worker serving for the block (its URL, and its counts, filled once it stopped).

    Raises:
        RuntimeError: it did not start, or it advertises what its kind should not (a plain
            worker with a fast-path feature, PLAIN_WORKER missing a flag).
    """
    count_file = state.with_suffix(".counts.json")
    env = fx.clean_env()
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    command = [sys.executable, str(WORKER_SCRIPT), "--state-dir", str(state)]
    command += ["--count-file", str(count_file), *(["--plain"] if plain else [])]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    counts = Counts()
    try:
        url = _first_line(process)
        _check_features(url, plain)
        yield url, counts
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()  # its counts are lost: the run reads as not measured
            process.wait()
    with contextlib.suppress(OSError, ValueError, KeyError):
        said = json.loads(count_file.read_text())
        counts.total = int(said["total"]) - HARNESS_REQUESTS
        counts.by_route = said["by_route"]
        counts.by_route[HARNESS_ROUTE] -= HARNESS_REQUESTS
        if not counts.by_route[HARNESS_ROUTE]:
            del counts.by_route[HARNESS_ROUTE]
        counts.flags_missing = said["flags_missing"]
        counts.planner = said["planner"]


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("http"):
        raise RuntimeError(f"the benchmark worker did not start (exit {process.poll()}): {line}")
    return line


def _check_features(url: str, plain: bool) -> None:
    features = httpx.get(url, timeout=10).json()["features"]["operation_plugins"]
    fast = [f for f in features if f.startswith(FAST_PATH_FEATURES)]
    if plain and fast:
        raise RuntimeError(
            f"the plain worker still advertises {fast}: add the flag that turns it off to "
            "PLAIN_WORKER in tests/bench/worker_proc.py"
        )
    if not plain and not fast:
        raise RuntimeError(f"the full worker advertises no fast-path feature: {features}")


VARIANTS = ("full", "plain", "old-plain")


def measure_external(b: Bench) -> None:
    n_files = b.sizes.files
    src = b.source("small", lambda base: fx.tree(base, "small", n_files, 4 * KIB))
    tenth = b.source("tenth", lambda base: fx.tree(base, "tenth", n_files // 10, 4 * KIB))
    variants = [v for v in VARIANTS if v != "old-plain" or b.old is not None]
    for n in range(b.repeat):
        say(f"  external workers, repeat {n + 1}/{b.repeat}")
        for variant in variants:
            _one(b, variant, src)
        _one(b, "full-tenth", tenth)
        b.clean()


def _one(b: Bench, variant: str, src: Path) -> None:
    key = f"ext-{variant}"
    plain = "plain" in variant
    checkout = b.old if variant.startswith("old") else None
    env = fx.clean_env()
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    plan = fx.tree_plan(b.plans(variant), src, b.out(variant))
    state = b.plans(variant) / "worker"
    try:
        with worker(state, plain=plain, checkout=checkout) as (url, counts):
            document = run_document(b.rec.run(f"{key}:run", fx.planner_run(plan, url), env=env))
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        b.rec.fail(f"{key}:run", f"worker: {exc}")
        say(f"  ! {key}: {exc}")
        return
    if document is not None and counts.total is not None:
        b.rec.add(f"{key}:requests", counts.total)
        b.rec.add(f"{key}:client_requests", float(document["totals"]["api_requests"]))  # type: ignore[index]
        b.routes[key] = counts.by_route or {}
        b.flags_missing[key] = counts.flags_missing or []
        b.served[key] = counts.planner


def table_requests(b: Bench) -> Table:
    rec, files = b.rec, b.sizes.files
    full, tenth = rec.median("ext-full:requests"), rec.median("ext-full-tenth:requests")
    client = rec.median("ext-full:client_requests")
    routes = sorted(b.routes.get("ext-full", {}).items(), key=lambda kv: -kv[1])
    growth = full / tenth if full is not None and tenth else None
    rows = [
        Row(
            f"{files:,} files: requests the worker answered",
            full,
            "requests",
            note=(f"{full / files:.4f} per file; " if full else "")
            + f"planner counted {client:g}" * (client is not None)
            + "".join(f"; {route} {n}" for route, n in routes[:6]),
        ),
        Row(
            f"{files // 10:,} files: requests the worker answered",
            tenth,
            "requests",
            note=rec.error("ext-full-tenth:run"),
        ),
        Row(
            f"requests at {files:,} / at {files // 10:,} files",
            growth,
            "x",
            ratio=growth,
            limit=2.0,
            note="O(1) in files, read as: 10x the files, at most 2x the requests (polls)",
        ),
    ]
    return Table("API requests of one directory copy (planner run --api-url, fresh)", rows)


def table_fallback(b: Bench) -> Table:
    rec = b.rec
    rows = [
        ratio_row(
            rec,
            "plain worker: planner run --api-url",
            "ext-plain:run",
            "ext-full:run",
            "same, full worker",
        )
    ]
    if b.old is not None:
        rows.append(
            ratio_row(
                rec,
                "plain worker: planner run --api-url",
                "ext-plain:run",
                "ext-old-plain:run",
                f"same, {b.old.name}",
                limit=1.0,
            )
        )
    notes = [f"{b.sizes.files:,} x 4 KiB, fresh; plain worker: WorkerConfig {PLAIN_WORKER}"]
    if b.old is None:
        notes.append("no --old CHECKOUT given: no figure of today's fallback to compare with")
    if b.old is not None:
        notes.append(f"the old worker served {b.served.get('ext-old-plain', '?')}")
    missing = b.flags_missing.get("ext-old-plain")
    if missing:
        notes.append(f"the old checkout's WorkerConfig has no {missing} (left out)")
    return Table("The fallback path (the HPS worker's)", rows, notes)
