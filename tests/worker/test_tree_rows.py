"""The rows of a tree operation (planner/worker/tree_rows.py) on a real state database: written
by the item's writer thread in walk order, all of them by `close`, a failed transaction raised
in the item's thread with nothing after it written, and pages served as the JSON the runner
reads (byte for byte what the route answered when it rendered Python lists)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner.worker import tree_rows
from planner.worker.db import StateDB
from planner.worker.metadata import Content, MetadataStore
from planner.worker.tree_rows import COLUMNS, Row, RowWriter, page


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    opened = StateDB(tmp_path / "worker.db")
    yield opened
    opened.close()


def row(path: str, state: str = "done") -> Row:
    return (path, "file", 4, "new", state, "00000000000000aa", None, None)


def stored(db: StateDB, operation: str) -> list[str]:
    found = db.execute("SELECT path FROM tree_rows WHERE operation = ? ORDER BY seq", (operation,))
    return [str(r[0]) for r in found]


def test_every_row_is_written_in_walk_order_once_closed(
    db: StateDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tree_rows, "BATCH", 3)
    writer = RowWriter(db, "op", 0)
    paths = [f"d/f{i:02d}" for i in range(10)]
    for p in paths:
        writer.add(row(p))
    assert writer.count == 10

    writer.close()

    assert writer.thread is None
    assert stored(db, "op") == paths
    document = json.loads(page(db, "op", 0, 0, 100))
    assert [r[0] for r in document["rows"]] == paths
    assert document["next_offset"] is None


def test_metadata_recorded_with_the_rows_is_there_after_a_flush(db: StateDB) -> None:
    writer = RowWriter(db, "op", 0)
    writer.add(row("a"))
    writer.record(Content("local:/dst/a", 4, 10, 11, "00000000000000aa"))

    writer.flush()

    assert stored(db, "op") == ["a"]
    assert MetadataStore(db).of(["local:/dst/a"])["local:/dst/a"].checksum == "00000000000000aa"
    writer.close()


def test_a_failed_transaction_is_raised_by_the_item_and_nothing_after_it_is_written(
    db: StateDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tree_rows, "BATCH", 2)
    writer = RowWriter(db, "op", 0)
    writer.add(row("a"))
    writer.add(row("b"))  # a batch written
    writer.add(row("c"))
    writer.add(row("bad\udc80"))  # a lone surrogate: SQLite cannot store it, the batch fails

    with pytest.raises(UnicodeEncodeError):
        writer.flush()
    with pytest.raises(UnicodeEncodeError):
        writer.close()

    assert writer.thread is None
    assert stored(db, "op") == ["a", "b"]


def test_a_page_is_the_json_the_route_rendered_before(db: StateDB) -> None:
    rows: list[Row] = [
        (
            'caf\u201bE9 \u00e9 \u4e2d/x\ty\n"q" \\ \x01 \u2028',
            "file",
            2**40,
            "new",
            "done",
            "0123456789abcdef",
            None,
            None,
        ),
        ("d", "dir", 0, None, "failed", None, 403, "d: Permission denied"),
        ("e", "file", 3, "changed", "planned", None, None, None),
    ]
    writer = RowWriter(db, "op", 1)
    for r in rows:
        writer.add(r)
    writer.close()

    first = page(db, "op", 1, 0, 2)
    rest = page(db, "op", 1, 2, 2)

    def rendered(values: list[Row], following: int | None) -> bytes:
        document = {"columns": COLUMNS, "rows": [list(r) for r in values], "next_offset": following}
        # starlette's JSONResponse.render, which answered the route before
        return json.dumps(
            document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")

    assert first == rendered(rows[:2], 2)
    assert rest == rendered(rows[2:], None)
    assert page(db, "op", 1, 3, 2) == rendered([], None)
