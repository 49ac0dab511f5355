"""Toloka sensors: poke outcomes against the emulator, deferral with the right trigger, execute_complete."""

from __future__ import annotations

import json
import time

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from toloka_provider.client.dates import parse_datetime
from toloka_provider.sensors.app_batch import TolokaAppBatchSensor
from toloka_provider.sensors.assignments import TolokaAssignmentsSensor
from toloka_provider.sensors.operation import TolokaOperationSensor
from toloka_provider.sensors.pool import TolokaPoolSensor
from toloka_provider.triggers.app_batch import TolokaAppBatchTrigger
from toloka_provider.triggers.assignments import TolokaAssignmentsTrigger
from toloka_provider.triggers.operation import TolokaOperationTrigger
from toloka_provider.triggers.pool import TolokaPoolTrigger


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_EMU",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url, "extra": {"retries": 0}}),
    )
    return emulator


def add_pool(emu, status="OPEN", reason=None, kind="pools"):
    pool = {"project_id": "1", "private_name": "p", "status": status}
    if reason:
        pool["last_close_reason"] = reason
    return emu.state.create(kind, pool)["id"]


def pool_sensor(pool_id, **kwargs):
    kwargs.setdefault("toloka_conn_id", "toloka_emu")
    kwargs.setdefault("poke_interval", 0.1)  # the floor (waits.MIN_POLL_INTERVAL)
    kwargs.setdefault("deferrable", False)
    return TolokaPoolSensor(task_id="wait_pool", pool_id=pool_id, **kwargs)


# -- pool sensor: poke ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_poke_waits_on_open_then_succeeds_with_details(emu):
    pool_id = add_pool(emu, "OPEN")
    sensor = pool_sensor(pool_id, progress_interval=3600)
    assert sensor.poke({}).is_done is False
    emu.state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")
    result = sensor.poke({})
    assert isinstance(result, PokeReturnValue) and result.is_done
    assert result.xcom_value == {"pool_id": pool_id, "pool_status": "CLOSED", "close_reason": "COMPLETED"}


@pytest.mark.integration
def test_one_request_per_poke(emu):
    pool_id = add_pool(emu, "OPEN")
    sensor = pool_sensor(pool_id, progress_interval=3600)
    sensor.poke({})  # first poke logs progress (analytics); later ones must not
    before = sum(emu.counters()["requests"].values())
    for _ in range(3):
        sensor.poke({})
    assert sum(emu.counters()["requests"].values()) - before == 3


@pytest.mark.integration
def test_not_enough_balance_fails_fast_without_retry(emu):
    pool_id = add_pool(emu, "CLOSED", "NOT_ENOUGH_BALANCE")
    with pytest.raises(AirflowFailException, match=f"Toloka pool {pool_id} closed with reason NOT_ENOUGH_BALANCE"):
        pool_sensor(pool_id).execute({})


@pytest.mark.integration
def test_soft_fail_turns_a_hopeless_pool_into_a_skip(emu):
    pool_id = add_pool(emu, "ARCHIVED")
    with pytest.raises(AirflowSkipException):
        pool_sensor(pool_id, soft_fail=True).execute({})


@pytest.mark.integration
def test_execute_in_poke_mode_returns_the_details(emu):
    pool_id = add_pool(emu, "CLOSED", "EXPIRED")
    result = pool_sensor(pool_id, success_reasons=["COMPLETED", "EXPIRED"]).execute({})
    assert result == {"pool_id": pool_id, "pool_status": "CLOSED", "close_reason": "EXPIRED"}


@pytest.mark.integration
def test_training_sensor(emu):
    training_id = add_pool(emu, "CLOSED", "COMPLETED", kind="trainings")
    assert pool_sensor(training_id, kind="training").execute({})["pool_id"] == training_id


@pytest.mark.integration
def test_transient_errors_are_tolerated_up_to_the_budget(emu):
    pool_id = add_pool(emu, "CLOSED", "COMPLETED")
    sensor = pool_sensor(pool_id, max_consecutive_errors=1)
    emu.set_faults("503=1.0")
    assert sensor.poke({}).is_done is False
    with pytest.raises(AirflowException, match="2 transient errors in a row") as raised:
        sensor.poke({})
    assert not isinstance(raised.value, AirflowFailException)  # retryable
    emu.clear_faults()
    assert sensor.poke({}).is_done


@pytest.mark.integration
def test_missing_pool_fails_with_what_to_fix(emu):
    with pytest.raises(AirflowFailException, match="Toloka pool 424242 does not exist"):
        pool_sensor("424242").poke({})


