"""Create project / training / pool operators, status-change operators and opening a pool with a wait."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from test_op_fakes import install, make_context

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.links import POOL_URL_XCOM_KEY, PROJECT_URL_XCOM_KEY
from toloka_provider.operators.pool import (
    TolokaArchivePoolOperator,
    TolokaClosePoolOperator,
    TolokaCreatePoolOperator,
    TolokaOpenPoolOperator,
)
from toloka_provider.operators.project import TolokaCreateProjectOperator
from toloka_provider.operators.training import (
    TolokaArchiveTrainingOperator,
    TolokaCloseTrainingOperator,
    TolokaCreateTrainingOperator,
    TolokaOpenTrainingOperator,
)
from toloka_provider.triggers.pool import TolokaPoolTrigger

PROJECT = {"public_name": "Sentiment", "task_spec": {"input_spec": {}, "output_spec": {}},
           "assignments_issuing_type": "AUTOMATED", "metadata": {"team": ["ml"]}}
POOL = {"private_name": "p", "reward_per_assignment": 0.01, "assignment_max_duration_seconds": 600,
        "will_expire": "2030-01-01T00:00:00", "defaults": {"default_overlap_for_new_task_suites": 3}}
TAG = {"airflow_dag_id": ["dag"], "airflow_run_id": ["run-1"], "airflow_task_id": ["task"]}


def test_create_project_tags_metadata_pushes_url_and_returns_id(monkeypatch):
    fake = install(monkeypatch)
    context = make_context()
    project_id = TolokaCreateProjectOperator(task_id="task", project=PROJECT).execute(context)
    assert project_id == "1"
    (_name, (sent,), _), = [c for c in fake.calls if c[0] == "create_project"]
    assert sent["metadata"] == {"team": ["ml"], **TAG}
    assert sent["public_name"] == "Sentiment"
    assert context["ti"].xcom[PROJECT_URL_XCOM_KEY] == "https://ui/1/"


def test_create_project_twice_for_the_same_run_creates_one(monkeypatch):
    fake = install(monkeypatch)
    operator = TolokaCreateProjectOperator(task_id="task", project=json.dumps(PROJECT))
    assert operator.execute(make_context()) == operator.execute(make_context()) == "1"
    assert fake.names().count("create_project") == 1
    # another run, or another mapped instance, is a different task instance: it creates its own
    assert operator.execute(make_context(run_id="run-2")) == "2"
    assert operator.execute(make_context(run_id="run-2", map_index=0)) == "3"
    assert fake.projects["3"].metadata["airflow_map_index"] == ["0"]


def test_project_config_from_a_file(monkeypatch, tmp_path):
    install(monkeypatch)
    path = tmp_path / "project.json"
    path.write_text(json.dumps(PROJECT))
    assert TolokaCreateProjectOperator(task_id="task", project=str(path)).execute(make_context()) == "1"


def test_malformed_config_file_names_the_file_and_position(monkeypatch, tmp_path):
    install(monkeypatch)
    path = tmp_path / "project.json"
    path.write_text('{\n  "public_name": "x",\n  "task_spec": {,}\n}')
    with pytest.raises(TolokaInputError) as raised:
        TolokaCreateProjectOperator(task_id="task", project=str(path)).execute(make_context())
    assert str(path) in str(raised.value)
    assert "line 3, column 17" in str(raised.value)


def test_missing_config_file_and_bad_json_string(monkeypatch, tmp_path):
    install(monkeypatch)
    with pytest.raises(TolokaInputError, match="nor an existing file"):
        TolokaCreateProjectOperator(task_id="task", project=str(tmp_path / "nope.json")).execute(make_context())
    with pytest.raises(TolokaInputError, match="invalid JSON string at line 1, column 2"):
        TolokaCreateProjectOperator(task_id="task", project="{oops}").execute(make_context())
    with pytest.raises(TolokaInputError, match="must hold a JSON object, got list"):
        TolokaCreateProjectOperator(task_id="task", project="[1]").execute(make_context())


def test_server_validation_error_surfaces_the_field_path(monkeypatch):
    install(monkeypatch)
    config = {k: v for k, v in PROJECT.items() if k != "public_name"}
    with pytest.raises(TolokaInputError, match=r"'project'.*invalid fields: public_name: VALUE_REQUIRED"):
        TolokaCreateProjectOperator(task_id="task", project=config).execute(make_context())


def test_create_training_sets_project_and_is_idempotent(monkeypatch):
    fake = install(monkeypatch)
    operator = TolokaCreateTrainingOperator(task_id="task", training={"private_name": "t"}, project_id="7")
    assert operator.execute(make_context()) == operator.execute(make_context()) == "1"
    assert fake.trainings["1"].project_id == "7"
    assert fake.names().count("create_training") == 1
    assert ("get_trainings", (), {"project_id": "7"}) in fake.calls


def test_create_pool_sets_project_training_and_expiry(monkeypatch):
    fake = install(monkeypatch)
    config = {**POOL, "quality_control": {"training_requirement": {"training_passing_skill_value": 70}}}
    context = make_context()
    before = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    operator = TolokaCreatePoolOperator(
        task_id="task", pool_config=config, project_id="7", training_id="9", expires_in=timedelta(days=2)
    )
    assert operator.execute(context) == "1"
    pool = fake.pools["1"]
    assert pool.project_id == "7"
    assert pool.quality_control["training_requirement"] == {"training_passing_skill_value": 70,
                                                           "training_pool_id": "9"}
    expires = datetime.fromisoformat(pool.will_expire)
    assert before + timedelta(days=2) <= expires <= before + timedelta(days=2, seconds=5)
    assert pool.metadata == TAG
    assert context["ti"].xcom[POOL_URL_XCOM_KEY] == "https://ui//1"
    assert operator.execute(make_context()) == "1"
    assert fake.names().count("create_pool") == 1


def test_pool_training_id_without_training_requirement_is_an_error(monkeypatch):
    install(monkeypatch)
    operator = TolokaCreatePoolOperator(task_id="task", pool_config=POOL, project_id="7", training_id="9")
    with pytest.raises(TolokaInputError, match=r"no quality_control\.training_requirement"):
        operator.execute(make_context())


def test_pool_without_project_id_is_an_error(monkeypatch):
    install(monkeypatch)
    with pytest.raises(TolokaInputError, match="project_id"):
        TolokaCreatePoolOperator(task_id="task", pool_config=POOL).execute(make_context())


def _every_operator_and_sensor():
    from toloka_provider.operators.aggregation import (
        TolokaAggregateLocallyOperator,
        TolokaAggregateSolutionsOperator,
    )
    from toloka_provider.operators.app import (
        TolokaCreateAppBatchOperator,
        TolokaGetAppItemsOperator,
        TolokaStartAppBatchOperator,
    )
    from toloka_provider.operators.assignments import (
        TolokaGetAssignmentsOperator,
        TolokaReviewAssignmentsOperator,
    )
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator
    from toloka_provider.sensors.app_batch import TolokaAppBatchSensor
    from toloka_provider.sensors.assignments import TolokaAssignmentsSensor
    from toloka_provider.sensors.operation import TolokaOperationSensor
    from toloka_provider.sensors.pool import TolokaPoolSensor

    return [
        (TolokaCreateProjectOperator, {"project": PROJECT}),
        (TolokaCreateTrainingOperator, {"training": {"private_name": "t"}, "project_id": "1"}),
        (TolokaOpenTrainingOperator, {"training_id": "1"}),
        (TolokaCloseTrainingOperator, {"training_id": "1"}),
        (TolokaArchiveTrainingOperator, {"training_id": "1"}),
        (TolokaCreatePoolOperator, {"pool_config": POOL, "project_id": "1"}),
        (TolokaOpenPoolOperator, {"pool_id": "1", "wait_for_completion": True, "deferrable": True}),
        (TolokaClosePoolOperator, {"pool_id": "1"}),
        (TolokaArchivePoolOperator, {"pool_id": "1"}),
        (TolokaCreateTasksOperator, {"pool_id": "1", "tasks": [{"input_values": {"x": 1}}]}),
        (TolokaGetAssignmentsOperator, {"pool_id": "1", "output": "/tmp/a.jsonl"}),
        (TolokaReviewAssignmentsOperator, {"pool_id": "1"}),
        (TolokaAggregateSolutionsOperator, {"pool_id": "1", "fields": ["label"], "output": "/tmp/agg.jsonl"}),
        (TolokaAggregateLocallyOperator, {"assignments_path": "/tmp/a.jsonl", "fields": ["label"], "output": "/tmp/l.jsonl"}),
        (TolokaCreateAppBatchOperator, {"app_project_id": "1", "items": [{"text": "x"}]}),
        (TolokaStartAppBatchOperator, {"app_project_id": "1", "batch_id": "b"}),
        (TolokaGetAppItemsOperator, {"app_project_id": "1", "batch_id": "b", "output": "/tmp/items.jsonl"}),
        (TolokaPoolSensor, {"pool_id": "1", "deferrable": True}),
        (TolokaOperationSensor, {"operation_id": "op"}),
        (TolokaAppBatchSensor, {"app_project_id": "1", "batch_id": "b"}),
        (TolokaAssignmentsSensor, {"pool_id": "1"}),
    ]


def test_no_connection_work_at_construction(monkeypatch):
    """Operators and sensors are built at every DAG parse: none may read a connection or build a client then."""
    from airflow.sdk import BaseHook

    from toloka_provider.hooks.toloka import TolokaHook

    def forbidden(*args, **kwargs):
        raise AssertionError("connection or client work at construction")

    for name in ("get_conn", "get_async_conn", "get_connection_settings", "aget_connection_settings"):
        monkeypatch.setattr(TolokaHook, name, forbidden)
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(forbidden))
    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(forbidden))
    monkeypatch.setattr(TolokaHook, "__init__", forbidden)  # not even the (lazy) hook object is built

    built = [cls(task_id=f"t{i}", **kwargs) for i, (cls, kwargs) in enumerate(_every_operator_and_sensor())]

    assert len(built) == 21
    assert all("hook" not in vars(operator) for operator in built)


@pytest.mark.parametrize(
    ("operator_class", "start", "expected", "call"),
    [
        (TolokaClosePoolOperator, "OPEN", "CLOSED", "close_pool"),
        (TolokaClosePoolOperator, "CLOSED", "CLOSED", "close_pool"),
        (TolokaClosePoolOperator, "ARCHIVED", "ARCHIVED", "close_pool"),
        (TolokaArchivePoolOperator, "CLOSED", "ARCHIVED", "archive_pool"),
        (TolokaArchivePoolOperator, "ARCHIVED", "ARCHIVED", "archive_pool"),
    ],
)
def test_pool_status_operators_accept_the_state_already_reached(monkeypatch, operator_class, start, expected, call):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"}).status = start
    assert operator_class(task_id="task", pool_id="1").execute(make_context()) == expected
    assert call in fake.names()


def test_archiving_an_open_pool_fails_with_the_conflict(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"}).status = "OPEN"
    with pytest.raises(Exception, match="cannot go OPEN->ARCHIVED"):
        TolokaArchivePoolOperator(task_id="task", pool_id="1").execute(make_context())


def test_training_status_operators(monkeypatch):
    fake = install(monkeypatch)
    fake.create_training({"project_id": "7"})
    assert TolokaOpenTrainingOperator(task_id="t", training_id="1").execute(make_context()) == "OPEN"
    assert TolokaOpenTrainingOperator(task_id="t", training_id="1").execute(make_context()) == "OPEN"
    assert TolokaCloseTrainingOperator(task_id="t", training_id="1").execute(make_context()) == "CLOSED"
    assert TolokaArchiveTrainingOperator(task_id="t", training_id="1").execute(make_context()) == "ARCHIVED"


def test_open_pool_without_wait_returns_open_and_pushes_url(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    context = make_context()
    operator = TolokaOpenPoolOperator(task_id="task", pool_id="1")
    assert operator.execute(context) == "OPEN"
    assert operator.execute(context) == "OPEN"  # opening an open pool is fine
    assert context["ti"].xcom[POOL_URL_XCOM_KEY] == "https://ui//1"


def test_open_pool_deferrable_defers_with_the_pool_trigger(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    context = make_context()
    operator = TolokaOpenPoolOperator(
        task_id="task", pool_id="1", wait_for_completion=True, deferrable=True, poll_interval=7,
        success_reasons=["COMPLETED", "EXPIRED"], timeout=100, toloka_conn_id="conn",
    )
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    finished = time.time()
    trigger = deferred.value.trigger
    assert isinstance(trigger, TolokaPoolTrigger)
    _classpath, kwargs = trigger.serialize()
    assert kwargs["pool_id"] == "1" and kwargs["toloka_conn_id"] == "conn" and kwargs["policy"]["interval"] == 7
    assert list(kwargs["success_reasons"]) == ["COMPLETED", "EXPIRED"] and kwargs["kind"] == "pool"
    assert started + 100 <= kwargs["policy"]["deadline"] <= finished + 100  # the operator's timeout, as an absolute deadline
    assert deferred.value.method_name == "execute_complete"
    assert context["ti"].xcom[POOL_URL_XCOM_KEY] == "https://ui//1"  # pushed before waiting


def test_open_pool_execute_complete_per_event(monkeypatch):
    operator = TolokaOpenPoolOperator(task_id="task", pool_id="1", wait_for_completion=True, deferrable=True)
    success = {"status": "success", "pool_id": "1", "pool_status": "CLOSED", "close_reason": "COMPLETED"}
    assert operator.execute_complete(make_context(), success) == "CLOSED"
    for kind in ("failure", "timeout", "error"):
        with pytest.raises(AirflowException, match=f"ended with {kind}: boom {kind}"):
            operator.execute_complete(make_context(), {"status": kind, "message": f"boom {kind}"})


def test_open_pool_polling_wait_until_completed(monkeypatch):
    fake = install(monkeypatch)
    pool = fake.create_pool({"project_id": "7"})
    operator = TolokaOpenPoolOperator(task_id="task", pool_id="1", wait_for_completion=True, deferrable=False,
                                      poll_interval=5)
    sleeps = []

    def sleep(seconds):  # the crowd finishes while we sleep
        sleeps.append(seconds)
        if len(sleeps) == 2:
            pool.status, pool.last_close_reason = "CLOSED", "COMPLETED"

    operator._sleep = sleep
    assert operator.execute(make_context()) == "CLOSED"
    assert sleeps == [5, 5]


def test_open_pool_polling_fails_fast_on_balance(monkeypatch):
    fake = install(monkeypatch)
    pool = fake.create_pool({"project_id": "7"})
    operator = TolokaOpenPoolOperator(task_id="task", pool_id="1", wait_for_completion=True, deferrable=False)

    def sleep(seconds):
        pool.status, pool.last_close_reason = "CLOSED", "NOT_ENOUGH_BALANCE"

    operator._sleep = sleep
    with pytest.raises(AirflowException, match="pool 1 closed with reason NOT_ENOUGH_BALANCE"):
        operator.execute(make_context())


def test_open_pool_polling_timeout(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = TolokaOpenPoolOperator(task_id="task", pool_id="1", wait_for_completion=True, deferrable=False,
                                      timeout=10, poll_interval=4)
    now = [0.0]
    operator._clock = lambda: now[0]
    operator._sleep = lambda s: now.__setitem__(0, now[0] + s)
    with pytest.raises(AirflowException, match="still OPEN after waiting 10 s"):
        operator.execute(make_context())


def test_template_fields():
    assert set(TolokaCreatePoolOperator.template_fields) >= {"pool_config", "project_id", "training_id"}
    assert set(TolokaCreateProjectOperator.template_fields) >= {"project"}
    assert set(TolokaOpenPoolOperator.template_fields) >= {"pool_id"}
