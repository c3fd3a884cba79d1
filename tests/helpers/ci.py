"""The CI recipes under examples/ci as tests read them: their shell scripts, the planner command
lines in those, a checkout for the example plan, and a recipe's job script run for real."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import EXAMPLES

CI = EXAMPLES / "ci"
_GITLAB_SCRIPTS = ("script", "before_script", "after_script")
_SHELL_ENDS = {">", ">>", "|", "||", "&&", ";", "2>", "2>&1"}
# how the CI systems run a script: GitHub's `bash --noprofile --norc -eo pipefail {0}`, and
# GitLab's runner runs a job's lines in one bash with `set -eo pipefail`
_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def script_entries(vendor: str, workflow: dict[Any, Any]) -> Iterator[tuple[str, Any]]:
    """Every shell script entry of a workflow as YAML loaded it, with where it is: GitHub
    `jobs.*.steps[*].run`; GitLab `script`, `before_script`, `after_script` of each job and of
    `default`, a string or a list of lines (nested one level deep by `!reference`)."""
    if vendor == "github":
        for job, body in workflow["jobs"].items():
            for n, step in enumerate(body.get("steps", [])):
                if "run" in step:
                    yield f"jobs.{job}.steps[{n}].run", step["run"]
        return
    for job, body in workflow.items():
        for key in _GITLAB_SCRIPTS if isinstance(body, dict) else ():
            value = body.get(key)
            if not isinstance(value, list):
                if value is not None:
                    yield f"{job}.{key}", value
                continue
            for n, line in enumerate(value):
                if isinstance(line, list):
                    yield from ((f"{job}.{key}[{n}][{m}]", item) for m, item in enumerate(line))
                else:
                    yield f"{job}.{key}[{n}]", line


def scripts(vendor: str, workflow: dict[Any, Any]) -> Iterator[str]:
    """The shell scripts of a workflow that are strings (the others fail their own test)."""
    return (line for _, line in script_entries(vendor, workflow) if isinstance(line, str))


def planner_commands(script: str) -> Iterator[list[str]]:
    """The argument lists of every `planner ...` command in a script (variables substituted
    with a placeholder, shell operators and what follows them cut off)."""
    for line in script.replace("\\\n", " ").splitlines():
        text = re.sub(r"\$\{\{[^}]*\}\}|\"\$\w+\"|\$\w+", "examples/ci/plan.yaml", line.strip())
        if not text.startswith("planner "):
            continue
        words = []
        for word in shlex.split(text)[1:]:
            if word in _SHELL_ENDS:
                break
            words.append(word)
        yield words


def make_ci_checkout(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout at root holding the CI example plan and a build to publish, made the current
    directory, with the environment a pipeline gives the plan (no worker URL: the embedded one)."""
    (root / "examples" / "ci").mkdir(parents=True)
    shutil.copy(CI / "plan.yaml", root / "examples" / "ci" / "plan.yaml")
    for artifact in ("reports", "logs", "binaries"):
        folder = root / "build" / artifact
        folder.mkdir(parents=True)
        (folder / f"{artifact}.txt").write_text(f"{artifact} of the build\n")
    monkeypatch.chdir(root)
    for name in ("PLANNER_API_URL", "PLANNER_TOKEN", "DEPLOY_ENV", "PUBLISH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_PROJECT_DIR", str(root))
    monkeypatch.setenv("CI_PIPELINE_ID", "4711")
    return root


@dataclass
class Script:
    """What one job script printed and how it exited."""

    code: int
    stdout: str
    stderr: str


def run_script(script: str, cwd: Path, env: Mapping[str, str]) -> Script:
    """Run a recipe's shell script as its CI system would, in cwd, with this test's environment
    plus env, and the `planner` of this interpreter first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        [*_BASH, script],
        cwd=cwd,
        env={**os.environ, **env, "PATH": path},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return Script(done.returncode, done.stdout, done.stderr)


def literal_env(*scopes: Mapping[str, Any] | None) -> dict[str, str]:
    """The variables of a recipe's env/variables scopes (outer first) that hold a literal: the
    CI system's expressions (`${{ secrets.X }}`) have no value outside it."""
    found: dict[str, str] = {}
    for scope in scopes:
        for name, value in (scope or {}).items():
            if "${{" not in str(value):
                found[str(name)] = str(value)
    return found
