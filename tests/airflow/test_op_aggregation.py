"""Server-side and local aggregation operators, and the Apps batch operators."""

from __future__ import annotations

import csv
import json

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from test_op_fakes import Obj, install, make_context

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.aggregation import (
    TolokaAggregateLocallyOperator,
    TolokaAggregateSolutionsOperator,
    dawid_skene,
    majority_vote,
)
from toloka_provider.operators.app import (
    TolokaCreateAppBatchOperator,
    TolokaGetAppItemsOperator,
    TolokaStartAppBatchOperator,
)
from toloka_provider.triggers.operation import TolokaOperationTrigger


def test_server_aggregation_waits_and_writes_jsonl(monkeypatch, tmp_path):
    fake = install(monkeypatch)
    fake.aggregated = [Obj(pool_id="1", task_id=f"t{i}", confidence=0.9, output_values={"label": "pos"})
                       for i in range(3)]
    output = tmp_path / "agg.jsonl"
    result = TolokaAggregateSolutionsOperator(task_id="t", pool_id="1", fields=["label"], output=str(output),
                                              deferrable=False).execute(make_context())
    assert result == {"pool_id": "1", "operation_id": "op-agg", "count": 3, "path": f"file://{output}"}
    assert ("aggregate_solutions_by_pool", (), {"type": "DAWID_SKENE", "pool_id": "1",
                                                "fields": [{"name": "label"}], "answer_weight_skill_id": None}) \
        in fake.calls
    assert json.loads(output.read_text().splitlines()[0]) == {
        "pool_id": "1", "task_id": "t0", "confidence": 0.9, "output_values": {"label": "pos"}}


def test_server_aggregation_deferrable(monkeypatch, tmp_path):
    fake = install(monkeypatch)
    operator = TolokaAggregateSolutionsOperator(task_id="t", pool_id="1", fields=["label"],
                                                output=str(tmp_path / "a.jsonl"), deferrable=True, poll_interval=2)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(make_context())
    assert isinstance(deferred.value.trigger, TolokaOperationTrigger)
    assert deferred.value.trigger.serialize()[1]["operation_id"] == "op-agg"
    assert deferred.value.method_name == "execute_complete"
    result = operator.execute_complete(make_context(), {"status": "success", "operation_id": "op-agg",
                                                        "operation": {}})
    assert result["count"] == 0 and result["operation_id"] == "op-agg"
    assert "wait_operation" not in fake.names()
    for kind in ("failure", "timeout", "error"):
        with pytest.raises(AirflowException, match=f"ended with {kind}: why"):
            operator.execute_complete(make_context(), {"status": kind, "message": "why"})


def _assignment(user, answers, golden=None, status="SUBMITTED"):
    tasks = [{"id": f"t{i}", "input_values": {"n": i}} for i in range(len(answers))]
    if golden is not None:
        tasks.append({"id": "g", "input_values": {"n": -1}, "known_solutions": [{"output_values": {"c": golden}}]})
        answers = [*answers, golden]
    return {"id": f"a-{user}", "user_id": user, "status": status, "tasks": tasks,
            "solutions": [{"output_values": {"c": a}} for a in answers]}


def test_local_majority_vote_skips_golden_and_rejected(tmp_path):
    path = tmp_path / "a.jsonl"
    assignments = [
        _assignment("w1", ["cat", "dog"], golden="cat"),
        _assignment("w2", ["cat", "cat"]),
        _assignment("w3", ["dog", "cat"], status="ACCEPTED"),
        _assignment("w4", ["dog", "dog"], status="REJECTED"),
    ]
    path.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    output, csv_output = tmp_path / "out.jsonl", tmp_path / "out.csv"
    result = TolokaAggregateLocallyOperator(task_id="t", assignments_path=str(path), fields=["c"],
                                            output=str(output), csv_output=str(csv_output)).execute(make_context())
    assert result == {"path": f"file://{output}", "count": 2, "method": "majority", "skipped_golden": 1,
                      "csv_path": f"file://{csv_output}", "worker_quality_path": None}
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert rows[0] == {"task_id": "t0", "input_values": {"n": 0}, "output_values": {"c": "cat"},
                       "confidence": round(2 / 3, 6), "votes": 3}
    assert rows[1]["output_values"] == {"c": "cat"}
    table = list(csv.reader(csv_output.open()))
    assert table[0] == ["task_id", "INPUT:n", "OUTPUT:c", "CONFIDENCE", "VOTES"]
    assert table[1] == ["t0", "0", "cat", str(round(2 / 3, 6)), "3"]


