"""Every key below a path of an object store, listed in parallel lanes.

ListObjectsV2 answers a page of 1,000 keys at a time, each page asking for the one after it: a
big tree lists serially, and its first copy waits for a whole first page. So the listing first
asks for the path's top level (the "/" delimiter): its files and directories. Each directory is
then a lane of its own (the keys below it, a page at a time), LANES at a time, as rclone lists
directories with --checkers; with more than RANGES directories, runs of consecutive ones share a
lane (keys after the first, `offset`, up to the next run's: at most a page read past its end).
A small tree is listed at once; a tree of one directory lists as one lane, as before.

A top level with very many files answers late (obstore has no page-at-a-time delimiter listing:
it reads them all). So when it has not answered within FLAT_AFTER, lane 0 starts: every key from
the first, a page at a time, as a listing without lanes would; once the top level answers,
lane 0 is bounded to end where the first directory it has not reached starts, and only the
directories and files past that are listed apart. The top level's files are then read twice at
most, and lane 0 never waits for them.

A page of one lane says more than its keys: every key of that lane up to its last one is listed.
So a key `name` is *settled* (whether it is also a directory, with keys `name/...`, is known)
once its lane has listed past `name/`, or has ended: a lane ends where a directory of the top
level starts, and only the file of that directory's own name could have keys past the end; the
top level's directories are told before any lane but lane 0 starts and before lane 0 can end.
Callers copying while the listing runs (tree_early.py) start only settled keys."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.worker.objects.listing import PAGE

if TYPE_CHECKING:
    from obstore.store import ObjectStore

LANES = 8  # ListObjectsV2 requests at once (rclone: --checkers 8)
RANGES = 64  # lanes past lane 0, at most: a bound on the extra requests
FLAT_AFTER = 0.5  # seconds without the one-level listing's answer before lane 0 starts


@dataclass
class Batch:
    """What one step of the listing learnt: `keys` (of one lane, in key order), the keys now
    `settled` (of that lane, listed in this batch or before), the top level's `directories`
    (full keys, no trailing "/"; told once, before any lane past lane 0 starts)."""

    keys: Sequence[Any] = ()  # obstore ObjectMeta
    settled: Sequence[Any] = ()
    directories: Sequence[str] = ()


@dataclass
class _Lane:
    """Keys below `below` (None: the listing's path), after `after` (None: from the first), from
    `lower` on, before `upper` (None: to the end); `files`: with the top level's files (lane 0
    only). Lane 0's `upper` is set while it runs, under `lock`."""

    below: str | None = None
    after: str | None = None
    lower: str | None = None
    upper: str | None = None
    files: bool = True
    last: str = ""  # the last key it gave
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Below:
    """Every key below a path, by its name relative to the path (the path's own marker, "",
    left out), the directories these names imply or the listing told, and whether any key (the
    marker included) lies below."""

    files: list[tuple[str, Any]] = field(default_factory=list)  # (name, obstore ObjectMeta)
    dirs: set[str] = field(default_factory=set)
    seen: bool = False


# told of the files the listing settled (name, size) and every directory seen so far
SettledHook = Callable[[list[tuple[str, int]], set[str]], None]


def keys_below(store: ObjectStore, key: str, on_settled: SettledHook | None = None) -> Below:
    """Every key below `key` ("" for the store's root), listed in lanes (`listed`)."""
    start = len(key) + 1 if key else 0
    found = Below()
    with contextlib.closing(listed(store, key or None)) as batches:
        for batch in batches:
            found.seen = found.seen or bool(batch.keys or batch.directories)
            found.dirs.update(directory[start:] for directory in batch.directories)
            for meta in batch.keys:
                name = meta["path"][start:]
                if name:  # "" is the listed directory's own marker
                    found.files.append((name, meta))
                    parts = name.split("/")
                    found.dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if on_settled is not None and batch.settled:
                names = [(meta["path"][start:], meta["size"]) for meta in batch.settled]
                on_settled([(name, size) for name, size in names if name], found.dirs)
    return found