def test_misconfigured_connection_fails_naming_it(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_ENVBAD", json.dumps({"conn_type": "toloka", "password": "x" * 10,
                                                                "extra": {"environment": "prod"}}))
    with pytest.raises(AirflowFailException, match="'toloka_envbad': extra 'environment' must be one of"):
        pool_sensor("1", toloka_conn_id="toloka_envbad").poke({})


@pytest.mark.integration
def test_progress_logged_at_most_every_interval(emu, monkeypatch):
    pool_id = add_pool(emu, "OPEN")
    sensor = pool_sensor(pool_id, progress_interval=300)
    logged = []
    monkeypatch.setattr(sensor, "log_progress", lambda client, details: logged.append(details))
    now = [1000.0]
    monkeypatch.setattr("toloka_provider.sensors._base.time.time", lambda: now[0])
    for step in (0, 100, 200, 301, 350):
        now[0] = 1000.0 + step
        sensor.poke({})
    assert len(logged) == 2  # at 0 and at 301


def test_reschedule_mode_logs_progress_once_per_window(monkeypatch):
    sensor = pool_sensor("1", mode="reschedule", poke_interval=60, progress_interval=300)
    due = []
    for second in range(0, 1200, 60):
        monkeypatch.setattr("toloka_provider.sensors._base.time.time", lambda s=second: 1_000_200.0 + s)
        fresh = pool_sensor("1", mode="reschedule", poke_interval=60, progress_interval=300)  # new instance per poke
        due.append(fresh._progress_due())
    assert sum(due) == 4  # 1200 s of pokes, one log per 300 s window
    assert sensor.mode == "reschedule"


# -- deferrable mode --------------------------------------------------------------------------------------


@pytest.mark.integration
def test_deferrable_checks_once_and_defers_with_a_deadline(emu, monkeypatch):
    pool_id = add_pool(emu, "OPEN")
    monkeypatch.setattr("toloka_provider.sensors._base.time.time", lambda: 5000.0)
    sensor = pool_sensor(pool_id, deferrable=True, timeout=600, poke_interval=45, success_reasons="completed")
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger == TolokaPoolTrigger(
        pool_id, "toloka_emu", success_reasons=("COMPLETED",), kind="pool",
        policy={"interval": 45, "deadline": 5600.0},
    )
    assert deferred.value.timeout.total_seconds() > 600


@pytest.mark.integration
def test_deferrable_does_not_defer_when_already_done(emu):
    pool_id = add_pool(emu, "CLOSED", "COMPLETED")
    assert pool_sensor(pool_id, deferrable=True).execute({})["close_reason"] == "COMPLETED"


@pytest.mark.integration
def test_deferrable_fails_fast_before_deferring(emu):
    pool_id = add_pool(emu, "CLOSED", "BLOCKED")
    with pytest.raises(AirflowFailException, match="BLOCKED"):
        pool_sensor(pool_id, deferrable=True).execute({})


def test_deferrable_defaults_to_the_airflow_setting():
    import inspect

    from airflow.sdk.configuration import conf

    from toloka_provider.sensors._base import TolokaBaseSensor

    # Read once at import, as Airflow's own providers do: [operators] default_deferrable.
    default = inspect.signature(TolokaBaseSensor.__init__).parameters["deferrable"].default
    assert default is conf.getboolean("operators", "default_deferrable", fallback=False)
    assert pool_sensor("1", deferrable=default).deferrable is default


@pytest.mark.parametrize(
    ("event", "raised", "match"),
    [
        ({"status": "failure", "message": "pool 1 closed with reason BLOCKED"}, AirflowFailException, "BLOCKED"),
        ({"status": "timeout", "message": "did not finish before the deadline"}, AirflowSensorTimeout, "deadline"),
        ({"status": "error", "message": "token rejected", "retryable": False}, AirflowFailException, "token rejected"),
        ({"status": "error", "message": "11 transient errors", "retryable": True}, AirflowException, "11 transient"),
        ({"unexpected": 1}, AirflowException, "unexpected event"),
    ],
)
def test_execute_complete_raises_on_every_non_success_event(event, raised, match):
    with pytest.raises(raised, match=match) as info:
        pool_sensor("1").execute_complete({}, event)
    if event.get("retryable"):
        assert not isinstance(info.value, AirflowFailException)


