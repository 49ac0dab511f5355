"""Triggers keep their classpaths and serialized kwargs: a task deferred before an upgrade resumes after it.

``STORED`` is ``serialize()`` of each trigger as the code at commit 5aee127 wrote it (captured from that code,
verbatim, key order included). A triggerer that upgrades while tasks are deferred rebuilds triggers from exactly
these rows: each must load through Airflow's own loader and run to its event, and today's code must write the
same row for the same wait, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from airflow.sdk.module_loading import import_string

from toloka_provider.triggers.app_batch import TolokaAppBatchTrigger
from toloka_provider.triggers.assignments import TolokaAssignmentsTrigger
from toloka_provider.triggers.operation import TolokaOperationTrigger
from toloka_provider.triggers.pool import TolokaPoolTrigger
from toloka_provider.triggers.pool_events import TolokaPoolClosedEventTrigger

FAR_FUTURE = 4102444800.0  # 2100-01-01: the stored deadline has not passed

STORED = {
    'pool_default': (
        'toloka_provider.triggers.pool.TolokaPoolTrigger',
        {"pool_id": "12", "success_reasons": ["COMPLETED"], "kind": "pool", "toloka_conn_id": "toloka_default", "policy": {"interval": 30.0, "deadline": None, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'pool_full': (
        'toloka_provider.triggers.pool.TolokaPoolTrigger',
        {"pool_id": "12", "success_reasons": ["COMPLETED", "MANUAL"], "kind": "training", "toloka_conn_id": "toloka_emu", "policy": {"interval": 60.0, "deadline": 1893456000.0, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'operation_default': (
        'toloka_provider.triggers.operation.TolokaOperationTrigger',
        {"operation_id": "op-1", "toloka_conn_id": "toloka_default", "policy": {"interval": 5.0, "deadline": None, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'operation_full': (
        'toloka_provider.triggers.operation.TolokaOperationTrigger',
        {"operation_id": "op-1", "toloka_conn_id": "toloka_emu", "policy": {"interval": 5.0, "deadline": 1893456000.0, "max_consecutive_errors": 3, "progress_interval": 300.0}},
    ),
    'app_batch_default': (
        'toloka_provider.triggers.app_batch.TolokaAppBatchTrigger',
        {"app_project_id": "ap1", "batch_id": "b1", "success_statuses": ["COMPLETED"], "toloka_conn_id": "toloka_default", "policy": {"interval": 30.0, "deadline": None, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'app_batch_full': (
        'toloka_provider.triggers.app_batch.TolokaAppBatchTrigger',
        {"app_project_id": "ap1", "batch_id": "b1", "success_statuses": ["COMPLETED", "STOPPED"], "toloka_conn_id": "toloka_emu", "policy": {"interval": 60.0, "deadline": 1893456000.0, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'assignments_default': (
        'toloka_provider.triggers.assignments.TolokaAssignmentsTrigger',
        {"pool_id": "7", "statuses": ["SUBMITTED"], "min_count": 1, "watermark": None, "consistency_lag": 60.0, "toloka_conn_id": "toloka_default", "policy": {"interval": 60.0, "deadline": None, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'assignments_full': (
        'toloka_provider.triggers.assignments.TolokaAssignmentsTrigger',
        {"pool_id": "7", "statuses": ["SUBMITTED", "ACCEPTED"], "min_count": 2, "watermark": "2024-01-01T10:00:00.500000", "consistency_lag": 0.0, "toloka_conn_id": "toloka_emu", "policy": {"interval": 60.0, "deadline": 1893456000.0, "max_consecutive_errors": 10, "progress_interval": 300.0}},
    ),
    'pool_events_default': (
        'toloka_provider.triggers.pool_events.TolokaPoolClosedEventTrigger',
        {"project_id": "123", "toloka_conn_id": "toloka_default", "since": None, "close_reasons": None, "poll_interval": 60.0, "page_size": 300},
    ),
    'pool_events_full': (
        'toloka_provider.triggers.pool_events.TolokaPoolClosedEventTrigger',
        {"project_id": "123", "toloka_conn_id": "toloka_emu", "since": "2026-01-01T00:00:00.000000", "close_reasons": ["COMPLETED"], "poll_interval": 30.0, "page_size": 100},
    ),
}

_POLICY = {"interval": 60.0, "deadline": 1893456000.0, "max_consecutive_errors": 10, "progress_interval": 300.0}


def todays(name: str):
    """The trigger for the same wait as ``STORED[name]``, built by today's code as a task builds it."""
    return {
        "pool_default": lambda: TolokaPoolTrigger("12"),
        "pool_full": lambda: TolokaPoolTrigger(12, "toloka_emu", ["completed", "MANUAL"], "training", policy=_POLICY),
        "operation_default": lambda: TolokaOperationTrigger("op-1"),
        "operation_full": lambda: TolokaOperationTrigger(
            "op-1", "toloka_emu", policy={**_POLICY, "interval": 5.0, "max_consecutive_errors": 3}
        ),
        "app_batch_default": lambda: TolokaAppBatchTrigger("ap1", "b1"),
        "app_batch_full": lambda: TolokaAppBatchTrigger(
            "ap1", "b1", "toloka_emu", ["COMPLETED", "STOPPED"], policy=_POLICY
        ),
        "assignments_default": lambda: TolokaAssignmentsTrigger("7"),
        "assignments_full": lambda: TolokaAssignmentsTrigger(
            "7", "toloka_emu", ["SUBMITTED", "ACCEPTED"], 2, dt.datetime(2024, 1, 1, 10, 0, 0, 500000), 0.0,
            policy=_POLICY,
        ),
        "pool_events_default": lambda: TolokaPoolClosedEventTrigger("123"),
        "pool_events_full": lambda: TolokaPoolClosedEventTrigger(
            "123", "toloka_emu", "2026-01-01T00:00:00", ["COMPLETED"], 30.0, 100
        ),
    }[name]()


