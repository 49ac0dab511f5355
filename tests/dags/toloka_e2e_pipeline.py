"""Test DAGs for the provider's end-to-end tests (``tests/e2e/test_e2e_pipeline.py``), run with ``dag.test()``.

One small labeling pipeline built twice: ``toloka_e2e_deferrable`` waits for the pool in the triggerer
(``dag.test()`` runs the trigger in line), ``toloka_e2e_poke`` waits by poking. Create project and pool,
upload 20 tasks, open, wait, fetch the submitted assignments to a file, accept them all, aggregate by
majority vote. No retries: a failure must fail the run at once. Outputs go under ``$TOLOKA_E2E_OUTPUT``;
a failing task writes its error to ``<output>/<dag_id>.<task_id>.error`` for the test to read.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import DAG

from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.pool import TolokaCreatePoolOperator, TolokaOpenPoolOperator
from toloka_provider.operators.project import TolokaCreateProjectOperator
from toloka_provider.operators.tasks import TolokaCreateTasksOperator
from toloka_provider.sensors.pool import TolokaPoolSensor

OUTPUT = os.environ.get("TOLOKA_E2E_OUTPUT", "/tmp/toloka-e2e")

PROJECT = {
    "public_name": "E2E: is the number even",
    "public_description": "Answer yes or no",
    "task_spec": {
        "input_spec": {"number": {"type": "integer", "required": True}},
        "output_spec": {"even": {"type": "string", "required": True, "allowed_values": ["yes", "no"]}},
        # Template Builder, not classic markup: operator configs are Jinja-templated, and "{{number}}" is Jinja.
        "view_spec": {"type": "tb", "config": '{"view": {"type": "view.text", "content": {"type": "data.input", "path": "number"}}}'},
    },
    "assignments_issuing_type": "AUTOMATED",
}
POOL = {
    "private_name": "E2E pool",
    "may_contain_adult_content": False,
    "reward_per_assignment": 0.01,
    "assignment_max_duration_seconds": 300,
    "will_expire": "2099-01-01T00:00:00",
    "auto_accept_solutions": False,
    "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
    "mixer_config": {"real_tasks_count": 2, "golden_tasks_count": 0, "training_tasks_count": 0},
}
TASKS = [{"input_values": {"number": number}} for number in range(1, 21)]


def record_failure(context) -> None:
    """Keep the error of a failed task where the test can read it."""
    ti = context["ti"]
    Path(OUTPUT).mkdir(parents=True, exist_ok=True)
    Path(OUTPUT, f"{ti.dag_id}.{ti.task_id}.error").write_text(str(context.get("exception")))


def build(dag_id: str, deferrable: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        default_args={"retries": 0, "on_failure_callback": record_failure},
        tags=["toloka-e2e"],
    ) as dag:
        project = TolokaCreateProjectOperator(task_id="create_project", project=PROJECT)
        pool = TolokaCreatePoolOperator(task_id="create_pool", pool_config=POOL, project_id=project.output)
        upload = TolokaCreateTasksOperator(task_id="upload_tasks", pool_id=pool.output, tasks=TASKS, allow_defaults=True)
        open_pool = TolokaOpenPoolOperator(task_id="open_pool", pool_id=pool.output)
        wait = TolokaPoolSensor(
            task_id="wait_for_pool",
            pool_id=pool.output,
            deferrable=deferrable,
            poke_interval=0.5,
            timeout=120,
            mode="poke",
        )
        fetch = TolokaGetAssignmentsOperator(
            task_id="fetch_assignments",
            pool_id=pool.output,
            use_data_interval=False,
            output=f"{OUTPUT}/{dag_id}/assignments.jsonl",
        )
        review = TolokaReviewAssignmentsOperator(
            task_id="review", assignments_path=f"{OUTPUT}/{dag_id}/assignments.jsonl", verdict="accept_all"
        )
        aggregate = TolokaAggregateLocallyOperator(
            task_id="aggregate",
            assignments_path=f"{OUTPUT}/{dag_id}/assignments.jsonl",
            fields=["even"],
            method="majority",
            output=f"{OUTPUT}/{dag_id}/labels.jsonl",
        )
        upload >> open_pool >> wait >> fetch >> [review, aggregate]
    return dag


toloka_e2e_deferrable = build("toloka_e2e_deferrable", deferrable=True)
toloka_e2e_poke = build("toloka_e2e_poke", deferrable=False)
