"""The TSV export of a pool's assignments over HTTP (``requests``): one row per task per assignment, the
``INPUT:`` / ``OUTPUT:`` / ``GOLDEN:`` / ``HINT:`` / ``ASSIGNMENT:`` columns, and its filters."""

from __future__ import annotations

import csv
import io
import sys

import pytest
from emulator_http import Api
from emulator_pools import assignments, call, make_pool, wait_closed

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration

ALL_STATUSES = "ACTIVE,SUBMITTED,APPROVED,REJECTED,SKIPPED,EXPIRED"


@pytest.fixture
def api():
    with TolokaEmulator(seed=9, crowd=5, speed=5000.0) as emulator:
        yield Api(emulator)


def export(api: Api, pool_id: str, expected: int = 200, **params):
    response = api.session.get(
        f"{api.emulator.url}/api/new/requester/pools/{pool_id}/assignments.tsv", params=params, timeout=10
    )
    assert response.status_code == expected, response.text[:300]
    if expected != 200:
        return response.json()
    assert response.headers["Content-Type"] == "text/tab-separated-values; charset=utf-8"
    return list(csv.reader(io.StringIO(response.text), delimiter="\t"))


@pytest.fixture
def finished_pool(api):
    pool_id = make_pool(
        api,
        real=6,
        golden=2,
        overlap=2,
        mixer_config={"real_tasks_count": 2, "golden_tasks_count": 1, "training_tasks_count": 0},
    )
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    return pool_id


def test_one_row_per_task_per_assignment_with_prefixed_columns(api, finished_pool):
    done = assignments(api, finished_pool)
    fields = "ASSIGNMENT:link,ASSIGNMENT:assignment_id,ASSIGNMENT:task_id,ASSIGNMENT:task_suite_id,ASSIGNMENT:worker_id,ASSIGNMENT:status,ASSIGNMENT:started,ASSIGNMENT:submitted,ASSIGNMENT:reward"
    header, *rows = export(api, finished_pool, status=ALL_STATUSES, field=fields, addRowDelimiter="false")
    assert header == [
        "INPUT:text",
        "OUTPUT:label",
        "GOLDEN:label",
        "HINT:text",
        "ASSIGNMENT:link",
        "ASSIGNMENT:assignment_id",
        "ASSIGNMENT:task_id",
        "ASSIGNMENT:task_suite_id",
        "ASSIGNMENT:worker_id",
        "ASSIGNMENT:status",
        "ASSIGNMENT:started",
        "ASSIGNMENT:submitted",
        "ASSIGNMENT:reward",
    ]
    expected = []
    for assignment in done:
        for task, solution in zip(assignment["tasks"], assignment["solutions"], strict=True):
            known = (task.get("known_solutions") or [{}])[0].get("output_values", {})
            expected.append(
                [
                    task["input_values"]["text"],
                    solution["output_values"]["label"],
                    known.get("label", ""),
                    "It is positive" if known else "",
                    f"{api.emulator.url}/task/{finished_pool}/{assignment['id']}",
                    assignment["id"],
                    task["id"],
                    assignment["task_suite_id"],
                    assignment["user_id"],
                    "SUBMITTED",
                    assignment["created"],
                    assignment["submitted"],
                    "0.01",
                ]
            )
    assert rows == expected
    assert len(rows) == sum(len(a["tasks"]) for a in done) > len(done)


def test_status_vocabulary_default_fields_and_filters(api, finished_pool):
    done = assignments(api, finished_pool)
    accepted, rejected = done[0], done[1]
    call(api, "PATCH", f"/assignments/{accepted['id']}", json={"status": "ACCEPTED", "public_comment": "ok"})
    call(api, "PATCH", f"/assignments/{rejected['id']}", json={"status": "REJECTED", "public_comment": "no"})

    header, *rows = export(api, finished_pool, status="APPROVED")
    assert header[-5:] == [
        "ASSIGNMENT:link",
        "ASSIGNMENT:assignment_id",
        "ASSIGNMENT:worker_id",
        "ASSIGNMENT:status",
        "ASSIGNMENT:started",
    ]
    assert {(row[-4], row[-2]) for row in rows} == {(accepted["id"], "APPROVED")}
    assert len(rows) == len(accepted["tasks"])
    _, *rows = export(api, finished_pool, status="REJECTED,APPROVED")
    assert {row[-4] for row in rows} == {accepted["id"], rejected["id"]}
    _, *rows = export(api, finished_pool)  # no status: all of them
    assert len({row[-4] for row in rows}) == len(done)

    # excludeBanned drops the work of a worker banned in the pool's scope.
    call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "POOL", "user_id": accepted["user_id"], "pool_id": finished_pool},
    )
    _, *rows = export(api, finished_pool, excludeBanned="true")
    assert accepted["user_id"] not in {row[-3] for row in rows}
    assert {row[-4] for row in rows} == {a["id"] for a in done if a["user_id"] != accepted["user_id"]}

    # A window on the submission time; the row delimiter adds an empty line after each assignment.
    last = max(a["submitted"] for a in done)
    _, *rows = export(api, finished_pool, startTimeFrom=last)
    assert {row[-4] for row in rows} == {a["id"] for a in done if a["submitted"] >= last}
    _, *rows = export(api, finished_pool, startTimeTo=last)
    assert {row[-4] for row in rows} == {a["id"] for a in done if a["submitted"] < last}
    _, *rows = export(api, finished_pool, addRowDelimiter="true")
    assert rows.count([]) == len(done)


