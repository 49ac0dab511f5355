"""Issue #15, acceptance 2: ``text_classification_qc`` reaches at least the accuracy of ``text_classification`` for
less money, on the same seeded crowd (the ``make demo`` crowd: 30 workers, accuracy 0.55-0.95, 10% spammers).

Each DAG runs once with ``dag.test()`` against its own fresh emulator started with the same seed and truth file;
the money spent is the drop of the requester balance over the run (accepted assignments plus bonuses), measured
from outside the DAG the same way for both. Both figures are printed (``pytest -s`` shows them).

The figures are exact for a seed: the emulator's crowd decides who does what, and what they answer, from the seed
and the API calls only (never from timing or load; ``tests/emulator/test_emulator_crowd_determinism.py``), and
the order in which ``dag.test()`` happens to run two independent uploads does not change any answer. Measured
2026-12-01 on the demo seed 7: without QC 0.9694 for 11.64 USD, with QC 0.9889 for 10.23 USD. Other seeds can be
checked by hand with ``TOLOKA_QC_DEMO_SEED=1 pytest -s tests/e2e/test_e2e_quality_demo.py`` (figures in the
README's "Quality control" section).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
sys.path.insert(0, str(REPO))

from dags_examples.demo import report, run_demo  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DEMO_CROWD = {
    "crowd": 30, "accuracy": (0.55, 0.95), "spammers": 0.1, "speed": 200.0,
    "seed": int(os.environ.get("TOLOKA_QC_DEMO_SEED", "7")),
}


def _run(dag_id: str, emulator_factory, monkeypatch, output: Path) -> tuple[float, Decimal, Path, int]:
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    from toloka_provider.client import TolokaClient

    emulator = emulator_factory(tokens=("e2e-token",), truth=report.TRUTH_FILE, **DEMO_CROWD)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT",
                       json.dumps({"conn_type": "toloka", "host": emulator.url, "password": emulator.token}))
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(output))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", "1")
    client = TolokaClient(emulator.token, url=emulator.url)
    before = client.get_requester().balance
    run = DagBag(dag_folder=str(EXAMPLES)).get_dag(dag_id).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    spent = before - client.get_requester().balance
    (labels_file,) = sorted((output / dag_id).glob("*/labels.jsonl"))
    scored = report.label_accuracy(list(report.iter_jsonl(labels_file)), report.load_truth())
    emulator.stop()
    return scored.accuracy, spent, labels_file.parent, scored.missing


def test_quality_control_is_at_least_as_accurate_for_less_money(airflow_db, toloka_emulator_factory, monkeypatch,
                                                                 tmp_path):
    plain_accuracy, plain_spent, _, plain_missing = _run(
        "text_classification", toloka_emulator_factory, monkeypatch, tmp_path
    )
    qc_accuracy, qc_spent, qc_folder, qc_missing = _run(
        "text_classification_qc", toloka_emulator_factory, monkeypatch, tmp_path
    )
    summary = json.loads((qc_folder / "run_summary.json").read_text())
    print(f"\nwithout quality control: accuracy {plain_accuracy:.4f}, spent {plain_spent} USD, {plain_missing} unlabeled")
    print(f"with quality control:    accuracy {qc_accuracy:.4f}, spent {qc_spent} USD, {qc_missing} unlabeled "
          f"(banned {summary['banned']['banned_count']}, skilled {summary['skill']['set']}, "
          f"bonuses {summary['bonuses']['total']} USD)")
    assert Decimal(summary["spent"]) == qc_spent
    assert summary["bonuses"]["created"] >= 1 and summary["banned"]["banned_count"] >= 1
    assert Decimal(summary["bonuses"]["total"]) <= Decimal("0.06")
    assert plain_missing == 0, "the plain example must label every task"
    assert qc_missing == 0, "quality control must label every task (banned workers' votes are replaced, not lost)"
    assert qc_accuracy >= 0.95
    assert qc_accuracy >= plain_accuracy, f"QC {qc_accuracy:.4f} is less accurate than {plain_accuracy:.4f} without it"
    assert qc_spent < plain_spent, f"QC spent {qc_spent} USD, not less than {plain_spent} USD without it"

    # The figures make demo prints from the record (quality_control_recorded.json) must be what a run measures.
    crowd = {key: list(value) if isinstance(value, tuple) else value for key, value in DEMO_CROWD.items() if key != "speed"}
    measured = {
        "without_qc": {"dag_id": "text_classification", "accuracy": round(plain_accuracy, 4), "spent": str(plain_spent)},
        "with_qc": {
            "dag_id": "text_classification_qc", "accuracy": round(qc_accuracy, 4), "spent": str(qc_spent),
            "banned": summary["banned"]["banned_count"], "bonuses": str(summary["bonuses"]["total"]),
        },
    }
    if crowd != run_demo.crowd_identity():
        return  # another seed, checked by hand: no record to compare with
    if os.environ.get("TOLOKA_QC_RECORD") == "1":
        record = {
            "recorded": datetime.now(timezone.utc).date().isoformat(),
            "how": "tests/e2e/test_e2e_quality_demo.py: each DAG once with dag.test() on a fresh emulator",
            "crowd": crowd,
            **measured,
        }
        report.RECORDED_QC_FILE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    recorded = report.load_recorded_comparison()
    assert recorded is not None and recorded["crowd"] == crowd, f"no record for the demo crowd in {report.RECORDED_QC_FILE}"
    stale = {key: recorded[key] for key in measured}
    assert stale == measured, (
        f"{report.RECORDED_QC_FILE.name} is stale (make demo prints it): re-record with "
        f"TOLOKA_QC_RECORD=1 pytest -s {Path(__file__).relative_to(REPO)}"
    )
