"""Operators against the in-process emulator over real HTTP: the real client, the real wire, twice per run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_op_fakes import make_context

from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.pool import TolokaCreatePoolOperator, TolokaOpenPoolOperator
from toloka_provider.operators.project import TolokaCreateProjectOperator
from toloka_provider.operators.tasks import TolokaCreateTasksOperator

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[2] / "dags_examples" / "configs"
TASKS = Path(__file__).resolve().parents[2] / "dags_examples" / "data" / "support_tickets" / "tasks.jsonl"


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    return emulator


def test_create_upload_fetch_review_twice_each(emu, tmp_path):
    def run(operator):
        first = operator.execute(make_context())
        second = operator.execute(make_context())  # a retry of the same task instance
        assert first == second
        return first

    project_id = run(TolokaCreateProjectOperator(task_id="project",
                                                 project=str(CONFIGS / "text_classification_project.json")))
    pool_id = run(TolokaCreatePoolOperator(task_id="pool", pool_config=str(CONFIGS / "text_classification_pool.json"),
                                           project_id=project_id, expires_in=timedelta(days=1)))
    uploaded = run(TolokaCreateTasksOperator(task_id="tasks", pool_id=pool_id, tasks_path=str(TASKS),
                                             chunk_size=100, allow_defaults=True))
    task_count = sum(1 for line in TASKS.read_text().splitlines() if line.strip())
    assert uploaded == {"pool_id": pool_id, "created": task_count, "failed": 0, "errors_sample": {}}
    counters = emu.counters()
    assert counters["created"]["project"] == 1 and counters["created"]["pool"] == 1
    assert counters["created"]["task"] == task_count

    assert TolokaOpenPoolOperator(task_id="open", pool_id=pool_id).execute(make_context()) == "OPEN"
    emu.bulk_load_assignments(pool_id, 40)
    output = tmp_path / "assignments.jsonl"
    fetched = TolokaGetAssignmentsOperator(task_id="get", pool_id=pool_id, output=str(output)).execute(
        make_context()
    )
    assert fetched["count"] == 40 and fetched["status_counts"] == {"SUBMITTED": 40}
    assert len(output.read_text().splitlines()) == 40

    review = TolokaReviewAssignmentsOperator(task_id="review", assignments_path=str(output), concurrency=4)
    assert review.execute(make_context()) == {"accepted": 40, "rejected": 0, "skipped": 0, "already_done": 0,
                                              "failed": 0}
    assert review.execute(make_context()) == {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 40,
                                              "failed": 0}
    counters = emu.counters()
    assert counters["assignments_accepted"] == 40 and counters["double_decisions"] == 0

    aggregated = TolokaAggregateLocallyOperator(task_id="agg", assignments_path=str(output), fields=["label"],
                                                output=str(tmp_path / "labels.jsonl")).execute(make_context())
    assert aggregated["path"].endswith("labels.jsonl")


def test_ten_thousand_assignments_over_http_give_a_small_xcom(emu, tmp_path):
    project_id = TolokaCreateProjectOperator(
        task_id="project", project=str(CONFIGS / "text_classification_project.json")
    ).execute(make_context())
    pool_id = TolokaCreatePoolOperator(task_id="pool", pool_config=str(CONFIGS / "text_classification_pool.json"),
                                       project_id=project_id, expires_in=timedelta(days=1)).execute(make_context())
    emu.bulk_load_assignments(pool_id, 10000)
    output = tmp_path / "all.jsonl"
    result = TolokaGetAssignmentsOperator(task_id="get", pool_id=pool_id, output=str(output)).execute(make_context())
    assert result["count"] == 10000 and len(json.dumps(result)) < 2048
    with pytest.raises(ValueError, match="Pass output="):
        TolokaGetAssignmentsOperator(task_id="get", pool_id=pool_id).execute(make_context())
