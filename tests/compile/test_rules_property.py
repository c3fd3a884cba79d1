"""Property tests: on random plans the compiled DAG holds exactly the edges that a brute-force,
pairwise reading of the path rules (docs/plan-reference.md, "Order: the DAG") predicts, and
every rule holds in a topological order."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.compile import compile_plan
from planner.errors import PlanError
from planner.plan.load import plan_from_source
from planner.plan.model import Action
from planner.plan.paths import PlanPath
from planner.plan.source import parse_source

STORAGES = {
    "a": {"remote": "any", "root": "r"},
    "b": {"remote": "any", "root": "r/x"},  # aliases a:x/...
    "c": {"remote": "local", "root": "/data"},
}
SEGMENTS = ["x", "y", "z"]
Place = tuple[str, tuple[str, ...]]  # (remote, path segments)

rel_paths = st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=3).map("/".join)
storage = st.sampled_from(sorted(STORAGES))


@st.composite
def plan_path(draw: st.DrawFn, allow_root: bool = True) -> str:
    rel = draw(rel_paths)
    if not rel and not allow_root:
        rel = "x"
    slash = "/" if rel and draw(st.booleans()) else ""
    return f"{draw(storage)}:{rel}{slash}"


@st.composite
def action(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    kind = draw(
        st.sampled_from(
            ["directories", "copies", "moves", "removals", "permissions", "metadata", "checks"]
        )
    )
    if kind in ("copies", "moves"):
        return kind, {"src": draw(plan_path(allow_root=False)), "dst": draw(plan_path())}
    if kind == "directories":
        return kind, {"path": draw(plan_path())}
    if kind == "removals":
        if draw(st.booleans()):
            parent = draw(st.lists(st.sampled_from(SEGMENTS), max_size=2).map("/".join))
            pattern = draw(st.sampled_from(["*", "y*", "[xz]"]))
            return kind, {"path": f"{draw(storage)}:{parent + '/' if parent else ''}{pattern}"}
        return kind, {"path": draw(plan_path(allow_root=False))}
    if kind == "permissions":
        return kind, {"path": draw(plan_path()), "grant": [{"user": "u", "role": "reader"}]}
    if kind == "metadata":
        return kind, {"path": draw(plan_path()), "set": {"k": "v"}}
    return kind, {draw(st.sampled_from(["exists", "absent"])): draw(plan_path())}


def _resolved(text: object) -> tuple[str, tuple[str, ...]]:
    storage_name, _, rel = str(text).partition(":")
    spec = STORAGES[storage_name]
    return spec["remote"], tuple(s for s in f"{spec['root']}/{rel}".split("/") if s)


def _into_itself(section: str, body: dict[str, object]) -> bool:
    """A copy or move into its own source: refused by validation (issue 10, item 23)."""
    if section not in ("copies", "moves"):
        return False
    (src_remote, src), (dst_remote, dst) = _resolved(body["src"]), _resolved(body["dst"])
    return src_remote == dst_remote and dst[: len(src)] == src


def _build(entries: list[tuple[str, dict[str, object]]]) -> str:
    doc: dict[str, Any] = {"version": 1, "storages": STORAGES}
    kept = [(section, body) for section, body in entries if not _into_itself(section, body)]
    for n, (section, body) in enumerate(kept):
        doc.setdefault(section, []).append({"id": f"a{n}", **body})
    return yaml.safe_dump(doc, sort_keys=False)


def _related(p: tuple[str, ...], q: tuple[str, ...]) -> bool:
    n = min(len(p), len(q))
    return p[:n] == q[:n]


def _at_or_below(p: tuple[str, ...], top: tuple[str, ...]) -> bool:
    return p[: len(top)] == top


def _oracle(actions: list[Action]) -> dict[tuple[str, str], set[str]]:
    """Every (before, after) pair the rules order, computed pair by pair from the rule table of
    docs/plan-reference.md (issue 10: absent checks after removals and moves, clean before
    write, prune after write)."""

    def key(path: PlanPath) -> Place:
        return path.remote, tuple(s for s in path.path.split("/") if s)

    reads: dict[str, list[Place]] = {}  # reads and `exists:` checks
    absents: dict[str, list[Place]] = {}  # `absent:` checks
    writes: dict[str, list[tuple[str, Place]]] = {}
    for a in actions:
        reads[a.id], absents[a.id], writes[a.id] = [], [], []
        if a.kind == "directory":
            writes[a.id].append(("mkdir", key(a.path)))
        elif a.kind == "copy" or a.kind == "move":
            reads[a.id].append(key(a.src))
            writes[a.id].append(("write", key(a.dst)))
        elif a.kind == "check" and a.expect == "absent":
            absents[a.id].append(key(a.path))
        elif a.kind != "removal":
            reads[a.id].append(key(a.path))
    edges: dict[tuple[str, str], set[str]] = {}

    def add(x: str, y: str, rule: str) -> None:
        if x != y:
            edges.setdefault((x, y), set()).add(rule)

    for a in actions:
        for b in actions:
            for kind_w, (rw, w) in writes[a.id]:
                for kind_v, (rv, v) in writes[b.id]:
                    below = len(v) > len(w) and v[: len(w)] == w
                    if kind_w == "mkdir" and rw == rv and (below or (v == w and kind_v == "write")):
                        add(a.id, b.id, "directory-before-write")
                for rr, r in reads[b.id] + absents[b.id]:
                    if rw == rr and _related(w, r):
                        add(a.id, b.id, "write-before-read")
            if b.kind == "removal":
                rem_remote, rem = key(b.path)
                glob = b.path.has_glob

                def hit(t: tuple[str, ...], rem: tuple[str, ...] = rem, glob: bool = glob) -> bool:
                    if not glob:
                        return _at_or_below(t, rem)
                    parent, pattern = rem[:-1], rem[-1]
                    return (
                        len(t) > len(parent)
                        and t[: len(parent)] == parent
                        and fnmatch.fnmatchcase(t[len(parent)], pattern)
                    )

                for tr, t in reads[a.id]:
                    if tr == rem_remote and hit(t):
                        add(a.id, b.id, "access-before-removal")
                for tr, t in absents[a.id]:
                    if tr == rem_remote and hit(t):
                        add(b.id, a.id, "removal-before-absent")
                for _, (tr, t) in writes[a.id]:
                    if tr != rem_remote:
                        continue
                    if hit(t):
                        add(b.id, a.id, "clean-before-write")
                    # strictly below the write: a glob's parent at or below it
                    top = rem[:-1] if glob else rem
                    if _at_or_below(top, t) and (glob or len(rem) > len(t)):
                        add(a.id, b.id, "write-before-prune")
            if b.kind == "move":
                src_remote, src = key(b.src)
                for tr, t in reads[a.id] + [kw for _, kw in writes[a.id]]:
                    if tr == src_remote and _at_or_below(t, src):
                        add(a.id, b.id, "access-before-move")
                for tr, t in absents[a.id]:
                    if tr == src_remote and _at_or_below(t, src):
                        add(b.id, a.id, "move-before-absent")
    # a read that a write produces after a removal cleaned its place reads the new content
    for (reader, remover), rules in list(edges.items()):
        if "access-before-removal" in rules and any(
            "clean-before-write" in edges.get((remover, writer), set())
            and "write-before-read" in edges.get((writer, reader), set())
            for writer in (a.id for a in actions)
        ):
            rules.discard("access-before-removal")
            if not rules:
                del edges[reader, remover]
    return edges


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action(), min_size=1, max_size=12))
def test_compiled_edges_are_exactly_the_rules(entries) -> None:
    source = parse_source(_build(entries), "plan.yaml")
    plan = plan_from_source(source, Path("/plans"), {}, {})
    expected = _oracle(list(plan.actions))
    oracle = nx.DiGraph(list(expected))
    oracle.add_nodes_from(a.id for a in plan.actions)
    try:
        compiled = compile_plan(plan)
    except PlanError as exc:
        codes = {d.code for d in exc.diagnostics}
        assert codes <= {"cycle", "conflict"}
        if codes == {"cycle"}:
            assert not nx.is_directed_acyclic_graph(oracle)
        return
    got = {(u, v): set(d["rules"]) for u, v, d in compiled.graph.edges(data=True)}
    assert got == expected
    order = {n: i for i, n in enumerate(nx.topological_sort(nx.DiGraph(compiled.graph.edges())))}
    for before, after in expected:
        assert order[before] < order[after]
    generation = compiled.generation
    for before, after in expected:
        assert generation[before] < generation[after]
