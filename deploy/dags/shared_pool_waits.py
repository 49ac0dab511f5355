"""Deployment-tier DAG: several deferred pool waits at once, answered by one shared poll loop in the triggerer.

``make test-deploy`` opens the pools and passes their ids as ``conf["pool_ids"]`` (in order: the pools the crowd
completes, the pool it closes by hand, the pool no worker may take); each pool gets a deferrable
``TolokaPoolSensor`` on the connection ``toloka_shared_waits``, so the triggerer runs all of them on one
connection. Not an example: it lives in the deployment's own DAG bundle.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from toloka_provider.sensors.pool import TolokaPoolSensor

CONN_ID = "toloka_shared_waits"
COMPLETED = 8  # pools the crowd completes; one more is closed by hand, one more nobody may take
POLL_INTERVAL = 2.0
DEADLINE = 25.0  # the timeout of the wait on the pool nobody may take (it may pass while the others wait)

with DAG(
    dag_id="shared_pool_waits",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=COMPLETED + 2,
    default_args={"retries": 0},
    tags=["toloka", "deploy"],
) as dag:
    common = {"toloka_conn_id": CONN_ID, "deferrable": True, "poke_interval": POLL_INTERVAL}
    for number in range(COMPLETED):
        TolokaPoolSensor(
            task_id=f"wait_completed_{number}", pool_id=f"{{{{ dag_run.conf['pool_ids'][{number}] }}}}",
            timeout=600, **common,
        )  # fmt: skip
    TolokaPoolSensor(
        task_id="wait_closed_by_hand", pool_id=f"{{{{ dag_run.conf['pool_ids'][{COMPLETED}] }}}}", timeout=600, **common
    )
    TolokaPoolSensor(
        task_id="wait_past_deadline", pool_id=f"{{{{ dag_run.conf['pool_ids'][{COMPLETED + 1}] }}}}",
        timeout=DEADLINE, **common,
    )  # fmt: skip
