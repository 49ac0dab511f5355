"""The example labeling DAG, run with ``dag.test()`` against the emulator, with OpenLineage's file transport.

The OpenLineage listener runs in the task runner under ``dag.test()`` (Airflow 3.2 and 3.3), so every task's
START and COMPLETE events land in the file. Their inputs and outputs must join into one graph: the tasks file
-> the pool -> the assignments file -> (votes file) -> the aggregated labels -> the labels file; the Toloka
operators' events carry the pool id, counts and the namespace ``toloka://<emulator host:port>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("airflow.providers.openlineage")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
sys.path.insert(0, str(REPO))

from dags_examples.demo import report  # noqa: E402

EMULATOR_TOKEN = "lineage-token"
CROWD = {"crowd": 30, "accuracy": (0.55, 0.95), "spammers": 0.1, "speed": 200.0, "seed": 7}

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


RUN_DAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder=sys.argv[1]).get_dag("text_classification")
run = dag.test()
print("STATES " + json.dumps({"run": str(run.state), **{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


def _events(path: Path) -> list[dict]:
    """The events the file transport wrote (one JSON per line; or one file per event, by transport version)."""
    files = [path] if path.is_file() else sorted(path.parent.glob(path.name + "*"))
    events = []
    for file in files:
        for line in file.read_text().splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


def _key(dataset: dict) -> tuple[str, str]:
    return dataset["namespace"], dataset["name"]


def test_example_dag_lineage_joins_tasks_file_pool_assignments_and_labels(airflow_db, toloka_emulator_factory, tmp_path):
    emulator = toloka_emulator_factory(tokens=(EMULATOR_TOKEN,), truth=report.TRUTH_FILE, **CROWD)
    output = tmp_path / "out"
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW_CONN_TOLOKA_DEFAULT": json.dumps(
            {"conn_type": "toloka", "host": emulator.url, "password": emulator.token}
        ),
        "TOLOKA_EXAMPLES_OUTPUT": str(output),
        "TOLOKA_EXAMPLES_POLL_INTERVAL": "1",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
    }
    env.pop("AIRFLOW__OPENLINEAGE__DISABLED", None)
    # The same metadata database, so the same Fernet key as this process (else InvalidToken on its rows).
    from airflow.configuration import conf

    env["AIRFLOW__CORE__FERNET_KEY"] = conf.get("core", "fernet_key")
    # A fresh interpreter, as on a worker: the OpenLineage provider reads its configuration and registers its
    # listener and hook-lineage reader once per process, so a dag.test() run earlier in this process with
    # OpenLineage off would leave it off.
    result = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(EXAMPLES)], env=env, capture_output=True, text=True, timeout=900
    )
    states_line = [line for line in result.stdout.splitlines() if line.startswith("STATES ")]
    assert result.returncode == 0 and states_line, result.stderr[-5000:]
    states = json.loads(states_line[-1][len("STATES "):])
    assert states.pop("run") == "success", states

    events = _events(events_file)
    assert events, "the OpenLineage listener wrote no event"
    complete = {
        event["job"]["name"].split(".", 1)[1]: event
        for event in events
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]
    }
    (run_folder,) = [path.parent for path in (output / "text_classification").glob("*/run_summary.json")]
    pool_id = json.loads((run_folder / "run_summary.json").read_text())["pool_id"]
    host = emulator.url.split("://", 1)[1].rstrip("/")
    pool = (f"toloka://{host}", f"pools/{pool_id}")
    tasks_file = ("file", str(EXAMPLES / "data" / "support_tickets" / "tasks.jsonl"))
    assignments_file = ("file", str(run_folder / "assignments.jsonl"))
    aggregated_file = ("file", str(run_folder / "aggregated.jsonl"))
    labels_file = ("file", str(run_folder / "labels.jsonl"))

    def edges(task_id: str) -> tuple[set, set]:
        event = complete[task_id]
        return {_key(d) for d in event.get("inputs") or []}, {_key(d) for d in event.get("outputs") or []}

    assert edges("upload_tasks") == ({tasks_file}, {pool})
    assert edges("fetch_assignments") == ({pool}, {assignments_file})
    assert edges("review_assignments") == ({assignments_file}, {pool})
    assert aggregated_file in edges("aggregate")[1]
    assert labels_file in edges("write_labels")[1]
    # The @task steps' files (Airflow's hook-level lineage) and the operators' have the same names: the join
    # below needs no normalisation. merge_copies reads what fetch_assignments wrote, by the same name.
    assert assignments_file in edges("merge_copies")[0]
    namespaces: dict[str, set[str]] = defaultdict(set)
    for event in complete.values():
        for dataset in (event.get("inputs") or []) + (event.get("outputs") or []):
            namespaces[dataset["name"]].add(dataset["namespace"])
    assert {name: found for name, found in namespaces.items() if len(found) > 1} == {}

    # One graph: the labels file is reached from the tasks file through the pool and the assignments file.
    graph: dict[tuple, set] = defaultdict(set)
    for event in complete.values():
        for source in event.get("inputs") or []:
            for target in event.get("outputs") or []:
                graph[_key(source)].add(_key(target))
    seen, frontier = {tasks_file}, [tasks_file]
    while frontier:
        node = frontier.pop()
        for target in graph[node] - seen:
            seen.add(target)
            frontier.append(target)
    summary = {task: (sorted(edges(task)[0]), sorted(edges(task)[1])) for task in sorted(complete)}
    assert {pool, assignments_file, aggregated_file, labels_file} <= seen, json.dumps(summary, indent=1)

    # Run facets: the pool as the external query, ids and counts, the row count of the assignments file.
    upload_facets = complete["upload_tasks"]["run"]["facets"]
    assert upload_facets["externalQuery"]["externalQueryId"] == pool_id
    assert upload_facets["externalQuery"]["source"] == pool[0]
    assert upload_facets["toloka"]["objects"] == {"pool_id": pool_id}
    assert upload_facets["toloka"]["counts"] == {"created": 360, "failed": 0}
    assert upload_facets["toloka"]["_schemaURL"].endswith("#/$defs/TolokaRunFacet")
    fetched = json.loads((run_folder / "run_summary.json").read_text())["assignments"]["count"]
    (assignments_out,) = complete["fetch_assignments"]["outputs"]
    assert assignments_out["outputFacets"]["outputStatistics"]["rowCount"] == fetched
    review_counts = complete["review_assignments"]["run"]["facets"]["toloka"]["counts"]
    assert review_counts["accepted"] + review_counts["rejected"] == fetched
