"""A command's start-up (planner/gcpause.py): the collector paused in the block; what the block
built frozen after it only in planner's own process, never in a program calling `main(argv)`."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from planner import gcpause


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps a collector that walks everything


def test_start_up_pauses_collection_and_freezes_nothing_in_a_program_calling_main(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpause, "_process_owned", False)
    with gcpause.startup():
        assert not gc.isenabled()
        built: list[list[int]] = [[] for _ in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert built


def test_in_planners_own_process_what_start_up_built_is_frozen(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpause, "_process_owned", False)
    gcpause.own_process()
    assert gcpause._process_owned  # monkeypatch puts the test process's value back

    with gcpause.startup():
        built: list[list[int]] = [[] for _ in range(100)]

    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_a_failed_start_up_freezes_nothing_and_collects_again(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpause, "_process_owned", True)
    with pytest.raises(ValueError, match="an invalid plan"), gcpause.startup():
        raise ValueError("an invalid plan")

    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_run_collects_rarely_and_gives_the_thresholds_and_survivors_back(
    unfrozen: None,
) -> None:
    before = gc.get_threshold()
    with gcpause.survivors_frozen():
        assert gc.get_threshold()[0] >= gcpause.RUN_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
