"""Real embedded workers for tests: started on 127.0.0.1 with an ephemeral port and storages
under a temporary directory, alone or with a users file and a client per user."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from planner.worker.auth import Authenticator
from planner.worker.serve import EmbeddedWorker
from planner.worker.service import WorkerConfig
from tests.helpers.worker_api import grant


@dataclass
class WorkerHandle:
    """A running embedded worker: its API URL, token, storage roots and configuration."""

    url: str
    token: str
    state_dir: Path
    roots: dict[str, Path]
    config: WorkerConfig

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header that carries the token."""
        return {"Authorization": f"Bearer {self.token}"}


def start_worker(tmp_path: Path, **options: Any) -> tuple[EmbeddedWorker, WorkerHandle]:
    """Start a real worker on 127.0.0.1 with a free port, storages under tmp_path (`roots`, a
    dict of remote name to directory, replaces the default `data`; `token` and `authenticator`
    replace the single default token; the other options go to WorkerConfig)."""
    token = str(options.pop("token", "test-token-0123456789"))
    state_dir = tmp_path / "worker-state"
    roots: dict[str, Path] = options.pop("roots", None) or {"data": tmp_path / "data"}
    for root in roots.values():
        if isinstance(root, Path):  # not an object store location (tests/s3)
            root.mkdir(parents=True, exist_ok=True)
    authenticator = options.pop("authenticator", None) or Authenticator.single_token(token)
    config = WorkerConfig(
        state_dir=state_dir, remotes=roots, authenticator=authenticator, **options
    )
    embedded = EmbeddedWorker(config)
    url = embedded.start()
    all_roots = {"any": state_dir / "storage", **roots}
    return embedded, WorkerHandle(url, token, state_dir, all_roots, config)


@contextmanager
def running_worker(tmp_path: Path, **options: Any) -> Iterator[WorkerHandle]:
    """`start_worker` for the duration of a `with` block: the worker is stopped at its end."""
    embedded, handle = start_worker(tmp_path, **options)
    try:
        yield handle
    finally:
        embedded.stop()


@dataclass
class Users:
    """A worker configured from a users file, and a client per user."""

    worker: WorkerHandle
    alice: httpx.Client  # groups [cfd], not admin (token given as SHA-256)
    bob: httpx.Client  # no groups, not admin
    root: httpx.Client  # admin


@contextmanager
def users_worker(tmp: Path, **options: Any) -> Iterator[Users]:
    """A worker with the users alice (group cfd), bob (no group) and root (admin), and a client
    for each; `options` go to WorkerConfig."""
    alice_sha = hashlib.sha256(b"alice-token").hexdigest()
    users_file = tmp / "users.yaml"
    users_file.write_text(
        "users:\n"
        f"  - {{name: alice, token_sha256: {alice_sha}, groups: [cfd], admin: false}}\n"
        "  - {name: bob, token: bob-token}\n"
        "  - {name: root, token: root-token, groups: [ops], admin: true}\n",
        encoding="utf-8",
    )
    embedded, handle = start_worker(
        tmp, authenticator=Authenticator.from_users_file(users_file), **options
    )

    def client(token: str) -> httpx.Client:
        return httpx.Client(
            base_url=handle.url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    clients = [client("alice-token"), client("bob-token"), client("root-token")]
    try:
        yield Users(handle, *clients)
    finally:
        for c in clients:
            c.close()
        embedded.stop()


def set_grants(users: Users, *grants: dict[str, Any]) -> None:
    """Grant roles as the admin (root)."""
    response = users.root.post("/permissions:set", json={"permissions": list(grants)})
    assert response.is_success, response.text


TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789", "root": "root-token"}


def write_users_file(path: Path) -> Path:
    """alice and bob (ordinary users) and root (admin), with the tokens of TOKENS."""
    path.write_text(
        "users:\n"
        f"  - {{name: alice, token: {TOKENS['alice']}}}\n"
        f"  - {{name: bob, token: {TOKENS['bob']}}}\n"
        f"  - {{name: root, token: {TOKENS['root']}, admin: true}}\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Team:
    """A worker with a users file, a client per user; alice writes below `alice/`, bob below
    `bob/`."""

    worker: WorkerHandle
    alice: httpx.Client
    bob: httpx.Client
    root: httpx.Client


@contextmanager
def team_worker(tmp_path: Path, **options: Any) -> Iterator[Team]:
    """Start (or restart, on the same state directory) the team's worker."""
    users = write_users_file(tmp_path / "users.yaml")
    embedded, handle = start_worker(
        tmp_path, authenticator=Authenticator.from_users_file(users), **options
    )
    clients = [
        httpx.Client(
            base_url=handle.url, headers={"Authorization": f"Bearer {TOKENS[name]}"}, timeout=10.0
        )
        for name in ("alice", "bob", "root")
    ]
    try:
        grants = [grant("alice", "writer", "alice"), grant("bob", "writer", "bob")]
        response = clients[2].post("/permissions:set", json={"permissions": grants})
        assert response.is_success, response.text
        yield Team(handle, *clients)
    finally:
        for client in clients:
            client.close()
        embedded.stop()
