"""The preview's model of its changes (preview_overlay.py) answers from the paths concerned, not
by scanning every change: checked here against a plain model that does scan (what the overlay
answered before), over seeded random sequences of creations and deletions on a relative remote
and on `local` (absolute paths), so both give the same answers to every question."""

from __future__ import annotations

import posixpath
import random
from dataclasses import dataclass, field

import pytest

from planner.runner.preview_overlay import Overlay, PredictedFile, is_under


@dataclass
class ScanningOverlay:
    """The reference: every question a scan over all the changes."""

    files: dict[tuple[str, str], PredictedFile] = field(default_factory=dict)
    dirs: set[tuple[str, str]] = field(default_factory=set)
    gone: set[tuple[str, str]] = field(default_factory=set)

    def hidden(self, remote: str, path: str) -> bool:
        return any(r == remote and is_under(path, top) for r, top in self.gone)

    def delete(self, remote: str, top: str) -> None:
        self.files = {
            k: v for k, v in self.files.items() if not (k[0] == remote and is_under(k[1], top))
        }
        self.dirs = {k for k in self.dirs if not (k[0] == remote and is_under(k[1], top))}
        self.gone.add((remote, top))

    def add_file(self, remote: str, path: str, entry: PredictedFile) -> None:
        self.files[(remote, path)] = entry
        self.add_dir(remote, posixpath.dirname(path))

    def add_dir(self, remote: str, path: str) -> None:
        while path not in ("", "/") and (remote, path) not in self.dirs:
            self.dirs.add((remote, path))
            path = posixpath.dirname(path)

    def created(self, remote: str, top: str) -> list[str]:
        found = [p for (r, p) in self.files if r == remote and is_under(p, top)]
        return found + [p for (r, p) in self.dirs if r == remote and is_under(p, top)]


def _paths(rng: random.Random, absolute: bool) -> list[str]:
    lead = "/" if absolute else ""
    found = set()
    for _ in range(40):
        depth = rng.randint(1, 4)
        found.add(lead + "/".join(rng.choice("abc") + str(rng.randint(0, 2)) for _ in range(depth)))
    return sorted(found)


@pytest.mark.parametrize("seed", range(8))
def test_the_overlay_answers_as_a_scan_of_every_change_does(seed: int) -> None:
    rng = random.Random(seed)
    remotes = {"data": _paths(rng, absolute=False), "local": _paths(rng, absolute=True)}
    overlay, reference = Overlay(), ScanningOverlay()
    for step in range(300):
        remote = rng.choice(sorted(remotes))
        path = rng.choice(remotes[remote])
        roll = rng.random()
        if roll < 0.5:
            entry = PredictedFile(size=step, mtime="2026-01-01T00:00:00Z")
            overlay.add_file(remote, path, entry)
            reference.add_file(remote, path, entry)
        elif roll < 0.7:
            overlay.add_dir(remote, path)
            reference.add_dir(remote, path)
        else:
            top = rng.choice(["", "/"]) if roll > 0.97 else path
            overlay.delete(remote, top)
            reference.delete(remote, top)
        assert overlay.files == reference.files
        assert overlay.dirs == reference.dirs
        for asked in [*remotes[remote][:10], "", "/"]:
            got = sorted(path for path, _ in overlay.created(remote, asked))
            assert got == sorted(reference.created(remote, asked)), (step, asked)
            assert overlay.hidden(remote, asked) == reference.hidden(remote, asked), (step, asked)


def test_created_entries_carry_what_the_preview_predicts() -> None:
    overlay = Overlay()
    overlay.add_file("data", "out/a/f.txt", PredictedFile(3, "2026-01-01T00:00:00Z", "abc"))

    created = dict(overlay.created("data", "out"))

    assert created["out/a/f.txt"] == {
        "type": "file",
        "size": 3,
        "mtime": "2026-01-01T00:00:00Z",
        "checksum": "abc",
    }
    assert created["out/a"]["type"] == "dir"
    assert created["out"]["type"] == "dir"