def test_execute_complete_returns_the_success_details():
    event = {"status": "success", "pool_id": "1", "pool_status": "CLOSED", "close_reason": "COMPLETED"}
    assert pool_sensor("1").execute_complete({}, event) == {"pool_id": "1", "pool_status": "CLOSED", "close_reason": "COMPLETED"}


def test_soft_fail_applies_to_deferred_failures():
    sensor = pool_sensor("1", soft_fail=True)
    with pytest.raises(AirflowSkipException):
        sensor.resume_execution("execute_complete", {"event": {"status": "failure", "message": "m"}}, {})


def test_template_fields_and_lazy_hook(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("connection read at construction")

    monkeypatch.setattr("toloka_provider.hooks.toloka.TolokaHook.get_connection", classmethod(forbidden))
    assert set(TolokaPoolSensor.template_fields) >= {"pool_id", "toloka_conn_id", "success_reasons"}
    assert set(TolokaAppBatchSensor.template_fields) >= {"app_project_id", "batch_id"}
    assert "operation_id" in TolokaOperationSensor.template_fields
    assert {"pool_id", "watermark", "statuses"} <= set(TolokaAssignmentsSensor.template_fields)
    pool_sensor("{{ params.pool }}")
    with pytest.raises(ValueError, match="kind must be one of pool, training"):
        pool_sensor("1", kind="pools")
    with pytest.raises(ValueError, match="min_count must be an integer from 1 to 1000"):
        TolokaAssignmentsSensor(task_id="a", pool_id="1", min_count=0)


# -- operation, app batch, assignments sensors -------------------------------------------------------------


@pytest.mark.integration
def test_operation_sensor(emu):
    done = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=0)
    result = TolokaOperationSensor(task_id="op", operation_id=done["id"], toloka_conn_id="toloka_emu", poke_interval=0.1).execute({})
    assert result["operation_id"] == done["id"] and result["operation"]["status"] == "SUCCESS"

    failed = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, status="FAIL", details={"why": "no"}, delay=0)
    with pytest.raises(AirflowFailException, match=f"Toloka operation {failed['id']} failed"):
        TolokaOperationSensor(task_id="op", operation_id=failed["id"], toloka_conn_id="toloka_emu").poke({})

    running = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=3600)
    sensor = TolokaOperationSensor(task_id="op", operation_id=running["id"], toloka_conn_id="toloka_emu",
                                   deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert isinstance(deferred.value.trigger, TolokaOperationTrigger)
    assert deferred.value.trigger.operation_id == running["id"]


def add_batch(emu, status):
    emu.state.app_projects["ap1"] = {"id": "ap1", "app_id": "a", "name": "p", "status": "READY", "parameters": {}}
    emu.state.app_batches["b1"] = {"id": "b1", "app_project_id": "ap1", "name": "b", "status": status}


@pytest.mark.integration
def test_app_batch_sensor(emu):
    add_batch(emu, "PROCESSING")
    sensor = TolokaAppBatchSensor(task_id="b", app_project_id="ap1", batch_id="b1", toloka_conn_id="toloka_emu",
                                  progress_interval=3600)
    assert sensor.poke({}).is_done is False
    emu.state.app_batches["b1"]["status"] = "COMPLETED"
    assert sensor.poke({}).xcom_value == {"batch_id": "b1", "batch_status": "COMPLETED", "items_count": 0,
                                          "items_processed_count": 0}
    emu.state.app_batches["b1"]["status"] = "NO_MONEY"
    with pytest.raises(AirflowFailException, match=r"ended with status NO_MONEY.*Top up"):
        sensor.poke({})
    emu.state.app_batches["b1"]["status"] = "PROCESSING"
    sensor.deferrable = True
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert isinstance(deferred.value.trigger, TolokaAppBatchTrigger)


@pytest.mark.integration
def test_assignments_sensor_returns_count_and_watermark(emu):
    pool_id = add_pool(emu)
    sensor = TolokaAssignmentsSensor(task_id="a", pool_id=pool_id, min_count=3, consistency_lag=0, toloka_conn_id="toloka_emu")
    emu.bulk_load_assignments(pool_id, 2)
    assert sensor.poke({}).is_done is False
    emu.bulk_load_assignments(pool_id, 2)
    result = sensor.poke({})
    assert result.is_done
    assert result.xcom_value["count"] == 4 and result.xcom_value["previous_watermark"] is None
    watermark = result.xcom_value["watermark"]

    # The next run starts from the watermark: nothing new yet, so it defers with that watermark.
    follow_up = TolokaAssignmentsSensor(task_id="a", pool_id=pool_id, watermark=watermark, consistency_lag=0,
                                        toloka_conn_id="toloka_emu", deferrable=True, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:
        follow_up.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, TolokaAssignmentsTrigger)
    assert trigger.watermark == watermark and trigger.min_count == 1


@pytest.mark.integration
def test_assignments_sensor_sends_one_filtered_request(emu):
    pool_id = add_pool(emu)
    sensor = TolokaAssignmentsSensor(task_id="a", pool_id=pool_id, statuses=["submitted", "ACCEPTED"],
                                     watermark="2024-01-01T00:00:00Z", toloka_conn_id="toloka_emu")
    sent = []
    client = sensor.hook.get_conn()
    original = client._send_request

    def spy(request, *args):  # every request the check sends goes through the client's transport
        sent.append(request)
        return original(request, *args)

    client._send_request = spy
    before = time.time()
    sensor.poke({})
    requests = [effect for effect in sent if type(effect).__name__ == "Request"]
    # One filtered list request; the list is empty, so the pool is looked up once (it exists).
    assert [(r.method, r.path) for r in requests] == [("GET", "/api/v1/assignments"), ("GET", f"/api/v1/pools/{pool_id}")]
    query = requests[0].params
    assert query["pool_id"] == pool_id and query["status"] == "SUBMITTED,ACCEPTED"
    assert query["sort"] == "-submitted" and query["limit"] == "300"
    assert query["submitted_gt"].startswith("2024-01-01T00:00:00")
    lte = parse_datetime(query["submitted_lte"]).timestamp()
    assert before - 61 < lte < time.time() - 59


# -- issue 12: the pool sensor shows the "Toloka Pool" link while it waits ----------------------------------


class _RecordingTI:
    def __init__(self):
        self.xcom = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def test_pool_sensor_has_the_toloka_pool_link():
    from toloka_provider.links import POOL_URL_XCOM_KEY, TolokaPoolLink

    links = [link for link in TolokaPoolSensor.operator_extra_links if isinstance(link, TolokaPoolLink)]
    assert [link.name for link in links] == ["Toloka Pool"]
    assert links[0].xcom_key == POOL_URL_XCOM_KEY


@pytest.mark.integration
def test_pool_sensor_pushes_the_pool_url_before_deferring(emu):
    from toloka_provider.links import POOL_URL_XCOM_KEY

    pool_id = add_pool(emu, "OPEN")
    ti = _RecordingTI()
    with pytest.raises(TaskDeferred):
        pool_sensor(pool_id, deferrable=True, timeout=60).execute({"ti": ti})
    assert ti.xcom[POOL_URL_XCOM_KEY] == f"{emu.url}/requester/project/1/pool/{pool_id}"


@pytest.mark.integration
def test_pool_sensor_pushes_the_pool_url_in_poke_mode(emu):
    from toloka_provider.links import POOL_URL_XCOM_KEY

    pool_id = add_pool(emu, "CLOSED", "COMPLETED")
    ti = _RecordingTI()
    pool_sensor(pool_id).execute({"ti": ti})
    assert ti.xcom[POOL_URL_XCOM_KEY] == f"{emu.url}/requester/project/1/pool/{pool_id}"


# -- issue 10: interval floor, bad arguments are TolokaInputError, timeout=0 means one look in every mode ----


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"poke_interval": 0}, "poke_interval must be a number >= 0.1 (seconds; 0 would poll in a busy loop), got 0"),
        ({"poke_interval": 0.01}, "poke_interval must be a number >= 0.1"),
        ({"poke_interval": -1}, "poke_interval must be a number >= 0.1"),
        ({"timeout": -1}, "timeout must be a number >= 0 (seconds), got -1"),
        ({"timeout": float("nan")}, "timeout must be a number >= 0"),
        ({"max_consecutive_errors": -1}, "max_consecutive_errors must be an integer >= 0, got -1"),
        ({"progress_interval": -1}, "progress_interval must be a number >= 0 (seconds), got -1"),
        ({"kind": "pools"}, "kind must be one of pool, training, got 'pools'"),
    ],
)
def test_bad_sensor_arguments_are_tolokainputerror(kwargs, says):
    from toloka_provider.exceptions import TolokaInputError

    with pytest.raises(TolokaInputError) as raised:
        pool_sensor("1", **kwargs)
    assert type(raised.value) is TolokaInputError and says in str(raised.value)


