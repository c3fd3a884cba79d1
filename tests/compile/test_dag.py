"""The plan's graph (planner/compile/dag.py) answers as networkx does, on random graphs: node
and edge order, generations, descendants, reachability, and the refusal of a cycle."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.compile.dag import Dag

NODES = [f"n{i}" for i in range(8)]

edge_lists = st.lists(
    st.tuples(st.sampled_from(NODES), st.sampled_from(NODES)).filter(lambda e: e[0] != e[1]),
    max_size=20,
)


def both(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[Dag, nx.DiGraph]:
    dag, graph = Dag(), nx.DiGraph()
    for node in nodes:
        dag.add_node(node)
        graph.add_node(node)
    labelled = [(u, v, {"rules": [f"{u}>{v}"]}) for u, v in edges]
    dag.add_edges_from(labelled)
    graph.add_edges_from(labelled)
    return dag, graph


@settings(max_examples=200, deadline=None)
@given(st.permutations(NODES), edge_lists)
def test_the_graph_answers_as_networkx_does(nodes: list[str], edges: list[tuple[str, str]]) -> None:
    dag, graph = both(nodes, edges)

    assert list(dag) == list(graph)
    assert dag.edges(data=True) == list(graph.edges(data=True))
    assert dag.number_of_edges() == graph.number_of_edges()
    for node in nodes:
        assert list(dag.successors(node)) == list(graph.successors(node))
        assert list(dag.predecessors(node)) == list(graph.predecessors(node))
        assert dag.descendants(node) == nx.descendants(graph, node)
        for other in nodes:
            assert dag.has_path(node, other) == nx.has_path(graph, node, other)
    if nx.is_directed_acyclic_graph(graph):
        assert dag.generations() == [list(g) for g in nx.topological_generations(graph)]
    else:
        assert dag.generations() is None
    again = dag.to_networkx()
    assert list(again) == list(graph)
    assert list(again.edges(data=True)) == list(graph.edges(data=True))


def test_an_edge_keeps_its_data_and_adding_it_again_updates_it() -> None:
    dag = Dag([("a", "b")])
    dag.add_edge("a", "b", rules=["needs"])

    assert dag.edge_data("a", "b") == {"rules": ["needs"]}
    assert dag.edges() == [("a", "b")]
    assert "a" in dag
    assert "c" not in dag
    assert len(dag) == 2
