"""Toloka triggers: serialize() round trip, and run() to each terminal event against the in-process emulator.

State changes happen inside the trigger's injected sleep (called between two polls), so every test is a
fixed sequence of polls with no timing luck.
"""

from __future__ import annotations

import json
import time

import pytest

from toloka_provider.triggers.app_batch import TolokaAppBatchTrigger
from toloka_provider.triggers.assignments import TolokaAssignmentsTrigger
from toloka_provider.triggers.operation import TolokaOperationTrigger
from toloka_provider.triggers.pool import TolokaPoolTrigger

FAR_FUTURE = time.time() + 3600


@pytest.mark.parametrize(
    "trigger",
    [
        TolokaPoolTrigger("12", "conn", success_reasons=["completed", "MANUAL"], kind="training", policy={"interval": 7, "deadline": 123.5}),
        TolokaOperationTrigger("op-1", "conn", policy={"interval": 2.0, "deadline": None, "max_consecutive_errors": 3}),
        TolokaAppBatchTrigger("ap", "b1", "conn", success_statuses=("COMPLETED", "STOPPED"), policy={"interval": 1, "deadline": 9.0}),
        TolokaAssignmentsTrigger("7", "conn", statuses=["SUBMITTED", "ACCEPTED"], min_count=5,
                                 watermark="2024-01-01T10:00:00.5Z", consistency_lag=0, policy={"progress_interval": 10}),
    ],
)
def test_serialize_round_trips(trigger):
    path, kwargs = trigger.serialize()
    assert path == f"{type(trigger).__module__}.{type(trigger).__name__}"
    json.dumps(kwargs)  # Airflow stores these kwargs; they must be plain JSON
    again = type(trigger)(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert again == trigger


def test_normalised_arguments_and_validation():
    trigger = TolokaPoolTrigger("12", success_reasons="completed")
    assert trigger.serialize()[1]["success_reasons"] == ["COMPLETED"]
    assert TolokaAssignmentsTrigger("7", watermark="2024-01-01T10:00:00.500000").watermark == "2024-01-01T10:00:00.500000"
    with pytest.raises(ValueError, match="kind must be one of pool, training, got 'pond'"):
        TolokaPoolTrigger("1", kind="pond")
    with pytest.raises(ValueError, match="success_reasons must name at least one status"):
        TolokaPoolTrigger("1", success_reasons=[])
    with pytest.raises(ValueError, match="poll_interval must be a number >= 0"):
        TolokaOperationTrigger("op", policy={"interval": -1})
    with pytest.raises(ValueError, match="min_count must be an integer from 1 to 1000, got 0"):
        TolokaAssignmentsTrigger("7", min_count=0)


# -- run() against the emulator ---------------------------------------------------------------------------


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


async def run_trigger(trigger, on_sleep=None):
    """Run to the first event; ``on_sleep(n)`` runs at the n-th pause between polls (n = 1, 2, ...)."""
    pauses = []

    async def fake_sleep(seconds):
        pauses.append(seconds)
        assert len(pauses) < 50, "the trigger kept polling"
        if on_sleep:
            on_sleep(len(pauses))

    trigger._sleep = fake_sleep
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return events[0].payload, pauses


@pytest.mark.integration
async def test_pool_success_after_waiting(emu):
    pool_id = add_pool(emu, "OPEN")

    def close(n):
        emu.state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")

    payload, pauses = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu", policy={"interval": 30, "deadline": FAR_FUTURE}), close)
    assert payload == {"status": "success", "pool_id": pool_id, "pool_status": "CLOSED", "close_reason": "COMPLETED"}
    assert pauses == [30.0]


@pytest.mark.integration
async def test_pool_keeps_waiting_through_for_update_and_locked(emu):
    pool_id = add_pool(emu, "CLOSED", "FOR_UPDATE")
    steps = {1: ("LOCKED", None), 2: ("OPEN", None), 3: ("CLOSED", "COMPLETED")}

    def advance(n):
        status, reason = steps[n]
        emu.state.set_pool_status("pools", pool_id, status, reason)

    payload, pauses = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu", policy={"interval": 1, "deadline": FAR_FUTURE}), advance)
    assert payload["status"] == "success"
    assert len(pauses) == 3


@pytest.mark.integration
@pytest.mark.parametrize("reason", ["NOT_ENOUGH_BALANCE", "BLOCKED", "ASSIGNMENTS_LIMIT_EXCEEDED", "MANUAL"])
async def test_pool_fails_fast_with_the_reason(emu, reason):
    pool_id = add_pool(emu, "CLOSED", reason)
    payload, pauses = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu", policy={"deadline": FAR_FUTURE}))
    assert pauses == []
    assert payload["status"] == "failure"
    assert payload["close_reason"] == reason
    assert f"Toloka pool {pool_id} closed with reason {reason}" in payload["message"]


@pytest.mark.integration
async def test_archived_pool_fails(emu):
    pool_id = add_pool(emu, "ARCHIVED", "MANUAL")
    payload, _ = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu"))
    assert payload["status"] == "failure"
    assert f"Toloka pool {pool_id} is ARCHIVED" in payload["message"]


@pytest.mark.integration
async def test_training_kind_reads_trainings(emu):
    training_id = add_pool(emu, "CLOSED", "MANUAL", kind="trainings")
    trigger = TolokaPoolTrigger(training_id, "toloka_emu", success_reasons=("MANUAL",), kind="training")
    payload, _ = await run_trigger(trigger)
    assert payload == {"status": "success", "pool_id": training_id, "pool_status": "CLOSED", "close_reason": "MANUAL"}


@pytest.mark.integration
async def test_timeout_when_the_deadline_passes(emu):
    pool_id = add_pool(emu, "OPEN")
    trigger = TolokaPoolTrigger(pool_id, "toloka_emu", policy={"deadline": time.time() - 1})
    payload, pauses = await run_trigger(trigger)
    assert pauses == []  # one check, then the deadline
    assert payload["status"] == "timeout"
    assert f"Toloka pool {pool_id} did not finish before the deadline" in payload["message"]


@pytest.mark.integration
async def test_sleep_never_overshoots_the_deadline(emu):
    pool_id = add_pool(emu, "OPEN")
    trigger = TolokaPoolTrigger(pool_id, "toloka_emu", policy={"interval": 600, "deadline": 1000.0, "progress_interval": 3600})
    now = [900.0]
    trigger._clock = lambda: now[0]
    payload, pauses = await run_trigger(trigger, on_sleep=lambda n: now.__setitem__(0, 1000.0))
    assert payload["status"] == "timeout"
    assert pauses == [100.0]  # min(poll_interval, time left), then one last check at the deadline


@pytest.mark.integration
async def test_missing_pool_is_an_error_that_says_what_to_fix(emu):
    payload, _ = await run_trigger(TolokaPoolTrigger("999999", "toloka_emu"))
    assert payload["status"] == "error"
    assert payload["retryable"] is False
    assert "Toloka pool 999999 does not exist" in payload["message"]


@pytest.mark.integration
async def test_rejected_token_is_an_error_naming_the_connection(emu, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_BADTOKEN",
        json.dumps({"conn_type": "toloka", "password": "wrong-token-123", "host": emu.url, "extra": {"retries": 0}}),
    )
    pool_id = add_pool(emu)
    payload, _ = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_badtoken"))
    assert payload["status"] == "error"
    assert "API token of Airflow connection 'toloka_badtoken' was rejected" in payload["message"]
    assert "wrong-token-123" not in payload["message"]


@pytest.mark.integration
async def test_bad_connection_is_an_error_event(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_NOTOKEN", json.dumps({"conn_type": "toloka", "host": "http://127.0.0.1:9"}))
    payload, _ = await run_trigger(TolokaPoolTrigger("1", "toloka_notoken"))
    assert payload["status"] == "error"
    assert "Toloka connection 'toloka_notoken': no API token" in payload["message"]


@pytest.mark.integration
async def test_transient_errors_are_polled_through(emu):
    pool_id = add_pool(emu, "CLOSED", "COMPLETED")
    emu.set_faults("503=1.0")

    def recover(n):
        if n == 2:
            emu.clear_faults()

    payload, pauses = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu", policy={"interval": 5}), recover)
    assert payload["status"] == "success"
    assert pauses == [5.0, 5.0]


@pytest.mark.integration
async def test_too_many_transient_errors_in_a_row_is_a_retryable_error(emu):
    pool_id = add_pool(emu)
    emu.set_faults("500=1.0")
    payload, pauses = await run_trigger(TolokaPoolTrigger(pool_id, "toloka_emu", policy={"max_consecutive_errors": 2}))
    assert payload["status"] == "error"
    assert payload["retryable"] is True
    assert "3 transient errors in a row" in payload["message"]
    assert len(pauses) == 2


@pytest.mark.integration
async def test_progress_is_logged_when_due(emu):
    pool_id = add_pool(emu, "OPEN")

    def close(n):
        emu.state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")

    trigger = TolokaPoolTrigger(pool_id, "toloka_emu", policy={"progress_interval": 0})
    trigger._log = RecordingLog()
    payload, _ = await run_trigger(trigger, close)
    assert payload["status"] == "success"
    # One waiting poll, one progress line: the pool's state and its completion percentage (analytics).
    assert trigger._log.lines == [("info", f"Toloka pool {pool_id} is OPEN: 0% complete")]


class RecordingLog:
    """Stands in for a trigger's logger: keeps (level, formatted message)."""

    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(("info", message % args))

    def warning(self, message, *args):
        self.lines.append(("warning", message % args))


@pytest.mark.integration
@pytest.mark.parametrize(("final", "expected"), [("SUCCESS", "success"), ("FAIL", "failure")])
async def test_operation_trigger(emu, final, expected):
    op = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, status=final, details={"reason": "x"}, delay=3600)

    def finish(n):
        emu.state._operation_timeline.pop(op["id"], None)  # the operation completes now

    payload, pauses = await run_trigger(TolokaOperationTrigger(op["id"], "toloka_emu", policy={"deadline": FAR_FUTURE}), finish)
    assert len(pauses) == 1
    assert payload["status"] == expected
    assert payload["operation_id"] == op["id"]
    assert payload["operation"]["status"] == final
    if expected == "failure":
        assert f"Toloka operation {op['id']} failed" in payload["message"]


@pytest.mark.integration
async def test_operation_trigger_timeout(emu):
    op = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=3600)
    payload, _ = await run_trigger(TolokaOperationTrigger(op["id"], "toloka_emu", policy={"deadline": time.time() - 1}))
    assert payload["status"] == "timeout"