def test_export_errors(api, finished_pool):
    assert export(api, "100009999", 404)["code"] == "DOES_NOT_EXIST"
    error = export(api, finished_pool, 400, status="ACCEPTED")
    assert error["payload"]["status"]["code"] == "UNKNOWN_ENUM_VALUE"
    error = export(api, finished_pool, 400, field="ASSIGNMENT:mood")
    assert error["payload"]["field"]["code"] == "UNKNOWN_ENUM_VALUE"
    error = export(api, finished_pool, 400, startTimeFrom="yesterday")
    assert error["payload"]["startTimeFrom"]["code"] == "INVALID_DATE_TIME_SYNTAX"
    response = api.session.get(
        f"{api.emulator.url}/api/new/requester/pools/{finished_pool}/assignments.tsv",
        headers={"Authorization": "OAuth wrong"},
        timeout=10,
    )
    assert response.status_code == 401 and response.json()["code"] == "AUTHENTICATION_ERROR"


def test_pool_without_golden_tasks_has_no_golden_columns_and_values_are_escaped(api):
    project = call(
        api,
        "POST",
        "/projects",
        201,
        json={
            "public_name": "Json",
            "task_spec": {
                "input_spec": {"text": {"type": "string"}, "meta": {"type": "json"}},
                "output_spec": {"ok": {"type": "boolean"}},
            },
            "assignments_issuing_type": "AUTOMATED",
        },
    )
    pool_id = call(
        api,
        "POST",
        "/pools",
        201,
        json={
            "project_id": project["id"],
            "private_name": "p",
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_task_suites": 1},
        },
    )["id"]
    call(
        api,
        "POST",
        "/tasks",
        201,
        json=[
            {"pool_id": pool_id, "input_values": {"text": 'tab\there "q"', "meta": {"n": 1}}, "overlap": 1}
        ],
    )
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    wait_closed(api, pool_id)
    header, *rows = export(api, pool_id, field="ASSIGNMENT:assignment_id")
    assert header == ["INPUT:text", "INPUT:meta", "OUTPUT:ok", "ASSIGNMENT:assignment_id"]
    [row] = rows
    assert row[:2] == ['tab\there "q"', '{"n":1}'] and row[2] in ("true", "false")


NASTY_VALUES = (
    "lone\rcarriage return",
    "\r",
    "line\nfeed",
    "crlf\r\nend",
    "tab\tinside",
    '"',
    'say "hi"',
    '""',
    "nul\x00byte",
    "trailing\r\n",
    "\u2028line separator\u2029",
    "next line\x85",
    "vertical\x0btab\x0cform feed",
    "file\x1cgroup\x1drecord\x1e",
    "emoji \U0001f600 and é and 中文",
    " spaces around ",
    "",
    "\\",
    "'single'",
)
if sys.version_info < (3, 11):  # the csv module of Python 3.10 refuses any line holding a NUL, quoted or not
    NASTY_VALUES = tuple(value for value in NASTY_VALUES if "\x00" not in value)


def test_any_character_in_a_value_round_trips_through_the_export(api):
    """A lone CR (or LF, tab, quote, NUL, line separator, any unicode) is quoted so that both the csv module
    and the client's incremental reader give back exactly the value sent."""
    from toloka_provider.client.export import TsvRows

    project = call(
        api,
        "POST",
        "/projects",
        201,
        json={
            "public_name": "Nasty",
            "task_spec": {"input_spec": {"text": {"type": "string"}}, "output_spec": {"ok": {"type": "boolean"}}},
            "assignments_issuing_type": "AUTOMATED",
        },
    )
    pool_id = call(
        api,
        "POST",
        "/pools",
        201,
        json={
            "project_id": project["id"],
            "private_name": "p",
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_task_suites": 1},
        },
    )["id"]
    tasks = [{"pool_id": pool_id, "input_values": {"text": value}, "overlap": 1} for value in NASTY_VALUES]
    call(api, "POST", "/tasks", 201, json=tasks)
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    wait_closed(api, pool_id)
    response = api.session.get(
        f"{api.emulator.url}/api/new/requester/pools/{pool_id}/assignments.tsv",
        params={"field": "ASSIGNMENT:task_id"},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.content
    task_text = {task["id"]: task["input_values"]["text"] for task in assignments_tasks(api, pool_id)}

    by_csv = list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), delimiter="\t"))
    reader = TsvRows()
    by_client = []
    for start in range(0, len(body), 7):  # small chunks: a row, a quote or a UTF-8 character split anywhere
        by_client += reader.feed(body[start : start + 7])
    by_client += reader.close()
    for rows in (by_csv, by_client):
        header, *data = rows
        assert header == ["INPUT:text", "OUTPUT:ok", "ASSIGNMENT:task_id"]
        assert len(data) == len(NASTY_VALUES)
        assert {row[2]: row[0] for row in data} == task_text
    assert sorted(task_text.values()) == sorted(NASTY_VALUES)


def assignments_tasks(api: Api, pool_id: str) -> list[dict]:
    return [task for assignment in assignments(api, pool_id) for task in assignment["tasks"]]
