"""No secret in the logs of `planner worker serve -v` (the real process, its real logging
configuration): credential-like query parameters are redacted in the access log, other
parameters are kept, and no `Authorization` or `X-API-Key` value is ever printed."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from planner.worker.accesslog import REDACTED, redact_target
from tests.helpers.processes import WorkerProcess
from tests.helpers.workers import TOKENS, write_users_file

# parameter names as a client would send them, each with its own secret value
CREDENTIAL_NAMES = [
    "token",
    "TOKEN",
    "Token",
    "api_key",
    "apikey",
    "Api-Key",
    "key",
    "access_token",
    "refresh_token",
    "password",
    "secret",
    "signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "sig",
    "%74oken",  # `token`, percent-encoded
    "api%5Fkey",
    "pass+word",
]


def test_a_verbose_worker_logs_requests_without_any_credential(tmp_path: Path) -> None:
    values = {name: f"s{i}-{secrets.token_hex(8)}" for i, name in enumerate(CREDENTIAL_NAMES)}
    wrong_key = f"wrong-{secrets.token_hex(8)}"
    worker = WorkerProcess(
        tmp_path,
        "worker",
        "--state-dir",
        str(tmp_path / "state"),
        "--users",
        str(write_users_file(tmp_path / "users.yaml")),
        "-v",
    )
    both = {"Authorization": f"Bearer {TOKENS['alice']}", "X-API-Key": TOKENS["alice"]}
    try:
        with httpx.Client(base_url=worker.url, headers=both, timeout=10.0) as client:
            for name, value in values.items():
                assert client.get(f"/storage?limit=5&{name}={value}&mode=x").status_code == 200
            separated = client.get(f"/storage?a=1;token={values['token']}")
            assert separated.status_code == 200
            refused = client.get(
                f"/operations?token={values['token']}", headers={"X-API-Key": wrong_key}
            )
            assert refused.status_code == 401
        code = worker.terminate()
    finally:
        worker.kill()

    output = worker.output()
    assert code == 0, output
    for secret in [*values.values(), wrong_key, *TOKENS.values()]:
        assert secret not in output
    lines = [line for line in output.splitlines() if "/api/v1/" in line]
    for name in CREDENTIAL_NAMES:
        target = f"/api/v1/storage?limit=5&{name}={REDACTED}&mode=x"
        assert any(f'"GET {target} HTTP/1.1" 200' in line for line in lines), (name, lines)
    assert any(f"/api/v1/storage?a=1;token={REDACTED} " in line for line in lines), lines
    assert any(f'"GET /api/v1/operations?token={REDACTED} HTTP/1.1" 401' in line for line in lines)


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/api/v1/storage", "/api/v1/storage"),
        ("/o?ids=a&ids=b&expand=true", "/o?ids=a&ids=b&expand=true"),
        ("/x?token=ab==&limit=5", f"/x?token={REDACTED}&limit=5"),  # `=` inside a value
        ("/x?token&key=", f"/x?token&key={REDACTED}"),
        ("/x?a=1;b=2&&SessionId=z", f"/x?a=1;b=2&&SessionId={REDACTED}"),
    ],
)
def test_the_redaction_rule(target: str, logged: str) -> None:
    assert redact_target(target) == logged
