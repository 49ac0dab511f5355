"""Shared pieces of the reliability-B tests (bad inputs, secrets, forward compatibility).

* ``RunContext`` / ``make_context``: the little of an Airflow task context that the operators read, with a
  distinct task id per call so that two operators never find each other's tagged objects.
* ``connection_json``: the ``AIRFLOW_CONN_<ID>`` value for a ``toloka`` connection.
* ``text_classification_setup``: a project and a pool like the example DAG's, made with the plain client.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "dags_examples" / "configs"

_task_numbers = itertools.count(1)


class FakeTaskInstance:
    """What the operators use of a task instance: identity fields and ``xcom_push``."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = dag_id, run_id, task_id, map_index
        self.try_number = 1
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def make_context(task_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A task context for ``operator.execute``; each call is a new task instance unless ``task_id`` is given."""
    ti = FakeTaskInstance("reliability_b", "manual__rel_b", task_id or f"task_{next(_task_numbers)}")
    context = {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id=ti.run_id),
        "data_interval_start": None,
        "data_interval_end": None,
    }
    context.update(extra)
    return context


def connection_json(**fields: Any) -> str:
    return json.dumps({"conn_type": "toloka", **fields})


def load_config(name: str) -> dict:
    return json.loads((CONFIGS / name).read_text())


def text_classification_setup(client: Any, *, expires_in: timedelta = timedelta(days=2), **pool_overrides: Any):
    """Create the example's project and a pool in it (no tasks); return (project, pool)."""
    from datetime import datetime, timezone

    project = client.create_project(load_config("text_classification_project.json"))
    pool_config = load_config("text_classification_pool.json")
    pool_config.update(project_id=project.id, **pool_overrides)
    pool_config["will_expire"] = (datetime.now(timezone.utc) + expires_in).replace(tzinfo=None).isoformat()
    pool_config.get("quality_control", {}).pop("training_requirement", None)
    return project, client.create_pool(pool_config)


# Verdict callables for the review operator, imported by their dotted path ("rel_b_support.<name>").


def verdict_maybe(assignment: dict) -> str:
    """Returns something the review operator does not know."""
    return "maybe"


def verdict_reject_all(assignment: dict) -> tuple[str, str]:
    return ("reject", "Rejected by the reliability test")


NOT_A_CALLABLE = 42
