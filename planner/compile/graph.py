"""Plan -> DiGraph (planner/compile/dag.py): edges from `needs` and from the path rules
(planner/compile/rules.py), each labelled with the rule that made it;
cycles and conflicting writers are plan errors.

An explicit `needs` wins over an inferred edge in the opposite direction (docs/plan-reference.md);
each such override is kept as a located note and as an overridden edge for `planner graph`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.compile import dag
from planner.compile.accesses import Access, accesses_of
from planner.compile.overrides import ExplicitOrder, Override, override_note
from planner.compile.pathtrie import PathTrie
from planner.compile.rules import (
    ACCESS_BEFORE_REMOVAL,
    CLEAN_BEFORE_WRITE,
    NEEDS,
    RULES,
    WRITE_BEFORE_READ,
    inferred_edges,
)
from planner.errors import Diagnostic, PlanError
from planner.gcpause import paused_gc
from planner.plan.model import Action, Plan
from planner.plan.paths import PathKey

__all__ = ["RULES", "CompiledPlan", "compile_plan"]


@dataclass
class CompiledPlan:
    """A plan and its DAG: node = action id (`actions` maps it to its action), edge attribute
    `rules`."""

    plan: Plan
    graph: dag.DiGraph
    actions: dict[str, Action]
    depth: int
    generation: dict[str, int] = field(default_factory=dict)
    # inferred edges reversed by `needs`: (first, then) -> rules; not in `graph`
    overridden: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    notes: list[Diagnostic] = field(default_factory=list)

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
    graph = dag.DiGraph()
    by_id = {a.id: a for a in plan.actions}
    for action in plan.actions:
        graph.add_node(action.id)
    edges: dict[tuple[str, str], list[str]] = {}
    for action in plan.actions:
        for need in action.needs:
            _add_edge(edges, need, action.id, NEEDS)
    explicit = ExplicitOrder(list(edges))
    trie = PathTrie()
    all_accesses = [acc for action in plan.actions for acc in accesses_of(action)]
    for access in all_accesses:
        trie.add(access)
    overrides: dict[tuple[str, str, str], Override] = {}
    overridden: dict[tuple[str, str], list[str]] = {}
    for first, then, rule in inferred_edges(trie, all_accesses):
        before, after = first.action, then.action
        if before == after:
            continue
        if explicit.orders(after, before):
            overrides.setdefault((before, after, rule), Override(first, then, rule))
            _add_edge(overridden, before, after, rule)
        else:
            _add_edge(edges, before, after, rule)
    _drop_reads_of_new_content(edges)
    graph.add_edges_from((u, v, {"rules": rules}) for (u, v), rules in edges.items())
    diagnostics = _cycles(graph, by_id)
    if not diagnostics:
        diagnostics = _conflicting_writers(graph, all_accesses, by_id)
    if diagnostics:
        raise PlanError(diagnostics)
    generation: dict[str, int] = {}
    depth = 0
    for depth, layer in enumerate(dag.topological_generations(graph), start=1):
        for node in layer:
            generation[node] = depth - 1
    notes = sorted(
        (override_note(o, explicit, by_id) for o in overrides.values()), key=lambda d: d.sort_key
    )
    return CompiledPlan(plan, graph, by_id, depth, generation, overridden, notes)


def _add_edge(edges: dict[tuple[str, str], list[str]], before: str, after: str, rule: str) -> None:
    rules = edges.setdefault((before, after), [])
    if rule not in rules:
        rules.append(rule)


def _drop_reads_of_new_content(edges: dict[tuple[str, str], list[str]]) -> None:
    """A read below a removal that also reads what a write produces after that removal cleaned
    its place ("clean, publish, check the page exists") reads the new content: it comes after
    the write, so it is not ordered before the removal (access-before-removal would close a
    cycle with clean-before-write and write-before-read)."""
    cleaned: dict[str, list[str]] = {}
    for (removal, write), rules in edges.items():
        if CLEAN_BEFORE_WRITE in rules:
            cleaned.setdefault(removal, []).append(write)
    if not cleaned:
        return
    for (read, removal), rules in list(edges.items()):
        if ACCESS_BEFORE_REMOVAL in rules and any(
            WRITE_BEFORE_READ in edges.get((write, read), ()) for write in cleaned.get(removal, ())
        ):
            rules.remove(ACCESS_BEFORE_REMOVAL)
            if not rules:
                del edges[read, removal]


def _where(action: Action) -> str:
    loc = action.location
    return f"{action.id} ({loc.line}:{loc.col})"


def _cycles(graph: dag.DiGraph, by_id: dict[str, Action]) -> list[Diagnostic]:
    if dag.is_acyclic(graph):
        return []
    out = []
    for component in dag.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        first = min((by_id[u] for u in component), key=lambda a: a.order)
        cycle = dag.find_cycle(graph, component, first.id)
        first = min((by_id[u] for u, _ in cycle), key=lambda a: a.order)
        start = next(i for i, (u, _) in enumerate(cycle) if u == first.id)
        cycle = cycle[start:] + cycle[:start]
        text = _where(by_id[cycle[0][0]])
        for u, v in cycle:
            rules = ",".join(graph.edge_data(u, v)["rules"])
            text += f" -[{rules}]-> {_where(by_id[v])}"
        out.append(Diagnostic(first.location, f"cycle: {text}", "cycle"))
    return out


def _conflicting_writers(
    graph: dag.DiGraph, accesses: list[Access], by_id: dict[str, Action]
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
                if dag.has_path(graph, first, second) or dag.has_path(graph, second, first):
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
