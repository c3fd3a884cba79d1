"""The report of tests/bench/load_worker.py: what the clients saw (Tally), percentiles, and the
PASS/FAIL checks against issue 9's targets."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import dataclass, field

RSS_LIMIT_MIB = 300.0
STORAGE_P99_LIMIT_MS = 100.0
WINDOW = 10.0  # seconds per window of the "throughout" check


@dataclass
class Tally:
    """What the clients saw: per-kind latencies (with their start times), status counts."""

    latencies: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    retry_after_waits: list[float] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def worst_window_p99(samples: list[tuple[float, float]], start: float) -> tuple[float, int]:
    """The highest p99 of any WINDOW-second window (and which window, 0-based)."""
    windows: dict[int, list[float]] = defaultdict(list)
    for at, latency in samples:
        windows[int((at - start) // WINDOW)].append(latency)
    if not windows:
        return 0.0, 0
    worst = max(windows, key=lambda w: percentile(windows[w], 0.99))
    return percentile(windows[worst], 0.99), worst


def report(
    args: argparse.Namespace,
    tally: Tally,
    kinds: list[str],
    *,
    elapsed: float,
    started: float,
    rss: tuple[float, float, float, float],
    cpu: tuple[float, float],
    exit_code: int,
    unfinished: int,
    log: str,
) -> int:
    rss_start, rss_end, rss_max, peak = rss
    total = sum(len(v) for v in tally.latencies.values())
    print(
        f"load_worker: {args.clients} clients ({args.users} users) x {elapsed:.0f} s against "
        "planner worker serve"
    )
    print(
        f"worker RSS: start {rss_start:.1f} MiB, end {rss_end:.1f} MiB, max {rss_max:.1f} MiB "
        f"(sampled every 0.5 s), VmHWM {peak:.1f} MiB"
    )
    print(
        f"CPU: worker {cpu[0] / elapsed:.0%} of one core, load generator "
        f"{cpu[1] / elapsed:.0%} of one core ({args.procs} processes)"
    )
    print(f"requests: {total} in {elapsed:.1f} s = {total / elapsed:.0f} req/s")
    print(f"operations accepted: {tally.accepted}")
    if tally.retry_after_waits:
        waits = tally.retry_after_waits
        print(
            f"Retry-After honoured {len(waits)} times: p50 {percentile(waits, 0.5):.0f} s, "
            f"max {max(waits):.0f} s"
        )
    print(f"{'kind':<28}{'count':>9}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind in kinds:
        values = [latency for _, latency in tally.latencies.get(kind, [])]
        if values:
            print(
                f"{kind:<28}{len(values):>9}{percentile(values, 0.5) * 1000:>10.1f}"
                f"{percentile(values, 0.99) * 1000:>10.1f}{max(values) * 1000:>10.1f}"
            )
    print("status codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items())))
    for what, count in tally.unexpected.most_common(10):
        print(f"  unexpected: {count} x {what}")

    storage = tally.latencies.get("GET /storage", [])
    storage_p99 = percentile([latency for _, latency in storage], 0.99) * 1000
    window_p99, window = worst_window_p99(storage, started)
    checks = [
        (f"worker RSS max {max(rss_max, peak):.1f} MiB < {RSS_LIMIT_MIB:.0f} MiB",
         max(rss_max, peak) < RSS_LIMIT_MIB),
        (f"no 5xx but 503 with Retry-After, no errors ({sum(tally.unexpected.values())} seen)",
         not tally.unexpected),
        (f"GET /storage p99 {storage_p99:.1f} ms < {STORAGE_P99_LIMIT_MS:.0f} ms",
         bool(storage) and storage_p99 < STORAGE_P99_LIMIT_MS),
        (f"GET /storage p99 in every {WINDOW:.0f} s window (worst: window {window}, "
         f"{window_p99 * 1000:.1f} ms) < {STORAGE_P99_LIMIT_MS:.0f} ms",
         window_p99 * 1000 < STORAGE_P99_LIMIT_MS),
        (f"SIGTERM: exit {exit_code} (0 expected)", exit_code == 0),
        (f"after SIGTERM: {unfinished} operations queued or running in worker.db (0 expected)",
         unfinished == 0),
    ]  # fmt: skip
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    if "Traceback" in log:
        print("note: the worker's log holds a traceback:\n" + log[-3000:])
    passed = all(ok for _, ok in checks)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1
