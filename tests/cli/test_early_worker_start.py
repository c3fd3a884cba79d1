"""`planner run` and `planner plan` in planner's own process start the embedded worker's
interpreter first thing, from the command line as written, unless it names another worker
(`--api-url`, PLANNER_API_URL) or asks for no worker (`plan --offline`, `--help`); other
commands start none. The command then reuses that interpreter (tests/cli/test_startup_imports.py
and every process-level test run the whole path)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from planner.cli import prestart


@pytest.mark.parametrize(
    ("args", "started"),
    [
        (["run", "plan.yaml"], True),
        (["-q", "run", "plan.yaml", "--remote", "bkt=s3://bucket/prefix"], True),
        (["plan", "plan.yaml", "--format", "json"], True),
        (["run", "plan.yaml", "--api-url", "http://127.0.0.1:1/api/v1"], False),
        (["run", "plan.yaml", "--api-url=http://127.0.0.1:1/api/v1"], False),
        (["plan", "--offline", "plan.yaml"], False),
        (["run", "--help"], False),
        (["plan", "-h"], False),
        (["validate", "plan.yaml"], False),
        (["worker", "serve"], False),
        (["--version"], False),
        ([], False),
    ],
)
def test_the_worker_starts_early_only_for_commands_that_use_the_embedded_one(
    args: list[str], started: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLANNER_API_URL", raising=False)

    assert prestart.wants_worker(args) is started


def test_an_api_url_from_the_environment_starts_no_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLANNER_API_URL", "http://127.0.0.1:1/api/v1")

    assert not prestart.wants_worker(["run", "plan.yaml"])


def test_the_entry_point_spawns_before_planner_imports_its_own_modules() -> None:
    # the console script and `python -m planner` start in planner.cli.prestart, which must
    # not pull in what the spawn is meant to overlap (click, pydantic, the CLI itself)
    script = (
        "from importlib.metadata import entry_points\n"
        "print(entry_points(group='console_scripts')['planner'].value)\n"
        "import sys, planner.cli.prestart\n"
        "heavy = ('click', 'pydantic', 'yaml', 'httpx', 'planner.cli.main', 'planner.errors')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.splitlines() == ["planner.cli.prestart:main", "[]"], done.stderr
