"""A trie of accesses keyed by path segments, so that the path rules find related accesses
(same path, ancestors, descendants) without comparing every pair of actions."""

from __future__ import annotations

from collections.abc import Iterator

from planner.compile.accesses import Access
from planner.plan.paths import PathKey


class TrieNode:
    """Accesses at one path, and the nodes below it."""

    __slots__ = ("accesses", "children", "globs")

    def __init__(self) -> None:
        self.children: dict[str, TrieNode] = {}
        self.accesses: list[Access] = []
        self.globs: list[Access] = []  # glob removals whose parent is this path

    def walk(self) -> Iterator[TrieNode]:
        """This node and every node below it."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


class PathTrie:
    """One trie per remote."""

    def __init__(self) -> None:
        self.roots: dict[str, TrieNode] = {}

    def add(self, access: Access) -> None:
        node = self._node(access.key)
        (node.globs if access.pattern is not None else node.accesses).append(access)

    def _node(self, key: PathKey) -> TrieNode:
        remote, segments = key
        node = self.roots.setdefault(remote, TrieNode())
        for segment in segments:
            child = node.children.get(segment)
            if child is None:
                child = node.children[segment] = TrieNode()
            node = child
        return node

    def get(self, key: PathKey) -> TrieNode:
        """The node at `key` (every queried key was added, so it exists)."""
        remote, segments = key
        node = self.roots[remote]
        for segment in segments:
            node = node.children[segment]
        return node

    def ancestors(self, key: PathKey) -> Iterator[TrieNode]:
        """Nodes strictly above `key`, root first."""
        remote, segments = key
        node = self.roots.get(remote)
        for segment in segments:
            if node is None:
                return
            yield node
            node = node.children.get(segment)

    def subtree(self, key: PathKey) -> Iterator[TrieNode]:
        """The node at `key` and every node below it."""
        yield from self.get(key).walk()
