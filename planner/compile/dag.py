"""The dependency graph of a compiled plan: a small directed graph with labelled edges, and the
few walks compilation and execution need (generations, descendants, reachability).

Not networkx: importing networkx costs more than everything else `planner run` imports for
itself (tests/bench/README.md, "Figures behind design choices"), and a plan needs none of its
algorithms on the way to a valid DAG. Only the rare error and note paths (a cycle's shortest
loop, the `needs` chain behind an override) import it, through `to_networkx`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    import networkx as nx

EdgeData = dict[str, Any]


class Dag:
    """Nodes in insertion order; edges `u -> v` with a data dict (compilation stores `rules`),
    kept in insertion order per node, as networkx's DiGraph keeps them."""

    __slots__ = ("_pred", "_succ")

    def __init__(self, edges: Iterable[tuple[str, str]] = ()) -> None:
        self._succ: dict[str, dict[str, EdgeData]] = {}
        self._pred: dict[str, dict[str, EdgeData]] = {}
        for u, v in edges:
            self.add_edge(u, v)

    def add_node(self, node: str) -> None:
        """Add `node` (nothing when it is there already)."""
        if node not in self._succ:
            self._succ[node] = {}
            self._pred[node] = {}

    def add_edge(self, u: str, v: str, **data: Any) -> None:
        """Add the edge `u -> v` (and its nodes); `data` updates the edge's data."""
        self.add_node(u)
        self.add_node(v)
        self._succ[u].setdefault(v, {}).update(data)
        self._pred[v][u] = self._succ[u][v]

    def add_edges_from(self, edges: Iterable[tuple[str, str, EdgeData]]) -> None:
        """Add `(u, v, data)` edges."""
        for u, v, data in edges:
            self.add_edge(u, v, **data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._succ)

    def __contains__(self, node: object) -> bool:
        return node in self._succ

    def __len__(self) -> int:
        return len(self._succ)

    def successors(self, node: str) -> Iterator[str]:
        """The nodes `node` has an edge to."""
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        """The nodes with an edge to `node`."""
        return iter(self._pred[node])

    @overload
    def edges(self, data: Literal[False] = False) -> list[tuple[str, str]]: ...
    @overload
    def edges(self, data: Literal[True]) -> list[tuple[str, str, EdgeData]]: ...
    def edges(self, data: bool = False) -> list[tuple[str, str]] | list[tuple[str, str, EdgeData]]:
        """Every edge, by source node then insertion order; with `data`, `(u, v, data)`."""
        if data:
            return [(u, v, d) for u, out in self._succ.items() for v, d in out.items()]
        return [(u, v) for u, out in self._succ.items() for v in out]

    def edge_data(self, u: str, v: str) -> EdgeData:
        """The data of the edge `u -> v`.

        Raises:
            KeyError: no such edge.
        """
        return self._succ[u][v]

    def number_of_edges(self) -> int:
        """How many edges the graph has."""
        return sum(len(out) for out in self._succ.values())

    def descendants(self, node: str) -> set[str]:
        """Every node reachable from `node`, `node` itself excluded."""
        seen: set[str] = set()
        queue = deque(self._succ[node])
        while queue:
            current = queue.popleft()
            if current not in seen:
                seen.add(current)
                queue.extend(self._succ[current])
        seen.discard(node)
        return seen

    def has_path(self, source: str, target: str) -> bool:
        """Whether `target` is `source` or reachable from it."""
        return source == target or target in self.descendants(source)

    def generations(self) -> list[list[str]] | None:
        """The nodes by generation (a node comes one generation after the last of its
        predecessors), or None when the graph has a cycle. Kahn's algorithm, as networkx's
        `topological_generations` walks it."""
        indegree = {v: len(pred) for v, pred in self._pred.items() if pred}
        layer = [v for v, pred in self._pred.items() if not pred]
        out: list[list[str]] = []
        while layer:
            out.append(layer)
            following: list[str] = []
            for node in layer:
                for child in self._succ[node]:
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        following.append(child)
                        del indegree[child]
            layer = following
        return None if indegree else out

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as a networkx DiGraph (same node and edge order, same edge data):
        for the rare paths that need one of its algorithms."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._succ)
        graph.add_edges_from(self.edges(data=True))
        return graph
