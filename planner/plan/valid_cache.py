"""Documents that passed the JSON Schema before, remembered in `.planner/schema-valid` beside
the plan, so that a command on an unchanged plan neither imports jsonschema nor validates again.

Importing jsonschema (with `referencing`, attrs, its format checkers) is about a fifth of the
import floor (tests/bench/README.md), and validating a large plan takes longer still. The key
is a SHA-256 of planner's version, the schema's bytes and the `repr` of the resolved document
(after variables and `for_each`): repr tells `1` from `"1"`, `1.0` and `True`, so two documents
with one key validate alike. Only successes are remembered (failures are re-validated, which
also words their diagnostics), and only in a `.planner` folder that already exists: loading a
plan never creates one. The file is a few lines of hex, rewritten atomically, the latest
`KEEP` kept; anything unreadable or malformed is treated as empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

FILE_NAME = "schema-valid"
KEEP = 32  # keys remembered: a plan edited back and forth, several plans in one folder
_KEY_LENGTH = 64


def document_key(data: Any) -> str:
    """The key of a resolved plan document under this planner and this schema."""
    from planner import __version__
    from planner.plan.schema import schema_bytes

    digest = hashlib.sha256()
    for part in (__version__.encode(), schema_bytes(), repr(data).encode("utf-8", "replace")):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _keys(folder: Path) -> list[str]:
    try:
        text = (folder / FILE_NAME).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return []
    return [line for line in text.split() if len(line) == _KEY_LENGTH]


def validated_before(folder: Path | None, key: str) -> bool:
    """True when `key` passed the schema before (`folder`: the plan's `.planner`, or None)."""
    return folder is not None and key in _keys(folder)


def remember(folder: Path | None, key: str) -> None:
    """Remember that `key` passed the schema, when `folder` exists (best effort: a read-only
    folder is not an error)."""
    if folder is None or not folder.is_dir():
        return
    older = [k for k in _keys(folder) if k != key][-(KEEP - 1) :]
    keys = [*older, key]
    temp = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
    try:
        temp.write_text("\n".join(keys) + "\n", encoding="ascii")
        os.replace(temp, folder / FILE_NAME)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
