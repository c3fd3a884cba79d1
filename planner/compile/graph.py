"""Plan -> networkx DiGraph: edges from `needs` and from the path rules, each labelled with the
rule that made it; cycles and conflicting writers are plan errors.

Path rules (PRODUCT.md section 2), on resolved `(remote, path)` keys:
  directory-before-write   a directory comes before every write at or below it
  write-before-read        a write of P comes before every read of P, below P or above P
  access-before-removal    every read/write at or below P comes before a removal of P
  access-before-move       every read/write at or below P comes before a move whose src is P
An explicit `needs` wins over an inferred edge in the opposite direction (docs/plan-reference.md).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import networkx as nx

from planner.compile.accesses import Access, accesses_of
from planner.compile.pathtrie import PathTrie, TrieNode
from planner.errors import Diagnostic, PlanError
from planner.gcpause import paused_gc
from planner.plan.model import Action, Plan
from planner.plan.paths import PathKey

NEEDS = "needs"
DIRECTORY_BEFORE_WRITE = "directory-before-write"
WRITE_BEFORE_READ = "write-before-read"
ACCESS_BEFORE_REMOVAL = "access-before-removal"
ACCESS_BEFORE_MOVE = "access-before-move"
RULES = (
    NEEDS,
    DIRECTORY_BEFORE_WRITE,
    WRITE_BEFORE_READ,
    ACCESS_BEFORE_REMOVAL,
    ACCESS_BEFORE_MOVE,
)

_WRITES = ("write", "mkdir")
_TOUCHES = ("read", "write", "mkdir")


@dataclass
class CompiledPlan:
    """A plan and its DAG: node = action id (attribute `action`), edge attribute `rules`."""

    plan: Plan
    graph: nx.DiGraph
    depth: int
    generation: dict[str, int] = field(default_factory=dict)

    def actions_in_order(self) -> list[Action]:
        """Actions in a valid execution order: by generation, then priority, then file order."""
        return sorted(self.plan.actions, key=lambda a: (self.generation[a.id], a.priority, a.order))


def compile_plan(plan: Plan) -> CompiledPlan:
    """Build and check the dependency DAG of a plan.

    Raises:
        PlanError: a cycle (printed `a -> b -> a` with locations) or conflicting writers.
    """
    with paused_gc():
        return _compile(plan)


def _compile(plan: Plan) -> CompiledPlan:
    graph = nx.DiGraph()
    by_id = {a.id: a for a in plan.actions}
    for action in plan.actions:
        graph.add_node(action.id, action=action)
    edges: dict[tuple[str, str], list[str]] = {}
    for action in plan.actions:
        for need in action.needs:
            _add_edge(edges, need, action.id, NEEDS)
    explicit = _ExplicitOrder(list(edges))
    trie = PathTrie()
    all_accesses = [acc for action in plan.actions for acc in accesses_of(action)]
    for access in all_accesses:
        trie.add(access)
    for before, after, rule in _inferred_edges(trie, all_accesses):
        if before != after and not explicit.orders(after, before):
            _add_edge(edges, before, after, rule)
    graph.add_edges_from((u, v, {"rules": rules}) for (u, v), rules in edges.items())
    diagnostics = _cycles(graph, by_id)
    if not diagnostics:
        diagnostics = _conflicting_writers(graph, all_accesses, by_id)
    if diagnostics:
        raise PlanError(diagnostics)
    generation: dict[str, int] = {}
    depth = 0
    for depth, layer in enumerate(nx.topological_generations(graph), start=1):
        for node in layer:
            generation[node] = depth - 1
    return CompiledPlan(plan=plan, graph=graph, depth=depth, generation=generation)


def _add_edge(edges: dict[tuple[str, str], list[str]], before: str, after: str, rule: str) -> None:
    rules = edges.setdefault((before, after), [])
    if rule not in rules:
        rules.append(rule)


class _ExplicitOrder:
    """Reachability along `needs` edges only, computed lazily per node."""

    def __init__(self, needs_edges: list[tuple[str, str]]) -> None:
        self.needs = nx.DiGraph(needs_edges) if needs_edges else None
        self.cache: dict[str, set[str]] = {}

    def orders(self, first: str, then: str) -> bool:
        """True when `needs` already put `first` before `then`."""
        if self.needs is None or first not in self.needs or then not in self.needs:
            return False
        if first not in self.cache:
            self.cache[first] = nx.descendants(self.needs, first)
        return then in self.cache[first]


def _in(nodes: Iterable[TrieNode], kinds: tuple[str, ...]) -> Iterator[Access]:
    for node in nodes:
        for access in node.accesses:
            if access.kind in kinds:
                yield access


def _inferred_edges(trie: PathTrie, accesses: list[Access]) -> Iterator[tuple[str, str, str]]:
    for access in accesses:
        if access.kind == "mkdir":
            node = trie.get(access.key)
            for other in _in([node], ("write",)):
                yield access.action, other.action, DIRECTORY_BEFORE_WRITE
            for child in node.children.values():
                for other in _in(child.walk(), _WRITES):
                    yield access.action, other.action, DIRECTORY_BEFORE_WRITE
        if access.kind in _WRITES:
            related = (*trie.ancestors(access.key), *trie.subtree(access.key))
            for other in _in(related, ("read",)):
                yield access.action, other.action, WRITE_BEFORE_READ
        if access.kind in ("remove", "move-src"):
            rule = ACCESS_BEFORE_REMOVAL if access.kind == "remove" else ACCESS_BEFORE_MOVE
            node = trie.get(access.key)
            if access.pattern is None:
                targets: Iterable[TrieNode] = node.walk()
            else:
                pattern = access.pattern
                targets = (
                    n
                    for name, child in node.children.items()
                    if fnmatch.fnmatchcase(name, pattern)
                    for n in child.walk()
                )
            for other in _in(targets, _TOUCHES):
                yield other.action, access.action, rule


def _where(action: Action) -> str:
    loc = action.location
    return f"{action.id} ({loc.line}:{loc.col})"


def _cycles(graph: nx.DiGraph, by_id: dict[str, Action]) -> list[Diagnostic]:
    if nx.is_directed_acyclic_graph(graph):
        return []
    out = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cycle = nx.find_cycle(graph.subgraph(component))
        first = min((by_id[u] for u, _ in cycle), key=lambda a: a.order)
        start = next(i for i, (u, _) in enumerate(cycle) if u == first.id)
        cycle = cycle[start:] + cycle[:start]
        text = _where(by_id[cycle[0][0]])
        for u, v in cycle:
            rules = ",".join(graph.edges[u, v]["rules"])
            text += f" -[{rules}]-> {_where(by_id[v])}"
        out.append(Diagnostic(first.location, f"cycle: {text}", "cycle"))
    return out


def _conflicting_writers(
    graph: nx.DiGraph, accesses: list[Access], by_id: dict[str, Action]
) -> list[Diagnostic]:
    writers: dict[PathKey, list[str]] = {}
    for access in accesses:
        if access.kind == "write" and access.exact is not None:
            writers.setdefault(access.exact, []).append(access.action)
    out = []
    for key, actions in writers.items():
        if len(actions) < 2:
            continue
        unique = sorted(set(actions), key=lambda a: by_id[a].order)
        for i, first in enumerate(unique):
            for second in unique[i + 1 :]:
                if nx.has_path(graph, first, second) or nx.has_path(graph, second, first):
                    continue
                a, b = by_id[first], by_id[second]
                remote, segments = key
                lead = "/" if remote == "local" else ""
                where = f"{remote}:{lead}{'/'.join(segments)}"
                message = (
                    f"conflicting writers: '{a.id}' ({a.location.line}:{a.location.col}) "
                    f"and '{b.id}' both write {where} with no order between them "
                    f"(add needs: [{a.id}] to '{b.id}')"
                )
                out.append(Diagnostic(b.location, message, "conflict"))
    return out
