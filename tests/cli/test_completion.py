"""`planner completion bash|zsh|fish` prints click's completion script for `planner`, and the
completion protocol answers through the real entry point: the bash script is sourced into a real
bash that completes commands, options and choices with the installed `planner`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

VENV_BIN = Path(sys.executable).parent  # where the `planner` console script is installed


def _complete_in_bash(script: str, words: list[str]) -> list[str]:
    """COMPREPLY of the sourced `script` for the command line `words` (the last is completed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_planner_completion planner\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def test_the_bash_script_completes_commands_options_and_choices(
    run_cli: Callable[..., CliResult],
) -> None:
    result = run_cli("completion", "bash")
    assert (result.code, result.stderr) == (0, "")
    assert "complete -o nosort -F _planner_completion planner" in result.stdout

    assert _complete_in_bash(result.stdout, ["planner", "val"]) == ["validate"]
    assert _complete_in_bash(result.stdout, ["planner", "run", "--conc"]) == ["--concurrency"]
    assert _complete_in_bash(result.stdout, ["planner", "validate", "--format", ""]) == [
        "text",
        "json",
        "github",
    ]
    assert _complete_in_bash(result.stdout, ["planner", "completion", ""]) == [
        "bash",
        "zsh",
        "fish",
    ]


@pytest.mark.parametrize(
    ("shell", "registration", "cword", "answer"),
    [
        (
            "zsh",
            "compdef _planner_completion planner",
            "1",
            "plain\nvalidate\nCheck plans: schema, variables, paths and...\n",
        ),
        (
            "fish",
            'complete --no-files --command planner --arguments "(_planner_completion)"',
            "val",
            "plain,validate\tCheck plans: schema, variables, paths and...\n",
        ),
    ],
)
def test_the_zsh_and_fish_scripts_call_the_same_protocol(
    shell: str,
    registration: str,
    cword: str,
    answer: str,
    run_cli: Callable[..., CliResult],
) -> None:
    result = run_cli("completion", shell)
    assert (result.code, result.stderr) == (0, "")
    assert registration in result.stdout
    assert f"_PLANNER_COMPLETE={shell}_complete" in result.stdout

    env = {
        **os.environ,
        "_PLANNER_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": "planner val",
        "COMP_CWORD": cword,
    }
    done = subprocess.run(
        [sys.executable, "-m", "planner"], capture_output=True, text=True, env=env, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, answer)


def test_an_unknown_shell_is_a_usage_error(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("completion", "tcsh")
    assert result.code == 2
    assert result.stderr.endswith(
        "Error: Invalid value for '{bash|zsh|fish}': 'tcsh' is not one of 'bash', 'zsh', 'fish'.\n"
    )
