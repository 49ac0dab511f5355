"""The review operator over the engine: its default concurrency, and a failure among many through ``execute``."""

from __future__ import annotations

import threading

import pytest
from airflow.sdk.exceptions import AirflowException
from test_op_fakes import install, make_context

from toloka_provider.client.errors import InternalApiError
from toloka_provider.operators import assignments as module
from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator
from toloka_provider.steps import review


def _assignment(index: int) -> dict:
    return {
        "id": f"a{index:05d}",
        "pool_id": "1",
        "user_id": "u1",
        "status": "SUBMITTED",
        "tasks": [],
        "solutions": [],
    }


def test_the_default_concurrency_is_16_and_execute_sends_through_the_engine_with_it(monkeypatch):
    fake = install(monkeypatch)
    items = [_assignment(index) for index in range(40)]
    for item in items:
        fake.assignments[item["id"]] = dict(item)
    seen = {}
    original = review.send_decisions

    def send_decisions(client, decisions, counts, **options):
        seen.update(options, count=len(decisions))
        return original(client, decisions, counts, **options)

    monkeypatch.setattr(review, "send_decisions", send_decisions)
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=items)
    assert operator.concurrency == module.DEFAULT_CONCURRENCY == 16
    result = operator.execute(make_context())
    assert result == {"accepted": 40, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}
    assert seen["concurrency"] == 16 and seen["progress_every"] == 500 and seen["count"] == 40
    assert {a["status"] for a in fake.assignments.values()} == {"ACCEPTED"}
    assert [t for t in threading.enumerate() if t.name.startswith("toloka-review-")] == []


def test_one_failed_decision_among_many_fails_the_task_after_the_batch_naming_it(monkeypatch):
    fake = install(monkeypatch)
    items = [_assignment(index) for index in range(60)]
    for item in items:
        fake.assignments[item["id"]] = dict(item)
    fake.fail_patch["a00031"] = InternalApiError(
        500, "INTERNAL_ERROR", "boom", "r", None, "PATCH", "/api/v1/assignments/a00031"
    )
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=items, concurrency=5)
    with pytest.raises(AirflowException) as raised:
        operator.execute(make_context())
    assert str(raised.value) == (
        "1 of 60 review decisions failed ({'accepted': 59, 'rejected': 0, 'skipped': 0, 'already_done': 0, "
        "'failed': 1}); first: a00031: InternalApiError: PATCH /api/v1/assignments/a00031 failed: HTTP 500 "
        "INTERNAL_ERROR: boom (request_id=r)"
    )
    accepted = [a for a in fake.assignments.values() if a["status"] == "ACCEPTED"]
    assert len(accepted) == 59
