"""Saved plans end to end, below the CLI: the preview that records what it read and decided
(`observed_preview`), taken when a plan is saved and again before a saved plan runs (the two
are compared by staleness.py; the run's engine is guard.py's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.compile import CompiledPlan
from planner.runner.api_engine import ApiEngine
from planner.runner.observe import RecordingPreview
from planner.runner.preview import PreviewEngine
from planner.runner.result_data import result_data
from planner.runner.results import RunResult
from planner.runner.session import SessionOptions, plan_dir_of, run_preview


@dataclass
class Observed:
    """A preview with what it read (`observations`), the writes it modelled, and the worker."""

    result: RunResult
    observations: dict[str, Any]
    writes: list[list[Any]]
    worker: dict[str, Any]

    def parts(self) -> dict[str, Any]:
        """The parts a saved plan keeps and a staleness check compares."""
        return {
            "observations": self.observations,
            "writes": self.writes,
            "worker": self.worker,
            "result": result_data(self.result),
        }


def compiled_actions(compiled: CompiledPlan) -> list[dict[str, Any]]:
    """The compiled actions in execution order: id, kind, src/dst when they have them, needs
    (all of them: written and inferred)."""
    found = []
    for action in compiled.actions_in_order():
        entry: dict[str, Any] = {"id": action.id, "kind": action.kind}
        for end in ("src", "dst"):
            path = getattr(action, end, None)
            if path is not None:
                entry[end] = str(path)
        entry["needs"] = sorted(compiled.graph.predecessors(action.id))
        found.append(entry)
    return found


async def _worker(
    real: ApiEngine, compiled: CompiledPlan, options: SessionOptions
) -> dict[str, Any]:
    """What the preview ran against: the worker (its URL, or `embedded`), its build and
    storages, where the embedded worker keeps `any`, and the roots of the plan's storages."""
    status = await real.client.status()
    storages = await real.client.storages()
    any_root = None
    if not options.api_url:
        storage = options.storage or plan_dir_of(compiled) / ".planner" / "storage"
        any_root = str(storage.resolve())
    return {
        "api": options.api_url or "embedded",
        "build": status.build_info.model_dump(),
        "storages": sorted(f"{s.name} ({s.type})" for s in storages),
        "any_root": any_root,
        "roots": {
            name: f"{s.remote}:{s.root}" for name, s in sorted(compiled.plan.storages.items())
        },
    }


async def observed_preview(compiled: CompiledPlan, options: SessionOptions) -> Observed:
    """The preview of `compiled` (as `run_preview`), recording what it read and would write.

    Raises:
        UsageError: exit 2; ApiUnreachableError, AuthError: exit 3.
    """
    made: list[RecordingPreview] = []
    worker: dict[str, Any] = {}

    async def recording(real: ApiEngine) -> PreviewEngine:
        worker.update(await _worker(real, compiled, options))
        made.append(RecordingPreview(real))
        return made[0]

    result = await run_preview(compiled, options, recording)
    (engine,) = made
    return Observed(result, engine.observer.observations, engine.writes, worker)
