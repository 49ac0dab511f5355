"""A DAG whose tasks fail in the ways a token could leak through an error: used by test_reliability_secrets.py.

Every task fails (retries off): a pool that does not exist, a project config the server rejects, a connection
whose token is wrong (that token is a secret too), and a connection whose API cannot be reached.
"""

from __future__ import annotations

from airflow.sdk import DAG

from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.operators.project import TolokaCreateProjectOperator

with DAG(
    dag_id="rel_b_secret_failures",
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    tags=["test"],
) as dag:
    TolokaOpenPoolOperator(task_id="open_missing_pool", pool_id="999999")
    TolokaCreateProjectOperator(task_id="create_invalid_project", project={"public_name": "no task spec"})
    TolokaGetAssignmentsOperator(task_id="fetch_with_wrong_token", pool_id="1", toloka_conn_id="toloka_wrong_token")
    TolokaOpenPoolOperator(task_id="open_with_unreachable_api", pool_id="1", toloka_conn_id="toloka_unreachable")
