"""The embedded worker's process (`python -m planner.worker.child`, started by `planner run`).

It imports the worker first (with the collector paused, then frozen: see planner/gcpause.py) and
builds its models, and only then reads its configuration, one JSON line on stdin, so
`planner run` can start it before loading the plan (the two interpreters import side by side)
and configure it once the plan is valid: nothing is written before that. An end of input before
the configuration means "not needed": it exits at once, quietly. Once configured, its stderr
goes to the log file named in the configuration and the first line on stdout is the API URL, or
`error: <message>` when it cannot start (a damaged worker.db, say): planner shows that message.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from planner.errors import UsageError
from planner.gcpause import exit_now, own_process, rare_collections, startup

ERROR_PREFIX = "error: "  # the first line on stdout when the worker cannot start


def main() -> int:
    """Wait for the configuration, then serve until SIGTERM/SIGINT or POST /shutdown."""
    own_process()
    with startup():  # all of this overlaps planner's own start: none of it waits for the plan
        from planner.api.wire import build_all
        from planner.worker.auth import Authenticator
        from planner.worker.faults import parse_faults
        from planner.worker.objects.location import parse_location
        from planner.worker.serve import serve
        from planner.worker.service import WorkerConfig

        build_all()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    settings = json.loads(line)
    try:
        log = os.open(settings["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        return _cannot_start(f"cannot open its log {settings['log']}: {exc.strerror or exc}")
    os.dup2(log, 2)
    os.close(log)
    try:  # a testing aid, as `planner worker serve --inject-faults` (docs/worker.md)
        faults = parse_faults(os.environ.get("PLANNER_WORKER_FAULTS", ""))
    except ValueError as exc:
        return _cannot_start(f"PLANNER_WORKER_FAULTS: {exc}")
    config = WorkerConfig(
        faults=faults,
        state_dir=Path(settings["state_dir"]),
        remotes={name: parse_location(root) for name, root in settings["remotes"].items()},
        authenticator=Authenticator.single_token(settings["token"]),
        allow_shutdown=True,
    )

    def ready(url: str) -> None:
        print(url, flush=True)

    try:
        # it serves one command: its groups, items and results (thousands for a plan of many
        # small actions) live until the command ends, nearly none of them garbage
        with rare_collections():
            asyncio.run(serve(config, "127.0.0.1", 0, on_ready=ready))
    except UsageError as exc:
        return _cannot_start(str(exc))
    return 0


def _cannot_start(message: str) -> int:
    """Say why on stderr and as the first line on stdout (what planner shows); exit code 2."""
    message = " ".join(message.split())  # one line: the first line on stdout is the answer
    print(f"planner worker: {message}", file=sys.stderr)
    print(f"{ERROR_PREFIX}{message}", flush=True)
    return 2


if __name__ == "__main__":
    # no interpreter teardown (about 30 ms that `planner run` waits for at its end): by now the
    # worker's stop has written every record and closed its database and pools
    exit_now(main())