def test_the_interval_floor_is_accepted_and_a_timedelta_counts_in_seconds():
    from datetime import timedelta

    assert pool_sensor("1", poke_interval=0.1).poke_interval == 0.1
    assert pool_sensor("1", poke_interval=timedelta(minutes=2)).poke_interval == 120


def test_assignments_sensor_bad_arguments_are_tolokainputerror():
    from toloka_provider.exceptions import TolokaInputError

    with pytest.raises(TolokaInputError, match="min_count must be an integer from 1 to 1000, got 0"):
        TolokaAssignmentsSensor(task_id="a", pool_id="1", min_count=0)
    with pytest.raises(TolokaInputError, match="consistency_lag must be a number of seconds >= 0, got -1"):
        TolokaAssignmentsSensor(task_id="a", pool_id="1", consistency_lag=-1)


@pytest.mark.integration
def test_misspelt_success_reason_fails_before_the_first_request(emu):
    from toloka_provider.exceptions import TolokaInputError

    pool_id = add_pool(emu, "OPEN")
    before = sum(emu.counters()["requests"].values())
    with pytest.raises(TolokaInputError, match=r"unknown close reason\(s\) COMPLETE"):
        pool_sensor(pool_id, success_reasons=["COMPLETE"]).poke({})
    assert sum(emu.counters()["requests"].values()) == before