def load(classpath: str, kwargs: dict):
    """What the triggerer does with a stored row: import the classpath, call it with the kwargs."""
    return import_string(classpath)(**json.loads(json.dumps(kwargs)))


@pytest.mark.parametrize("name", sorted(STORED))
def test_todays_trigger_serializes_byte_for_byte_as_before(name):
    classpath, kwargs = STORED[name]
    assert json.dumps(list(todays(name).serialize())) == json.dumps([classpath, kwargs])


@pytest.mark.parametrize("name", sorted(STORED))
def test_a_stored_row_loads_and_reserializes_unchanged(name):
    classpath, kwargs = STORED[name]
    trigger = load(classpath, kwargs)
    assert json.dumps(list(trigger.serialize())) == json.dumps([classpath, kwargs])


# -- run to an event against the in-process emulator ------------------------------------------------------


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    for conn_id in ("TOLOKA_EMU", "TOLOKA_DEFAULT"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id}",
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


def resumed(name: str, deadline: float | None = FAR_FUTURE, **wait):
    """The stored row of ``name`` with the emulator's ids and a deadline still ahead, as the triggerer loads it."""
    classpath, kwargs = STORED[name]
    return load(classpath, {**kwargs, **wait, "policy": {**kwargs["policy"], "deadline": deadline}})


@pytest.mark.integration
@pytest.mark.parametrize("name", ["pool_default", "pool_full"])
async def test_a_stored_pool_trigger_runs_to_success(emu, name):
    kind = STORED[name][1]["kind"]
    pool_id = emu.state.create(f"{kind}s", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    payload, pauses = await first_event(
        resumed(name, pool_id=pool_id), lambda: emu.state.set_pool_status(f"{kind}s", pool_id, "CLOSED", "COMPLETED")
    )
    assert payload == {"status": "success", "pool_id": pool_id, "pool_status": "CLOSED", "close_reason": "COMPLETED"}
    assert pauses == [STORED[name][1]["policy"]["interval"]]


@pytest.mark.integration
async def test_a_stored_pool_trigger_whose_deadline_passed_times_out(emu):
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    payload, pauses = await first_event(resumed("pool_default", deadline=1000.0, pool_id=pool_id))
    assert payload["status"] == "timeout" and pauses == []
    assert payload["message"].startswith(
        f"Toloka pool {pool_id} did not finish before the deadline; last seen: Toloka pool {pool_id} is OPEN. "
        "The pool stays open in Toloka and keeps spending money until it closes"
    )


@pytest.mark.integration
@pytest.mark.parametrize("name", ["operation_default", "operation_full"])
async def test_a_stored_operation_trigger_runs_to_success(emu, name):
    operation = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=0)
    payload, _ = await first_event(resumed(name, operation_id=operation["id"]))
    assert payload["status"] == "success" and payload["operation_id"] == operation["id"]
    assert payload["operation"]["status"] == "SUCCESS"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["app_batch_default", "app_batch_full"])
async def test_a_stored_app_batch_trigger_runs_to_failure(emu, name):
    emu.state.app_projects["ap1"] = {"id": "ap1", "app_id": "a", "name": "p", "status": "READY", "parameters": {}}
    emu.state.app_batches["b1"] = {"id": "b1", "app_project_id": "ap1", "name": "b", "status": "NO_MONEY"}
    payload, _ = await first_event(resumed(name))
    assert payload["status"] == "failure" and "ended with status NO_MONEY" in payload["message"]
    assert payload["batch_id"] == "b1" and payload["batch_status"] == "NO_MONEY"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["assignments_default", "assignments_full"])
async def test_a_stored_assignments_trigger_runs_to_success(emu, name):
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    emu.bulk_load_assignments(pool_id, 3)
    payload, _ = await first_event(resumed(name, pool_id=pool_id, consistency_lag=0.0))
    assert payload["status"] == "success" and payload["pool_id"] == pool_id and payload["count"] == 3
    assert payload["previous_watermark"] == STORED[name][1]["watermark"]
