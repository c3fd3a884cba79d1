"""The saved plan file (`planner plan --out FILE`): one JSON document, recognised by its
top-level `planner_saved_plan` key (the format version), sealed by a SHA-256 digest over the
canonical JSON of everything else. Writing (atomic), reading and verifying it; what it holds is
described in docs/preview.md ("Saved plans")."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from planner import __version__
from planner.atomic import write_atomically
from planner.errors import UsageError

FORMAT_KEY = "planner_saved_plan"
FORMAT_VERSION = 1
_SNIFF_BYTES = 4096


class SavedPlanError(UsageError):
    """A saved plan that cannot be used: damaged, edited, of an unknown format, or made by an
    incompatible planner (exit 2)."""


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with its `digest`: the SHA-256 of the canonical JSON of the rest."""
    rest = {k: v for k, v in document.items() if k != "digest"}
    return {**rest, "digest": hashlib.sha256(canonical(rest)).hexdigest()}


def new_document(**parts: Any) -> dict[str, Any]:
    """A sealed saved plan of `parts` (plan, inputs, actions, worker, preview, result,
    observations, writes), stamped with the format and planner versions and the time."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    head = {FORMAT_KEY: FORMAT_VERSION, "planner_version": __version__, "created_at": created}
    return seal({**head, **parts})


def write_saved(document: dict[str, Any], path: Path) -> None:
    """Write the document to `path` atomically (a temporary file beside it, then renamed).

    Raises:
        UsageError: the file cannot be written (exit 2).
    """
    data = _layout(document) + b"\n"
    try:
        write_atomically(path, lambda out: out.write(data))
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write: {exc.strerror or exc}") from exc


def _layout(document: dict[str, Any]) -> bytes:
    """The file's bytes: the format key first (how a saved plan is recognised), then the rest
    (the digest is over the canonical JSON, whatever the layout)."""
    first = {FORMAT_KEY: document[FORMAT_KEY]}
    rest = {k: document[k] for k in sorted(document) if k != FORMAT_KEY}
    return json.dumps({**first, **rest}, separators=(",", ":"), ensure_ascii=False).encode()


def is_saved_plan(path: str) -> bool:
    """Whether the file at `path` is a saved plan (by its content: a JSON object whose first
    key is `planner_saved_plan`, as planner writes it), not a plan."""
    with contextlib.suppress(OSError):
        with open(path, "rb") as file:
            head = file.read(_SNIFF_BYTES).lstrip()
        return head.startswith(b"{") and f'"{FORMAT_KEY}"'.encode() in head
    return False


def _compatible(version: str) -> bool:
    """Same major version (same minor before 1.0): the format of what a preview decides is the
    same."""

    def parts(text: str) -> tuple[str, ...]:
        numbers = text.split(".")
        return tuple(numbers[:2]) if numbers[0] == "0" else tuple(numbers[:1])

    return parts(version) == parts(__version__)


def load_saved(path: str) -> dict[str, Any]:
    """Read and verify a saved plan: its JSON, format version, planner version and digest.

    Raises:
        SavedPlanError: damaged, edited, unknown format, incompatible planner (exit 2).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SavedPlanError(f"{path}: cannot read the saved plan: {exc.strerror or exc}") from exc
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise SavedPlanError(f"{path}: the saved plan is damaged (not valid JSON: {exc})") from exc
    if not isinstance(document, dict) or FORMAT_KEY not in document:
        raise SavedPlanError(f"{path}: not a saved plan (no {FORMAT_KEY} key)")
    version = document[FORMAT_KEY]
    if version != FORMAT_VERSION:
        raise SavedPlanError(
            f"{path}: saved plan format {version!r} is unknown to this planner (it reads format "
            f"{FORMAT_VERSION}); make the plan again with `planner plan --out`"
        )
    written_by = document.get("planner_version")
    if not isinstance(written_by, str):
        raise SavedPlanError(
            f"{path}: the saved plan is damaged (it does not say which planner saved it); make "
            "the plan again with `planner plan --out`"
        )
    if not _compatible(written_by):
        raise SavedPlanError(
            f"{path}: saved by planner {written_by}, which is not compatible with this planner "
            f"({__version__}); make the plan again with `planner plan --out`"
        )
    digest = document.get("digest")
    if not isinstance(digest, str) or seal(document)["digest"] != digest:
        raise SavedPlanError(
            f"{path}: the saved plan was edited or damaged (its digest does not match its "
            "content); make the plan again with `planner plan --out`"
        )
    return document
