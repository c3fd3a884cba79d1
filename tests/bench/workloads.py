"""The workloads of issue 12's targets that run planner with its embedded worker, as a user
does: the import floor, the 20,000 x 4 KiB tree (fresh, in sync, preview), the 256 MiB file,
the quickstart with nothing to do, scale (10k and 100k x 1 KiB) and plans of many single-file
copies. Each has a `measure_*` (runs planner and its baselines, `repeat` times, interleaved) and
a `table_*` (the medians against the targets). Destinations are fresh for every repeat and each
plan has its own folder (journal and embedded worker state), removed after the repeat."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench import fixtures as fx
from tests.bench.measure import Sample
from tests.bench.report import Recorder, Row, Table, ratio_row

KIB = 1024


@dataclass(frozen=True)
class Sizes:
    """The sizes of the workloads: the full ones are the issue's."""

    files: int  # files of 4 KiB in the tree copied fresh, in sync, previewed
    big_mib: int
    scale: tuple[int, int]  # files of 1 KiB, small then large
    actions: tuple[int, int]  # single-file copies in a plan, few then many


FULL = Sizes(files=20_000, big_mib=256, scale=(10_000, 100_000), actions=(500, 2_000))
QUICK = Sizes(files=400, big_mib=8, scale=(200, 1_000), actions=(10, 40))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Bench:
    """Where and how often: the recorder, the scratch folder, the sizes, the repeats."""

    rec: Recorder
    base: Path
    sizes: Sizes
    repeat: int
    old: Path | None = None  # another checkout, for the fallback's "no slower than today"
    routes: dict[str, dict[str, int]] = field(default_factory=dict)  # requests by route
    flags_missing: dict[str, list[str]] = field(default_factory=dict)  # PLAIN_WORKER's, by run
    served: dict[str, str] = field(default_factory=dict)  # the planner package each worker ran
    _sources: dict[str, Path] = field(default_factory=dict)

    def source(self, name: str, make: Callable[[Path], Path]) -> Path:
        """The source tree `name`, made once by `make(base)`."""
        if name not in self._sources:
            say(f"  making source {name}")
            self._sources[name] = make(self.base / "sources")
        return self._sources[name]

    def out(self, name: str) -> Path:
        """A destination `name` (not made: the tool makes it), in a folder that exists."""
        (self.base / "out").mkdir(exist_ok=True)
        return self.base / "out" / name

    def plans(self, name: str) -> Path:
        return self.base / "plans" / name

    def clean(self) -> None:
        """Remove the destinations and plan folders of a repeat (not the sources)."""
        for folder in ("out", "plans"):
            shutil.rmtree(self.base / folder, ignore_errors=True)

    def floor(self) -> float | None:
        return self.rec.median("floor")


def run_document(sample: Sample | None) -> dict[str, object] | None:
    """planner's `--format json` document of a run."""
    return None if sample is None else dict(json.loads(sample.stdout))


def _action_seconds(document: dict[str, object] | None) -> float | None:
    if document is None:
        return None
    actions = document["actions"]
    assert isinstance(actions, list), actions
    return float(actions[0]["duration"])


# -- the import floor and the quickstart ------------------------------------------------------
def measure_floor(b: Bench) -> None:
    """The import floor (called before and after the other workloads: both count)."""
    for _ in range(b.repeat):
        b.rec.run("floor", fx.floor_command())


def measure_quickstart(b: Bench) -> None:
    plan = fx.quickstart(b.base / "quickstart")
    if b.rec.run("quickstart:first", fx.planner_run(plan)) is None:
        b.rec.fail("quickstart:again", "its first run failed")
    for _ in range(b.repeat):
        b.rec.run("quickstart:again", fx.planner_run(plan))


def table_fixed(b: Bench, quickstart: bool) -> Table:
    """The floor; the quickstart against it when it was measured."""
    rows = [Row("import floor", b.floor(), note=f'`python -c "{fx.FLOOR_IMPORTS}"`')]
    if quickstart:
        rows.append(
            ratio_row(
                b.rec,
                "quickstart, nothing to do (whole command)",
                "quickstart:again",
                "floor",
                "import floor",
                limit=1.5,
            )
        )
    return Table("Fixed cost: the import floor and the quickstart", rows)


