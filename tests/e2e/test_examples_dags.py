"""The example DAGs in ``dags_examples/``: they load cleanly, and they run end to end against the emulator.

* Every file loads with Airflow's DagBag with no import error and no warning from a deprecated (Airflow 2)
  import path.
* ``text_classification`` runs to success with ``dag.test()`` against the in-process emulator configured like
  ``make demo`` (30 workers, accuracy 0.55-0.95, 10% spammers, the dataset's truth file); the aggregated
  labels are at least 90% right while a single worker is right less than 85% of the time on average.
* ``incremental_review`` over three consecutive 15-minute intervals plus a re-run of the second decides every
  submitted assignment exactly once, and writes the per-interval decision files.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
sys.path.insert(0, str(REPO))

from dags_examples.demo import report  # noqa: E402

EMULATOR_TOKEN = "e2e-token"
DEMO_CROWD = {"crowd": 30, "accuracy": (0.55, 0.95), "spammers": 0.1, "speed": 200.0, "seed": 7}


def _load_dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def _point_airflow_at(monkeypatch, dags_folder: Path, emulator, output: Path) -> None:
    """DAGs folder (dag.test() syncs its bundle), toloka_default -> emulator, outputs and fast polling."""
    from airflow import settings

    # dag.test() syncs the "dags-folder" bundle, whose path is settings.DAGS_FOLDER (read once at import).
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags_folder))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags_folder))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}),
    )
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(output))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", "1")


def test_every_example_dag_loads_without_errors_or_deprecated_imports():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dagbag = _load_dagbag(EXAMPLES)

    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"text_classification", "incremental_review", "labels_consumer", "app_batch",
                                   "pool_closed_consumer", "text_classification_qc"}
    deprecated = [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if str(EXAMPLES) in str(w.filename)
        or ("deprecat" in str(w.message).lower() and ("import" in str(w.message).lower() or "airflow." in str(w.message)))
    ]
    assert deprecated == []
    for dag in dagbag.dags.values():
        assert "example" in dag.tags
        assert all(task.retries > 0 for task in dag.tasks), f"{dag.dag_id}: every task should retry"


@pytest.mark.e2e
@pytest.mark.integration
def test_text_classification_labels_the_dataset_better_than_any_single_worker(
    airflow_db, toloka_emulator_factory, monkeypatch, tmp_path
):
    emulator = toloka_emulator_factory(tokens=(EMULATOR_TOKEN,), truth=report.TRUTH_FILE, **DEMO_CROWD)
    _point_airflow_at(monkeypatch, EXAMPLES, emulator, tmp_path)
    dag = _load_dagbag(EXAMPLES).get_dag("text_classification")

    run = dag.test()

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    (run_folder,) = [path.parent for path in (tmp_path / "text_classification").glob("*/run_summary.json")]
    summary = json.loads((run_folder / "run_summary.json").read_text())
    assert summary["uploads"] == {"tasks": 360, "golden": 24, "training": 12}

    truth = report.load_truth()
    labels = list(report.iter_jsonl(run_folder / "labels.jsonl"))
    scored = report.label_accuracy(labels, truth)
    workers = report.worker_accuracy(report.iter_jsonl(run_folder / "assignments.jsonl"), truth)
    assert scored.missing == 0 and scored.scored == 360
    assert scored.accuracy >= 0.9, (scored, summary["relabel_rounds"])
    assert workers.mean_worker_accuracy < 0.85
    assert (run_folder / "labels.csv").read_text().splitlines()[0] == "ticket_id,text,label,confidence,votes"

    counters = emulator.counters()
    assert counters["double_decisions"] == 0
    submitted = summary["assignments"]["count"]
    assert counters["assignments_accepted"] + counters["assignments_rejected"] == submitted
    assert summary["review"]["failed"] == 0


def _make_review_pool(emulator) -> str:
    """A closed pool (the crowd stays out) for bulk-loaded assignments; auto-accept off."""
    from toloka_provider.client import TolokaClient

    client = TolokaClient(token=emulator.token, url=emulator.url)
    project = client.create_project(
        {
            "public_name": "incremental review test",
            "task_spec": {
                "input_spec": {"text": {"type": "string"}},
                "output_spec": {"label": {"type": "string", "allowed_values": ["a", "b"]}},
                "view_spec": {"type": "classic", "markup": "{{text}}"},
            },
            "assignments_issuing_type": "AUTOMATED",
        }
    )
    pool = client.create_pool(
        {
            "project_id": project.id,
            "private_name": "review me",
            "may_contain_adult_content": False,
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 300,
            "will_expire": "2099-01-01T00:00:00",
            "auto_accept_solutions": False,
            "defaults": {"default_overlap_for_new_task_suites": 1},
        }
    )
    return str(pool.id)


@pytest.mark.e2e
@pytest.mark.integration
def test_incremental_review_decides_each_assignment_once_over_intervals_and_reruns(
    airflow_db, toloka_emulator_factory, monkeypatch, tmp_path
):
    emulator = toloka_emulator_factory(tokens=(EMULATOR_TOKEN,), crowd=0)
    _point_airflow_at(monkeypatch, EXAMPLES, emulator, tmp_path)
    pool_id = _make_review_pool(emulator)

    # Move the emulator clock to 5 minutes past the next quarter hour q, then submit three batches 15 minutes
    # apart: at q+5, q+20, q+35. The runs ending at q+15, q+30, q+45 fetch [end-16 min, end-1 min): one batch each.
    now = emulator.state.now()
    quarter = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) + timedelta(minutes=15)
    emulator.advance_clock((quarter + timedelta(minutes=5) - now).total_seconds())
    batch_sizes = (4, 6, 5)
    for index, size in enumerate(batch_sizes):
        if index:
            emulator.advance_clock(15 * 60)
        emulator.bulk_load_assignments(pool_id, size, status="SUBMITTED")
    ends = [quarter + timedelta(minutes=15 * (k + 1)) for k in range(3)]

    dag = _load_dagbag(EXAMPLES).get_dag("incremental_review")
    runs = []
    for end in (*ends, ends[1]):  # three intervals, then the second again
        run = dag.test(logical_date=end, run_conf={"pool_id": pool_id})
        runs.append(run)
        assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}

    counters = emulator.counters()
    assert counters["double_decisions"] == 0
    assert counters["assignments_accepted"] + counters["assignments_rejected"] == sum(batch_sizes)

    decisions_dir = tmp_path / "incremental_review" / f"pool-{pool_id}" / "decisions"
    files = sorted(decisions_dir.glob("*.jsonl"))
    assert len(files) == 3
    per_file = [[json.loads(line) for line in path.read_text().splitlines()] for path in files]
    assert [len(rows) for rows in per_file] == list(batch_sizes)
    all_ids = [row["assignment_id"] for rows in per_file for row in rows]
    assert len(all_ids) == len(set(all_ids)) == sum(batch_sizes)
    assert {row["status"] for rows in per_file for row in rows} <= {"ACCEPTED", "REJECTED"}
