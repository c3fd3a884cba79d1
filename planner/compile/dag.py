"""A small directed graph of action ids and the few algorithms the compiler and the runner use
on it (reachability, topological generations, cycles).

Not networkx: importing networkx costs every `planner run` and `planner plan` about as much as
the rest of planner's start-up (see tests/bench/README.md), and a plan's DAG needs a tenth of a
page of it. Nodes and successors keep their insertion order, so every result is deterministic.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Literal, overload

EdgeData = dict[str, Any]


class DiGraph:
    """Nodes (hashable ids, insertion-ordered) and directed edges, each with a data dict."""

    __slots__ = ("_pred", "_succ")

    def __init__(self, edges: Iterable[tuple[str, str]] = ()) -> None:
        self._succ: dict[str, dict[str, EdgeData]] = {}
        self._pred: dict[str, dict[str, EdgeData]] = {}
        for u, v in edges:
            self.add_edge(u, v)

    def add_node(self, node: str) -> None:
        """Add `node` (no-op when present)."""
        if node not in self._succ:
            self._succ[node] = {}
            self._pred[node] = {}

    def add_edge(self, u: str, v: str, data: EdgeData | None = None) -> None:
        """Add the edge `u -> v` (and its nodes); `data` updates the edge's data dict."""
        self.add_node(u)
        self.add_node(v)
        current = self._succ[u].get(v)
        if current is None:
            current = self._succ[u][v] = self._pred[v][u] = {}
        if data:
            current.update(data)

    def add_edges_from(self, edges: Iterable[tuple[str, str, EdgeData]]) -> None:
        """Add every `(u, v, data)`."""
        for u, v, data in edges:
            self.add_edge(u, v, data)

    def __contains__(self, node: object) -> bool:
        return node in self._succ

    def __iter__(self) -> Iterator[str]:
        return iter(self._succ)

    def __len__(self) -> int:
        return len(self._succ)

    def successors(self, node: str) -> Iterator[str]:
        """The nodes `node` has an edge to."""
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        """The nodes with an edge to `node`."""
        return iter(self._pred[node])

    def edge_data(self, u: str, v: str) -> EdgeData:
        """The data dict of the edge `u -> v` (KeyError when there is none)."""
        return self._succ[u][v]

    @overload
    def edges(self, data: Literal[False] = False) -> list[tuple[str, str]]: ...
    @overload
    def edges(self, data: Literal[True]) -> list[tuple[str, str, EdgeData]]: ...
    def edges(self, data: bool = False) -> list[tuple[str, str]] | list[tuple[str, str, EdgeData]]:
        """Every edge `(u, v)`, or `(u, v, data)` with `data=True`, by node order."""
        if data:
            return [(u, v, d) for u, out in self._succ.items() for v, d in out.items()]
        return [(u, v) for u, out in self._succ.items() for v in out]

    def number_of_edges(self) -> int:
        """How many edges."""
        return sum(len(out) for out in self._succ.values())


def descendants(graph: DiGraph, node: str) -> set[str]:
    """Every node reachable from `node`, without `node` itself (unless on a cycle through it)."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        for child in graph.successors(stack.pop()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    seen.discard(node)
    return seen


def has_path(graph: DiGraph, source: str, target: str) -> bool:
    """True when `target` is `source` or reachable from it."""
    return source == target or target in descendants(graph, source)


def shortest_path(graph: DiGraph, source: str, target: str) -> list[str]:
    """A shortest path from `source` to `target`, both included (breadth first, successors in
    insertion order). Raises KeyError when there is none."""
    parent: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while (up := parent[path[-1]]) is not None:
                path.append(up)
            return path[::-1]
        for child in graph.successors(node):
            if child not in parent:
                parent[child] = node
                queue.append(child)
    raise KeyError(f"no path from {source!r} to {target!r}")


def topological_generations(graph: DiGraph) -> list[list[str]]:
    """The nodes in layers: each node's predecessors are all in earlier layers. Raises
    ValueError on a cycle."""
    indegree = {n: len(graph._pred[n]) for n in graph}
    layer = [n for n, d in indegree.items() if d == 0]
    layers = []
    placed = 0
    while layer:
        layers.append(layer)
        placed += len(layer)
        following = []
        for node in layer:
            for child in graph.successors(node):
                indegree[child] -= 1
                if indegree[child] == 0:
                    following.append(child)
        layer = following
    if placed != len(graph):
        raise ValueError("the graph has a cycle")
    return layers


def is_acyclic(graph: DiGraph) -> bool:
    """True when the graph has no cycle."""
    try:
        topological_generations(graph)
    except ValueError:
        return False
    return True


def strongly_connected_components(graph: DiGraph) -> list[set[str]]:
    """The strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, graph.successors(root))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, graph.successors(child)))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    out.append(component)
    return out


def find_cycle(graph: DiGraph, within: set[str], start: str) -> list[tuple[str, str]]:
    """The edges of one cycle among the nodes `within`, found depth first from `start`
    (a node of a strongly connected component `within`, so there is one)."""
    position = {start: 0}  # the nodes on the current path
    finished: set[str] = set()
    path = [start]
    work = [iter([c for c in graph.successors(start) if c in within])]
    while work:
        for child in work[-1]:
            if child in finished:
                continue
            if child in position:
                cycle = [*path[position[child] :], child]
                return list(itertools.pairwise(cycle))
            position[child] = len(path)
            path.append(child)
            work.append(iter([c for c in graph.successors(child) if c in within]))
            break
        else:
            work.pop()
            done = path.pop()
            del position[done]
            finished.add(done)
    raise ValueError(f"no cycle through {start!r}")
