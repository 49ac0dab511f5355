"""The example labeling DAG, run with ``dag.test()`` against the emulator, with OpenLineage's file transport.

The OpenLineage listener runs in the task runner under ``dag.test()`` (Airflow 3.2 and 3.3), so every task's
START and COMPLETE events land in the file. Their inputs and outputs must join into one graph: the tasks file
-> the pool -> the assignments file -> (votes file) -> the aggregated labels -> the labels file; the Toloka
operators' events carry the pool id, counts and the namespace ``toloka://<emulator host:port>``.
"""

from __future__ import annotations

import json
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


@pytest.fixture
def openlineage_to_file(tmp_path, monkeypatch):
    """OpenLineage on, with the file transport, in this process: return the events file.

    The OpenLineage provider reads its configuration once (cached functions) and registers its listener when
    its plugin is first loaded; an earlier ``dag.test()`` in the same process, run with OpenLineage off, leaves
    it off. So the caches are cleared and the listener is registered with the task SDK's listener manager here,
    and both are put back afterwards.
    """
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager

    def clear_config() -> None:
        for value in vars(conf).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()

    events_file = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__TRANSPORT",
        json.dumps({"type": "file", "log_file_path": str(events_file), "append": True}),
    )
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__DISABLED", raising=False)
    clear_config()
    listener = get_openlineage_listener()
    listener.adapter._client = None  # built again from the configuration above
    manager = get_listener_manager()
    registered_before = manager.pm.is_registered(listener)
    manager.add_listener(listener)
    yield events_file
    if not registered_before:
        manager.pm.unregister(listener)
    monkeypatch.undo()
    clear_config()
    listener.adapter._client = None


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


def test_example_dag_lineage_joins_tasks_file_pool_assignments_and_labels(
    airflow_db, toloka_emulator_factory, openlineage_to_file, monkeypatch, tmp_path
):
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    emulator = toloka_emulator_factory(tokens=(EMULATOR_TOKEN,), truth=report.TRUTH_FILE, **CROWD)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}),
    )
    output = tmp_path / "out"
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(output))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", "1")
    events_file = openlineage_to_file
    dag = DagBag(dag_folder=str(EXAMPLES)).get_dag("text_classification")

    run = dag.test()

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
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