# -- the 4 KiB tree ---------------------------------------------------------------------------
def measure_small(b: Bench) -> None:
    n_files = b.sizes.files
    src = b.source("small", lambda base: fx.tree(base, "small", n_files, 4 * KIB))
    rec = b.rec
    for n in range(b.repeat):
        say(f"  small tree, repeat {n + 1}/{b.repeat}")
        plan = fx.tree_plan(b.plans("small"), src, b.out("planner"))
        document = run_document(rec.run("small:run", fx.planner_run(plan)))
        if document is None:
            for key in ("small:rerun", "small:plan"):
                rec.fail(key, "the fresh run failed")
        else:
            rec.add("small:action", _action_seconds(document) or 0.0)
            rec.run("small:rerun", fx.planner_run(plan))
            rec.run("small:plan", fx.planner_plan(plan, in_sync=True))
        rec.run("small:cp", fx.cp(src, b.out("cp")))
        if fx.have("rsync"):
            rec.run("small:rsync", fx.rsync(src, b.out("rsync")))
            rec.run("small:rsync-insync", fx.rsync(src, b.out("rsync")))
            rec.run("small:rsync-n", fx.rsync(src, b.out("rsync"), dry_run=True))
        if fx.have("rclone"):
            rec.run("small:rclone", fx.rclone(src, b.out("rclone")))
            rec.run("small:rclone-insync", fx.rclone(src, b.out("rclone")))
            rec.run("small:rclone-n", fx.rclone(src, b.out("rclone"), dry_run=True))
        b.clean()


def table_small(b: Bench) -> Table:
    rec, floor = b.rec, b.floor()
    rows = [
        ratio_row(rec, "fresh: planner run", "small:run", "small:rclone", "rclone copy", limit=1.0),
        ratio_row(rec, "fresh: planner run", "small:run", "small:rsync", "rsync -a", limit=2.0),
        ratio_row(rec, "fresh: planner run", "small:run", "small:cp", "cp -r"),
        ratio_row(
            rec,
            "in sync: planner run, beyond the floor",
            "small:rerun",
            "small:rclone-insync",
            "rclone copy",
            limit=1.5,
            minus=floor,
        ),
        ratio_row(rec, "in sync: planner run", "small:rerun", "small:rsync-insync", "rsync -a"),
        ratio_row(
            rec,
            "in sync: planner plan, beyond the floor",
            "small:plan",
            "small:rclone-n",
            "rclone copy --dry-run",
            limit=1.5,
            minus=floor,
        ),
        ratio_row(rec, "in sync: planner plan", "small:plan", "small:rsync-n", "rsync -an"),
    ]
    title = f"{b.sizes.files:,} x 4 KiB, one directory copy (whole commands)"
    notes = [f"the copy action alone took {_s(rec.median('small:action'))} (from planner's JSON)"]
    return Table(title, rows, notes)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


# -- the big file -----------------------------------------------------------------------------
def measure_big(b: Bench) -> None:
    src = b.source("big", lambda base: fx.big(base, b.sizes.big_mib))
    rec = b.rec
    for n in range(b.repeat):
        say(f"  big file, repeat {n + 1}/{b.repeat}")
        plan = fx.tree_plan(b.plans("big"), src, b.out("planner"))
        seconds = _action_seconds(run_document(rec.run("big:run", fx.planner_run(plan))))
        if seconds is not None:
            rec.add("big:action", seconds)
        rec.run("big:cp", fx.cp(src, b.out("cp")))
        if fx.have("rclone"):
            rec.run("big:rclone", fx.rclone(src, b.out("rclone")))
        b.clean()


def table_big(b: Bench) -> Table:
    rec = b.rec
    rows = [
        ratio_row(
            rec,
            "planner run, beyond the floor",
            "big:run",
            "big:rclone",
            "rclone copy",
            limit=1.0,
            minus=b.floor(),
        ),
        ratio_row(rec, "planner run", "big:run", "big:cp", "cp -r"),
        ratio_row(rec, "the copy action alone", "big:action", "big:cp", "cp -r", limit=1.25),
    ]
    return Table(f"{b.sizes.big_mib} MiB, one file", rows)


