"""Who is calling: bearer tokens or API keys mapped to users (a users file, a single token, or
no auth on loopback). Tokens are compared as SHA-256 digests in constant time and never logged.

Every credential a request carries must be valid: an `X-API-Key` that is wrong is refused even
beside a valid bearer token (as the HPS worker does), and a bearer token and a key that name two
different users are refused too.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    groups: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False


ANONYMOUS_ADMIN = User("anonymous", frozenset(), True)


def digest(token: str) -> bytes:
    """SHA-256 of a token (what the users file stores, hex-encoded)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class Authenticator:
    """Maps a presented credential to a User, or None."""

    def __init__(self, users: list[tuple[bytes, User]] | None, *, no_auth: bool = False) -> None:
        self.users = users or []
        self.no_auth = no_auth

    @property
    def requires_token(self) -> bool:
        return not self.no_auth

    @classmethod
    def single_token(cls, token: str) -> Authenticator:
        """One token; its holder is an admin (`--token-file`, docs/worker.md)."""
        return cls([(digest(token), User("admin", frozenset(), True))])

    @classmethod
    def from_users_file(cls, path: Path) -> Authenticator:
        """Load a users file (`users: [{name, token_sha256 | token, groups, admin}]`).

        Raises:
            UsageError: unreadable or invalid file: each problem located as `FILE:line:col`
                (see usersfile.py); the message never holds a token.
        """
        from planner.worker.usersfile import load_users

        return cls(load_users(path))

    def user_named(self, name: str) -> User | None:
        """The configured user called `name` (for permission checks about someone else)."""
        return next((user for _, user in self.users if user.name == name), None)

    def authenticate(self, credential: str | None) -> User | None:
        """The user holding `credential`; every entry is compared, in constant time."""
        if self.no_auth:
            return ANONYMOUS_ADMIN
        if not credential:
            return None
        presented = digest(credential)
        found: User | None = None
        for key, user in self.users:
            if hmac.compare_digest(presented, key) and found is None:
                found = user
        return found

    def authenticate_request(self, authorization: list[str], api_key: list[str]) -> User | None:
        """The caller of a request, from its `Authorization` and `X-API-Key` header values.

        Every credential sent must be valid: each `Authorization` is `Bearer <known token>`,
        each `X-API-Key` a known key, and all of them name the same user. Otherwise, or with no
        credential at all, None (the request is answered 401). Under `--no-auth`, the anonymous
        admin whatever is sent.
        """
        if self.no_auth:
            return ANONYMOUS_ADMIN
        credentials = []
        for header in authorization:
            scheme, _, value = header.strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            credentials.append(value.strip())
        credentials += [key.strip() for key in api_key]
        callers = [self.authenticate(credential) for credential in credentials]
        if not callers or callers[0] is None:
            return None
        return callers[0] if all(caller is callers[0] for caller in callers) else None
