"""Label a dataset of customer-support tickets with the Toloka crowd, in one DAG run.

The pipeline a data team would write:

1. Create the project (classify short texts; ``configs/text_classification_project.json``), a training and a
   pool (overlap 3, one golden task mixed into every page of four, expiry ``POOL_EXPIRES_IN`` from now).
2. Upload the training tasks, the tickets and the golden tasks from ``data/support_tickets/``; open the
   training and the pool; wait for the pool to complete (deferrable: no worker slot is held while the crowd
   works).
3. Ask for more votes where the crowd disagrees ("incremental relabeling"): after each round, tasks whose
   answers have no clear winner get two more assignments and the pool is reopened. Three answers per task
   are cheap but not enough for a crowd like this one; seven on every task would be wasteful. Two extra
   rounds put the money where the disagreement is.
4. Fetch every submitted assignment to a JSONL file; review them: accept the work of workers whose accuracy
   on golden tasks passes ``GOLDEN_ACCURACY_THRESHOLD``, reject the rest with a comment.
5. Aggregate the answers with Dawid-Skene (each label with its confidence) and write the labels as JSONL and
   CSV to an ``ObjectStoragePath`` (``$TOLOKA_EXAMPLES_OUTPUT`` or ``<AIRFLOW_HOME>/toloka_examples``), one
   folder per run. The Asset ``toloka_support_ticket_labels`` is updated with that folder, so
   ``labels_consumer`` runs next.

Every task is safe to retry: the provider's create operators find what their first try created, uploads
carry operation ids, a review that meets an already decided assignment counts it as done, and the other
steps recompute the same result from the same files. So retries are on.

Run it against the local emulator with ``make demo``, or against Toloka with a ``toloka_default``
connection holding your token (see the README: it costs money in production).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Asset, ObjectStoragePath, task

from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.pool import TolokaCreatePoolOperator, TolokaOpenPoolOperator
from toloka_provider.operators.project import TolokaCreateProjectOperator
from toloka_provider.operators.tasks import TolokaCreateTasksOperator
from toloka_provider.operators.training import TolokaCreateTrainingOperator, TolokaOpenTrainingOperator
from toloka_provider.sensors.pool import TolokaPoolSensor

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
DATA = HERE / "data" / "support_tickets"

POOL_EXPIRES_IN = timedelta(days=2)
GOLDEN_ACCURACY_THRESHOLD = 0.5
RELABEL_ROUNDS = 2  # extra rounds of votes for disputed tasks
EXTRA_VOTES_PER_ROUND = 2
MAX_VOTES = 3 + RELABEL_ROUNDS * EXTRA_VOTES_PER_ROUND
# The most one opening of the pool may cost (USD): each open estimates the remaining work and refuses above it.
MAX_SPEND_PER_OPEN = "20.00"
# Seconds between pool checks. Real pools take hours; the emulator finishes in seconds. Override per deployment.
POOL_POLL_INTERVAL = float(os.environ.get("TOLOKA_EXAMPLES_POLL_INTERVAL", "30"))


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


OUTPUT_ROOT = f"{_output_root()}/text_classification"

#: Updated by every successful run; the event's ``extra`` holds that run's files (``labels_consumer`` reads it).
#: The URI is fixed, not derived from OUTPUT_ROOT: an asset's name and URI must stay paired, and a URI that
#: moved with $TOLOKA_EXAMPLES_OUTPUT made Airflow treat the re-parsed asset as a conflicting, inactive one
#: (the labels task then failed with AirflowInactiveAssetInInletOrOutletException).
LABELS_ASSET = Asset(name="toloka_support_ticket_labels", uri="toloka-examples://text_classification/labels", group="toloka")


def path_safe(value: str) -> str:
    """A run id (``manual__2025-01-01T00:00:00+00:00``) as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-")


RUN_FOLDER = OUTPUT_ROOT + "/{{ run_id | path_safe }}"
ASSIGNMENTS_FILE = RUN_FOLDER + "/assignments.jsonl"


