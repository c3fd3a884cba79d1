"""The examples under examples/ are valid plans."""

from __future__ import annotations

import pytest

from tests.helpers.cli import EXAMPLES

PLANS = sorted(EXAMPLES.glob("*/plan.yaml"))


def test_examples_exist() -> None:
    assert {p.parent.name for p in PLANS} >= {"quickstart", "full", "ci"}


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.parent.name)
def test_example_validates(plan, run_cli) -> None:
    result = run_cli("validate", plan)
    assert result.code == 0, result.stdout + result.stderr
    assert f"{plan}: valid:" in result.stdout
