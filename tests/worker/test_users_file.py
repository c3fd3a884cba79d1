"""A users file with a mistake is refused at start (exit 2) with every problem located as
`FILE:line:col: pointer: message`, in file order, a misspelt key getting a did-you-mean, as plan
problems do; no token is ever echoed. Through the real CLI (`planner worker serve --users`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.cli import CliResult

SECRET = "s3cret-token-never-printed"


def _serve(run_cli: Callable[..., CliResult], users: Path) -> CliResult:
    return run_cli("worker", "serve", "--port", "0", "--users", users)


def test_a_misspelt_key_is_located_with_a_did_you_mean(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(f"users:\n  - name: alice\n    tokn: {SECRET}\n", encoding="utf-8")

    result = _serve(run_cli, users)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"planner: error: --users {users}:3:5: users[0].tokn: unknown key 'tokn' "
        "(did you mean 'token'?)\n"
    )


def test_every_problem_is_located_in_file_order(
    tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        f"  - {{name: bob, token: {SECRET}, grups: [cfd], admin: maybe}}\n"
        f"  - {{name: eve, token: {SECRET}, token_sha256: abc}}\n"
        "  - {token: x, colour: red}\n"
        "  - alice\n",
        encoding="utf-8",
    )

    result = _serve(run_cli, users)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"planner: error: --users {users}:2:52: users[0].grups: unknown key 'grups' "
        "(did you mean 'groups'?)",
        f"--users {users}:2:73: users[0].admin: input should be a valid boolean, unable to "
        "interpret input",
        f"--users {users}:3:5: users[1]: give exactly one of token_sha256 or token",
        f"--users {users}:4:5: users[2]: missing required key 'name'",
        f"--users {users}:4:16: users[2].colour: unknown key 'colour'; allowed: admin, groups, "
        "name, token, token_sha256",
        f"--users {users}:5:5: users[3]: expected a mapping (one user)",
    ]
    assert SECRET not in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "users:\n\t- {name: a, token: x}\n",
            "2:1: invalid YAML: found character '\\t' that cannot start any token",
        ),
        ("", "1:1: (top level): expected a mapping with a 'users' list"),
        (
            "users:\n  - {name: c, token_sha256: zz}\n",
            "2:29: users[0].token_sha256: not a hex SHA-256 digest",
        ),
    ],
    ids=["yaml", "empty", "not-hex"],
)
def test_a_broken_file_is_located(
    text: str, message: str, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(text, encoding="utf-8")

    result = _serve(run_cli, users)

    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"planner: error: --users {users}:{message}\n"
