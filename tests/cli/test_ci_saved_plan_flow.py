"""The CI recipes' review-then-apply flow, run for real with their own job scripts: the plan job
saves the plan as an artifact, the apply job applies that artifact exactly, or refuses it, changing
nothing, when a source changed since the review. Both jobs run in one checkout (on CI, the same
workspace path and the same worker); between them only the artifact's files travel."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.ci import CI, literal_env, planner_commands, run_script
from tests.helpers.trees import tree_bytes

SAVED = "planner.plan"
STALE_LINE = "the reviewed plan is stale"


@dataclass
class Flow:
    """A recipe's plan job and apply job: their scripts, their variables, the artifact between."""

    plan_script: str
    plan_env: dict[str, str]
    artifact: list[str]
    apply_script: str
    apply_env: dict[str, str]


def _step(job: dict[str, Any], *, name: str = "", uses: str = "") -> dict[str, Any]:
    found = [
        s
        for s in job["steps"]
        if (name and s.get("name") == name) or (uses and s.get("uses", "").startswith(uses))
    ]
    assert len(found) == 1, (name or uses, job["steps"])
    step: dict[str, Any] = found[0]
    return step


def github_flow(runner: Path) -> Flow:
    """The pull request's preview job and main's apply job of the GitHub recipe; runner holds
    the files GitHub gives a step (`$GITHUB_STEP_SUMMARY`, `$GITHUB_OUTPUT`)."""
    workflow = yaml.safe_load((CI / "github" / "planner.yml").read_text(encoding="utf-8"))
    preview, run = workflow["jobs"]["preview"], workflow["jobs"]["run"]
    upload = _step(preview, uses="actions/upload-artifact@")["with"]
    download = _step(run, uses="actions/download-artifact@")["with"]
    assert download["name"] == upload["name"]
    assert "steps.reviewed.outputs.run_id" in download["run-id"]  # the pull request's run
    files = {
        "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
        "GITHUB_OUTPUT": str(runner / "output"),
    }

    def env(job: dict[str, Any], step: dict[str, Any]) -> dict[str, str]:
        return {**literal_env(workflow.get("env"), job.get("env"), step.get("env")), **files}

    plan_step = _step(preview, name="Preview")
    apply_step = _step(run, name="Apply the reviewed plan")
    return Flow(
        plan_step["run"],
        env(preview, plan_step),
        upload["path"].split(),
        apply_step["run"],
        env(run, apply_step),
    )


def gitlab_flow(runner: Path) -> Flow:
    """The plan job and the apply job of the GitLab recipe (one pipeline: `needs: [plan]`)."""
    del runner
    workflow = yaml.safe_load((CI / "gitlab" / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    plan, apply = workflow["plan"], workflow["apply"]
    assert apply["needs"] == ["plan"]
    return Flow(
        "\n".join(plan["script"]),
        literal_env(workflow.get("variables"), plan.get("variables")),
        list(plan["artifacts"]["paths"]),
        "\n".join(apply["script"]),
        literal_env(workflow.get("variables"), apply.get("variables")),
    )


FLOWS = {"github": github_flow, "gitlab": gitlab_flow}


def test_the_recipes_save_the_plan_and_apply_the_saved_file(tmp_path: Path) -> None:
    for vendor, flow_of in FLOWS.items():
        flow = flow_of(tmp_path)
        plans = list(planner_commands(flow.plan_script))
        assert [c for c in plans if c[0] == "plan" and c[c.index("--out") + 1] == SAVED], vendor
        applies = list(planner_commands(flow.apply_script))
        assert [c for c in applies if c[:2] == ["run", SAVED]], vendor
        assert SAVED in flow.artifact, vendor


def _plan_and_keep_the_artifact(flow: Flow, checkout: Path, store: Path) -> str:
    """Run the plan job, then move its artifact's files out of the checkout (the upload); the
    markdown the job printed or summarised."""
    summary = Path(flow.plan_env.get("GITHUB_STEP_SUMMARY", store / "none"))
    summary.write_text("")  # each step has its own
    planned = run_script(flow.plan_script, checkout, flow.plan_env)
    assert planned.code == 0, planned.stdout + planned.stderr
    for name in flow.artifact:
        shutil.move(checkout / name, store / name)
    return planned.stdout + summary.read_text()


def _download(store: Path, checkout: Path) -> None:
    for path in store.iterdir():
        shutil.copy(path, checkout / path.name)


def _releases(checkout: Path) -> Path:
    return checkout / "examples" / "ci" / ".planner" / "storage" / "releases" / "staging" / "4711"


@pytest.mark.parametrize("vendor", FLOWS)
def test_the_reviewed_plan_is_applied_exactly(
    vendor: str, ci_checkout: Path, tmp_path: Path
) -> None:
    flow = FLOWS[vendor](tmp_path)
    store = tmp_path / "artifact"
    store.mkdir()

    shown = _plan_and_keep_the_artifact(flow, ci_checkout, store)

    assert "Plan: 3 files (61 B) to copy" in shown
    assert json.loads((store / SAVED).read_text())["planner_saved_plan"] == 1
    assert not (ci_checkout / SAVED).exists()
    _download(store, ci_checkout)
    applied = run_script(flow.apply_script, ci_checkout, flow.apply_env)
    assert applied.code == 0, applied.stdout + applied.stderr
    assert STALE_LINE not in applied.stdout + applied.stderr
    build = tree_bytes(ci_checkout / "build")
    assert tree_bytes(_releases(ci_checkout)) == build
    assert ET.parse(ci_checkout / "junit.xml").getroot().get("failures") == "0"


@pytest.mark.parametrize("vendor", FLOWS)
def test_a_plan_stale_since_review_is_refused_and_changes_nothing(
    vendor: str, ci_checkout: Path, tmp_path: Path
) -> None:
    flow = FLOWS[vendor](tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    _plan_and_keep_the_artifact(flow, ci_checkout, first)
    _download(first, ci_checkout)
    assert run_script(flow.apply_script, ci_checkout, flow.apply_env).code == 0
    released = tree_bytes(_releases(ci_checkout))
    logs = ci_checkout / "build" / "logs" / "logs.txt"
    logs.write_text("logs of the next build\n")
    shown = _plan_and_keep_the_artifact(flow, ci_checkout, second)
    assert "1 file (23 B) to overwrite" in shown  # what the reviewers saw
    logs.write_text("logs edited after the review\n")
    storage = ci_checkout / "examples" / "ci" / ".planner" / "storage"
    before = tree_bytes(storage)
    (ci_checkout / "junit.xml").unlink()
    _download(second, ci_checkout)

    refused = run_script(flow.apply_script, ci_checkout, flow.apply_env)

    assert refused.code == 1, refused.stdout + refused.stderr
    assert "planner: stale plan: " in refused.stderr
    assert f"local:{logs}: at plan time file, 23 B" in refused.stderr
    assert STALE_LINE in refused.stdout
    assert tree_bytes(storage) == before
    assert tree_bytes(_releases(ci_checkout)) == released
    assert not (ci_checkout / "junit.xml").exists()
