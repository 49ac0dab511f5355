"""Triggers stored by an earlier version load and run: their classpaths and kwargs as that code wrote them.

The literal dicts below are ``serialize()`` of the four triggers as the code before the shared poll policy
wrote them (captured from it; one top-level kwarg per poll setting). A triggerer that upgrades while tasks
are deferred rebuilds triggers from exactly these rows, so each must deserialise through Airflow's own
loader and run to its event, and a re-serialised trigger must load again.
"""

from __future__ import annotations

import importlib
import json

import pytest

FAR_FUTURE = 4102444800.0  # 2100-01-01: the stored deadline has not passed

# serialize() output of the earlier code, verbatim (deadlines in epoch seconds).
STORED_POOL_BY_SENSOR = (
    "toloka_provider.triggers.pool.TolokaPoolTrigger",
    {
        "pool_id": "12",
        "success_reasons": ["COMPLETED", "MANUAL"],
        "kind": "pool",
        "toloka_conn_id": "toloka_emu",
        "poll_interval": 60.0,
        "deadline": 1893456000.0,
        "max_consecutive_errors": 10,
        "progress_interval": 300.0,
    },
)
STORED_POOL_BY_OPERATOR = (
    "toloka_provider.triggers.pool.TolokaPoolTrigger",
    {
        "pool_id": "12",
        "success_reasons": ["COMPLETED"],
        "kind": "pool",
        "toloka_conn_id": "toloka_default",
        "poll_interval": 30.0,
        "deadline": None,
        "max_consecutive_errors": 10,
        "progress_interval": 300.0,
    },
)
STORED_OPERATION = (
    "toloka_provider.triggers.operation.TolokaOperationTrigger",
    {
        "operation_id": "op-1",
        "toloka_conn_id": "toloka_emu",
        "poll_interval": 5.0,
        "deadline": 1893456000.0,
        "max_consecutive_errors": 3,
        "progress_interval": 300.0,
    },
)
STORED_APP_BATCH = (
    "toloka_provider.triggers.app_batch.TolokaAppBatchTrigger",
    {
        "app_project_id": "ap1",
        "batch_id": "b1",
        "success_statuses": ["COMPLETED"],
        "toloka_conn_id": "toloka_emu",
        "poll_interval": 60.0,
        "deadline": 1893456000.0,
        "max_consecutive_errors": 10,
        "progress_interval": 300.0,
    },
)
STORED_ASSIGNMENTS = (
    "toloka_provider.triggers.assignments.TolokaAssignmentsTrigger",
    {
        "pool_id": "7",
        "statuses": ["SUBMITTED"],
        "min_count": 2,
        "watermark": "2024-01-01T10:00:00.500000",
        "consistency_lag": 0.0,
        "toloka_conn_id": "toloka_emu",
        "poll_interval": 60.0,
        "deadline": 1893456000.0,
        "max_consecutive_errors": 10,
        "progress_interval": 300.0,
    },
)
STORED = [
    STORED_POOL_BY_SENSOR,
    STORED_POOL_BY_OPERATOR,
    STORED_OPERATION,
    STORED_APP_BATCH,
    STORED_ASSIGNMENTS,
]


def load(classpath: str, kwargs: dict):
    """What the triggerer does with a stored row: import the classpath, call it with the kwargs."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


@pytest.mark.parametrize(("classpath", "kwargs"), STORED, ids=lambda v: v if isinstance(v, str) else "")
def test_a_stored_trigger_loads_with_its_poll_settings_and_reserialises(classpath, kwargs):
    trigger = load(classpath, json.loads(json.dumps(kwargs)))
    assert trigger.policy.to_dict() == {
        "interval": kwargs["poll_interval"],
        "deadline": kwargs["deadline"],
        "max_consecutive_errors": kwargs["max_consecutive_errors"],
        "progress_interval": kwargs["progress_interval"],
    }
    path, again = trigger.serialize()
    assert path == classpath
    json.dumps(again)
    assert load(path, again) == trigger
    # The wait's own arguments are kept as they were stored.
    own = {
        k: v
        for k, v in kwargs.items()
        if k not in ("poll_interval", "deadline", "max_consecutive_errors", "progress_interval")
    }
    assert {k: v for k, v in again.items() if k != "policy"} == own


def test_a_stored_interval_below_todays_floor_still_loads():
    """The earlier code accepted poll_interval=0; such a row must not break the triggerer after the upgrade."""
    classpath, kwargs = STORED_OPERATION
    trigger = load(classpath, {**kwargs, "poll_interval": 0.0})
    assert trigger.policy.interval == 0.1


def test_airflow_rebuilds_a_stored_trigger_through_its_own_loader():
    """Airflow's triggerer goes through ``import_string`` on the classpath; the row must survive that too."""
    from airflow.sdk.module_loading import import_string

    classpath, kwargs = STORED_POOL_BY_SENSOR
    trigger = import_string(classpath)(**kwargs)
    assert type(trigger).__name__ == "TolokaPoolTrigger" and trigger.pool_id == "12"


