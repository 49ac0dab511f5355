"""Issue #4, acceptance 3: the provider's pipeline end to end with ``dag.test()`` against the in-process emulator.

The DAGs are in ``tests/dags/toloka_e2e_pipeline.py``: create project and pool, upload, open, wait for the pool
(deferrable: the trigger runs in line in ``dag.test()``; poke: the sensor polls), fetch the assignments to a
file, accept them, aggregate. A requester without money makes the pool close NOT_ENOUGH_BALANCE, and the
sensor then fails at once with the pool and the reason in its error, instead of waiting out its timeout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"
TOKEN = "e2e-token"

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def pipeline_dags(airflow_db, monkeypatch, tmp_path):
    """Point Airflow at tests/dags (outputs under tmp_path) and return a loader of its DAGs."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAGS))
    monkeypatch.setenv("TOLOKA_E2E_OUTPUT", str(tmp_path))

    def load(dag_id: str, emulator):
        monkeypatch.setenv(
            "AIRFLOW_CONN_TOLOKA_DEFAULT",
            json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}),
        )
        dagbag = DagBag(dag_folder=str(DAGS))
        assert dagbag.import_errors == {}
        return dagbag.get_dag(dag_id)

    return load


def _airflow_minor() -> tuple[int, int]:
    import airflow

    major, minor = airflow.__version__.split(".")[:2]
    return int(major), int(minor)


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.parametrize("dag_id", ["toloka_e2e_deferrable", "toloka_e2e_poke"])
def test_pipeline_runs_to_success(dag_id, pipeline_dags, toloka_emulator_factory, tmp_path, monkeypatch):
    from toloka_provider.triggers.pool import TolokaPoolTrigger

    # dag.test() runs triggers in this process: record the events the pool trigger yields.
    events = []
    original_run = TolokaPoolTrigger.run

    async def recording_run(self):
        async for event in original_run(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(TolokaPoolTrigger, "run", recording_run)
    # A slow crowd (30 assignments at 4 a second) so that the pool is still open when the sensor first looks.
    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=10, speed=4.0, seed=1)
    dag = pipeline_dags(dag_id, emulator)

    run = dag.test()

    assert run.state == "success", _states(run)
    if dag_id == "toloka_e2e_deferrable":
        assert [(e["status"], e.get("close_reason")) for e in events] == [("success", "COMPLETED")]
    else:
        assert events == []  # poke mode never defers

    assignments = [json.loads(line) for line in (tmp_path / dag_id / "assignments.jsonl").read_text().splitlines()]
    labels = [json.loads(line) for line in (tmp_path / dag_id / "labels.jsonl").read_text().splitlines()]
    # 20 tasks, 2 per suite, overlap 3: 30 assignments, every task labeled.
    assert len(assignments) == 30
    assert {row["input_values"]["number"] for row in labels} == set(range(1, 21))
    counters = emulator.counters()
    assert counters["assignments_accepted"] == 30
    assert counters["assignments_rejected"] == 0
    assert counters["double_decisions"] == 0


def test_pool_closed_for_lack_of_money_fails_the_sensor_quickly_with_the_reason(
    pipeline_dags, toloka_emulator_factory, tmp_path, capfd
):
    # 0.015 USD pays one 0.01 assignment: the crowd starts it, then the pool closes NOT_ENOUGH_BALANCE.
    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=10, speed=200.0, seed=1, balance="0.015")
    dag = pipeline_dags("toloka_e2e_poke", emulator)

    started = time.monotonic()
    run = dag.test()
    elapsed = time.monotonic() - started

    states = _states(run)
    assert run.state == "failed", states
    assert states["wait_for_pool"] == "failed"
    assert states["fetch_assignments"] == "upstream_failed"
    pool_id = next(ti for ti in run.get_task_instances() if ti.task_id == "create_pool").xcom_pull(
        task_ids="create_pool"
    )
    error = (tmp_path / "toloka_e2e_poke.wait_for_pool.error").read_text()
    if _airflow_minor() >= (3, 3):
        # From 3.3 on, dag.test() hands the failure callback the task's exception (context["exception"]).
        assert "NOT_ENOUGH_BALANCE" in error
        assert str(pool_id) in error
    else:
        # 3.2's dag.test() leaves context["exception"] unset (a task that a worker runs has it on 3.2 too):
        # the callback sees None, and the reason is in the failed task's traceback on the output.
        assert error == "None"
        out, err = capfd.readouterr()
        output = (out + err).splitlines()
        failures = [line for line in output if line.startswith("airflow.sdk.exceptions.AirflowFailException")]
        assert failures and "NOT_ENOUGH_BALANCE" in failures[0], (out + err)[-3000:]
        assert str(pool_id) in failures[0]
    # The sensor's timeout is 120 s; failing fast means well before it (the first task alone pays ~8 s).
    assert elapsed < 60
