"""The logging configuration of `planner worker serve` (uvicorn's, with `-v` turning on its
access log) and the redaction of credentials in the access log.

uvicorn's access log prints the client address, the request line (the path and the raw query
string, as sent) and the status; it prints no header, so `Authorization` and `X-API-Key` values
never reach it. A query string can carry a credential (`?token=...`, a pre-signed URL's
`X-Amz-Signature=...`), so every query parameter whose name looks like one has its value
replaced by `REDACTED` before the record is formatted. The rule: the name, percent-decoded and
lower-cased, contains one of CREDENTIAL_WORDS. Parameters are split at `&` and `;` (more than
the API parses, so nothing that some parser would read as a parameter escapes the rule).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

import uvicorn.config

REDACTED = "REDACTED"
# token, api_key, apikey, access_token, X-Amz-Security-Token, key, password, passwd, pass,
# pwd, secret, signature, sig (Azure SAS), X-Amz-Credential, auth, authorization, session...
CREDENTIAL_WORDS = ("token", "key", "secret", "pass", "pwd", "sig", "auth", "credential", "session")
_SEPARATOR = re.compile(r"([&;])")


def is_credential_name(name: str) -> bool:
    """Whether a query parameter called `name` (as sent, percent-encoded) holds a credential."""
    decoded = unquote_plus(name).lower()
    return any(word in decoded for word in CREDENTIAL_WORDS)


def redact_target(target: str) -> str:
    """A request target (`/path?query`) with the values of credential-like parameters replaced
    by `REDACTED`; the path and every other parameter are kept as they were sent."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    parts = _SEPARATOR.split(query)  # parameters at even indexes, separators between them
    for i in range(0, len(parts), 2):
        name, equals, _ = parts[i].partition("=")
        if equals and is_credential_name(name):
            parts[i] = f"{name}={REDACTED}"
    return f"{path}?{''.join(parts)}"


class RedactCredentials(logging.Filter):
    """On uvicorn's access logger: redacts the request target among a record's arguments
    (client address, method, target, HTTP version, status) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def logging_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with the access log's records redacted."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {
        "()": f"{__name__}.{RedactCredentials.__name__}"
    }
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_credentials"]
    return config
