"""Generate large, valid plans for benchmarks and scale tests (seeded, deterministic)."""

from __future__ import annotations

import random
from pathlib import Path


def generate_plan(actions: int, seed: int = 7) -> str:
    """A plan of about `actions` actions mixing every kind, with inferred edges between them."""
    rng = random.Random(seed)
    dirs = max(1, actions // 100)
    lines = [
        "version: 1",
        f"name: generated-{actions}",
        "storages:",
        "  scratch: {remote: local, root: ./data}",
        "  archive: {remote: any, root: projects/archive}",
        "directories:",
    ]
    lines += [f"  - archive:out/d{d}" for d in range(dirs)]
    n_copies = actions - dirs - 3 * (actions // 20)
    lines.append("copies:")
    for i in range(max(0, n_copies)):
        d = rng.randrange(dirs)
        lines.append(
            f"  - {{id: c{i}, src: scratch:in/d{d}/f{i}.dat, dst: archive:out/d{d}/f{i}.dat}}"
        )
    lines.append("metadata:")
    for i in range(actions // 20):
        lines.append(
            f"  - {{id: m{i}, path: archive:out/d{rng.randrange(dirs)}, set: {{batch: {i}}}}}"
        )
    lines.append("checks:")
    for i in range(actions // 20):
        lines.append(f"  - {{id: k{i}, exists: archive:out/d{rng.randrange(dirs)}/f{i}.dat}}")
    lines.append("removals:")
    for i in range(actions // 20):
        lines.append(f"  - {{id: r{i}, path: scratch:in/d{rng.randrange(dirs)}/f{i}.dat}}")
    return "\n".join(lines) + "\n"


def write_plan(path: Path, actions: int, seed: int = 7) -> Path:
    """Write a generated plan to `path`."""
    path.write_text(generate_plan(actions, seed), encoding="utf-8")
    return path
