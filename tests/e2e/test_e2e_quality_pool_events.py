"""Issue #15, acceptance 3: ``dags_examples/pool_closed_consumer.py``, scheduled on an AssetWatcher, end to end.

A real AssetWatcher run needs a scheduler and a triggerer, which ``dag.test()`` does not start. So the test
does what they would, in two halves, against the in-process emulator and its crowd:

1. The DAG file is parsed (DagBag), and the watcher's trigger is taken from the parsed DAG's Asset, serialized
   and re-created from its kwargs as the triggerer does; it runs (real polling, a dict as the asset state
   store) while two pools of the project are worked by the crowd and close: exactly one event per pool.
2. For each event the consumer DAG runs once with ``dag.test()``, the event's payload given in the run's conf
   (the DAG reads ``triggering_asset_events`` first and falls back to ``conf["pool_events"]``); each run
   writes the closed pool's summary, named by the event key.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from toloka_provider.client import TolokaClient
from toloka_provider.triggers.pool_events import TolokaPoolClosedEventTrigger

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "dags_examples" / "pool_closed_consumer.py"
PROJECT = {
    "public_name": "pool events",
    "task_spec": {
        "input_spec": {"text": {"type": "string"}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["a", "b"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


class DictStateStore:
    def __init__(self) -> None:
        self.data: dict = {}

    async def aget(self, key, default=None):
        return self.data.get(key, default)

    async def aset(self, key, value):
        self.data[key] = json.loads(json.dumps(value))


def _pool(client, project_id: str, tasks: int) -> str:
    pool = client.create_pool({
        "project_id": project_id, "private_name": f"batch of {tasks}", "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 300, "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": True, "auto_close_after_complete_delay_seconds": 0,
        "defaults": {"default_overlap_for_new_task_suites": 2, "default_overlap_for_new_tasks": 2},
    })
    client.create_tasks([{"pool_id": pool.id, "input_values": {"text": f"t{i}"}, "overlap": 2} for i in range(tasks)])
    return str(pool.id)


async def _events_until(trigger, count: int, opened, timeout: float = 60.0) -> list[dict]:
    """Run the trigger (real sleeps) until ``count`` events, then a few more polls that must add nothing."""
    events: list[dict] = []
    extra_polls = 0
    real_sleep = trigger._sleep

    async def sleep(seconds):
        nonlocal extra_polls
        opened()  # open the pools once the watcher has its baseline
        if len(events) >= count:
            extra_polls += 1
            if extra_polls > 3:
                raise asyncio.CancelledError
        await real_sleep(seconds)

    trigger._sleep = sleep
    started = time.monotonic()
    try:
        async for event in trigger.run():
            events.append(event.payload)
            assert time.monotonic() - started < timeout
    except asyncio.CancelledError:
        pass
    return events


def test_pool_closed_consumer_runs_once_per_closed_pool(airflow_db, toloka_emulator_factory, monkeypatch, tmp_path):
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    emulator = toloka_emulator_factory(crowd=4, seed=3, speed=2000.0, operation_delay=0.0)
    client = TolokaClient(emulator.token, url=emulator.url, retries=2, timeout=10)
    project_id = client.create_project(PROJECT).id
    pools = [_pool(client, project_id, 3), _pool(client, project_id, 5)]

    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT",
                       json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}))
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("TOLOKA_POOL_EVENTS_PROJECT_ID", project_id)

    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    dag = bag.get_dag("pool_closed_consumer")
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "toloka_provider.triggers.pool_events.TolokaPoolClosedEventTrigger"
    assert kwargs["project_id"] == project_id and kwargs["poll_interval"] == 0.2

    trigger = TolokaPoolClosedEventTrigger(**kwargs)  # as the triggerer re-creates it
    trigger.asset_state_store = DictStateStore()
    state = {"opened": False}

    def open_pools():
        if not state["opened"]:
            state["opened"] = True
            for pool_id in pools:
                client.open_pool(pool_id)

    events = asyncio.run(_events_until(trigger, 2, open_pools))
    assert sorted(e["pool_id"] for e in events) == sorted(pools)
    assert {e["close_reason"] for e in events} == {"COMPLETED"}

    for event in events:
        run = dag.test(run_conf={"pool_events": [event]})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states

    summaries = sorted((tmp_path / "out" / "pool_closed").glob("*.json"))
    assert len(summaries) == 2
    by_pool = {s["pool_id"]: s for s in (json.loads(p.read_text()) for p in summaries)}
    assert set(by_pool) == set(pools)
    for pool_id, tasks in zip(pools, (3, 5), strict=True):
        assert by_pool[pool_id]["assignments"] == {"ACCEPTED": 2 * tasks}
        assert by_pool[pool_id]["event_key"].startswith(f"{pool_id}@")
