"""Inferred edges that an explicit `needs` overrides: kept out of the DAG (the override can be
meant: publish the old file before overwriting it), but said out loud as located notes
(issue 10, item 3) and drawn by `planner graph`."""

from __future__ import annotations

from dataclasses import dataclass

from planner.compile import dag
from planner.compile.accesses import VERBS, Access
from planner.errors import Diagnostic
from planner.plan.model import Action

OVERRIDE_CODE = "needs-override"


@dataclass(frozen=True, slots=True)
class Override:
    """An inferred edge `first -> then` by `rule` that `needs` reversed."""

    first: Access
    then: Access
    rule: str


class ExplicitOrder:
    """Reachability along `needs` edges only, computed lazily per node."""

    def __init__(self, needs_edges: list[tuple[str, str]]) -> None:
        self.needs = dag.DiGraph(needs_edges) if needs_edges else None
        self.cache: dict[str, set[str]] = {}

    def orders(self, first: str, then: str) -> bool:
        """True when `needs` already put `first` before `then`."""
        if self.needs is None or first not in self.needs or then not in self.needs:
            return False
        if first not in self.cache:
            self.cache[first] = dag.descendants(self.needs, first)
        return then in self.cache[first]

    def chain(self, first: str, then: str) -> list[str]:
        """The shortest `needs` chain from `first` to `then` (both included)."""
        assert self.needs is not None
        path: list[str] = dag.shortest_path(self.needs, first, then)
        return path


def override_note(override: Override, order: ExplicitOrder, by_id: dict[str, Action]) -> Diagnostic:
    """The note for one override, located at the `needs` entry that starts the reversal:
    `'stage' needs 'publish': this overrides write-before-read ('stage' writes s:f, 'publish'
    reads s:f), so 'publish' runs first`."""
    first, then = override.first, override.then
    chain = order.chain(then.action, first.action)
    holder = by_id[first.action]
    named = chain[-2]
    index = holder.needs.index(named)
    location = holder.needs_at[index] if index < len(holder.needs_at) else holder.location
    through = ", ".join(f"'{a}'" for a in chain[1:-1])
    via = f" (through {through})" if through else ""
    message = (
        f"'{first.action}' needs '{then.action}'{via}: this overrides {override.rule} "
        f"('{first.action}' {VERBS[first.kind]} {first.text}, "
        f"'{then.action}' {VERBS[then.kind]} {then.text}), so '{then.action}' runs first"
    )
    return Diagnostic(location, message, OVERRIDE_CODE)
