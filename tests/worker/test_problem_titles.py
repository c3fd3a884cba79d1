"""A problem's title is its status's name as RFC 9110 gives it, the same on every Python (whose
`http.HTTPStatus` phrases for 413 and 422 changed in 3.13)."""

from __future__ import annotations

import json

import pytest

from planner.worker.problems import problem


@pytest.mark.parametrize(
    ("status", "title"),
    [
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (409, "Conflict"),
        (413, "Content Too Large"),
        (422, "Unprocessable Content"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
    ],
)
def test_every_status_the_worker_answers_is_titled_by_its_rfc_9110_name(
    status: int, title: str
) -> None:
    body = json.loads(bytes(problem(status, "detail").body))

    assert (body["status"], body["title"]) == (status, title)


def test_a_status_without_a_name_is_titled_error() -> None:
    assert json.loads(bytes(problem(599, "detail").body))["title"] == "Error"
