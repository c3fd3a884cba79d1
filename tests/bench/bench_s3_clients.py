"""obstore against s3fs (fsspec) on the same local S3 server (moto, tests/s3server.py), the
figures behind choosing obstore for object remotes (docs/worker.md, "Storage backends"):
2,000 x 64 KiB uploaded, and one 256 MiB file uploaded and downloaded, each library through its
natural bulk API (obstore: `put` per file on 8 threads, a multipart `put` of 8 MiB parts, a
streamed `get`; s3fs: `put` of the directory, `put_file`, `get_file`). Interleaved run by run;
prints the medians. Needs s3fs (`pip install s3fs`): a benchmark-only dependency.

    .venv/bin/python -m tests.bench.bench_s3_clients [--files 2000] [--mib 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.s3server import S3Server

PART = 8 * 1024 * 1024


def _obstore_small(server: S3Server, bucket: str, files: list[Path], root: Path) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(bucket, prefix="obstore-small", allow_http=True)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda p: obstore.put(store, str(p.relative_to(root)), p.read_bytes()), files)
        )


def _obstore_big_up(server: S3Server, bucket: str, big: Path) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(bucket, allow_http=True)
    obstore.put(store, "obstore-big", big, chunk_size=PART, max_concurrency=8)


def _obstore_big_down(server: S3Server, bucket: str, out: Path) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(bucket, allow_http=True)
    with open(out, "wb") as handle:
        for chunk in obstore.get(store, "obstore-big").stream(min_chunk_size=PART):
            handle.write(chunk)


def _s3fs(server: S3Server) -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        key=server.access_key,
        secret=server.secret_key,
        endpoint_url=server.endpoint,
        skip_instance_cache=True,
    )


def _round(
    server: S3Server,
    bucket: str,
    files: list[Path],
    small: Path,
    big: Path,
    work: Path,
    timed: Callable[[str, Callable[[], object]], None],
) -> None:
    """One run of every measurement, the two libraries alternating."""
    fs: Any = _s3fs(server)
    timed("obstore small up", lambda: _obstore_small(server, bucket, files, small))
    timed("s3fs small up", lambda: fs.put(str(small), f"{bucket}/s3fs-small", recursive=True))
    timed("obstore big up", lambda: _obstore_big_up(server, bucket, big))
    timed("s3fs big up", lambda: fs.put_file(str(big), f"{bucket}/s3fs-big"))
    timed("obstore big down", lambda: _obstore_big_down(server, bucket, work / "o.bin"))
    timed("s3fs big down", lambda: fs.get_file(f"{bucket}/s3fs-big", str(work / "s.bin")))
    for name in ("o.bin", "s.bin"):
        assert (work / name).stat().st_size == big.stat().st_size
        (work / name).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-s3-", dir=args.dir))
    server = S3Server()
    for name, value in server.env().items():
        os.environ[name] = value
    try:
        small = work / "small"
        files = []
        for i in range(args.files):
            path = small / f"d{i % 20}" / f"f{i}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(64 * 1024))
            files.append(path)
        big = work / "big.bin"
        with open(big, "wb") as handle:
            for _ in range(args.mib):
                handle.write(os.urandom(1024 * 1024))
        series: dict[str, list[float]] = {}

        def timed(key: str, fn: Callable[[], object]) -> None:
            started = time.perf_counter()
            fn()
            series.setdefault(key, []).append(time.perf_counter() - started)

        for _ in range(args.repeat):
            _round(server, server.bucket(), files, small, big, work, timed)
        shape = f"{args.files} x 64 KiB, {args.mib} MiB; median of {args.repeat}"
        print(f"| measurement ({shape}) | seconds |")
        print("|---|---|")
        for key, values in series.items():
            print(f"| {key} | {statistics.median(values):.2f} |")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
