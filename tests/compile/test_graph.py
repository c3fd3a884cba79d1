"""The compiler on tiny plans: exact graphs, rule labels, the needs override and its note,
aliasing storages, and `planner graph` drawing overridden edges."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from networkx.utils import graphs_equal

from planner.compile import compile_plan
from planner.compile.dag import DiGraph
from planner.errors import PlanError
from planner.plan.load import load_plan

HEADER = """\
version: 1
storages:
  s: {remote: local, root: /data}
  a: {remote: any, root: archive}
  alias: {remote: any, root: archive/runs}
"""


def compiled(write_plan, body: str):
    return compile_plan(load_plan(write_plan(HEADER + body), env={}))


def edges(graph: DiGraph) -> dict[tuple[str, str], list[str]]:
    return {(u, v): d["rules"] for u, v, d in graph.edges(data=True)}


def test_copy_then_check_then_removal_of_the_source(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
directories: [{id: mk, path: "a:runs"}]
copies: [{id: cp, src: "s:out/", dst: "a:runs/out/"}]
checks: [{id: ok, exists: "a:runs/out/summary.csv"}]
removals: [{id: rm, path: "s:out/"}]
""",
    )
    expected = nx.DiGraph([("mk", "cp"), ("mk", "ok"), ("cp", "ok"), ("cp", "rm")])
    assert graphs_equal(nx.DiGraph(result.graph.edges()), expected)
    assert edges(result.graph) == {
        ("mk", "cp"): ["directory-before-write"],
        ("mk", "ok"): ["write-before-read"],
        ("cp", "ok"): ["write-before-read"],
        ("cp", "rm"): ["access-before-removal"],
    }
    assert result.depth == 3


def test_aliasing_storages_are_compared_resolved(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies:
  - {id: write, src: "s:f", dst: "alias:x/f"}
  - {id: read, src: "a:runs/x/f", dst: "s:g"}
""",
    )
    assert edges(result.graph) == {("write", "read"): ["write-before-read"]}


def test_clean_then_publish_needs_no_needs(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies: [{id: publish, src: "s:build/html/", dst: "a:site/html/"}]
removals: [{id: clean, path: "a:site/html/"}]
""",
    )
    assert edges(result.graph) == {("clean", "publish"): ["clean-before-write"]}
    assert result.notes == []


def test_check_of_what_a_publish_brings_comes_after_the_clean(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
removals: [{id: clean, path: "a:site/html/"}]
copies: [{id: publish, src: "s:build/html/", dst: "a:site/html/"}]
checks: [{id: published, exists: "a:site/html/index.html"}]
""",
    )
    assert edges(result.graph) == {
        ("clean", "publish"): ["clean-before-write"],
        ("publish", "published"): ["write-before-read"],
    }


def test_a_backup_before_a_clean_and_publish_needs_needs_and_says_so(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
removals: [{id: clean, path: "a:site/html/"}]
copies:
  - {id: backup, src: "a:site/html/", dst: "s:old-html/"}
  - {id: publish, src: "s:build/html/", dst: "a:site/html/", needs: [backup]}
""",
    )
    assert edges(result.graph) == {
        ("backup", "publish"): ["needs"],
        ("backup", "clean"): ["access-before-removal"],
        ("clean", "publish"): ["clean-before-write"],
    }
    assert result.overridden == {("publish", "backup"): ["write-before-read"]}


def test_removal_of_an_ancestor_cleans_before_a_directory_is_made(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
directories: [{id: mk, path: "a:site/html/img"}]
removals: [{id: clean, path: "a:site/"}]
""",
    )
    assert edges(result.graph) == {("clean", "mk"): ["clean-before-write"]}


def test_removal_below_a_move_destination_prunes_after_the_move(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
moves: [{id: mv, src: "a:legacy/wing_run1", dst: "a:projects/wing/runs/1"}]
removals:
  - {id: prune, path: "a:projects/wing/runs/1/core.*"}
  - {id: drop, path: "a:projects/wing/runs/1/tmp/"}
""",
    )
    assert edges(result.graph) == {
        ("mv", "prune"): ["write-before-prune"],
        ("mv", "drop"): ["write-before-prune"],
    }


