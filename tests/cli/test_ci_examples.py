"""The CI recipes under examples/ci and the pre-commit hook: valid YAML that GitHub's and GitLab's
own schemas accept, every script line a string, every planner command line in them parses with
the real CLI, and the validate, preview, run and nightly drift commands work for real on
the example plan with the embedded worker."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import click
import pytest
import yaml

from planner.cli.main import cli
from tests.helpers.ci import planner_commands, script_entries, scripts
from tests.helpers.cli import EXAMPLES, CliResult

REPO = EXAMPLES.parent
GITHUB = sorted((EXAMPLES / "ci" / "github").glob("*.y*ml"))
GITLAB = sorted((EXAMPLES / "ci" / "gitlab").glob("*.y*ml"))  # pathlib's glob sees dotfiles
RECIPES = GITHUB + GITLAB
# the schemas check-jsonschema ships (no network); the GitLab transform reads `!reference` tags
VENDOR_SCHEMAS = {
    "github": ["--builtin-schema", "vendor.github-workflows"],
    "gitlab": ["--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"],
}


def check_jsonschema(vendor: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """Validate files against a CI vendor's schema with check-jsonschema, offline."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *VENDOR_SCHEMAS[vendor], *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def parse(args: list[str]) -> None:
    """Parse a planner command line down to its leaf command, invoking nothing."""
    command: click.Command = cli
    parent = click.Context(cli, info_name="planner")
    rest = list(args)
    while isinstance(command, click.Group):
        name = rest[0] if rest else ""
        sub = command.get_command(parent, name)
        if sub is None:  # no subcommand named: the group's own options (`planner runs --limit`)
            command.make_context(parent.info_name, rest, parent=parent.parent)
            return
        command, rest = sub, rest[1:]
        parent = click.Context(command, info_name=name, parent=parent)
    command.make_context(parent.info_name, rest, parent=parent.parent)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipes_are_yaml_and_every_planner_command_in_them_parses(recipe: Path) -> None:
    workflow = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    assert isinstance(workflow, dict)
    commands = [c for s in scripts(recipe.parent.name, workflow) for c in planner_commands(s)]
    assert {c[0] for c in commands} >= {"plan", "run"}, commands
    if "nightly" not in recipe.name:
        assert "validate" in {c[0] for c in commands}
    for command in commands:
        parse(command)


@pytest.mark.parametrize(("vendor", "recipes"), [("github", GITHUB), ("gitlab", GITLAB)])
def test_recipes_pass_their_ci_systems_own_schema(vendor: str, recipes: list[Path]) -> None:
    assert recipes
    result = check_jsonschema(vendor, *recipes)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_script_entry_of_the_recipes_is_a_string(recipe: Path) -> None:
    # a `: ` in a plain scalar makes YAML read a script line as a mapping
    workflow = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    entries = dict(script_entries(recipe.parent.name, workflow))
    assert entries
    assert {where: line for where, line in entries.items() if not isinstance(line, str)} == {}


def test_a_colon_in_a_plain_script_line_would_be_caught(tmp_path: Path) -> None:
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(
        "job:\n  script:\n    - echo ok\n    - echo drift: the storages had drifted\n",
        encoding="utf-8",
    )
    result = check_jsonschema("gitlab", broken)
    assert result.returncode == 1
    error = "$.job.script[1]: {'echo drift': 'the storages had drifted'} is not of type 'string'"
    assert error in result.stdout
    workflow = yaml.safe_load(broken.read_text(encoding="utf-8"))
    assert dict(script_entries("gitlab", workflow)) == {
        "job.script[0]": "echo ok",
        "job.script[1]": {"echo drift": "the storages had drifted"},
    }


def test_a_mistyped_command_line_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        parse(["plan", "examples/ci/plan.yaml", "--detailed-exit-code"])
    with pytest.raises(click.BadParameter):
        parse(["plan", "examples/ci/plan.yaml", "--format", "html"])


