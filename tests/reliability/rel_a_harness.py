"""Shared pieces of the reliability tests (helper "reliability-A"): Airflow pointed at an emulator, counters.

Not a test module. The test files put this folder on ``sys.path`` and import it by name (pytest runs with
``--import-mode=importlib``, so test folders are not packages).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TOKEN = "reliability-token"


def point_airflow_at(
    monkeypatch: Any, emulator: Any, output: Path, extras: dict | None = None, poll_interval: float = 1.0
) -> None:
    """DAGs folder = dags_examples, ``toloka_default`` -> the emulator (with ``extras``), outputs, fast polling.

    The same setup as ``tests/e2e/test_examples_dags.py`` (``dag.test()`` syncs the "dags-folder" bundle, whose
    path is ``settings.DAGS_FOLDER``, read once at import).
    """
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(EXAMPLES))
    connection: dict[str, Any] = {"conn_type": "toloka", "host": emulator.url, "password": emulator.token}
    if extras:
        connection["extra"] = extras
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(output))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", str(poll_interval))


def load_example_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(EXAMPLES))
    assert dagbag.import_errors == {}, dagbag.import_errors
    return dagbag.get_dag(dag_id)


def requests_by_outcome(counters: dict) -> Counter:
    """``{"fault:429": n, "200": n, ...}`` over every request the emulator counted."""
    outcome: Counter = Counter()
    for key, count in counters["requests"].items():
        outcome[key.rsplit(" ", 1)[1]] += count
    return outcome


def decided_assignments(emulator: Any) -> Counter:
    """Assignment statuses in the emulator's store."""
    with emulator.state.lock:
        return Counter(a["status"] for a in emulator.state.assignments.values())


DATA = EXAMPLES / "data" / "support_tickets"


class RecordingTI:
    """The task instance an operator sees: ids for its idempotency tag and an XCom store."""

    def __init__(self, dag_id: str = "reliability", run_id: str = "manual__reliability", task_id: str = "task",
                 map_index: int = -1, try_number: int = 1) -> None:
        self.dag_id, self.run_id, self.task_id = dag_id, run_id, task_id
        self.map_index, self.try_number = map_index, try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def make_context(**ti_kwargs: Any) -> dict:
    """A minimal Airflow context for calling ``operator.execute(context)`` directly."""
    from types import SimpleNamespace

    ti = RecordingTI(**ti_kwargs)
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=ti.run_id), "data_interval_start": None,
            "data_interval_end": None}


def use_emulator_connection(monkeypatch: Any, emulator: Any, extras: dict | None = None) -> None:
    """``toloka_default`` -> the emulator, through the environment (no metadata database needed)."""
    connection: dict[str, Any] = {"conn_type": "toloka", "host": emulator.url, "password": emulator.token}
    if extras:
        connection["extra"] = extras
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", json.dumps(connection))


CONFIGS = EXAMPLES / "configs"


def verdict_by_worker(assignment: dict) -> object:
    """A deterministic review verdict (importable by dotted path): reject every fifth bulk worker."""
    number = int(str(assignment.get("user_id", "0")).rsplit("-", 1)[-1] or 0)
    return ("reject", "Rejected by the reliability test") if number % 5 == 0 else "accept"