def test_absent_check_comes_after_the_removal_that_makes_it_true(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
removals:
  - {id: rm, path: "s:legacy/"}
  - {id: cores, path: "s:out/core.*"}
checks:
  - {id: gone, absent: "s:legacy"}
  - {id: gone-below, absent: "s:legacy/x/y.txt"}
  - {id: no-core, absent: "s:out/core.1"}
  - {id: other, absent: "s:out/log.1"}
""",
    )
    assert edges(result.graph) == {
        ("rm", "gone"): ["removal-before-absent"],
        ("rm", "gone-below"): ["removal-before-absent"],
        ("cores", "no-core"): ["removal-before-absent"],
    }


def test_absent_check_comes_after_a_move_of_its_path(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
moves: [{id: mv, src: "a:incoming/", dst: "a:runs/"}]
checks:
  - {id: gone, absent: "a:incoming/mesh.cas"}
  - {id: there, exists: "a:runs/mesh.cas"}
""",
    )
    assert edges(result.graph) == {
        ("mv", "gone"): ["move-before-absent"],
        ("mv", "there"): ["write-before-read"],
    }


def test_reads_stay_before_removals_of_what_they_read(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies: [{id: upload, src: "s:out/", dst: "a:out/"}]
checks: [{id: seen, exists: "s:out/summary.csv"}]
removals: [{id: rm, path: "s:out/"}]
""",
    )
    assert edges(result.graph) == {
        ("upload", "rm"): ["access-before-removal"],
        ("seen", "rm"): ["access-before-removal"],
    }


def test_explicit_needs_wins_over_an_inferred_edge_the_other_way(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies:
  - {id: stage, src: "s:new.txt", dst: "a:site/index.html", needs: [publish]}
  - {id: publish, src: "a:site/index.html", dst: "s:published.html"}
""",
    )
    assert edges(result.graph) == {("publish", "stage"): ["needs"]}
    assert result.overridden == {("stage", "publish"): ["write-before-read"]}
    (note,) = result.notes
    assert note.code == "needs-override"
    assert (note.location.line, note.location.col) == (7, 69)
    assert note.message == (
        "'stage' needs 'publish': this overrides write-before-read ('stage' writes "
        "a:site/index.html, 'publish' reads a:site/index.html), so 'publish' runs first"
    )


def test_override_through_a_chain_of_needs_names_the_chain(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
removals: [{id: clean, path: "a:out/", needs: [mid]}]
checks: [{id: mid, exists: "s:flag", needs: [fill]}]
copies: [{id: fill, src: "s:in/", dst: "a:out/"}]
""",
    )
    assert result.overridden == {("clean", "fill"): ["clean-before-write"]}
    (note,) = result.notes
    assert (note.location.line, note.location.col) == (6, 48)
    assert note.message == (
        "'clean' needs 'fill' (through 'mid'): this overrides clean-before-write ('clean' "
        "removes a:out/, 'fill' writes a:out/), so 'fill' runs first"
    )


def test_needs_in_the_same_direction_gives_no_note(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
removals: [{id: clean, path: "a:out/"}]
copies: [{id: fill, src: "s:in/", dst: "a:out/", needs: [clean]}]
""",
    )
    assert edges(result.graph) == {("clean", "fill"): ["needs", "clean-before-write"]}
    assert result.notes == []
    assert result.overridden == {}


def test_glob_removal_orders_only_matching_paths(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies:
  - {id: core, src: "s:core.1", dst: "a:core.1"}
  - {id: other, src: "s:out.1", dst: "a:out.1"}
removals: [{id: rm, path: "s:core.*"}]
""",
    )
    assert edges(result.graph) == {("core", "rm"): ["access-before-removal"]}


def test_move_comes_after_every_access_below_its_source(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
checks: [{id: seen, exists: "a:incoming/x/mesh.cas"}]
moves: [{id: mv, src: "a:incoming/", dst: "a:runs/"}]
""",
    )
    assert edges(result.graph) == {("seen", "mv"): ["access-before-move"]}


