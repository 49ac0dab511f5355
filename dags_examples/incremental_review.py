"""Review a long-running pool as the work comes in: every 15 minutes, decide the assignments of that interval.

For a pool that stays open for days (``auto_accept_solutions: false``), each run:

1. fetches the assignments **submitted in its data interval** and still SUBMITTED, shifted back by the
   provider's one-minute consistency lag (``[start - 1 min, end - 1 min)``): consecutive intervals tile
   without gaps or overlaps, and Toloka has had a minute to make late submissions visible;
2. reviews them: a worker whose answers on the golden tasks in this batch are right less than
   ``GOLDEN_ACCURACY_THRESHOLD`` of the time is rejected with a comment, everyone else accepted. Running every
   15 minutes keeps each decision well inside the pool's auto-accept period (after it Toloka accepts by
   itself and refuses a late rejection);
3. appends the decisions it made to a per-interval JSONL file (``decisions/<start>_<end>.jsonl``).

Exactly once: a run only touches assignments that are still SUBMITTED, a review that meets one already decided
counts it as done, and the decisions file is merged by assignment id. Re-running an interval therefore changes
nothing, and a backfill over past intervals decides each assignment once.

The pool id comes from the ``pool_id`` param, or else the Airflow Variable ``toloka_review_pool_id``.
Catchup is off: turn it on (or run ``airflow dags backfill``) to review past intervals too.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, CronDataIntervalTimetable, ObjectStoragePath, Param, task

from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)

log = logging.getLogger(__name__)

GOLDEN_ACCURACY_THRESHOLD = 0.6
CONSISTENCY_LAG = timedelta(minutes=1)


def _output_root() -> str:
    """``$TOLOKA_EXAMPLES_OUTPUT`` as a URL, with ``$TOLOKA_EXAMPLES_OUTPUT_CONN_ID`` as its connection.

    Airflow's ``ObjectStoragePath`` takes the connection id from the URL's user part
    (``s3://aws_default@bucket/prefix``); a bare ``s3://bucket/prefix`` uses no connection at all and fails
    with NoCredentialsError on a worker without AWS credentials of its own. The paths travel between tasks
    as strings (templated fields, XCom, asset extras), so the connection goes into the URL, where it stays.
    """
    root = os.environ.get("TOLOKA_EXAMPLES_OUTPUT") or os.path.join(
        os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "toloka_examples"
    )
    if "://" not in root:
        root = "file://" + os.path.abspath(root)
    conn_id = os.environ.get("TOLOKA_EXAMPLES_OUTPUT_CONN_ID")
    scheme, rest = root.split("://", 1)
    if conn_id and scheme != "file" and "@" not in rest.split("/", 1)[0]:
        root = f"{scheme}://{conn_id}@{rest}"
    return root.rstrip("/")


POOL_ID = "{{ params.pool_id or var.value.get('toloka_review_pool_id') }}"
INTERVAL = "{{ data_interval_start | ts_nodash }}_{{ data_interval_end | ts_nodash }}"
POOL_FOLDER = f"{_output_root()}/incremental_review/pool-{POOL_ID}"
SUBMITTED_FILE = f"{POOL_FOLDER}/work/{INTERVAL}-submitted.jsonl"
DECIDED_FILE = f"{POOL_FOLDER}/work/{INTERVAL}-decided.jsonl"
DECISIONS_FILE = f"{POOL_FOLDER}/decisions/{INTERVAL}.jsonl"

with DAG(
    dag_id="incremental_review",
    description="Every 15 minutes, accept or reject the assignments submitted in the interval",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,  # two runs reviewing at once could judge a worker on half the golden answers each
    tags=["toloka", "example"],
    params={
        "pool_id": Param(
            None, type=["null", "string"], description="Pool to review (default: Variable toloka_review_pool_id)"
        )
    },
    default_args={"retries": 3, "retry_delay": timedelta(minutes=1), "toloka_conn_id": "toloka_default"},
    doc_md=__doc__,
) as dag:
    # --8<-- [start:incremental]
    fetch_submitted = TolokaGetAssignmentsOperator(
        task_id="fetch_submitted",
        pool_id=POOL_ID,
        statuses=["SUBMITTED"],
        use_data_interval=True,
        consistency_lag=CONSISTENCY_LAG,
        output=SUBMITTED_FILE,
    )
    review = TolokaReviewAssignmentsOperator(
        task_id="review",
        pool_id=POOL_ID,
        assignments_path=SUBMITTED_FILE,
        verdict={
            "golden_accuracy_threshold": GOLDEN_ACCURACY_THRESHOLD,
            "reject_comment": "Too many wrong answers on control tasks.",
            "no_golden": "accept",
        },
    )
    # What Toloka now says about the same window: the decisions of this run are among them.
    fetch_decided = TolokaGetAssignmentsOperator(
        task_id="fetch_decided",
        pool_id=POOL_ID,
        statuses=["ACCEPTED", "REJECTED"],
        use_data_interval=True,
        consistency_lag=CONSISTENCY_LAG,
        output=DECIDED_FILE,
    )
    # --8<-- [end:incremental]

    @task
    def append_decisions(submitted: dict, decided: dict, decisions_file: str) -> dict:
        """Add the decisions on this run's assignments to the interval's file, keyed by assignment id.

        Lines already in the file are kept as they are, so a re-run (which finds nothing SUBMITTED) leaves
        the file unchanged and a retry after a partial review adds only what is missing.
        """
        with ObjectStoragePath(submitted["path"]).open("r", encoding="utf-8") as stream:
            reviewed_ids = {json.loads(line)["id"] for line in stream if line.strip()}
        path = ObjectStoragePath(decisions_file)
        existing: dict[str, dict] = {}
        if path.exists():
            with path.open("r", encoding="utf-8") as stream:
                for line in stream:
                    if line.strip():
                        row = json.loads(line)
                        existing[row["assignment_id"]] = row
        added = 0
        with ObjectStoragePath(decided["path"]).open("r", encoding="utf-8") as stream:
            for line in stream:
                if not line.strip():
                    continue
                item = json.loads(line)
                if item["id"] not in reviewed_ids or item["id"] in existing:
                    continue
                existing[item["id"]] = {
                    "assignment_id": item["id"],
                    "user_id": item.get("user_id"),
                    "status": item.get("status"),
                    "submitted": item.get("submitted"),
                    "decided": item.get("accepted") or item.get("rejected"),
                    "public_comment": item.get("public_comment"),
                }
                added += 1
        if added or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = sorted(existing.values(), key=lambda row: row["assignment_id"])
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        log.info("%s: %d decisions added, %d in the file", decisions_file, added, len(existing))
        return {"path": decisions_file, "added": added, "total": len(existing)}

    fetch_submitted >> review >> fetch_decided
    append_decisions(fetch_submitted.output, fetch_decided.output, DECISIONS_FILE)