def add_batch(emu, status):
    emu.state.app_projects["ap1"] = {"id": "ap1", "app_id": "a", "name": "p", "status": "READY", "parameters": {}}
    emu.state.app_batches["b1"] = {"id": "b1", "app_project_id": "ap1", "name": "b", "status": status}


@pytest.mark.integration
async def test_app_batch_trigger_success(emu):
    add_batch(emu, "PROCESSING")

    def complete(n):
        emu.state.app_batches["b1"]["status"] = "COMPLETED"

    payload, _ = await run_trigger(TolokaAppBatchTrigger("ap1", "b1", "toloka_emu"), complete)
    assert payload == {
        "status": "success", "batch_id": "b1", "batch_status": "COMPLETED", "items_count": 0, "items_processed_count": 0,
    }


@pytest.mark.integration
@pytest.mark.parametrize("status", ["NO_MONEY", "ERROR", "CANCELLED"])
async def test_app_batch_trigger_failure(emu, status):
    add_batch(emu, status)
    payload, _ = await run_trigger(TolokaAppBatchTrigger("ap1", "b1", "toloka_emu"))
    assert payload["status"] == "failure"
    assert f"Toloka app batch b1 (app project ap1) ended with status {status}" in payload["message"]


@pytest.mark.integration
async def test_assignments_trigger_counts_past_the_watermark(emu):
    pool_id = add_pool(emu)
    emu.bulk_load_assignments(pool_id, 2)

    def more(n):
        emu.bulk_load_assignments(pool_id, 3)

    trigger = TolokaAssignmentsTrigger(pool_id, "toloka_emu", min_count=4, consistency_lag=0)
    payload, pauses = await run_trigger(trigger, more)
    assert len(pauses) == 1
    assert payload["status"] == "success"
    assert payload["count"] == 5 and payload["count_is_exact"] is True
    newest = max(a["submitted"] for a in emu.state.assignments.values())
    assert payload["watermark"].startswith(newest[:19])

    later = TolokaAssignmentsTrigger(pool_id, "toloka_emu", min_count=1, consistency_lag=0, watermark=payload["watermark"],
                                     policy={"deadline": time.time() - 1})
    payload2, _ = await run_trigger(later)
    assert payload2["status"] == "timeout"  # nothing new after the watermark


