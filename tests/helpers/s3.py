"""Plans against the local S3 server (tests/s3server.py) through the real CLI: `S3Run` bundles a
test's bucket, its plan files and the CLI with `--remote NAME=s3://BUCKET/PREFIX` added, and
`run_planner` runs the CLI as a subprocess with exactly the AWS environment a test gives it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.cli import CliResult, preview_json, run_json
from tests.s3server import S3Server


@dataclass
class S3Run:
    """One test's bucket on the session's server, its tmp_path and the in-process CLI."""

    s3: S3Server
    bucket: str
    tmp_path: Path
    write_plan: Callable[..., Path]
    run_cli: Callable[..., CliResult]

    def remote(self, prefix: str = "pre", name: str = "bkt") -> str:
        """The `--remote` value of remote `name` at s3://BUCKET/PREFIX."""
        return f"{name}=s3://{self.bucket}/{prefix}"

    def run(self, plan: Path, *args: str, prefix: str = "pre") -> tuple[int, Any]:
        """`planner run PLAN --format json ARGS... --remote bkt=s3://BUCKET/PREFIX`."""
        return run_json(self.run_cli, plan, *args, "--remote", self.remote(prefix))

    def preview(self, plan: Path, *args: str, prefix: str = "pre") -> tuple[int, Any]:
        """`planner plan PLAN --format json ARGS... --remote bkt=s3://BUCKET/PREFIX`."""
        return preview_json(self.run_cli, plan, *args, "--remote", self.remote(prefix))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object of the bucket below `prefix` and its bytes."""
        return self.s3.objects(self.bucket, prefix)


def aws_free_environ(**changes: str) -> dict[str, str]:
    """This process's environment without any AWS_ or PLANNER_ variable, plus `changes`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLANNER_"))}
    return {**kept, **changes}


def run_planner(
    cwd: Path, env: Mapping[str, str], *args: str | Path
) -> subprocess.CompletedProcess[str]:
    """`python -m planner ARGS...` in `cwd` with exactly `env` (its output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "planner", *map(str, args)],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