# -- scale ------------------------------------------------------------------------------------
def measure_scale(b: Bench) -> None:
    rec = b.rec
    for size in b.sizes.scale:
        src = b.source(f"scale{size}", lambda base: fx.tree(base, f"scale{size}", size, KIB))  # noqa: B023
        for n in range(b.repeat):
            say(f"  scale {size:,}, repeat {n + 1}/{b.repeat}")
            plan = fx.tree_plan(b.plans("scale"), src, b.out("planner"))
            rec.run(f"scale{size}:run", fx.planner_run(plan), rss=True)
            if fx.have("rsync"):
                rec.run(f"scale{size}:rsync", fx.rsync(src, b.out("rsync")))
            b.clean()


def table_scale(b: Bench) -> Table:
    rec = b.rec
    small, large = b.sizes.scale
    rows = [
        ratio_row(rec, f"{n:,} files: planner run", f"scale{n}:run", f"scale{n}:rsync", "rsync -a")
        for n in (small, large)
    ]
    growth = _quotient(rows[1].ratio, rows[0].ratio)
    rows.append(
        Row(
            f"time ratio at {large:,} / at {small:,}",
            growth,
            "x",
            ratio=growth,
            limit=1.2,
            note="planner/rsync ratios, from the rows above",
        )
    )
    peaks = [rec.median(f"scale{n}:run/rss") for n in (small, large)]
    for n, peak in zip((small, large), peaks, strict=True):
        gnu = rec.median(f"scale{n}:run/gnu_rss")
        note = "planner + its worker, sum of their peaks" + (
            f"; GNU time %M (largest process) {gnu:.0f} MiB" if gnu is not None else ""
        )
        rows.append(Row(f"{n:,} files: peak RSS", peak, "MiB", note=note))
    memory = _quotient(peaks[1], peaks[0])
    rows.append(Row(f"peak RSS at {large:,} / at {small:,}", memory, "x", ratio=memory, limit=1.5))
    return Table(f"Scale: {small:,} and {large:,} x 1 KiB, fresh", rows)


def _quotient(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# -- many actions -----------------------------------------------------------------------------
KINDS = ("preview", "run", "rerun")  # the preview is of the fresh destination, before the run


def measure_many(b: Bench) -> None:
    rec = b.rec
    for count in b.sizes.actions:
        src = b.source(f"flat{count}", lambda base: fx.flat(base, f"flat{count}", count, 4 * KIB))  # noqa: B023
        for n in range(b.repeat):
            say(f"  {count:,} actions, repeat {n + 1}/{b.repeat}")
            for shape in ("many", "dir"):
                if shape == "many":
                    plan = fx.many_plan(b.plans(shape), src, b.out(shape), count)
                else:
                    plan = fx.tree_plan(b.plans(shape), src, b.out(shape))
                key = f"{shape}{count}"
                rec.run(f"{key}:preview", fx.planner_plan(plan, in_sync=False), rss=True)
                if rec.run(f"{key}:run", fx.planner_run(plan), rss=True) is None:
                    rec.fail(f"{key}:rerun", "the run failed")
                rec.run(f"{key}:rerun", fx.planner_run(plan), rss=True)
            b.clean()


def table_many(b: Bench) -> Table:
    rec = b.rec
    few, many = b.sizes.actions
    rows: list[Row] = []
    for count in (few, many):
        for kind in KINDS:
            rows.append(
                ratio_row(
                    rec,
                    f"{count:,} single-file copies: {kind}",
                    f"many{count}:{kind}",
                    f"dir{count}:{kind}",
                    "one directory copy",
                    limit=2.0 if count == many else None,
                )
            )
    # linear in actions: 500 -> 2,000 (4x) within 4.5x; other sizes scaled alike
    limit = 4.5 * (many / few) / 4
    for kind in KINDS:
        growth = _quotient(rec.median(f"many{many}:{kind}"), rec.median(f"many{few}:{kind}"))
        rows.append(
            Row(f"{kind}: {many:,} / {few:,} actions", growth, "x", ratio=growth, limit=limit)
        )
    peaks = [rec.median(f"many{many}:{kind}/rss") for kind in KINDS]
    measured = [p for p in peaks if p is not None]
    peak = max(measured) if len(measured) == len(KINDS) else None
    rows.append(
        Row(
            f"{many:,} single-file copies: peak RSS",
            peak,
            "MiB",
            limit=200.0,
            absolute=True,
            note="the largest of preview, run, re-run; planner + its worker, sum of their peaks",
        )
    )
    notes = [f"{few:,} and {many:,} files of 4 KiB in one directory; plans of `for_each` copies"]
    return Table("Many actions: single-file copies against one directory copy", rows, notes)
