"""The compiled DAG as Mermaid, Graphviz DOT or JSON (format_version 1), with the inferred edges
that a `needs` overrode drawn dashed (flagged `overridden` in JSON): they are not in the DAG."""

from __future__ import annotations

import json

from planner.compile import CompiledPlan

FORMAT_VERSION = 1


def _ordered(compiled: CompiledPlan) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    nodes = [a.id for a in compiled.actions_in_order()]
    rank = {n: i for i, n in enumerate(nodes)}
    edges = sorted(
        ((u, v, list(d["rules"])) for u, v, d in compiled.graph.edges(data=True)),
        key=lambda e: (rank[e[0]], rank[e[1]]),
    )
    return nodes, edges


def _overridden(compiled: CompiledPlan) -> list[tuple[str, str, list[str]]]:
    rank = {n: i for i, n in enumerate(a.id for a in compiled.actions_in_order())}
    return sorted(
        ((u, v, list(rules)) for (u, v), rules in compiled.overridden.items()),
        key=lambda e: (rank[e[0]], rank[e[1]]),
    )


def _label(compiled: CompiledPlan, node: str) -> str:
    return f"{node} ({compiled.actions[node].kind})"


def render_mermaid(compiled: CompiledPlan) -> str:
    """A Mermaid flowchart; inferred edges carry the rule that made them, overridden ones are
    dotted."""
    nodes, edges = _ordered(compiled)
    ident = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["flowchart TD"]
    for node in nodes:
        label = _label(compiled, node).replace('"', "#quot;")
        lines.append(f'    {ident[node]}["{label}"]')
    for u, v, rules in edges:
        inferred = any(r != "needs" for r in rules)
        arrow = f"-->|{', '.join(rules)}|" if inferred else "-->"
        lines.append(f"    {ident[u]} {arrow} {ident[v]}")
    for u, v, rules in _overridden(compiled):
        lines.append(f"    {ident[u]} -.->|overridden by needs: {', '.join(rules)}| {ident[v]}")
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(compiled: CompiledPlan) -> str:
    """A Graphviz digraph; inferred edges are dashed and labelled by rule, overridden ones red and
    left out of the ranking (`constraint=false`)."""
    nodes, edges = _ordered(compiled)
    lines = [
        f"digraph {_dot_quote(compiled.plan.name)} {{",
        "    rankdir=TB;",
        "    node [shape=box];",
    ]
    for node in nodes:
        lines.append(f"    {_dot_quote(node)} [label={_dot_quote(_label(compiled, node))}];")
    for u, v, rules in edges:
        if any(r != "needs" for r in rules):
            style = "" if "needs" in rules else ", style=dashed"
            attrs = f" [label={_dot_quote(', '.join(rules))}{style}]"
        else:
            attrs = ""
        lines.append(f"    {_dot_quote(u)} -> {_dot_quote(v)}{attrs};")
    for u, v, rules in _overridden(compiled):
        label = _dot_quote("overridden by needs: " + ", ".join(rules))
        attrs = f" [label={label}, style=dashed, color=red, fontcolor=red, constraint=false]"
        lines.append(f"    {_dot_quote(u)} -> {_dot_quote(v)}{attrs};")
    lines.append("}")
    return "\n".join(lines)


def render_graph_json(compiled: CompiledPlan) -> str:
    """`{"format_version": 1, "nodes": [...], "edges": [...]}` in execution order."""
    nodes, edges = _ordered(compiled)
    document = {
        "format_version": FORMAT_VERSION,
        "plan": compiled.plan.name,
        "depth": compiled.depth,
        "nodes": [
            {
                "id": n,
                "kind": (a := compiled.actions[n]).kind,
                "generation": compiled.generation[n],
                "priority": a.priority,
                "location": {
                    "file": a.location.file,
                    "line": a.location.line,
                    "col": a.location.col,
                },
            }
            for n in nodes
        ],
        "edges": [
            *({"from": u, "to": v, "rules": rules, "overridden": False} for u, v, rules in edges),
            *(
                {"from": u, "to": v, "rules": rules, "overridden": True}
                for u, v, rules in _overridden(compiled)
            ),
        ],
    }
    return json.dumps(document, indent=2)


RENDERERS = {"mermaid": render_mermaid, "dot": render_dot, "json": render_graph_json}
