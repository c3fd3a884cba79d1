"""What a saved plan keeps of its inputs: variables as resolved, but every value that depends
on the environment (directly or through another variable) only as its digest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from planner.runner.saved_inputs import digest_of, plan_inputs

PLAN = """
    version: 1
    vars:
      secret: "${env:API_SECRET}"
      derived: "pre-${secret}"
      defaulted: "${env:UNSET_HERE:-fallback}"
      plain: visible
      listed: [a, b]
    storages:
      s: {remote: local, root: "./${plain}"}
    directories:
      - {id: d, path: "s:${derived}"}
"""


def test_values_from_the_environment_are_kept_as_digests(
    write_plan: Callable[..., Path],
) -> None:
    plan = write_plan(PLAN)
    env = {"API_SECRET": "hunter2", "OTHER": "x"}
    inputs = plan_inputs(str(plan), {"plain": "shown"}, env)
    assert inputs["variables"] == {
        "secret": digest_of("hunter2"),
        "derived": digest_of("pre-hunter2"),
        "defaulted": digest_of("fallback"),
        "plain": "shown",
        "listed": ["a", "b"],
    }
    assert inputs["env"] == {"API_SECRET": digest_of("hunter2"), "UNSET_HERE": None}
    assert inputs["vars"] == {"plain": "shown"}
    assert inputs["text"] == plan.read_text()
    assert "hunter2" not in repr(inputs)


def test_a_changed_environment_changes_the_digests_only(write_plan: Callable[..., Path]) -> None:
    plan = write_plan(PLAN)
    before = plan_inputs(str(plan), {}, {"API_SECRET": "one"})
    after = plan_inputs(str(plan), {}, {"API_SECRET": "two"})
    changed = {k for k in before["variables"] if before["variables"][k] != after["variables"][k]}
    assert changed == {"secret", "derived"}
    assert before["env"] != after["env"]
