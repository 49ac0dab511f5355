"""Toloka Apps: classify tickets with a ready-made App instead of a project of your own.

An App project (created once in the Toloka UI from the "text classification" App, with your classes) does the
crowd management for you; you send batches of items and get the results. This DAG:

1. writes the first ``items`` tickets of the bundled dataset as App items (``{"text": ...}``) to a JSONL file;
2. creates a batch in the App project and starts it;
3. waits for the batch with the App batch sensor (deferrable: the wait runs in the triggerer);
4. fetches the batch's completed items to a JSONL file (``$TOLOKA_EXAMPLES_OUTPUT`` or
   ``<AIRFLOW_HOME>/toloka_examples``, one folder per run).

The App project id comes from the ``app_project_id`` param, or else the Airflow Variable
``toloka_app_project_id``. Retries are safe: the batch is named after the run and task, and a retry finds it;
starting a started batch is fine.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from toloka_provider.operators.app import (
    TolokaCreateAppBatchOperator,
    TolokaGetAppItemsOperator,
    TolokaStartAppBatchOperator,
)
from toloka_provider.sensors.app_batch import TolokaAppBatchSensor

TICKETS = Path(__file__).resolve().parent / "data" / "support_tickets" / "tasks.jsonl"
POLL_INTERVAL = float(os.environ.get("TOLOKA_EXAMPLES_POLL_INTERVAL", "60"))


def _output_root() -> str:
    root = os.environ.get("TOLOKA_EXAMPLES_OUTPUT") or os.path.join(
        os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "toloka_examples"
    )
    if "://" not in root:
        root = "file://" + os.path.abspath(root)
    return root.rstrip("/")


def path_safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-")


APP_PROJECT_ID = "{{ params.app_project_id or var.value.get('toloka_app_project_id') }}"

with DAG(
    dag_id="app_batch",
    description="Send tickets to a Toloka App project as one batch and collect the results",
    schedule=None,
    catchup=False,
    tags=["toloka", "example"],
    user_defined_filters={"path_safe": path_safe},
    params={
        "app_project_id": Param(
            None, type=["null", "string"], description="App project (default: Variable toloka_app_project_id)"
        ),
        "items": Param(40, type="integer", minimum=1, maximum=10000, description="How many tickets to send"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "toloka_conn_id": "toloka_default"},
    doc_md=__doc__,
) as dag:

    @task
    def load_items(params: dict, run_id: str) -> str:
        """Write the first ``items`` tickets as App items (the App's input field is ``text``) to a JSONL file.

        The XCom is the file's path, not the items: a batch may hold up to 10,000 of them.
        """
        path = ObjectStoragePath(f"{_output_root()}/app_batch/{path_safe(run_id)}/items_in.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(TICKETS, encoding="utf-8") as source, path.open("w", encoding="utf-8") as target:
            for line in source:
                if written >= int(params["items"]):
                    break
                target.write(json.dumps({"text": json.loads(line)["input_values"]["text"]}) + "\n")
                written += 1
        return str(path)

    # --8<-- [start:batch]
    create_batch = TolokaCreateAppBatchOperator(
        task_id="create_batch", app_project_id=APP_PROJECT_ID, items_path=load_items(), priority_order="FIVE"
    )
    start_batch = TolokaStartAppBatchOperator(
        task_id="start_batch", app_project_id=APP_PROJECT_ID, batch_id=create_batch.output
    )
    wait_for_batch = TolokaAppBatchSensor(
        task_id="wait_for_batch",
        app_project_id=APP_PROJECT_ID,
        batch_id=create_batch.output,
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=int(timedelta(days=2).total_seconds()),
    )
    fetch_items = TolokaGetAppItemsOperator(
        task_id="fetch_items",
        app_project_id=APP_PROJECT_ID,
        batch_id=create_batch.output,
        status="COMPLETED",
        output=_output_root() + "/app_batch/{{ run_id | path_safe }}/items.jsonl",
    )
    start_batch >> wait_for_batch >> fetch_items
    # --8<-- [end:batch]
