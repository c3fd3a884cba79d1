"""The object store client of a remote (obstore, imported here only: a worker without object
remotes never loads it) and the one place where its errors become StorageError.

Credentials, endpoint and region come from the standard AWS configuration only, never from a
plan or a request: the environment (obstore reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION`, ... and the instance/container credential
services) and, when a profile or a shared configuration file is in play, the profile (profiles.py,
through botocore). Messages name the remote and the store's error code; they never carry a
secret (the secret values of the environment and of the providers are blanked out of anything
shown, in case a store echoes one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from planner.api.codes import ItemCode
from planner.worker.objects import profiles
from planner.worker.objects.location import ObjectLocation
from planner.worker.storage_errors import CopyCancelledError, StorageError

if TYPE_CHECKING:
    from obstore.store import S3Store

_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
# obstore retries throttling, 5xx and connection errors itself with exponential backoff; past
# these bounds the item fails as transient and the runner's own retries take over
RETRY = {"max_retries": 5, "retry_timeout": timedelta(seconds=60)}
CLIENT = {"connect_timeout": "10s", "timeout": "300s"}


class MissingBucketError(StorageError):
    """404 for the remote's bucket itself, not for a path in it."""


def endpoint() -> str | None:
    """The endpoint URL the AWS configuration names (None: AWS itself): an environment
    variable, else the profile's when one is in play."""
    for name in _ENDPOINT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    if profiles.in_play():
        try:
            return profiles.shared_config().endpoint
        except profiles.ProfileError:
            return None
    return None


def make_store(location: ObjectLocation, name: str | None = None) -> S3Store:
    """The client of `location` (of the remote `name`, for messages). It connects on first use:
    a wrong credential or a missing bucket shows in the first item that touches the remote.

    Raises:
        StorageError: 400 the AWS configuration is not usable (an unknown key, a profile that
            does not exist, say).
    """
    from obstore.store import S3Store

    where = f"{name} ({location.url})" if name else f"{location.scheme} remote {location.url}"
    config: dict[str, Any] = {}
    provider: profiles.CredentialProvider | None = None
    if profiles.in_play():
        try:
            shared = profiles.shared_config()
        except profiles.ProfileError as exc:
            raise StorageError(ItemCode.INVALID, f"{where}: {exc}") from None
        config.update(shared.config)
        provider = shared.provider
    url = endpoint()
    if url is not None:
        config["endpoint"] = url
        # plain http only when the endpoint itself says so (a local test server, say)
        config["allow_http"] = url.lower().startswith("http://")
    try:
        return S3Store(
            location.bucket,
            prefix=location.prefix or None,
            config=config,  # type: ignore[arg-type]
            credential_provider=provider,
            client_options=CLIENT,  # type: ignore[arg-type]
            retry_config=RETRY,  # type: ignore[arg-type]
        )
    except Exception as exc:  # obstore's configuration errors (no class of their own)
        raise StorageError(ItemCode.INVALID, f"{where}: cannot configure: {_shown(exc)}") from exc


@contextmanager
def object_errors(remote: str, location: ObjectLocation, subject: str) -> Iterator[None]:
    """Turn the store's errors raised inside into StorageError about `subject` on `remote`."""
    try:
        yield
    except (StorageError, CopyCancelledError):
        raise
    except OSError as exc:
        if exc.errno is not None:
            raise  # the local side of a copy: storage_errors.as_storage_errors says which
        raise _translated(exc, remote, location, subject) from None  # the store's 404
    except Exception as exc:
        if type(exc).__module__.startswith("obstore"):
            raise _translated(exc, remote, location, subject) from None
        raise


def code_of(exc: BaseException) -> str | None:
    """The S3 error code an error carries (`NoSuchBucket`, `AccessDenied`, ...), if any."""
    found = _CODE.search(str(exc))
    return found[1] if found else None


def is_not_found(exc: BaseException) -> bool:
    """Whether the store said 404 for the key itself (not for a missing bucket)."""
    name = type(exc).__name__
    return (name in ("FileNotFoundError", "NotFoundError")) and code_of(exc) != "NoSuchBucket"


def _translated(
    exc: BaseException, remote: str, location: ObjectLocation, subject: str
) -> StorageError:
    name = type(exc).__name__
    text = str(exc)
    status = _STATUS.search(text)
    http = int(status[1]) if status else None
    code = code_of(exc)
    where = f"{location.scheme} remote '{remote}'"
    why = f" ({code})" if code else ""
    if code == "NoSuchBucket":
        return MissingBucketError(
            ItemCode.NOT_FOUND, f"{where}: bucket '{location.bucket}' does not exist"
        )
    if name in ("FileNotFoundError", "NotFoundError") or http == 404:
        return StorageError(ItemCode.NOT_FOUND, f"{subject}: no such file or directory")
    if name in ("PermissionDeniedError", "UnauthenticatedError") or http in (401, 403):
        return StorageError(ItemCode.FORBIDDEN, f"{where}: access denied{why}: {subject}")
    if name == "InvalidPathError":
        return StorageError(ItemCode.INVALID, f"{subject}: not a valid object key")
    if name in ("AlreadyExistsError", "PreconditionError"):
        return StorageError(ItemCode.CONFLICT, f"{subject}: changed meanwhile{why}")
    if http is None and "error sending request" in text:
        return StorageError(
            ItemCode.TRANSIENT, f"{where}: cannot reach the endpoint {endpoint() or 'of AWS'}"
        )
    return StorageError(ItemCode.TRANSIENT, f"{where}: {_shown(exc)}{why}: {subject}")


def _shown(exc: BaseException) -> str:
    """The first line of an error, without the secrets of the environment."""
    line = profiles.shown(exc)
    for name in _SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            line = line.replace(secret, "***")
    return line