class _RescheduleTI(_RecordingTI):
    def get_first_reschedule_date(self, context):
        return None


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_timeout_zero_looks_once_then_times_out_in_every_mode(emu, mode):
    pool_id = add_pool(emu, "OPEN")
    sensor = pool_sensor(pool_id, timeout=0, deferrable=mode == "deferrable",
                         mode="reschedule" if mode == "reschedule" else "poke", progress_interval=3600)
    before = emu.counters()["requests"].get("GET /api/v1/pools/{id} 200", 0)
    with pytest.raises(AirflowSensorTimeout) as raised:
        sensor.execute({"ti": _RescheduleTI()})
    assert not isinstance(raised.value, TaskDeferred)
    looks = emu.counters()["requests"].get("GET /api/v1/pools/{id} 200", 0) - before
    assert looks == 2  # the link's lookup and the one check


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_timeout_zero_accepts_a_pool_done_at_the_first_look(emu, mode):
    pool_id = add_pool(emu, "CLOSED", "COMPLETED")
    sensor = pool_sensor(pool_id, timeout=0, deferrable=mode == "deferrable",
                         mode="reschedule" if mode == "reschedule" else "poke")
    assert sensor.execute({"ti": _RescheduleTI()})["close_reason"] == "COMPLETED"


@pytest.mark.integration
def test_deferred_trigger_carries_one_policy_dict(emu, monkeypatch):
    pool_id = add_pool(emu, "OPEN")
    monkeypatch.setattr("toloka_provider.sensors._base.time.time", lambda: 5000.0)
    sensor = pool_sensor(pool_id, deferrable=True, timeout=600, poke_interval=45, max_consecutive_errors=3,
                         progress_interval=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _path, kwargs = deferred.value.trigger.serialize()
    assert kwargs == {
        "pool_id": pool_id, "success_reasons": ["COMPLETED"], "kind": "pool", "toloka_conn_id": "toloka_emu",
        "policy": {"interval": 45.0, "deadline": 5600.0, "max_consecutive_errors": 3, "progress_interval": 60.0},
    }


@pytest.mark.integration
def test_a_missing_pool_is_worded_one_way_by_the_sensor_the_fetch_and_the_open_operator(emu, tmp_path):
    from test_op_fakes import make_context

    from toloka_provider.exceptions import TolokaApiFailure
    from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator
    from toloka_provider.operators.pool import TolokaOpenPoolOperator

    def failure(call) -> str:
        with pytest.raises(TolokaApiFailure) as raised:
            call()
        return str(raised.value).split(" (not retried)")[0]

    sensor = pool_sensor("424242")
    fetch = TolokaGetAssignmentsOperator(
        task_id="fetch", pool_id="424242", output=str(tmp_path / "a.jsonl"), toloka_conn_id="toloka_emu"
    )
    open_pool = TolokaOpenPoolOperator(task_id="open", pool_id="424242", toloka_conn_id="toloka_emu")
    words = {
        failure(lambda: sensor.poke({})),
        failure(lambda: fetch.execute(make_context())),
        failure(lambda: open_pool.execute(make_context())),
    }
    assert words == {
        "Argument 'pool_id': Toloka pool 424242 does not exist for this account and environment; check the id and "
        "the environment of Airflow connection 'toloka_emu'"
    }