def listed(store: ObjectStore, prefix: str | None) -> Generator[Batch, None, None]:
    """Every key below `prefix` (None: the store's root), batch by batch as the lanes answer;
    keys in key order within a lane, lanes in any order. Close the generator to stop early: the
    lanes stop after the page they are reading.

    Raises:
        Exception: what obstore raised for a lane's page (a missing bucket, a refusal, ...).
    """
    answers: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    first: _Lane | None = None  # lane 0, once started
    pool = ThreadPoolExecutor(LANES, thread_name_prefix="planner-list")
    top = len(prefix) + 1 if prefix else 0  # where a key's name below `prefix` starts
    try:
        pool.submit(_discover, store, prefix, answers)
        running, split = 1, False
        while running:
            try:
                kind, answer = answers.get(timeout=None if split or first else FLAT_AFTER)
            except queue.Empty:  # a big top level: its files from the first, as they come
                first = _Lane()
                pool.submit(_run_lane, store, prefix, top, first, answers, stop)
                running += 1
                continue
            if kind == "error":
                raise answer
            if kind == "batch":
                yield answer
                continue
            running -= 1
            if kind == "top":
                split = True
                directories, files = answer
                yield Batch(directories=directories)
                lanes, past = _split(first, directories, files)
                if past:  # the top level's files lane 0 does not give: settled by the above
                    yield Batch(keys=past, settled=past)
                for lane in lanes:
                    pool.submit(_run_lane, store, prefix, top, lane, answers, stop)
                    running += 1
            elif answer:  # a lane ended: the rest of its keys are settled
                yield Batch(settled=answer)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _discover(
    store: ObjectStore, prefix: str | None, answers: queue.Queue[tuple[str, Any]]
) -> None:
    """The top level's directories and files."""
    import obstore

    try:
        found = obstore.list_with_delimiter(store, prefix)
    except BaseException as exc:  # told to the reader of the listing, who raises it
        answers.put(("error", exc))
        return
    answers.put(("top", (sorted(found["common_prefixes"]), list(found["objects"]))))


def _split(
    first: _Lane | None, directories: list[str], files: list[Any]
) -> tuple[list[_Lane], list[Any]]:
    """The lanes of the directories lane 0 (if started) has not reached, and the top level's
    files it does not give; it is bounded to end where the first of those directories starts."""
    starts = [f"{d}/" for d in directories]
    if first is not None:
        with first.lock:
            starts = [start for start in starts if start > first.last]
            if not starts:
                return [], []
            first.upper = starts[0]
        files = [meta for meta in files if meta["path"] >= starts[0]]
    if len(starts) <= RANGES:
        return [_Lane(below=start[:-1], files=False) for start in starts], files
    step = len(starts) / RANGES
    starts = [starts[int(i * step)] for i in range(RANGES)]
    ends: list[str | None] = [*starts[1:], None]
    # `offset` lists keys after it: the start less its "/" precedes every key of the run
    lanes = [
        _Lane(after=start[:-1], lower=start, upper=end, files=False)
        for start, end in zip(starts, ends, strict=True)
    ]
    return lanes, files


def _run_lane(
    store: ObjectStore,
    prefix: str | None,
    top: int,
    lane: _Lane,
    answers: queue.Queue[tuple[str, Any]],
    stop: threading.Event,
) -> None:
    """List one lane, a page at a time, until its end or `stop`; its keys not settled by its
    pages are told when it ends ("ended")."""
    import obstore

    waiting: list[Any] = []  # listed, not settled yet: in key order
    try:
        below = lane.below or prefix
        for chunk in obstore.list(store, below, offset=lane.after, chunk_size=PAGE):
            if stop.is_set():
                return
            with lane.lock:  # lane 0's end may be set meanwhile: see _split
                upper = lane.upper
                ended = upper is not None and bool(chunk) and chunk[-1]["path"] >= upper
                keys = [
                    m
                    for m in chunk
                    if (lane.lower is None or m["path"] >= lane.lower)
                    and (upper is None or m["path"] < upper)
                    and (lane.files or "/" in m["path"][top:])
                ]
                if keys:
                    lane.last = keys[-1]["path"]
            if keys:
                waiting.extend(keys)
                last = keys[-1]["path"]
                settled = 0
                while settled < len(waiting) and f"{waiting[settled]['path']}/" < last:
                    settled += 1
                answers.put(("batch", Batch(keys=keys, settled=waiting[:settled])))
                del waiting[:settled]
            if ended:
                break
        answers.put(("ended", waiting))
    except BaseException as exc:  # told to the reader of the listing, who raises it
        answers.put(("error", exc))