def test_dawid_skene_trusts_the_reliable_workers():
    # three reliable workers agree on 20 items; a spammer always says "a"; on item x the reliable majority wins
    votes = {f"i{i}": [("r1", "b" if i % 2 else "a"), ("r2", "b" if i % 2 else "a"),
                       ("r3", "b" if i % 2 else "a"), ("spam", "a")] for i in range(20)}
    votes["x"] = [("r1", "b"), ("spam", "a"), ("spam2", "a")]
    result = dawid_skene(votes)
    assert result["i1"][0] == "b" and result["i0"][0] == "a"
    assert result["x"][0] == "b"  # majority would say "a"
    assert majority_vote(votes)["x"] == ("a", 2 / 3)
    assert 0.5 < result["x"][1] <= 1.0


@pytest.mark.parametrize("method", ["wawa", "one_coin", "dawid_skene"])
def test_local_aggregation_writes_worker_quality_beside_the_labels(tmp_path, method):
    path = tmp_path / "a.jsonl"
    # r1..r3 agree; "spam" always answers "dog"; every assignment also answers the golden task g ("cat").
    assignments = [_assignment(w, ["cat", "dog", "cat"], golden="cat") for w in ("r1", "r2", "r3")]
    spam = _assignment("spam", ["dog", "dog", "dog"], golden="cat")
    spam["solutions"][-1] = {"output_values": {"c": "dog"}}  # wrong on golden too
    assignments.append(spam)
    path.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    output, quality = tmp_path / "labels.jsonl", tmp_path / "quality.jsonl"
    result = TolokaAggregateLocallyOperator(
        task_id="t", assignments_path=str(path), fields=["c"], output=str(output), method=method,
        golden_init=True, worker_quality_output=str(quality),
    ).execute(make_context())
    assert result["worker_quality_path"] == f"file://{quality}" and result["method"] == method
    assert result["count"] == 3 and result["skipped_golden"] == 1  # g informs quality but is not written
    labels = {row["task_id"]: row["output_values"]["c"] for row in map(json.loads, output.read_text().splitlines())}
    assert labels == {"t0": "cat", "t1": "dog", "t2": "cat"}
    rows = [json.loads(line) for line in quality.read_text().splitlines()]
    assert [row["user_id"] for row in rows] == ["r1", "r2", "r3", "spam"]
    assert all(row["answers"] == 4 for row in rows)
    by_worker = {row["user_id"]: row["quality"] for row in rows}
    assert min(by_worker["r1"], by_worker["r2"], by_worker["r3"]) > by_worker["spam"]


def test_local_aggregation_golden_init_must_be_a_bool(tmp_path):
    with pytest.raises(TolokaInputError, match="'golden_init' must be True or False, got 'yes'"):
        TolokaAggregateLocallyOperator(task_id="t", assignments_path="a.jsonl", fields=["c"],
                                       output=str(tmp_path / "o"), golden_init="yes")


def test_local_aggregation_bad_arguments(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("")
    with pytest.raises(TolokaInputError, match="'method' must be"):
        TolokaAggregateLocallyOperator(task_id="t", assignments_path=str(path), fields=["c"],
                                       output=str(tmp_path / "o"), method="mean").execute(make_context())
    with pytest.raises(TolokaInputError, match="'fields' must be"):
        TolokaAggregateLocallyOperator(task_id="t", assignments_path=str(path), fields=[],
                                       output=str(tmp_path / "o")).execute(make_context())


# ------------------------------------------------------------------------------------------------ apps


def test_app_batch_create_is_idempotent_by_name_then_start(monkeypatch):
    fake = install(monkeypatch)
    operator = TolokaCreateAppBatchOperator(task_id="task", app_project_id="ap", items=[{"text": "a"}])
    assert operator.execute(make_context()) == operator.execute(make_context()) == "1"
    (_, args, kwargs), = [c for c in fake.calls if c[0] == "create_app_batch"]
    assert args == ("ap",) and kwargs["name"] == "airflow:dag:run-1:task" and kwargs["items"] == [{"text": "a"}]
    start = TolokaStartAppBatchOperator(task_id="s", app_project_id="ap", batch_id="1")
    assert start.execute(make_context()) == "PROCESSING"
    assert start.execute(make_context()) == "PROCESSING"  # already started is fine


def test_app_items_to_jsonl(monkeypatch, tmp_path):
    fake = install(monkeypatch)
    fake.items = [{"id": "i1", "batch_id": "1", "status": "COMPLETED", "output_data": {"x": 1}},
                  {"id": "i2", "batch_id": "1", "status": "ERROR"},
                  {"id": "i3", "batch_id": "2", "status": "COMPLETED"}]
    output = tmp_path / "items.jsonl"
    result = TolokaGetAppItemsOperator(task_id="t", app_project_id="ap", batch_id="1", output=str(output)).execute(
        make_context()
    )
    assert result == {"path": f"file://{output}", "count": 2, "status_counts": {"COMPLETED": 1, "ERROR": 1}}
    assert ("get_app_items", ("ap",), {"batch_id": "1"}) in fake.calls
