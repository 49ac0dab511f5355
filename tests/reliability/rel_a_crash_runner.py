"""Run one Toloka operator's ``execute(context)`` in this process, as an Airflow worker would; print its XCom.

Used by ``test_reliability_crash.py``, which starts it as a subprocess, SIGKILLs it part-way and starts it
again (Airflow's retry of the same task instance: same dag id, run id and task id, next try number).

    python rel_a_crash_runner.py <create_tasks|review> '<operator kwargs as JSON>' <try_number>

The connection comes from ``AIRFLOW_CONN_TOLOKA_DEFAULT``. The last line printed is ``XCOM <json>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rel_a_harness import make_context

DAG_ID = "reliability_crash"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def build(kind: str, kwargs: dict):
    if kind == "create_tasks":
        from toloka_provider.operators.tasks import TolokaCreateTasksOperator

        return TolokaCreateTasksOperator(task_id="upload_tasks", **kwargs)
    if kind == "review":
        from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator

        return TolokaReviewAssignmentsOperator(task_id="review_assignments", **kwargs)
    raise SystemExit(f"unknown operator kind {kind!r}")


def main() -> None:
    kind, kwargs, try_number = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    operator = build(kind, kwargs)
    context = make_context(dag_id=DAG_ID, run_id=RUN_ID, task_id=operator.task_id, try_number=try_number)
    print("STARTED", flush=True)
    result = operator.execute(context)
    print("XCOM " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