def test_cycle_is_reported_with_rules_and_locations(write_plan) -> None:
    path = write_plan(
        HEADER
        + """\
copies:
  - {id: one, src: "s:a", dst: "s:b", needs: [three]}
  - {id: two, src: "s:b", dst: "s:c"}
  - {id: three, src: "s:c", dst: "s:d"}
"""
    )
    with pytest.raises(PlanError) as caught:
        compile_plan(load_plan(path, env={}))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "cycle"
    assert diagnostic.message == (
        "cycle: one (7:5) -[write-before-read]-> two (8:5) -[write-before-read]-> three (9:5)"
        " -[needs]-> one (7:5)"
    )
    assert (diagnostic.location.line, diagnostic.location.col) == (7, 5)


def test_files_copied_into_one_directory_do_not_conflict(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies:
  - {id: one, src: "s:a.txt", dst: "a:in/"}
  - {id: two, src: "s:b.txt", dst: "a:in/"}
""",
    )
    assert result.graph.number_of_edges() == 0


def test_ordered_writers_of_one_path_are_fine(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
copies:
  - {id: one, src: "s:a", dst: "a:f"}
  - {id: two, src: "s:b", dst: "a:f", needs: [one]}
""",
    )
    assert edges(result.graph) == {("one", "two"): ["needs"]}


def test_execution_order_follows_generation_then_priority_then_file_order(write_plan) -> None:
    result = compiled(
        write_plan,
        """\
checks:
  - {id: late, exists: "s:x", priority: 200}
  - {id: first, exists: "s:y"}
  - {id: early, exists: "s:z", priority: 5}
directories: [{id: mk, path: "s:y"}]
""",
    )
    assert [a.id for a in result.actions_in_order()] == ["early", "mk", "late", "first"]


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_graph_command_prints_every_node_and_rule(write_plan, run_cli, fmt: str) -> None:
    path = write_plan(
        HEADER
        + """\
copies: [{id: cp, src: "s:out/", dst: "a:runs/out/"}]
checks: [{id: ok, exists: "a:runs/out/summary.csv"}]
"""
    )
    result = run_cli("graph", path, "--format", fmt)
    assert result.code == 0, result.stderr
    if fmt == "json":
        document = json.loads(result.stdout)
        assert document["format_version"] == 1
        assert [n["id"] for n in document["nodes"]] == ["cp", "ok"]
        assert document["edges"] == [
            {"from": "cp", "to": "ok", "rules": ["write-before-read"], "overridden": False}
        ]
    elif fmt == "mermaid":
        assert result.stdout.splitlines() == [
            "flowchart TD",
            '    n0["cp (copy)"]',
            '    n1["ok (check)"]',
            "    n0 -->|write-before-read| n1",
        ]
    else:
        assert '"cp" -> "ok" [label="write-before-read", style=dashed];' in result.stdout


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_graph_shows_an_edge_overridden_by_needs(write_plan, run_cli, fmt: str) -> None:
    path = write_plan(
        HEADER
        + """\
copies:
  - {id: stage, src: "s:new.txt", dst: "a:site/index.html", needs: [publish]}
  - {id: publish, src: "a:site/index.html", dst: "s:published.html"}
"""
    )
    result = run_cli("graph", path, "--format", fmt)
    assert result.code == 0, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["edges"] == [
            {"from": "publish", "to": "stage", "rules": ["needs"], "overridden": False},
            {"from": "stage", "to": "publish", "rules": ["write-before-read"], "overridden": True},
        ]
    elif fmt == "mermaid":
        assert result.stdout.splitlines()[-2:] == [
            "    n0 --> n1",
            "    n1 -.->|overridden by needs: write-before-read| n0",
        ]
    else:
        assert result.stdout.splitlines()[-3:-1] == [
            '    "publish" -> "stage";',
            '    "stage" -> "publish" [label="overridden by needs: write-before-read", '
            "style=dashed, color=red, fontcolor=red, constraint=false];",
        ]


def test_graph_of_an_invalid_plan_exits_2_with_located_errors(write_plan, run_cli) -> None:
    path = write_plan(HEADER + "copies: [{id: cp, src: 'nope:x', dst: 'a:y'}]\n")
    result = run_cli("graph", path)
    assert result.code == 2
    assert f"{path}:6:24: error: copies[0].src: unknown storage 'nope'; declared: a, alias, s" in (
        result.stderr
    )
