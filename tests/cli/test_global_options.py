"""The global options `-v`, `-q` and `--color` are accepted before the command name and after it,
with the same meaning; a command's own option of the same name (`worker serve -v`) keeps its
meaning. Through the real CLI (and, for `run`, the real embedded worker)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli.main import REPORTING_DOC
from tests.helpers.cli import EXAMPLES, CliResult

VALID = """
version: 1
storages:
  out: {remote: any, root: out}
directories:
  - out:a
"""
INVALID = """
version: 1
storages:
  out: {remote: any, root: out}
directories:
  - bad:a
"""
PROBLEM = "plan.yaml:5:5: error: directories[0]: unknown storage 'bad'; declared: out"
BOLD, RED, RESET = "\x1b[1m", "\x1b[31m", "\x1b[0m"


@pytest.mark.parametrize(
    "args",
    [
        ["-v", "validate", "{plan}"],
        ["validate", "-v", "{plan}"],
        ["validate", "{plan}", "-v"],
        ["validate", "{plan}", "-vv", "--color", "never"],
    ],
)
def test_verbose_and_color_are_accepted_before_and_after_the_command(
    args: list[str], write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(VALID)
    result = run_cli(*[a.format(plan=plan) for a in args])
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == f"{plan}: valid: 1 action (1 directory), DAG depth 1\n"


@pytest.mark.parametrize("args", [["-q", "validate", "{plan}"], ["validate", "{plan}", "-q"]])
def test_quiet_anywhere_prints_problems_only(
    args: list[str], write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(VALID)
    result = run_cli(*[a.format(plan=plan) for a in args])
    assert (result.code, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("where", ["before", "after"])
def test_color_always_and_never_override_the_terminal_check(
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    monkeypatch.chdir(tmp_path)
    write_plan(INVALID)

    always = run_cli("--color", "always", "validate", "plan.yaml")
    if where == "after":
        always = run_cli("validate", "plan.yaml", "--color", "always")
    assert always.code == 2
    assert always.stdout.splitlines()[0] == (
        f"{BOLD}plan.yaml:5:5{RESET}: {RED}error{RESET}: directories[0]: unknown storage 'bad'; "
        "declared: out"
    )
    never = run_cli("graph", "plan.yaml", "--color", "never")
    if where == "before":
        never = run_cli("--color", "never", "graph", "plan.yaml")
    assert (never.code, never.stdout) == (2, "")
    assert never.stderr.splitlines()[0] == PROBLEM
    # the next command, without --color, decides by the stream again (not a terminal here)
    assert run_cli("validate", "plan.yaml").stdout.splitlines()[0] == PROBLEM


def test_verbose_after_the_command_prints_the_traceback_of_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
    write_plan: Callable[..., Path],
    run_cli: Callable[..., CliResult],
) -> None:
    import planner.cli.validate

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(planner.cli.validate, "validate_file", broken)
    plan = write_plan(VALID)

    quiet = run_cli("validate", plan)
    verbose = run_cli("validate", plan, "-v")

    assert quiet.code == verbose.code == 70
    assert quiet.stderr == (
        "planner: internal error: RuntimeError: boom. This is a bug in planner: run the same "
        "command again with -v for the traceback, and report it as "
        "docs/errors.md#reporting-a-problem (in planner's source) describes.\n"
    )
    assert verbose.stderr.startswith(quiet.stderr)
    assert "Traceback (most recent call last):" in verbose.stderr
    assert verbose.stderr.endswith("RuntimeError: boom\n")


def test_the_internal_error_message_names_a_docs_section_that_exists() -> None:
    page, anchor = REPORTING_DOC.split("#")
    headings = [
        line.lstrip("#").strip()
        for line in (EXAMPLES.parent / page).read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    # the anchor a Markdown renderer gives a heading: lower case, spaces as hyphens
    assert anchor in [re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings]


@pytest.mark.parametrize("args", [["-q", "run", "{plan}"], ["run", "{plan}", "-q"]])
def test_quiet_run_prints_only_the_summary(
    args: list[str], write_plan: Callable[..., Path], run_cli: Callable[..., CliResult]
) -> None:
    plan = write_plan(VALID)
    result = run_cli(*[a.format(plan=plan) for a in args])
    assert (result.code, result.stderr) == (0, "")
    assert re.fullmatch(r"Run \S+ succeeded: 1 action succeeded, [^\n]*\n", result.stdout)


def test_a_commands_own_option_keeps_its_meaning(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("worker", "serve", "--help")
    assert result.code == 0
    assert "-v, --verbose                   Log every request." in result.stdout
    assert "--color [auto|always|never]" in result.stdout