def test_github_recipes_use_the_documented_outputs() -> None:
    main = yaml.safe_load((EXAMPLES / "ci" / "github" / "planner.yml").read_text())
    jobs = main["jobs"]
    steps = {job: " ".join(scripts("github", {"jobs": {job: jobs[job]}})) for job in jobs}
    assert "--format github" in steps["validate"]
    assert "--format markdown" in steps["preview"]
    assert "GITHUB_STEP_SUMMARY" in steps["preview"]
    assert "--report junit.xml" in steps["run"]
    assert "secrets.PLANNER_TOKEN" in str(main["jobs"]["run"])
    nightly = yaml.safe_load((EXAMPLES / "ci" / "github" / "nightly.yml").read_text())
    assert "schedule" in nightly[True]  # YAML 1.1 reads the key `on` as True
    assert "--detailed-exitcode" in " ".join(scripts("github", nightly))


def test_the_pre_commit_hook_validates_plan_files() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "planner-validate"
    assert hook["entry"].split()[:2] == ["planner", "validate"]
    parse([*hook["entry"].split()[1:], "plan.yaml"])
    pattern = re.compile(hook["files"])
    for name in ("plan.yaml", "deploy/plan.yml", "nightly.plan.yaml", "plans/archive.yaml"):
        assert pattern.search(name), name
    for name in ("values.yaml", ".github/workflows/ci.yml", "plans/sub/x.json"):
        assert not pattern.search(name), name


def test_the_github_flow_works_on_the_example_plan(
    ci_checkout: Path, run_cli: Callable[..., CliResult]
) -> None:
    plan = "examples/ci/plan.yaml"
    validate = run_cli("validate", "--format", "github", plan)
    assert validate.code == 0
    assert "::error" not in validate.stdout

    preview = run_cli("plan", plan, "--format", "markdown", "--detailed-exitcode")
    assert preview.code == 2, preview.stdout + preview.stderr  # changes pending
    assert "Plan: 3 files" in preview.stdout

    run = run_cli("run", plan, "--report", "junit.xml")
    assert run.code == 0, run.stdout + run.stderr
    suite = ET.parse(ci_checkout / "junit.xml").getroot()
    assert suite.get("failures") == "0"

    nightly = run_cli("plan", plan, "--format", "markdown", "--detailed-exitcode")
    assert nightly.code == 0, nightly.stdout  # no drift
    storage = ci_checkout / "examples" / "ci" / ".planner" / "storage"
    (storage / "releases" / "staging" / "4711" / "logs" / "logs.txt").unlink()
    drifted = run_cli("plan", plan, "--format", "markdown", "--detailed-exitcode")
    assert drifted.code == 2
    assert "| `+` | `publish-logs` | copy | 1 file (18 B) to copy |" in drifted.stdout


def test_the_nightly_preview_finds_a_file_that_appeared_in_a_mirrored_release(
    ci_checkout: Path, run_cli: Callable[..., CliResult]
) -> None:
    plan = "examples/ci/plan.yaml"
    assert run_cli("run", plan).code == 0
    storage = ci_checkout / "examples" / "ci" / ".planner" / "storage"
    (storage / "releases" / "staging" / "4711" / "logs" / "stray.txt").write_text("by hand\n")

    drifted = run_cli("plan", plan, "--format", "markdown", "--detailed-exitcode")

    assert drifted.code == 2, drifted.stdout + drifted.stderr
    assert "| `-` | `publish-logs` | copy | 1 unchanged, 1 path (8 B) to delete |" in drifted.stdout
    assert "- `remove` any:releases/staging/4711/logs/stray.txt" in drifted.stdout
    assert run_cli("run", plan).code == 0  # the nightly re-applies: the stray file goes
    assert not (storage / "releases" / "staging" / "4711" / "logs" / "stray.txt").exists()
    again = run_cli("plan", plan, "--format", "markdown", "--detailed-exitcode")
    assert again.code == 0, again.stdout