def _read_jsonl(url: str) -> list[dict]:
    with ObjectStoragePath(url).open("r", encoding="utf-8") as stream:
        # read(), not iteration: Airflow's hook-level lineage records a file a task read()s as its input
        return [json.loads(line) for line in stream.read().splitlines() if line.strip()]


def votes_by_ticket(assignments: list[dict], field_name: str = "label") -> dict[str, tuple[dict, set, list]]:
    """``{ticket_id: (input_values, voters, answers)}`` over real tasks and their relabel copies.

    Golden tasks (they carry known_solutions) are left out: they measure workers, they are not the data.
    """
    votes: dict[str, tuple[dict, set, list]] = {}
    for assignment in assignments:
        for task_item, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False):
            if task_item.get("known_solutions"):
                continue
            inputs = task_item.get("input_values") or {}
            _, voters, answers = votes.setdefault(str(inputs.get("ticket_id")), (inputs, set(), []))
            voters.add(str(assignment["user_id"]))
            answers.append((solution.get("output_values") or {}).get(field_name))
    return votes


def is_disputed(votes: list[str]) -> bool:
    """No clear winner: the top answer leads the next by fewer than two votes, or has under 60% of them."""
    ranked = Counter(votes).most_common(2)
    if not ranked:
        return False
    lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0)
    return lead < 2 or ranked[0][1] < 0.6 * len(votes)


