"""TolokaCreateTasksOperator: chunking, stable operation ids, files, golden tasks, invalid items, retries."""

from __future__ import annotations

import json
import uuid

import pytest
from test_op_fakes import install, make_context

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.tasks import TolokaCreateTasksOperator
from toloka_provider.run_identity import OPERATION_ID_NAMESPACE


def _tasks(n: int) -> list[dict]:
    return [{"input_values": {"text": f"t{i}"}} for i in range(n)]


def test_chunks_with_deterministic_operation_ids_and_pool_opened_on_the_last(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks=_tasks(5), chunk_size=2,
                                         open_pool=True, allow_defaults=True)
    result = operator.execute(make_context())
    assert result == {"pool_id": "1", "created": 5, "failed": 0, "errors_sample": {}}
    sends = [c for c in fake.calls if c[0] == "create_tasks"]
    assert [len(args[0]) for _, args, _ in sends] == [2, 2, 1]
    assert [kw["open_pool"] for _, _, kw in sends] == [False, False, True]
    assert all(kw["async_mode"] and kw["allow_defaults"] and not kw["skip_invalid_items"] for _, _, kw in sends)
    expected = [str(uuid.uuid5(OPERATION_ID_NAMESPACE, "\x1f".join(["dag", "run-1", "task", "-1", "tasks", "1",
                                                                      str(i)]))) for i in range(3)]
    assert [kw["operation_id"] for _, _, kw in sends] == expected
    assert all(task["pool_id"] == "1" for _, args, _ in sends for task in args[0])


def test_retry_reuses_the_operations_and_creates_nothing_twice(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks=_tasks(5), chunk_size=2)
    first = operator.execute(make_context())
    second = operator.execute(make_context())
    assert first == second
    assert len(fake.tasks) == 5
    other_run = operator.execute(make_context(run_id="run-2"))
    assert other_run["created"] == 5 and len(fake.tasks) == 10


def _install_with_pool(monkeypatch):
    """The fake with pool "1": the operator reads the pool before uploading (a missing one is an error)."""
    fake = install(monkeypatch)
    assert fake.create_pool({"project_id": "7"}).id == "1"
    return fake


def test_jsonl_file_with_golden_tasks(monkeypatch, tmp_path):
    fake = _install_with_pool(monkeypatch)
    path = tmp_path / "tasks.jsonl"
    golden = {"input_values": {"text": "g"}, "known_solutions": [{"output_values": {"label": "pos"}}]}
    path.write_text("\n".join(json.dumps(t) for t in [*_tasks(2), golden]) + "\n\n")
    result = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks_path=str(path)).execute(make_context())
    assert result["created"] == 3
    assert fake.tasks[2]["known_solutions"] == [{"output_values": {"label": "pos"}}]


def test_csv_file_columns(monkeypatch, tmp_path):
    fake = _install_with_pool(monkeypatch)
    path = tmp_path / "tasks.csv"
    path.write_text("INPUT:text,GOLDEN:label,HINT:text\nhello,,\nbad,neg,it is negative\n")
    result = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks_path=f"file://{path}").execute(
        make_context()
    )
    assert result["created"] == 2
    assert fake.tasks[0] == {"input_values": {"text": "hello"}, "pool_id": "1"}
    assert fake.tasks[1] == {
        "input_values": {"text": "bad"},
        "known_solutions": [{"output_values": {"label": "neg"}, "correctness_weight": 1}],
        "message_on_unknown_solution": "it is negative",
        "pool_id": "1",
    }


def test_skip_invalid_items_reports_errors_by_global_index(monkeypatch):
    _install_with_pool(monkeypatch)
    tasks = _tasks(3)
    tasks[2] = {"overlap": 1}  # no input_values
    operator = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks=tasks, chunk_size=2,
                                         skip_invalid_items=True)
    result = operator.execute(make_context())
    assert result["created"] == 2 and result["failed"] == 1
    assert result["errors_sample"] == {"2": {"input_values": {"code": "VALUE_REQUIRED", "message": "required"}}}


def test_invalid_item_without_skip_names_the_range_and_field(monkeypatch):
    _install_with_pool(monkeypatch)
    tasks = _tasks(3)
    tasks[1] = {"overlap": 1}
    operator = TolokaCreateTasksOperator(task_id="task", pool_id="1", tasks=tasks, chunk_size=10)
    with pytest.raises(TolokaInputError, match=r"tasks 0\.\.2 .*skip_invalid_items=True.*input_values"):
        operator.execute(make_context())


def test_bad_inputs(monkeypatch, tmp_path):
    install(monkeypatch)
    with pytest.raises(TolokaInputError, match="exactly one of"):
        TolokaCreateTasksOperator(task_id="t", pool_id="1")
    with pytest.raises(TolokaInputError, match="chunk_size"):
        TolokaCreateTasksOperator(task_id="t", pool_id="1", tasks=[], chunk_size=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input_values": {}}\n{"input_values": \n')
    with pytest.raises(TolokaInputError, match=r"bad\.jsonl line 2"):
        TolokaCreateTasksOperator(task_id="t", pool_id="1", tasks_path=str(bad)).execute(make_context())
    with pytest.raises(TolokaInputError, match="pool_id '9'"):
        TolokaCreateTasksOperator(task_id="t", pool_id="1", tasks=[{"pool_id": "9", "input_values": {}}]).execute(
            make_context()
        )
    no_input = tmp_path / "x.csv"
    no_input.write_text("text\nhello\n")
    with pytest.raises(TolokaInputError, match="no INPUT:<field> column"):
        TolokaCreateTasksOperator(task_id="t", pool_id="1", tasks_path=str(no_input)).execute(make_context())
