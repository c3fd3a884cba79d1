"""API keys beside bearer tokens, over HTTP against a real worker with a users file: every
credential a request carries must be valid (a wrong `X-API-Key` is refused even beside a valid
bearer token, as the HPS worker does), a key and a token that name different users are refused,
and a refused request does nothing. The released official client works in its API-key mode."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ansys.hps.data_transfer.client import Client, ClientError, DataTransferApi
from ansys.hps.data_transfer.client.binary import BinaryConfig
from ansys.hps.data_transfer.client.models import OperationState, StoragePath

from tests.helpers.worker_api import assert_problem, sp, submit, wait_all
from tests.helpers.workers import TOKENS, Team, team_worker

ALICE, BOB = TOKENS["alice"], TOKENS["bob"]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    with team_worker(tmp_path_factory.mktemp("api-keys")) as running:
        yield running


ACCEPTED: dict[str, list[tuple[str, str]]] = {
    "key alone": [("X-API-Key", ALICE)],
    "bearer alone": [("Authorization", f"Bearer {ALICE}")],
    "both, same user": [("Authorization", f"Bearer {ALICE}"), ("X-API-Key", ALICE)],
    "lower-case scheme": [("Authorization", f"bearer {ALICE}"), ("X-API-Key", ALICE)],
}
REFUSED: dict[str, list[tuple[str, str]]] = {
    "valid bearer, wrong key": [("Authorization", f"Bearer {ALICE}"), ("X-API-Key", "wrong")],
    "valid bearer, empty key": [("Authorization", f"Bearer {ALICE}"), ("X-API-Key", "")],
    "valid key, wrong bearer": [("Authorization", "Bearer wrong"), ("X-API-Key", ALICE)],
    "valid key, empty bearer": [("Authorization", "Bearer"), ("X-API-Key", ALICE)],
    "valid key, basic auth": [("Authorization", "Basic YWxpY2U6eA=="), ("X-API-Key", ALICE)],
    "bearer and key of two users": [("Authorization", f"Bearer {ALICE}"), ("X-API-Key", BOB)],
    "a second, wrong key": [("X-API-Key", ALICE), ("X-API-Key", "wrong")],
    "a second, wrong bearer": [
        ("Authorization", f"Bearer {ALICE}"),
        ("Authorization", "Bearer wrong"),
    ],
}


@pytest.mark.parametrize("headers", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_valid_credentials_are_accepted_as_bearer_key_or_both(
    team: Team, headers: list[tuple[str, str]]
) -> None:
    with httpx.Client(base_url=team.worker.url, headers=headers, timeout=10.0) as client:
        assert client.get("/storage").status_code == 200
        op_id = submit(client, "/storage:mkdir", {"operations": [sp("alice/accepted")]})
        [op] = wait_all(client, [op_id])

    assert op["state"] == "succeeded", op
    assert op["user_id"] == "alice"


@pytest.mark.parametrize("headers", REFUSED.values(), ids=REFUSED.keys())
def test_a_request_carrying_any_invalid_credential_is_401_and_does_nothing(
    team: Team, headers: list[tuple[str, str]]
) -> None:
    made = team.worker.roots["any"] / "alice" / "refused"
    with httpx.Client(base_url=team.worker.url, headers=headers, timeout=10.0) as client:
        responses = [
            client.get("/storage"),
            client.get("/operations"),
            client.post("/storage:mkdir", json={"operations": [sp("alice/refused")]}),
        ]

    for response in responses:
        assert_problem(response, 401)
        assert response.json()["detail"] == "missing or invalid credentials"
        assert response.headers["www-authenticate"] == "Bearer"
    assert not made.exists()


# -- the official client -----------------------------------------------------------------------
def official_api(url: str, token: str | None, api_key: str | None) -> DataTransferApi:
    """The official sync API on the running worker, in its API-key mode when `api_key` is given:
    the session then sends `X-API-Key` beside `Authorization: Bearer` (the key is what the
    client's own `_adjust_config` sets before the session is created)."""
    parts = urllib.parse.urlsplit(url)
    client = Client(bin_config=BinaryConfig(host=parts.hostname, port=parts.port, token=token))
    client._api_key = api_key
    return DataTransferApi(client)


@pytest.mark.parametrize(
    ("token", "api_key"), [(ALICE, ALICE), (None, ALICE)], ids=["bearer-and-key", "key-only"]
)
def test_the_official_client_works_in_its_api_key_mode(
    team: Team, token: str | None, api_key: str
) -> None:
    api = official_api(team.worker.url, token, api_key)
    try:
        submitted = api.mkdir([StoragePath(path=f"alice/official-{token is None}")])
        [op] = api.wait_for([submitted.id], timeout=10.0, interval=0.02, cap=0.2)
        sent = api.client.session.headers
    finally:
        api.client.session.close()

    assert sent["X-API-Key"] == api_key
    assert ("Authorization" in sent) == (token is not None)
    assert op.state is OperationState.Succeeded, (op.error, op.messages)
    assert op.user_id == "alice"


def test_the_official_client_with_a_wrong_api_key_is_refused(team: Team) -> None:
    api = official_api(team.worker.url, ALICE, "not-a-key")  # a valid bearer token beside it
    try:
        with pytest.raises(ClientError) as listing:
            api.storages()
        with pytest.raises(ClientError) as mkdir:  # 401 is not retried by the client
            api.mkdir([StoragePath(path="alice/never")])
    finally:
        api.client.session.close()

    assert listing.value.response.status_code == mkdir.value.response.status_code == 401
    assert not Path(team.worker.roots["any"], "alice", "never").exists()


# -- the users file ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("{name: alice, token: another-token}", "3:12: users[1].name: 'alice' is also users[0]"),
        (f"{{name: eve, token: {ALICE}}}", "3:24: users[1].token: 'eve' has the token of 'alice'"),
    ],
    ids=["same-name", "same-token"],
)
def test_a_users_file_repeating_a_name_or_a_token_is_refused(
    tmp_path: Path, run_cli, second: str, message: str
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(f"users:\n  - {{name: alice, token: {ALICE}}}\n  - {second}\n")

    result = run_cli("worker", "serve", "--port", "0", "--users", users)

    assert result.code == 2
    assert result.stderr == f"planner: error: --users {users}:{message}\n"
    assert ALICE not in result.stderr