class _Config:
    def __init__(self, verify):
        self.verify = verify


class _Client:
    def __init__(self, verify=True):
        self.config = _Config(verify)


async def test_first_request_blocking_work_runs_once_in_a_worker_thread(monkeypatch):
    """The TLS context (CA-bundle loading) is built off the event loop, once for all the triggers waiting."""
    import asyncio
    import threading

    from toloka_provider.triggers import _polling

    built = []

    def build(verify):
        built.append((verify, threading.get_ident()))
        time.sleep(0.05)  # while this blocks, the other triggers must wait for it, not build their own

    monkeypatch.setattr("toloka_provider.client.aio._shared_ssl_context", build)
    monkeypatch.setattr(_polling, "_warmups", {})

    await asyncio.gather(*(_polling._prepare_transport(_Client()) for _ in range(20)))
    await _polling._prepare_transport(_Client())  # done already: no second build
    await _polling._prepare_transport(_Client(verify=False))  # no TLS: imports only, no context

    assert [verify for verify, _ in built] == [True]
    assert built[0][1] != threading.get_ident()


async def test_a_trigger_cancelled_during_the_warm_up_does_not_cancel_it_for_the_others(monkeypatch):
    import asyncio

    from toloka_provider.triggers import _polling

    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    built = []

    def build(verify):
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)
        built.append(verify)

    monkeypatch.setattr("toloka_provider.client.aio._shared_ssl_context", build)
    monkeypatch.setattr(_polling, "_warmups", {})
    first = asyncio.ensure_future(_polling._prepare_transport(_Client()))
    second = asyncio.ensure_future(_polling._prepare_transport(_Client()))
    await asyncio.sleep(0.05)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    await asyncio.wait_for(second, timeout=30)

    assert built == [True]


async def test_triggers_starting_together_share_one_connection_read_and_later_ones_read_again(monkeypatch):
    import asyncio

    from toloka_provider.hooks import toloka as hook_module

    reads = []

    async def read_settings(conn_id):
        reads.append(conn_id)
        await asyncio.sleep(0.01)
        return f"settings of {conn_id} #{len(reads)}"

    monkeypatch.setattr(hook_module, "_read_settings", read_settings)

    def settings(conn_id):  # a new hook per trigger, as each trigger's run() makes
        return hook_module.TolokaHook(conn_id).aget_connection_settings()

    together = await asyncio.gather(*(settings("conn_a") for _ in range(50)))
    other = await settings("conn_b")
    later = await settings("conn_a")

    assert together == ["settings of conn_a #1"] * 50
    assert other == "settings of conn_b #2"
    assert later == "settings of conn_a #3"  # nothing is kept once the read is done
    assert reads == ["conn_a", "conn_b", "conn_a"]
    assert hook_module._reads_in_flight == {}
