"""planner/compile/dag.py against networkx as the oracle, on random small graphs."""

from __future__ import annotations

import itertools

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.compile import dag

NODES = [f"n{i}" for i in range(7)]
edge_lists = st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)), max_size=16)


def both(edges: list[tuple[str, str]]) -> tuple[dag.DiGraph, nx.DiGraph]:
    ours, oracle = dag.DiGraph(), nx.DiGraph()
    for node in NODES:
        ours.add_node(node)
        oracle.add_node(node)
    ours.add_edges_from((u, v, {"rules": ["r"]}) for u, v in edges if u != v)
    oracle.add_edges_from((u, v) for u, v in edges if u != v)
    return ours, oracle


@settings(max_examples=300, deadline=None)
@given(edge_lists)
def test_the_algorithms_agree_with_networkx(edges: list[tuple[str, str]]) -> None:
    ours, oracle = both(edges)

    assert set(ours.edges()) == set(oracle.edges)
    assert ours.number_of_edges() == oracle.number_of_edges()
    for node in NODES:
        assert dag.descendants(ours, node) == nx.descendants(oracle, node)
        assert set(ours.predecessors(node)) == set(oracle.predecessors(node))
    for a, b in itertools.product(NODES, NODES):
        assert dag.has_path(ours, a, b) == nx.has_path(oracle, a, b)
        if nx.has_path(oracle, a, b):
            path = dag.shortest_path(ours, a, b)
            assert (path[0], path[-1]) == (a, b)
            assert len(path) == len(nx.shortest_path(oracle, a, b))
            assert all(oracle.has_edge(u, v) for u, v in itertools.pairwise(path))
    components = dag.strongly_connected_components(ours)
    assert sorted(map(sorted, components)) == sorted(
        map(sorted, nx.strongly_connected_components(oracle))
    )
    assert dag.is_acyclic(ours) == nx.is_directed_acyclic_graph(oracle)
    if dag.is_acyclic(ours):
        layers = dag.topological_generations(ours)
        assert [sorted(layer) for layer in layers] == [
            sorted(layer) for layer in nx.topological_generations(oracle)
        ]
    for component in components:
        if len(component) > 1:
            start = min(component)
            cycle = dag.find_cycle(ours, component, start)
            assert cycle[0][0] == cycle[-1][1]
            assert all(u in component and oracle.has_edge(u, v) for u, v in cycle)
