"""`planner runs` and `planner runs show` through the real CLI, on the journal real runs wrote."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import EXAMPLES, CliResult


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
        f"No runs recorded: no journal at {tmp_path / 'nothing.db'} (a run keeps its journal in "
        ".planner/state.db beside its plan file); give --plan PLAN or --state FILE.",
    )
    assert not (tmp_path / "nothing.db").exists()

    plan, _ = two_runs
    unknown = run_cli("runs", "show", "nope", "--plan", plan)
    assert unknown.code == 2
    assert "no run 'nope'" in unknown.stderr
    missing = run_cli("runs", "show", "x", "--state", tmp_path / "nothing.db")
    assert missing.code == 2
    assert "no journal" in missing.stderr


NO_JOURNAL = (
    "no journal at {} (a run keeps its journal in .planner/state.db beside its plan file); "
    "give --plan PLAN or --state FILE"
)


def test_runs_from_a_directory_without_a_journal_say_where_they_looked(
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    journal = elsewhere.resolve() / ".planner" / "state.db"
    listed = run_cli("runs")
    assert (listed.code, listed.stdout) == (
        0,
        f"No runs recorded: {NO_JOURNAL.format(journal)}.\n",
    )
    shown = run_cli("runs", "show", "20261202T084932")
    assert (shown.code, shown.stdout) == (2, "")
    assert shown.stderr == f"planner: error: {NO_JOURNAL.format(journal)}\n"
    assert not journal.exists()


def test_runs_show_finds_a_run_beside_plan_or_in_the_current_directory(
    tmp_path: Path,
    two_runs: tuple[Path, list[str]],
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan, (first, _) = two_runs
    other = tmp_path / "other"
    other.mkdir()
    other_plan = other / "other.yaml"
    other_plan.write_text("version: 1\nstorages: {}\n")
    # from elsewhere, the plan's journal is found with --plan
    monkeypatch.chdir(other)
    shown = run_cli("runs", "show", first, "--plan", plan)
    assert shown.code == 0, shown.stderr
    assert shown.stdout.startswith(f"Run {first}: succeeded\n")
    # from the plan's directory, --plan naming another plan still finds the run here
    monkeypatch.chdir(plan.parent)
    shown = run_cli("runs", "show", first, "--plan", other_plan)
    assert shown.code == 0, shown.stderr
    assert shown.stdout.startswith(f"Run {first}: succeeded\n")
    # with no journal beside --plan, the current directory's is searched alone
    unknown = run_cli("runs", "show", "nope", "--plan", other_plan)
    journal = plan.parent.resolve() / ".planner" / "state.db"
    assert (unknown.code, unknown.stderr) == (
        2,
        f"planner: error: no run 'nope' in {journal}\n",
    )
