"""Where the embedded worker keeps remote `any` is said in the run header and the preview
(`any → .planner/storage/ beside the plan`), and `--storage DIR` (env PLANNER_STORAGE) on `run`
and `plan` puts it elsewhere. Through the real CLI and the real embedded worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

PLAN = """
version: 1
storages:
  data: {remote: local, root: ./data}
  out: {remote: any, root: archive}
copies:
  - {src: "data:f.txt", dst: "out:f.txt"}
"""
LOCAL_ONLY = """
version: 1
storages:
  data: {remote: local, root: ./data}
copies:
  - {src: "data:f.txt", dst: "data:g.txt"}
"""
STAMP = r"\d\d:\d\d:\d\d"


@pytest.fixture
def plan(tmp_path: Path, write_plan: Callable[..., Path]) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_text("hello\n", encoding="utf-8")
    return write_plan(PLAN)


def test_the_run_header_and_the_preview_say_where_any_is_kept(
    plan: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    preview = run_cli("plan", plan)
    run = run_cli("run", plan)

    assert preview.code == run.code == 0
    assert preview.stdout.splitlines()[0] == (
        f"Preview of {plan} against the embedded worker (any → .planner/storage/ beside the plan):"
    )
    header = run.stdout.splitlines()[:2]
    assert re.fullmatch(
        rf"{STAMP} run \S+: plan plan \({re.escape(str(plan))}\), 1 action", header[0]
    )
    assert re.fullmatch(rf"{STAMP} any → \.planner/storage/ beside the plan", header[1])
    assert (tmp_path / ".planner" / "storage" / "archive" / "f.txt").read_text() == "hello\n"


def test_storage_puts_any_elsewhere_for_run_and_plan(
    plan: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    elsewhere = tmp_path / "kept"

    run = run_cli("run", plan, "--storage", elsewhere)
    preview = run_cli("plan", plan, "--storage", elsewhere)

    assert (run.code, run.stderr) == (0, "")
    assert re.fullmatch(rf"{STAMP} any → {re.escape(str(elsewhere))}/", run.stdout.splitlines()[1])
    assert (elsewhere / "archive" / "f.txt").read_text() == "hello\n"
    assert not (tmp_path / ".planner" / "storage" / "archive").exists()
    assert preview.code == 0
    assert preview.stdout.splitlines() == [
        f"Preview of {plan} against the embedded worker (any → {elsewhere}/):",
        "",
        "  = copies.0  copy  unchanged (1 file)",
        "",
        "Plan: 0 files (0 B) to copy; 1 unchanged.",
    ]
    dry = run_cli("run", plan, "--dry-run", "--storage", elsewhere)
    assert (dry.code, dry.stdout) == (0, preview.stdout)


def test_planner_storage_in_the_environment_is_the_default(
    plan: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., CliResult],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLANNER_STORAGE", "from-env")

    run = run_cli("run", plan)

    assert run.code == 0
    assert re.fullmatch(
        rf"{STAMP} any → {re.escape(str(tmp_path))}/from-env/", run.stdout.splitlines()[1]
    )
    assert (tmp_path / "from-env" / "archive" / "f.txt").read_text() == "hello\n"


def test_a_plan_without_any_gets_no_note(
    tmp_path: Path, write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_text("hello\n", encoding="utf-8")
    plan = write_plan(LOCAL_ONLY)

    preview = run_cli("plan", plan)
    run = run_cli("run", plan)

    assert preview.stdout.splitlines()[0] == f"Preview of {plan} against the embedded worker:"
    assert "any →" not in run.stdout


@pytest.mark.parametrize("command", ["run", "plan"])
def test_storage_with_api_url_is_a_usage_error(
    command: str, plan: Path, tmp_path: Path, unused_port: int, run_cli: Callable[..., CliResult]
) -> None:
    url = f"http://127.0.0.1:{unused_port}/api/v1"
    result = run_cli(command, plan, "--storage", tmp_path / "kept", "--api-url", url)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "planner: error: --storage is where the embedded worker keeps remote `any`; with "
        "--api-url that worker keeps its own (leave out one of them)\n"
    )
