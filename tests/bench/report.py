"""What the targets harness collects and prints: series of measurements with their medians
(Recorder), and per workload a table of rows, each a figure of planner beside its baseline, the
ratio, the target and PASS/FAIL; rendered as markdown or as JSON."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench import measure


class Recorder:
    """Series of figures by key (seconds; `<key>/rss` and `<key>/gnu_rss` in MiB for runs with
    `rss`; anything `add`ed). A command that fails or times out records its error under its key
    and is not run again: what depends on it reads None."""

    def __init__(self, timeout: float, env: dict[str, str], cwd: Path) -> None:
        self.timeout = timeout
        self.env = env
        # never a checkout: `python -m`/`-c` import from the working directory first, which
        # would shadow PYTHONPATH (--old) with this checkout
        self.cwd = cwd
        self.series: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, str] = {}

    def run(
        self,
        key: str,
        command: list[str],
        *,
        cwd: Path | None = None,
        rss: bool = False,
        ok_codes: tuple[int, ...] = (0,),
        env: dict[str, str] | None = None,
    ) -> measure.Sample | None:
        """Run and record `command` under `key`; None when it failed now or before."""
        if key in self.errors:
            return None
        try:
            sample = measure.run(
                command,
                timeout=self.timeout,
                cwd=cwd or self.cwd,
                env=env or self.env,
                rss=rss,
                ok_codes=ok_codes,
            )
        except measure.CommandFailed as exc:
            self.errors[key] = str(exc)
            print(f"  ! {key}: {exc}", file=sys.stderr, flush=True)
            return None
        self.add(key, sample.seconds)
        if sample.rss_sum is not None:
            self.add(f"{key}/rss", sample.rss_sum)
        if sample.rss_max is not None:
            self.add(f"{key}/gnu_rss", sample.rss_max)
        return sample

    def fail(self, key: str, why: str) -> None:
        """Record that `key` could not be measured (a setup step failed)."""
        self.errors.setdefault(key, why)

    def add(self, key: str, value: float) -> None:
        self.series[key].append(value)

    def median(self, key: str) -> float | None:
        base = key.split("/")[0]
        if base in self.errors or not self.series.get(key):
            return None
        return statistics.median(self.series[key])

    def error(self, key: str) -> str:
        return self.errors.get(key.split("/")[0], "")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}".strip()


def _times(limit: float) -> str:
    """1.0x, 1.25x, 4.5x: at least one decimal, at most two."""
    text = f"{limit:.2f}".rstrip("0")
    return f"{text}0x" if text.endswith(".") else f"{text}x"


@dataclass
class Row:
    """planner's figure (`value`), a baseline's, their ratio, and the target (ratio ≤ limit)."""

    what: str
    value: float | None
    unit: str = "s"
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None
    limit: float | None = None
    note: str = ""
    absolute: bool = False  # the target bounds `value` itself (in `unit`), not the ratio

    @property
    def result(self) -> str:
        if self.limit is None:
            return ""
        checked = self.value if self.absolute else self.ratio
        if checked is None:
            return "FAIL"  # not measured: a failure or a timeout (see the note)
        return "PASS" if checked <= self.limit else "FAIL"

    @property
    def target(self) -> str:
        if self.limit is None:
            return ""
        return f"≤ {_fmt(self.limit, self.unit)}" if self.absolute else f"≤ {_times(self.limit)}"

    def cells(self) -> list[str]:
        base = f"{self.baseline} {_fmt(self.baseline_value, self.unit)}" if self.baseline else ""
        return [
            self.what,
            _fmt(self.value, self.unit),
            base,
            "" if self.ratio is None else f"{self.ratio:.2f}",
            self.target,
            self.result,
            self.note,
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "what": self.what,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_value": self.baseline_value,
            "ratio": self.ratio,
            "limit": self.limit,
            "target": self.target,
            "result": self.result,
            "note": self.note,
        }


def ratio_row(
    rec: Recorder,
    what: str,
    ours: str,
    theirs: str,
    baseline: str,
    *,
    limit: float | None = None,
    minus: float | None = None,
    unit: str = "s",
) -> Row:
    """A row of median(`ours`) (less `minus`, the import floor, when given) against
    median(`theirs`), with their ratio."""
    value, other = rec.median(ours), rec.median(theirs)
    if value is not None and minus is not None:
        value -= minus
    ratio = value / other if value is not None and other else None
    note = rec.error(ours) or rec.error(theirs)
    if minus is not None and not note:
        note = f"planner {value + minus:.3f} s less the floor" if value is not None else "no floor"
    return Row(what, value, unit, baseline, other, ratio, limit, note)


@dataclass
class Table:
    """One workload's rows."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        header = ["measure", "planner", "baseline", "ratio", "target", "result", "note"]
        lines = [f"### {self.title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row.cells()) + " |" for row in self.rows]
        lines += ["", *(f"- {note}" for note in self.notes)] if self.notes else []
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "rows": [row.as_json() for row in self.rows],
            "notes": self.notes,
        }