with DAG(
    dag_id="text_classification",
    description="Label support tickets with the Toloka crowd: create, upload, wait, relabel, review, aggregate",
    schedule=None,
    catchup=False,
    tags=["toloka", "example"],
    user_defined_filters={"path_safe": path_safe},
    default_args={
        "retries": 3, "retry_delay": timedelta(seconds=30), "execution_timeout": POOL_EXPIRES_IN,
        "toloka_conn_id": "toloka_default",
    },
    doc_md=__doc__,
) as dag:
    # --8<-- [start:project]
    create_project = TolokaCreateProjectOperator(
        task_id="create_project", project=str(CONFIGS / "text_classification_project.json")
    )
    # --8<-- [end:project]
    # --8<-- [start:training]
    create_training = TolokaCreateTrainingOperator(
        task_id="create_training",
        training=str(CONFIGS / "text_classification_training.json"),
        project_id=create_project.output,
    )
    upload_training_tasks = TolokaCreateTasksOperator(
        task_id="upload_training_tasks",
        pool_id=create_training.output,
        tasks_path=str(DATA / "training.jsonl"),
    )
    open_training = TolokaOpenTrainingOperator(task_id="open_training", training_id=create_training.output)
    # --8<-- [end:training]

    # --8<-- [start:pool]
    create_pool = TolokaCreatePoolOperator(
        task_id="create_pool",
        pool_config=str(CONFIGS / "text_classification_pool.json"),
        project_id=create_project.output,
        training_id=create_training.output,
        expires_in=POOL_EXPIRES_IN,
    )
    # --8<-- [end:pool]
    # Overlap comes from the pool's defaults (3); golden tasks have infinite overlap (in the file).
    # --8<-- [start:tasks]
    upload_tasks = TolokaCreateTasksOperator(
        task_id="upload_tasks", pool_id=create_pool.output, tasks_path=str(DATA / "tasks.jsonl"), allow_defaults=True
    )
    upload_golden = TolokaCreateTasksOperator(
        task_id="upload_golden", pool_id=create_pool.output, tasks_path=str(DATA / "golden.jsonl")
    )
    open_pool = TolokaOpenPoolOperator(task_id="open_pool", pool_id=create_pool.output, max_spend=MAX_SPEND_PER_OPEN)
    # --8<-- [end:tasks]
    # --8<-- [start:wait]
    wait_for_pool = TolokaPoolSensor(
        task_id="wait_for_pool",
        pool_id=create_pool.output,
        deferrable=True,
        poke_interval=POOL_POLL_INTERVAL,
        timeout=int(POOL_EXPIRES_IN.total_seconds()),
    )
    # --8<-- [end:wait]

    upload_training_tasks >> open_training >> create_pool
    [upload_tasks, upload_golden] >> open_pool >> wait_for_pool

    # --8<-- [start:more_votes]
    @task
    def plan_more_votes(pool_id: str, folder: str, round_number: int) -> dict:
        """Write this round's extra tasks: one copy of every disputed ticket, overlap EXTRA_VOTES_PER_ROUND.

        A copy is a new task with the same input values, not available to the workers who already answered
        it. Reads the pool's submitted assignments from Toloka (the pool is closed, so they are stable); a
        retry writes the same file, which the upload operator then creates exactly once (operation ids).
        """
        client = TolokaHook().get_conn()
        assignments = [item for page in client.get_assignments_raw(pool_id=pool_id, status="SUBMITTED") for item in page]
        votes = votes_by_ticket(assignments)
        disputed = [
            (inputs, voters)
            for inputs, voters, answers in votes.values()
            if len(answers) < MAX_VOTES and is_disputed(answers)
        ]
        lines = [
            json.dumps(
                {"input_values": inputs, "overlap": EXTRA_VOTES_PER_ROUND, "unavailable_for": sorted(voters)},
                ensure_ascii=False,
            )
            + "\n"
            for inputs, voters in disputed
        ]
        path = ObjectStoragePath(folder) / f"relabel_round_{round_number}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
        log.info("Round %d: %d of %d tickets disputed; %d more votes each", round_number, len(disputed), len(votes), EXTRA_VOTES_PER_ROUND)
        return {"round": round_number, "tickets": len(votes), "disputed": len(disputed), "path": str(path)}

    previous = wait_for_pool
    for round_number in range(1, RELABEL_ROUNDS + 1):
        plan = plan_more_votes.override(task_id=f"plan_round_{round_number}")(
            create_pool.output, RUN_FOLDER, round_number
        )
        upload = TolokaCreateTasksOperator(
            task_id=f"upload_round_{round_number}",
            pool_id=create_pool.output,
            tasks_path=RUN_FOLDER + f"/relabel_round_{round_number}.jsonl",
        )
        # Reopening a pool with no work left is harmless: it closes again as COMPLETED right away.
        reopen = TolokaOpenPoolOperator(
            task_id=f"run_round_{round_number}",
            pool_id=create_pool.output,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=POOL_POLL_INTERVAL,
            max_spend=MAX_SPEND_PER_OPEN,
        )
        previous >> plan >> upload >> reopen
        previous = reopen
    # --8<-- [end:more_votes]

    # --8<-- [start:review]
    fetch_assignments = TolokaGetAssignmentsOperator(
        task_id="fetch_assignments",
        pool_id=create_pool.output,
        statuses=["SUBMITTED"],
        use_data_interval=False,
        output=ASSIGNMENTS_FILE,
    )
    review = TolokaReviewAssignmentsOperator(
        task_id="review_assignments",
        pool_id=create_pool.output,
        assignments_path=ASSIGNMENTS_FILE,
        verdict={
            "golden_accuracy_threshold": GOLDEN_ACCURACY_THRESHOLD,
            "reject_comment": "Too many wrong answers on control tasks; please read the instructions again.",
        },
    )
    # --8<-- [end:review]
    @task
    def merge_copies(fetched: dict, folder: str) -> dict:
        """Write votes.jsonl: the assignments with every real task renamed to its ticket id.

        A disputed ticket was asked again through copies (new task ids); keyed by ticket, all its answers
        vote together in the aggregation. Golden tasks keep their ids (the aggregation skips them).
        """
        path = ObjectStoragePath(folder) / "votes.jsonl"
        count = 0
        with ObjectStoragePath(fetched["path"]).open("r", encoding="utf-8") as source, path.open("w", encoding="utf-8") as out:
            # read(), not iteration: Airflow records the files a task read()s as its lineage (one pool's votes fit)
            for line in source.read().splitlines():
                if not line.strip():
                    continue
                assignment = json.loads(line)
                for task_item in assignment.get("tasks") or []:
                    if not task_item.get("known_solutions"):
                        task_item["id"] = str((task_item.get("input_values") or {}).get("ticket_id") or task_item["id"])
                out.write(json.dumps(assignment, ensure_ascii=False) + "\n")
                count += 1
        return {"path": str(path), "count": count}

    votes = merge_copies(fetch_assignments.output, RUN_FOLDER)
    # --8<-- [start:aggregate]
    aggregate = TolokaAggregateLocallyOperator(
        task_id="aggregate",
        assignments_path=RUN_FOLDER + "/votes.jsonl",
        method="dawid_skene",
        fields=["label"],
        output=RUN_FOLDER + "/aggregated.jsonl",
    )
    # --8<-- [end:aggregate]
    previous >> fetch_assignments >> review
    votes >> aggregate

    @task(outlets=[LABELS_ASSET])
    def write_labels(folder: str, aggregated: dict, **context) -> dict:
        """Publish the aggregated labels as labels.jsonl and labels.csv, one row per ticket."""
        rows = [
            {
                "ticket_id": item["task_id"],
                "input_values": item.get("input_values") or {},
                "label": (item.get("output_values") or {}).get("label"),
                "confidence": round(float(item.get("confidence") or 0.0), 4),
                "votes": item.get("votes"),
            }
            for item in _read_jsonl(aggregated["path"])
        ]
        rows.sort(key=lambda row: row["ticket_id"])

        base = ObjectStoragePath(folder)
        base.mkdir(parents=True, exist_ok=True)
        # open(), not write_text(): Airflow records the files a task opens as its lineage (hook-level lineage)
        with (base / "labels.jsonl").open("w", encoding="utf-8") as out:
            out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["ticket_id", "text", "label", "confidence", "votes"])
        for row in rows:
            writer.writerow(
                [row["ticket_id"], row["input_values"].get("text"), row["label"], row["confidence"], row["votes"]]
            )
        (base / "labels.csv").write_text(table.getvalue())

        counts = Counter(row["label"] for row in rows)
        log.info("Wrote %d labels to %s: %s", len(rows), folder, dict(counts))
        extra = {"folder": folder, "labels_jsonl": str(base / "labels.jsonl"), "count": len(rows)}
        context["outlet_events"][LABELS_ASSET].extra = extra
        return {**extra, "label_counts": dict(counts)}

    @task
    def summarize(folder: str, labels: dict, **context) -> dict:
        """Write run_summary.json beside the labels: ids, upload counts, review outcome, aggregation."""
        ti = context["ti"]
        uploads = {
            name: (ti.xcom_pull(task_ids=task_id) or {}).get("created")
            for name, task_id in (("tasks", "upload_tasks"), ("golden", "upload_golden"), ("training", "upload_training_tasks"))
        }  # fmt: skip
        summary = {
            "run_id": context["run_id"],
            "project_id": ti.xcom_pull(task_ids="create_project"),
            "training_id": ti.xcom_pull(task_ids="create_training"),
            "pool_id": ti.xcom_pull(task_ids="create_pool"),
            "uploads": uploads,
            "relabel_rounds": [ti.xcom_pull(task_ids=f"plan_round_{n}") for n in range(1, RELABEL_ROUNDS + 1)],
            "spend_estimates": {
                task_id: ti.xcom_pull(task_ids=task_id, key="spend_estimate")
                for task_id in ["open_pool", *(f"run_round_{n}" for n in range(1, RELABEL_ROUNDS + 1))]
            },
            "assignments": ti.xcom_pull(task_ids="fetch_assignments"),
            "review": ti.xcom_pull(task_ids="review_assignments"),
            "aggregation": {"method": "dawid_skene", **(ti.xcom_pull(task_ids="aggregate") or {})},
            "labels": labels,
        }
        (ObjectStoragePath(folder) / "run_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return {"folder": folder}

    labels = write_labels(RUN_FOLDER, aggregate.output)
    review >> labels
    summarize(RUN_FOLDER, labels)
