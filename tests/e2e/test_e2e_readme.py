"""The README's minimal DAG is real: its code block runs to success with ``dag.test()`` against the emulator.

The test cuts the first Python block out of the section "A minimal DAG", points its output folder at a
temporary directory and its sensor at a short poke interval, and runs it. If the README drifts from the code,
this fails.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
TOKEN = "readme-token"

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _minimal_dag_source() -> str:
    text = README.read_text()
    section = text[text.index("## A minimal DAG") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: no python block under 'A minimal DAG'"
    return match.group(1)


def test_readme_minimal_dag_runs_end_to_end(airflow_db, toloka_emulator_factory, monkeypatch, tmp_path, caplog, capfd):
    # --8<-- [start:dag_test]
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    source = _minimal_dag_source()
    assert '"/tmp/toloka_reviews/' in source
    dags = tmp_path / "dags"
    dags.mkdir()
    out = tmp_path / "out"
    (dags / "toloka_readme.py").write_text(source.replace("/tmp/toloka_reviews", str(out)))

    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=10, speed=50.0, seed=3)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "host": emulator.url, "password": TOKEN}),
    )
    dagbag = DagBag(dag_folder=str(dags))
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("toloka_reviews")
    assert all(task.retries == 2 for task in dag.tasks)
    dag.get_task("wait_for_pool").poke_interval = 0.5  # the README waits a minute between checks

    with caplog.at_level(logging.WARNING):
        run = dag.test()

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    [run_dir] = list(out.iterdir())
    labels = [json.loads(line) for line in (run_dir / "labels.jsonl").read_text().splitlines()]
    assignments = (run_dir / "assignments.jsonl").read_text().splitlines()
    # 6 reviews, 2 per page, overlap 3: 9 assignments, all accepted; every review labelled yes or no.
    assert len(assignments) == 9
    assert len(labels) == 6 and {row["output_values"]["positive"] for row in labels} <= {"yes", "no"}
    counters = emulator.counters()
    assert counters["created"]["project"] == 1 and counters["created"]["pool"] == 1
    assert counters["assignments_accepted"] == 9 and counters["double_decisions"] == 0
    # --8<-- [end:dag_test]
    # Every task with a pool link learns its pool: no "XCom with key='toloka_pool_url' ... not found".
    # (The task runner logs it through structlog to the console; stdlib records are checked too.)
    printed = capfd.readouterr()
    logged = [record.getMessage() for record in caplog.records]
    missing = [line for line in (printed.out + printed.err).splitlines() + logged if "toloka_pool_url" in line]
    assert missing == []
