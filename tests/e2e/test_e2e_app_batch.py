"""The ``app_batch`` example DAG runs to success with ``dag.test()`` against the emulator's Apps API.

An App project is created over HTTP (as a user would in the Toloka UI), its id is given to the DAG as the
``app_project_id`` param; the DAG sends 40 tickets as one batch, starts it, waits in the triggerer, and writes the
completed items to a JSONL file. A second run with the same run id would find its batch by name (covered in the
operator tests); here we check the end state: one batch, 40 items, every one COMPLETED with a category.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
CLASSES = [{"value": name, "label": name.title()} for name in ("billing", "delivery", "account", "other")]

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_app_batch_example_runs_end_to_end(airflow_db, toloka_emulator_factory, monkeypatch, tmp_path):
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    emulator = toloka_emulator_factory(crowd=10, speed=500.0, seed=5)
    api = requests.Session()
    api.headers["Authorization"] = f"OAuth {emulator.token}"
    apps = f"{emulator.url}/api/app/v0"
    project = api.post(
        f"{apps}/app-projects",
        json={"app_id": "text-classification", "name": "Tickets", "parameters": {"instruction_classes": CLASSES}},
        timeout=10,
    ).json()
    deadline = time.monotonic() + 10
    while api.get(f"{apps}/app-projects/{project['id']}", timeout=10).json()["status"] != "READY":
        assert time.monotonic() < deadline, "the App project never became READY"
        time.sleep(0.05)

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}),
    )
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(tmp_path))
    dag = DagBag(dag_folder=str(EXAMPLES)).get_dag("app_batch")
    dag.get_task("wait_for_batch").poke_interval = 0.2

    run = dag.test(run_conf={"app_project_id": project["id"], "items": 40})

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    batches = api.get(f"{apps}/app-projects/{project['id']}/batches", timeout=10).json()["content"]
    assert len(batches) == 1 and batches[0]["status"] == "COMPLETED" and batches[0]["items_count"] == 40
    # The items went from a file (XCom: its path), not through XCom.
    [items_in] = list(tmp_path.glob("app_batch/*/items_in.jsonl"))
    assert len(items_in.read_text().splitlines()) == 40
    [items_file] = list(tmp_path.glob("app_batch/*/items.jsonl"))
    items = [json.loads(line) for line in items_file.read_text().splitlines()]
    assert len(items) == 40 and {item["status"] for item in items} == {"COMPLETED"}
    assert {item["output_data"]["category"] for item in items} <= {c["value"] for c in CLASSES}
