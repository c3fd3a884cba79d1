"""Copies a tree run (tree_objects.py) starts while its object source is still being listed:
the listing arrives a page of 1,000 keys at a time from each of its lanes (objects/lanes.py),
and waiting for the last page before the first copy leaves the store idle on one side and the
worker on the other. A file is copied early only when its decision is already certain: nothing
is at its path at the destination (listed first), the filters keep it, no destination file
stands where a directory above it must be (planner/tree decide_new_file), and no key can still
make it a directory too (the listing has settled it: every `name/...` key would have been
listed). Zero-byte objects wait (one may be a directory marker). The run's own decisions later
take these copies' futures instead of starting them again, so rows, counts and their order are
those of a run without early copies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from planner.api.names import escape_name
from planner.tree.decide import Decision, decide_new_file
from planner.tree.entry import Entry
from planner.worker.fileops import CopyResult
from planner.worker.tree_model import TreeSpec


class EarlyCopies:
    """The copies started from the pages of the source's listing, by path."""

    def __init__(
        self,
        spec: TreeSpec,
        existing: list[Entry],
        pool: ThreadPoolExecutor,
        copy: Callable[[Decision], CopyResult],
        before: Callable[[], None],
    ) -> None:
        self.spec = spec
        self.dst = {e.path: e for e in existing}
        self.parents: dict[str, bool] = {}
        self.pool = pool
        self.copy = copy
        self.before = before  # between files: cancellation, an injected delay
        self.started: dict[str, tuple[Decision, Future[CopyResult]]] = {}

    def page(self, settled: list[tuple[str, int]], dirs: set[str]) -> None:
        """Files of the listing were settled (the hook of objects/tree_listing.list_tree)."""
        for name, size in settled:
            if size == 0 or name in dirs:  # maybe a marker; a file and a directory: skipped
                continue
            decision = decide_new_file(
                escape_name(name),
                size,
                self.dst,
                self.parents,
                filters=self.spec.filters,
                symlinks=self.spec.symlinks,
            )
            if decision is not None:
                self.before()
                self.started[decision.path] = (decision, self.pool.submit(self.copy, decision))

    def take(self, path: str) -> Future[CopyResult] | None:
        """The copy of `path` started early, if one was (the run's decision takes it over)."""
        found = self.started.pop(path, None)
        return None if found is None else found[1]

    def left(self) -> list[tuple[Decision, Future[CopyResult]]]:
        """The copies no decision took (the listing failed, say), in path order."""
        left = sorted(self.started.values(), key=lambda pair: pair[0].path)
        self.started.clear()
        return left
