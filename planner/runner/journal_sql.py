"""The journal's SQLite schema and statements, and the conversions between its rows and the
result objects (journal.py runs them)."""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

from planner.runner.results import ActionResult, ActionState, Change, ItemRecord, ItemState

SCHEMA_VERSION = 1
VERSION = str(SCHEMA_VERSION)  # as stored in meta
META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, plan_key TEXT NOT NULL, plan_file TEXT NOT NULL,
    plan_name TEXT NOT NULL, digest TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
    interrupted INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL,
    resumed_from TEXT, superseded_by TEXT);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs (plan_key, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, position INTEGER NOT NULL,
    action_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, change TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT NOT NULL, started_at REAL, ended_at REAL,
    files_done INTEGER NOT NULL, files_unchanged INTEGER NOT NULL, bytes_done INTEGER NOT NULL,
    detail TEXT NOT NULL, PRIMARY KEY (run_id, action_id));
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, action_id TEXT NOT NULL,
    key TEXT NOT NULL, kind TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
    size INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL,
    checksum TEXT NOT NULL, started_at REAL, ended_at REAL, UNIQUE (run_id, action_id, key));
CREATE TABLE IF NOT EXISTS locks (plan_key TEXT PRIMARY KEY, pid INTEGER NOT NULL,
    host TEXT NOT NULL, started_at REAL NOT NULL, token TEXT NOT NULL);
"""
ITEMS = (
    "action_id, key, kind, src, dst, size, state, attempts, error, checksum, started_at, ended_at"
)
ACTIONS = (
    "action_id, kind, state, change, attempts, error, started_at, ended_at, files_done,"
    " files_unchanged, bytes_done, detail"
)


def _excluded(columns: str, key: str) -> str:
    """`SET column = excluded.column, ...` for every column outside the conflict key."""
    names = [c.strip() for c in columns.split(",") if c.strip() not in key.split()]
    return ", ".join(f"{c} = excluded.{c}" for c in names)


SAVE_ITEM = (
    f"INSERT INTO items (run_id, {ITEMS}) VALUES ({', '.join('?' * 13)})"
    f" ON CONFLICT (run_id, action_id, key) DO UPDATE SET {_excluded(ITEMS, 'action_id key')}"
)
SAVE_ACTION = (
    f"INSERT INTO actions (run_id, position, {ACTIONS}) VALUES (?, ?, {', '.join('?' * 12)})"
    f" ON CONFLICT (run_id, action_id) DO UPDATE SET {_excluded(ACTIONS, 'action_id')}"
)
# an action recorded before (every action is, when its run starts): found by its key, where
# SAVE_ACTION's position for a new row would be a scan of the run's actions
UPDATE_ACTION = (
    f"UPDATE actions SET {', '.join(f'{c.strip()} = ?' for c in ACTIONS.split(',')[1:])}"
    " WHERE run_id = ? AND action_id = ?"
)
RUN = (
    "SELECT run_id, plan_file, plan_name, digest, started_at, ended_at, interrupted"
    " FROM runs WHERE run_id = ?"
)
ACTIONS_OF = f"SELECT {ACTIONS} FROM actions WHERE run_id = ? ORDER BY position"
ITEM_COUNTS = "SELECT action_id, COUNT(*) FROM items WHERE run_id = ? GROUP BY action_id"
# an action's items (those started at or after a time, when it is not NULL: JournalReader)
_SINCE = "(? IS NULL OR started_at IS NULL OR started_at >= ?)"
ITEMS_OF = (
    f"SELECT {ITEMS} FROM items WHERE run_id = ? AND action_id = ? AND {_SINCE} ORDER BY rowid"
)
# the same items as ITEMS_OF, only the fields of the JSON document's items (ItemFields)
ITEM_FIELDS_OF = (
    "SELECT key, kind, src, dst, size, state, attempts, error, checksum FROM items"
    f" WHERE run_id = ? AND action_id = ? AND {_SINCE} ORDER BY rowid"
)
CHECKSUMS_OF = (
    f"SELECT key, checksum FROM items WHERE run_id = ? AND action_id = ? AND {_SINCE}"
    " AND state = 'succeeded' AND checksum != '' ORDER BY key"
)
NEXT_POSITION = "SELECT COALESCE(MAX(position) + 1, 0) FROM actions WHERE run_id = ?"
UNFINISHED = (
    "SELECT run_id, digest, plan_file, plan_name FROM runs WHERE plan_key = ?"
    " AND result != 'succeeded' AND superseded_by IS NULL"
    " ORDER BY started_at DESC, rowid DESC LIMIT 1"
)
SUMMARIES = """
SELECT r.run_id, r.plan_key, r.plan_file, r.plan_name, r.started_at, r.ended_at, r.result,
    r.resumed_from, r.superseded_by, COUNT(a.action_id), COALESCE(SUM(a.state = 'succeeded'), 0),
    COALESCE(SUM(a.state = 'failed'), 0), COALESCE(SUM(a.state = 'skipped'), 0),
    COALESCE(SUM(a.files_done), 0), COALESCE(SUM(a.files_unchanged), 0),
    COALESCE(SUM(a.bytes_done), 0),
    {by_kind}
FROM (SELECT rowid AS rid, * FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?) r
LEFT JOIN actions a ON a.run_id = r.run_id GROUP BY r.run_id ORDER BY r.started_at DESC, r.rid DESC
"""

# files_done per kind of action, in the order of RunCounts' fields after `bytes`
KINDS_DONE = ("copy", "move", "removal", "directory", "metadata", "permission")
SUMMARIES = SUMMARIES.replace(
    "{by_kind}",
    ", ".join(
        f"COALESCE(SUM(CASE WHEN a.kind = '{kind}' THEN a.files_done END), 0)"
        for kind in KINDS_DONE
    ),
)

Row = tuple[Any, ...]  # a row as sqlite3 returns it
_ITEM_STATES = {s.value: s for s in ItemState}
# The columns above read off the objects (the enums are str: sqlite3 stores their values).
item_fields = attrgetter(*ITEMS.split(", "))
action_fields = attrgetter("id", *ACTIONS.split(", ")[1:-1])


def detail_text(action: ActionResult) -> str:
    """An action's detail lines as the journal keeps them (JSON)."""
    return json.dumps(action.detail) if action.detail else "[]"


def action_of(r: Row) -> ActionResult:
    state, change, detail = ActionState(r[2]), Change(r[3]), json.loads(r[11])
    return ActionResult(
        id=r[0],
        kind=r[1],
        state=state,
        change=change,
        attempts=r[4],
        error=r[5],
        started_at=r[6],
        ended_at=r[7],
        files_done=r[8],
        files_unchanged=r[9],
        bytes_done=r[10],
        detail=detail,
    )


def item_of(r: Row) -> ItemRecord:
    state = _ITEM_STATES[r[6]]
    return ItemRecord(r[0], r[1], r[2], r[3], r[4], r[5], state, r[7], r[8], r[9], r[10], r[11])
