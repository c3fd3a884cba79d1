"""The inputs a saved plan was made from: the plan file (path and text), the `--var` values,
the resolved variables and the environment variables the plan refers to. No secret goes in: a
variable whose value depends on `${env:...}` is kept as the SHA-256 of its value, and so is
every environment variable the plan reads (docs/preview.md, "Saved plans")."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from planner.plan.interpolate import expand_document
from planner.plan.source import read_source


def digest_of(value: Any) -> dict[str, str]:
    """`{"sha256": ...}` of a value's canonical JSON (a secret, kept only as its digest)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest()}


class _Watched(Mapping[str, str]):
    """The environment, noting every name the plan asks for."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.env[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return name in self.env

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


class _Marked(Mapping[str, str]):
    """An environment where every variable is set, to a marker no real value equals: the
    variables that resolve differently here depend on the environment."""

    def __getitem__(self, name: str) -> str:
        return f"\x00env:{name}\x00"

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def plan_inputs(
    plan_file: str, overrides: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the plan was made from, as plain data (see the module doc).

    Raises:
        PlanError: the plan file cannot be read or parsed.
    """
    source = read_source(Path(plan_file), display=plan_file)
    watched = _Watched(os.environ if env is None else env)
    resolved = expand_document(source, overrides, watched).data.get("vars")
    marked = expand_document(source, overrides, _Marked()).data.get("vars")
    variables: dict[str, Any] = {}
    if isinstance(resolved, dict):
        others = marked if isinstance(marked, dict) else {}
        for name, value in sorted(resolved.items()):
            from_env = name not in others or others[name] != value
            variables[str(name)] = digest_of(value) if from_env else value
    return {
        "file": plan_file,
        "text": source.text,
        "vars": {k: overrides[k] for k in sorted(overrides)},
        "variables": variables,
        "env": {
            name: digest_of(watched.env[name]) if name in watched.env else None
            for name in sorted(watched.asked)
        },
    }
