"""Issue 9, items 6 and 7: nothing a client sends can poison the store (values the worker could
not answer again are refused at submission, located), and every error is problem JSON (bad
input a 4xx, anything unforeseen a 500 with an error id that the log repeats)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from planner.worker.storage import Storages
from tests.helpers.worker_api import assert_problem, run, sp, submit, succeeded, wait_all
from tests.helpers.workers import WorkerHandle, start_worker


def _client(worker: WorkerHandle) -> httpx.Client:
    return httpx.Client(base_url=worker.url, headers=worker.headers, timeout=10.0)


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _custom(raw: str) -> bytes:
    """A metadata:set body setting custom field `k` of f.txt to the JSON text `raw`."""
    return ('{"metadata": {"f.txt": {"custom": {"k": ' + raw + "}}}}").encode()


def _parsed_by_this_python(raw: str) -> bool:
    """Whether json reads `raw` at all: 5,000 levels exceed its recursion limit on Python 3.11
    (the worker then cannot say where the body is too deep), not on 3.13."""
    try:
        json.loads(raw)
    except RecursionError:
        return False
    return True


F_K = 'body.metadata["f.txt"].custom.k'
# (route, raw body, status, location): what the attacker sent, and its relatives
POISON: dict[str, tuple[str, bytes, int, str]] = {
    "lone surrogate in a path": (
        "/storage:mkdir",
        rb'{"operations": [{"path": "bob/\ud800"}]}',
        422,
        "body.operations[0].path",
    ),
    "low surrogate alone": (
        "/storage:mkdir",
        rb'{"operations": [{"path": "bob/\udc00x"}]}',
        422,
        "body.operations[0].path",
    ),
    "surrogate as UTF-8 bytes": (
        "/storage:mkdir",
        b'{"operations": [{"path": "bob/\xed\xa0\x80"}]}',
        400,
        "",
    ),
    "lone surrogate in a metadata path": (
        "/metadata:get",
        rb'{"paths": ["f.txt", "\ud800"]}',
        422,
        "body.paths[1]",
    ),
    "NaN in custom metadata": ("/metadata:set", _custom("NaN"), 422, F_K),
    "Infinity": ("/metadata:set", _custom("Infinity"), 422, F_K),
    "-Infinity": ("/metadata:set", _custom("-Infinity"), 422, F_K),
    "a float that overflows": ("/metadata:set", _custom("1e999"), 422, F_K),
    "int64 max + 1": ("/metadata:set", _custom(str(2**63)), 422, F_K),
    "int64 min - 1": ("/metadata:set", _custom(str(-(2**63) - 1)), 422, F_K),
    "5,000-digit integer": ("/metadata:set", _custom("7" * 5000), 422, F_K),
    "5,000-digit integer beside the operations": (
        "/storage:mkdir",
        b'{"operations": [{"path": "x"}], "n": ' + b"1" * 5000 + b"}",
        422,
        "body.n",
    ),
    "lone surrogate in a custom value": (
        "/metadata:set",
        _custom(r'["ok", "\ud800"]'),
        422,
        F_K + "[1]",
    ),
    "lone surrogate in a custom key": (
        "/metadata:set",
        rb'{"metadata": {"f.txt": {"custom": {"\udfff": 1}}}}',
        422,
        r'body.metadata["f.txt"].custom["\udfff"]',
    ),
    "lone surrogate in a grant's subject": (
        "/permissions:set",
        rb'{"permissions": [{"resource": {"path": "f.txt"}, "role": "reader",'
        rb' "subject": {"id": "\ud800", "type": "user"}}]}',
        422,
        "body.permissions[0].subject.id",
    ),
    "NUL in a path": (
        "/storage:mkdir",
        rb'{"operations": [{"path": "a\u0000b"}]}',
        422,
        "body.operations[0].path",
    ),
    "nested 65 levels": (
        "/storage:mkdir",
        ('{"operations": [{"path": "x"}], "n": ' + _nested(64) + "}").encode(),
        422,
        "body.n" + "[0]" * 63,
    ),
    "nested 500 levels": ("/metadata:set", _custom(_nested(500)), 422, F_K + "[0]" * 60),
    "nested 5,000 levels": (
        "/metadata:set",
        _custom(_nested(5000)),
        422,
        F_K + "[0]" * 60 if _parsed_by_this_python(_nested(5000)) else "body",
    ),
}


def _answers_of_a_healthy_store(client: httpx.Client, ids: list[str]) -> dict[str, Any]:
    """What a client reads back after the attack: every answer must be a 200."""
    listing = client.get("/operations", params={"limit": 1000})
    polled = client.get("/operations", params={"ids": ids, "expand": "true"})
    meta = run(client, "/metadata:get", {"paths": ["f.txt"]})
    assert listing.status_code == 200, listing.text
    assert polled.status_code == 200, polled.text
    return {
        "listed": set(ids) <= {op["id"] for op in listing.json()["operations"]},
        "polled": [op["state"] for op in polled.json()["operations"]],
        "custom": succeeded(meta)["result"]["f.txt"]["custom"],
    }


def test_values_the_store_could_not_answer_again_are_refused_and_it_stays_readable(
    tmp_path: Path,
) -> None:
    embedded, worker = start_worker(tmp_path)
    try:
        (worker.roots["any"] / "bob").mkdir(parents=True)
        (worker.roots["any"] / "f.txt").write_text("f")
        with _client(worker) as client:
            kept = {
                "k": 9223372036854775807,
                "low": -9223372036854775808,
                "pair": "\U0001f600",
                "deep": [[[[["d"]]]]],
                "real": 1.5e308,
            }
            # sent with \u escapes: the emoji as a surrogate pair, which is valid
            escaped = json.dumps({"metadata": {"f.txt": {"custom": kept}}}).encode()
            assert b"\\ud83d\\ude00" in escaped
            response = client.post("/metadata:set", content=escaped)
            assert response.status_code == 200, response.text
            ids = [
                response.json()["id"],
                submit(client, "/storage:mkdir", {"operations": [sp("bob/\U0001f600")]}),
            ]
            wait_all(client, ids)
            refused = {
                name: client.post(route, content=raw, headers={"content-type": "application/json"})
                for name, (route, raw, _, _) in POISON.items()
            }
            before = _answers_of_a_healthy_store(client, ids)
    finally:
        embedded.stop()
    embedded, worker = start_worker(tmp_path)  # the same state directory, a new process state
    try:
        with _client(worker) as client:
            after = _answers_of_a_healthy_store(client, ids)
    finally:
        embedded.stop()

    for name, (_, _, status, location) in POISON.items():
        body = assert_problem(refused[name], status)
        if location:
            assert [e["location"] for e in body["errors"]] == [location], (name, body)
    assert (
        before
        == after
        == {
            "listed": True,
            "polled": ["succeeded", "succeeded"],
            "custom": kept,
        }
    )
    assert (worker.roots["any"] / "bob/\U0001f600").is_dir()
    assert sorted(p.name for p in (worker.roots["any"] / "bob").iterdir()) == ["\U0001f600"]


def test_a_body_nested_to_the_limit_is_accepted(worker: WorkerHandle) -> None:
    (worker.roots["any"] / "f.txt").write_text("f")
    # body, metadata, "f.txt", custom: 4 levels; 60 lists reach the limit of 64
    deepest = _custom(_nested(60))
    with _client(worker) as client:
        response = client.post("/metadata:set", content=deepest)
        assert response.status_code == 200, response.text
        succeeded(wait_all(client, [response.json()["id"]])[0])
        meta = succeeded(run(client, "/metadata:get", {"paths": ["f.txt"]}))

    value = meta["result"]["f.txt"]["custom"]["k"]
    for _ in range(60):
        assert isinstance(value, list)
        value = value[0] if value else None
    assert value is None


# -- every error is problem JSON ---------------------------------------------------------------
@pytest.mark.parametrize(
    "child",
    ["abc-%C2%B9", "abc-%C2%B2", "abc-%D9%A1", "abc-" + "1" * 5000, "abc-01"],
    ids=["superscript one", "superscript two", "arabic-indic one", "5,000 digits", "leading zero"],
)
def test_an_id_with_a_strange_child_index_answers_like_an_unknown_id(
    worker: WorkerHandle, child: str
) -> None:
    with _client(worker) as client:
        parent = submit(client, "/storage:mkdir", {"operations": [sp("a"), sp("b")]})
        wait_all(client, [parent])
        unknown = client.get("/operations/abc-9")
        answers = {
            "get": client.get(f"/operations/{child}"),
            "poll": client.get(f"/operations?ids={child}&ids={parent}-1"),
            "cancel": client.post(f"/operations/{child}:cancel"),
            "delete": client.delete(f"/operations/{child}"),
            "aliased child": client.get(f"/operations/{parent}-{child.rpartition('-')[2]}"),
        }

    assert unknown.status_code < 500
    for name, response in answers.items():
        assert response.status_code < 500, (name, response.text)
    assert answers["get"].status_code == unknown.status_code
    assert answers["poll"].status_code == 200
    polled = answers["poll"].json()["operations"]
    assert polled[1]["state"] == "succeeded"
    assert polled[0]["state"] != "succeeded"
    # `<parent>-01` or `<parent>-²` is not another name of child 1
    assert answers["aliased child"].status_code == unknown.status_code
    if answers["aliased child"].status_code == 200:
        assert answers["aliased child"].json()["state"] == "failed"


@pytest.mark.parametrize(
    ("route", "raw", "location"),
    [
        (
            "/storage:mkdir",
            '{"operations": [{"path": "' + "a/" * 2999 + 'a"}]}',
            "body.operations[0].path",
        ),
        (
            "/storage:mkdir",
            '{"operations": [{"path": "' + "/".join("s" * 600) + '"}]}',
            "body.operations[0].path",
        ),
        ("/metadata:get", '{"paths": ["' + "d/" * 3000 + '"]}', "body.paths[0]"),
        (
            "/storage:list",
            '{"operations": [{"path": "x"}], "deep": ' + _nested(500) + "}",
            "body.deep" + "[0]" * 63,
        ),
    ],
    ids=["3,000 segments", "600 segments", "3,000 segments of a label", "nested 500 levels"],
)
def test_bad_input_that_used_to_fail_deep_inside_is_a_located_422(
    worker: WorkerHandle, route: str, raw: str, location: str
) -> None:
    with _client(worker) as client:
        response = client.post(route, content=raw.encode())

    body = assert_problem(response, 422)
    assert [e["location"] for e in body["errors"]] == [location]


def test_an_unforeseen_failure_is_a_problem_500_whose_error_id_is_logged(
    worker: WorkerHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Storages) -> list[str]:
        raise RuntimeError("a bug in the worker")

    monkeypatch.setattr(Storages, "names", broken)
    with caplog.at_level(logging.ERROR, logger="planner.worker"), _client(worker) as client:
        response = client.get("/storage")
        monkeypatch.undo()
        after = client.get("/storage")

    body = assert_problem(response, 500)
    error_id = body["error_id"]
    assert error_id in body["detail"]
    assert "RuntimeError" not in response.text  # the details stay in the log
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None
    assert "GET /api/v1/storage" in record.getMessage()
    assert after.status_code == 200  # the same connection keeps being served


def test_a_listing_of_a_file_name_that_is_not_utf8_stays_readable(tmp_path: Path) -> None:
    embedded, worker = start_worker(tmp_path)
    try:
        top = os.fsencode(worker.roots["data"] / "odd")
        os.mkdir(top)
        open(os.path.join(top, b"name-\xff"), "wb").close()  # made on disk, not through the API
        with _client(worker) as client:
            op = succeeded(run(client, "/storage:list", {"operations": [sp("odd", "data")]}))
            listed = client.get("/operations", params={"limit": 10})
    finally:
        embedded.stop()
    embedded, worker = start_worker(tmp_path)
    try:
        with _client(worker) as client:
            again = client.get(f"/operations/{op['id']}")
    finally:
        embedded.stop()

    # escaped as docs/api.md says ("File names"): valid Unicode any client can read
    assert op["result"] == {"data:odd": ["name-\u201bFF"]}
    assert listed.status_code == 200, listed.text
    assert again.status_code == 200, again.text
    assert again.json()["result"] == op["result"]