# -- run to an event against the in-process emulator ------------------------------------------------------


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_EMU",
        json.dumps(
            {"conn_type": "toloka", "password": emulator.token, "host": emulator.url, "extra": {"retries": 0}}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps(
            {"conn_type": "toloka", "password": emulator.token, "host": emulator.url, "extra": {"retries": 0}}
        ),
    )
    return emulator


async def first_event(trigger, on_sleep=None):
    pauses = []

    async def fake_sleep(seconds):
        pauses.append(seconds)
        assert len(pauses) < 20, "the trigger kept polling"
        if on_sleep:
            on_sleep()

    trigger._sleep = fake_sleep
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0], pauses


@pytest.mark.integration
@pytest.mark.parametrize(
    "stored", [STORED_POOL_BY_SENSOR, STORED_POOL_BY_OPERATOR], ids=["by sensor", "by operator"]
)
async def test_a_stored_pool_trigger_runs_to_success(emu, stored):
    classpath, kwargs = stored
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    deadline = None if kwargs["deadline"] is None else FAR_FUTURE
    trigger = load(classpath, {**kwargs, "pool_id": pool_id, "deadline": deadline})
    payload, pauses = await first_event(
        trigger, lambda: emu.state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")
    )
    assert payload == {
        "status": "success",
        "pool_id": pool_id,
        "pool_status": "CLOSED",
        "close_reason": "COMPLETED",
    }
    assert pauses == [kwargs["poll_interval"]]


@pytest.mark.integration
async def test_a_stored_pool_trigger_whose_deadline_passed_times_out(emu):
    classpath, kwargs = STORED_POOL_BY_SENSOR
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    payload, pauses = await first_event(load(classpath, {**kwargs, "pool_id": pool_id, "deadline": 1000.0}))
    assert payload["status"] == "timeout" and pauses == []
    assert f"Toloka pool {pool_id} did not finish before the deadline" in payload["message"]


@pytest.mark.integration
async def test_a_stored_operation_trigger_runs_to_success(emu):
    classpath, kwargs = STORED_OPERATION
    operation = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=0)
    payload, _ = await first_event(
        load(classpath, {**kwargs, "operation_id": operation["id"], "deadline": FAR_FUTURE})
    )
    assert payload["status"] == "success" and payload["operation_id"] == operation["id"]
    assert payload["operation"]["status"] == "SUCCESS"


@pytest.mark.integration
async def test_a_stored_app_batch_trigger_runs_to_failure(emu):
    classpath, kwargs = STORED_APP_BATCH
    emu.state.app_projects["ap1"] = {
        "id": "ap1",
        "app_id": "a",
        "name": "p",
        "status": "READY",
        "parameters": {},
    }
    emu.state.app_batches["b1"] = {"id": "b1", "app_project_id": "ap1", "name": "b", "status": "NO_MONEY"}
    payload, _ = await first_event(load(classpath, {**kwargs, "deadline": FAR_FUTURE}))
    assert payload["status"] == "failure" and "ended with status NO_MONEY" in payload["message"]
    assert payload["batch_id"] == "b1" and payload["batch_status"] == "NO_MONEY"


@pytest.mark.integration
async def test_a_stored_assignments_trigger_runs_to_success(emu):
    classpath, kwargs = STORED_ASSIGNMENTS
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    emu.bulk_load_assignments(pool_id, 3)
    payload, _ = await first_event(load(classpath, {**kwargs, "pool_id": pool_id, "deadline": FAR_FUTURE}))
    assert payload["status"] == "success" and payload["pool_id"] == pool_id and payload["count"] == 3
    assert payload["previous_watermark"] == kwargs["watermark"] and payload["watermark"] > kwargs["watermark"]
