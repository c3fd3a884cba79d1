"""`planner runs` and `planner runs show` through the real CLI, on the journal real runs wrote."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, CliResult

pytestmark = pytest.mark.usefixtures("no_api_from_the_environment")


@pytest.fixture
def two_runs(tmp_path: Path, run_cli: Callable[..., CliResult]) -> tuple[Path, list[str]]:
    """The quickstart run twice (the second changes nothing); its plan and the run ids."""
    example = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", example, ignore=shutil.ignore_patterns(".planner"))
    plan = example / "plan.yaml"
    ids = []
    for _ in range(2):
        result = run_cli("run", plan, "--format", "json")
        assert result.code == 0, result.stderr
        ids.append(json.loads(result.stdout)["run_id"])
    return plan, ids


def test_runs_lists_the_recorded_runs_newest_first(
    two_runs: tuple[Path, list[str]], run_cli: Callable[..., CliResult]
) -> None:
    plan, (first, second) = two_runs
    text = run_cli("runs", "--plan", plan)
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == [
        "RUN",
        "PLAN",
        "STARTED",
        "DURATION",
        "RESULT",
        "ACTIONS",
        "AND",
        "FILES",
    ]
    assert [line.split()[0] for line in lines[1:]] == [second, first]
    assert "succeeded" in lines[2]
    assert "4/4 ok" in lines[2]
    assert "93 B" in lines[2]

    listed = json.loads(run_cli("runs", "--plan", plan, "--format", "json").stdout)
    assert listed["format_version"] == 1
    newest, oldest = listed["runs"]
    assert (newest["run_id"], oldest["run_id"]) == (second, first)
    assert oldest["totals"]["bytes"] == 93
    assert newest["totals"]["files_unchanged"] >= 3
    assert newest["result"] == "succeeded"
    assert (
        run_cli("runs", "--plan", plan, "--limit", "1", "--format", "json").stdout.count('"run_id"')
        == 1
    )


def test_runs_show_is_the_provenance_of_a_run(
    two_runs: tuple[Path, list[str]], run_cli: Callable[..., CliResult]
) -> None:
    plan, (first, _) = two_runs
    text = run_cli("runs", "show", first, "--plan", plan)
    assert text.code == 0, text.stderr
    assert text.stdout.startswith(f"Run {first}: succeeded")
    assert "results (copy): succeeded" in text.stdout
    assert "-> any:quickstart/runs/demo/results/summary.csv, 45 B" in text.stdout

    document = json.loads(run_cli("runs", "show", first, "--plan", plan, "--format", "json").stdout)
    assert document["run_id"] == first
    copies = {
        item["dst"]: item["size"]
        for action in document["actions"]
        for item in action["items"]
        if item["kind"] == "copy"
    }
    example = plan.parent / "data" / "results"
    assert copies == {
        f"any:quickstart/runs/demo/results/{rel}": (example / rel).stat().st_size
        for rel in ("summary.csv", "fields/pressure.h5", "fields/velocity.h5")
    }


def test_runs_without_a_journal_and_unknown_runs(
    tmp_path: Path, two_runs: tuple[Path, list[str]], run_cli: Callable[..., CliResult]
) -> None:
    empty = run_cli("runs", "--state", tmp_path / "nothing.db")
    assert (empty.code, empty.stdout.strip()) == (
        0,
        f"No runs recorded in {tmp_path / 'nothing.db'}.",
    )
    assert not (tmp_path / "nothing.db").exists()

    plan, _ = two_runs
    unknown = run_cli("runs", "show", "nope", "--plan", plan)
    assert unknown.code == 2
    assert "no run 'nope'" in unknown.stderr
    missing = run_cli("runs", "show", "x", "--state", tmp_path / "nothing.db")
    assert missing.code == 2
    assert "no journal" in missing.stderr
