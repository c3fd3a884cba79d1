"""Wire models are built on first use, not at import (most commands use a few of them), and
`build_all` builds every one, as the worker does before it parses requests in several threads."""

from __future__ import annotations

import subprocess
import sys

from planner.api import wire

PROBE = """
import planner.api.wire as wire
models, pending = [], [wire.WireModel]
while pending:
    model = pending.pop()
    models.append(model)
    pending.extend(model.__subclasses__())
print(len(models), sum(1 for m in models if m.__pydantic_complete__))
{after}
"""


def _run(after: str = "") -> list[str]:
    code = PROBE.format(after=after)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_importing_the_wire_models_builds_none_of_them() -> None:
    models, built = _run()
    assert int(models) > 20
    assert built == "0"


def test_build_all_builds_every_model() -> None:
    after = "wire.build_all()\nprint(sum(1 for m in models if m.__pydantic_complete__))"
    models, _, built = _run(after)
    assert built == models


def test_a_model_built_on_first_use_validates_as_before() -> None:
    entry = wire.ListEntry.model_validate_json(b'{"name": "a", "size": null, "x": 1}')
    assert (entry.name, entry.size, entry.type) == ("a", 0, "file")
    assert entry.model_extra == {"x": 1}
