"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.ci import make_ci_checkout


@pytest.fixture
def ci_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout holding the CI example plan and a build to publish, as the current directory."""
    return make_ci_checkout(tmp_path / "checkout", monkeypatch)
