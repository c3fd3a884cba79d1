"""The AWS shared configuration of object remotes: profiles in the config and credentials files
(`AWS_PROFILE`, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/config`,
`~/.aws/credentials`), resolved by botocore's session as the AWS CLI resolves them.

obstore reads the AWS environment variables but no file, so when a profile or a file is in play
the credentials come from botocore's credential chain (environment variables first, as in the
AWS CLI; then the profile's keys, `credential_process`, SSO, assumed roles, ...) through
obstore's `credential_provider` hook, and the region and endpoint from the profile unless an
environment variable names them. botocore is imported only then: a worker whose remotes are all
directories, or whose AWS configuration is the environment alone, never loads it.

Secrets stay in memory: the keys a provider hands over are remembered only so that error texts
can blank them out (`known_secrets`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.credentials
    import botocore.session
    from obstore.store import S3Credential

_PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
_FILE_VARIABLES = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
# how long obstore keeps a refreshable credential before asking again (botocore refreshes one
# 15 minutes before it expires, so what it hands over is good for longer than this)
REFRESH_AFTER = timedelta(minutes=5)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


class ProfileError(ValueError):
    """The shared configuration cannot be used (a profile that does not exist, a file that does
    not parse, a credential source that fails); the text carries no secret."""


@dataclass(frozen=True)
class SharedConfig:
    """What the shared configuration adds to a store's: `config` (region, endpoint) and the
    credential provider (None: none found, obstore's own chain applies)."""

    config: dict[str, Any] = field(default_factory=dict)
    provider: CredentialProvider | None = None

    @property
    def endpoint(self) -> str | None:
        """The endpoint URL the configuration names (None: AWS itself)."""
        value = self.config.get("endpoint")
        return str(value) if value else None


class CredentialProvider:
    """obstore's `credential_provider` over botocore credentials (refreshed by botocore)."""

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        """Hand over `credentials`, static or refreshable."""
        self.credentials = credentials

    def __call__(self) -> S3Credential:
        """The current keys (a refreshable credential expires after REFRESH_AFTER)."""
        import botocore.credentials

        try:
            frozen = self.credentials.get_frozen_credentials()
        except Exception as exc:  # a refresh failing: credential_process, SSO, STS
            raise ProfileError(f"AWS credentials could not be refreshed: {shown(exc)}") from None
        remember(frozen.secret_key, frozen.token)
        refreshable = isinstance(self.credentials, botocore.credentials.RefreshableCredentials)
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(UTC) + REFRESH_AFTER if refreshable else None,
        }


def in_play() -> bool:
    """Whether a profile or a shared configuration file is there to read."""
    if any(os.environ.get(name) for name in (*_PROFILE_VARIABLES, *_FILE_VARIABLES)):
        return True
    home = Path("~/.aws").expanduser()
    return (home / "config").is_file() or (home / "credentials").is_file()


def shared_config() -> SharedConfig:
    """The shared configuration of this process's environment (resolved once per environment).

    Raises:
        ProfileError: the profile does not exist, a file does not parse, or the credential
            source fails.
    """
    relevant = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    return _resolved(relevant, os.environ.get("HOME", ""))


@lru_cache(maxsize=8)
def _resolved(_environ: tuple[tuple[str, str], ...], _home: str) -> SharedConfig:
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session()
        scoped: dict[str, Any] = session.get_scoped_config()
        credentials = session.get_credentials()
        region = os.environ.get("AWS_REGION") or session.get_config_variable("region")
        endpoint = _endpoint(session, scoped)
    except botocore.exceptions.BotoCoreError as exc:
        raise ProfileError(f"AWS configuration: {shown(exc)}") from None
    config: dict[str, Any] = {}
    if region:
        config["region"] = region
    if endpoint:
        config["endpoint"] = endpoint
    if credentials is None:
        return SharedConfig(config)
    return SharedConfig(config, CredentialProvider(credentials))


def _endpoint(session: botocore.session.Session, scoped: dict[str, Any]) -> str | None:
    """The endpoint as the AWS CLI finds it for S3: the environment variables, then the
    profile's `services` section's `s3` `endpoint_url`, then the profile's `endpoint_url`."""
    for name in _ENDPOINT_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    if str(scoped.get("ignore_configured_endpoint_urls", "")).lower() == "true":
        return None
    services = session.full_config.get("services", {}).get(scoped.get("services", ""), {})
    s3 = services.get("s3", {}) if isinstance(services, dict) else {}
    value = s3.get("endpoint_url") if isinstance(s3, dict) else None
    value = value or scoped.get("endpoint_url")
    return str(value) if value else None


def remember(*secrets: str | None) -> None:
    """Keep `secrets` in memory so that error texts can blank them out."""
    with _secrets_lock:
        _secrets.update(s for s in secrets if s and len(s) >= 4)


def known_secrets() -> list[str]:
    """The secrets providers handed over so far (for blanking; never shown or written)."""
    with _secrets_lock:
        return list(_secrets)


def shown(exc: BaseException) -> str:
    """The first line of an error, without any secret a provider handed over."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    for secret in known_secrets():
        line = line.replace(secret, "***")
    return line
