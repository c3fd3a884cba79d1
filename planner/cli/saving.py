"""`planner plan --out FILE`: the preview, recorded, saved as a plan file (docs/preview.md,
"Saved plans")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from planner.cli.options import parse_vars

if TYPE_CHECKING:
    from planner.compile import CompiledPlan
    from planner.runner.results import RunResult
    from planner.runner.session import SessionOptions


def save_preview(
    compiled: CompiledPlan,
    options: SessionOptions,
    variables: tuple[str, ...],
    out: Path,
    where: str,
) -> RunResult:
    """Preview `compiled`, recording what it reads and decides, and save it all to `out`
    (atomically); the preview, to show as `planner plan` does.

    Raises:
        UsageError: `out` cannot be written; the preview's own errors.
    """
    from planner.render.preview import preview_document
    from planner.runner.saved_inputs import plan_inputs
    from planner.runner.saved_plan import new_document, write_saved
    from planner.runner.saved_session import compiled_actions, observed_preview

    plan = compiled.plan
    inputs = plan_inputs(plan.file, parse_vars(variables))
    observed = asyncio.run(observed_preview(compiled, options))
    document = new_document(
        plan={"file": plan.file, "name": plan.name, "digest": plan.digest},
        inputs=inputs,
        actions=compiled_actions(compiled),
        where=where,
        # the options that change what the preview decides: the check and the run use them too
        options={"max_delete": options.run.max_delete if options.run else None},
        preview=preview_document(observed.result, options.api_url),
        **observed.parts(),
    )
    write_saved(document, out)
    return observed.result
