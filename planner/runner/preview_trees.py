"""The directory copies a preview compared as one tree item (compare-tree, a read): their rows
become predicted changes in the overlay, as the item path's copies and mkdirs would. The rows
carry no mtime, so the files they predict get their source's mtime from one real listing of
the source tree, and only when a later read of the preview needs them (`settle`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from planner.runner.engine import Target, TreeRow
from planner.runner.preview_overlay import Overlay, PredictedFile, is_under, join_path, path_key
from planner.tree.mirror import EXTRANEOUS

# a real, uncorrected recursive listing of a directory: (relative path, wire entry), or None
ListTree = Callable[[Target], Awaitable[list[tuple[str, dict[str, Any]]] | None]]


class PredictedTrees:
    """The compared trees of one preview and the overlay their rows feed."""

    def __init__(self, overlay: Overlay) -> None:
        self.overlay = overlay
        self.ends: dict[str, tuple[Target, Target]] = {}  # rows handle -> (src, dst)
        self.unsettled: dict[Target, Target] = {}  # src -> dst of trees whose files lack mtimes
        self._mtimes: dict[tuple[str, str], str] = {}  # real source files' mtimes, by path

    def expect(self, handle: str, src: Target, dst: Target) -> None:
        """The rows at `handle` are those of a comparison of `src` with `dst`."""
        self.ends[handle] = (src, dst)

    def model(self, handle: str, rows: Sequence[TreeRow]) -> None:
        """Predict the copies and directories of a page of `handle`'s rows."""
        ends = self.ends.get(handle)
        if ends is None:
            return
        src, dst = ends
        (src_remote, src_path), (remote, top) = path_key(src), path_key(dst)
        for row in rows:
            if row.state != "planned":
                continue
            if row.reason == EXTRANEOUS:  # a mirror's deletion
                self.overlay.delete(remote, join_path(top, row.path))
            elif row.kind == "dir":
                self.overlay.add_dir(remote, join_path(top, row.path))
            elif row.kind == "file":
                origin = Target(src_remote, join_path(src_path, row.path))
                predicted = PredictedFile(row.size, None, row.checksum, origin)
                self.overlay.add_file(remote, join_path(top, row.path), predicted)
                self.unsettled[src] = dst

    def needs_settling(self, target: Target) -> bool:
        """Whether a read of `target` may see a predicted file still without its mtime."""
        remote, path = path_key(target)
        for dst in self.unsettled.values():
            there, top = path_key(dst)
            if there == remote and (is_under(path, top) or is_under(top, path)):
                return True
        return False

    async def settle(self, list_tree: ListTree) -> None:
        """Give every predicted file lacking an mtime its source's (one listing per tree)."""
        while self.unsettled:
            src, _ = self.unsettled.popitem()
            remote, top = path_key(src)
            for rel, wire in await list_tree(src) or []:
                if wire.get("type") == "file" and isinstance(wire.get("mtime"), str):
                    self._mtimes[(remote, join_path(top, rel))] = wire["mtime"]
        for file in self.overlay.files.values():
            if file.mtime is None and file.origin is not None:
                file.mtime = self._mtimes.get(path_key(file.origin))
