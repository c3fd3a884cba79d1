"""A worker for the benchmarks, run as a script (`python tests/bench/worker_proc.py`), so that
with PYTHONPATH naming another checkout it serves that checkout's worker (it imports nothing
from tests/). It serves on 127.0.0.1 with an ephemeral port and no authentication, prints its API
URL as the first line, and when stopped (SIGTERM) writes the requests it answered, as JSON, to
--count-file: `{"total": N, "by_route": {"GET /api/v1/operations": n, ...}, "planner": DIR}`
(DIR: the package it served, to see that PYTHONPATH took effect).

`--plain` turns planner's extensions off (PLAIN_WORKER), like the HPS worker, so the runner
takes its fallback path; tests/bench/targets checks that such a worker advertises none of
FAST_PATH_FEATURES.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import planner
from planner.worker.auth import Authenticator
from planner.worker.serve import serve
from planner.worker.service import WorkerConfig

# The one place that says what a "plain" worker turns off (WorkerConfig fields). A flag the
# checkout's WorkerConfig does not have is left out (an older checkout), and reported.
PLAIN_WORKER: dict[str, object] = {
    "recursive_listing": False,
    "stat": False,
    "tree_operations": False,
    "operation_waits": False,
    "outcome_view": False,
}
# features whose advertisement makes the runner leave the fallback path (prefixes)
FAST_PATH_FEATURES = ("planner.list.recursive", "planner.stat", "planner.tree.")

_ID = re.compile(r"/[0-9a-f-]{16,}")  # an operation id in a path


def config(state_dir: Path, plain: bool, log: list[tuple[str, str]]) -> WorkerConfig:
    """The worker's configuration; with `plain`, PLAIN_WORKER's flags that this checkout has."""
    known = {f.name for f in dataclasses.fields(WorkerConfig)}
    flags = {k: v for k, v in PLAIN_WORKER.items() if k in known} if plain else {}
    return WorkerConfig(
        state_dir=state_dir,
        authenticator=Authenticator([], no_auth=True),
        request_log=log,
        **flags,  # type: ignore[arg-type]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--count-file", type=Path, required=True)
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args()
    log: list[tuple[str, str]] = []

    def ready(url: str) -> None:
        print(url, flush=True)

    asyncio.run(serve(config(args.state_dir, args.plain, log), "127.0.0.1", 0, on_ready=ready))
    routes = Counter(f"{method} {_ID.sub('/{id}', path)}" for method, path in log)
    ignored = sorted(set(PLAIN_WORKER) - {f.name for f in dataclasses.fields(WorkerConfig)})
    args.count_file.write_text(
        json.dumps(
            {
                "total": len(log),
                "by_route": dict(routes),
                "flags_missing": ignored,
                "planner": str(Path(planner.__file__).parent),
            }
        )
    )


if __name__ == "__main__":
    main()
