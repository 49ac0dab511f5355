"""Who runs a task: the identity that makes a retried task find, instead of repeat, what its first try did.

``RunIdentity`` is the same for every try of one task instance (dag id, run id, task id, map index). It gives
the ``metadata`` tag put on the projects, pools and trainings a task creates (a retry finds them by it) and
deterministic operation ids for bulk creates (a retry resumes the same operation instead of starting another).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Namespace for operation ids derived from a task run (uuid5): stable across retries of the same try set.
OPERATION_ID_NAMESPACE = uuid.UUID("6f1d3c2e-5b7a-4c1e-9a43-0e7f2d9b8a10")

METADATA_DAG_ID = "airflow_dag_id"
METADATA_RUN_ID = "airflow_run_id"
METADATA_TASK_ID = "airflow_task_id"
METADATA_MAP_INDEX = "airflow_map_index"


@dataclass(frozen=True)
class RunIdentity:
    """The task instance an operator runs as; the same for every try of that task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunIdentity:
        ti = context["ti"]
        run_id = getattr(ti, "run_id", None) or context["dag_run"].run_id
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(ti.dag_id),
            run_id=str(run_id),
            task_id=str(ti.task_id),
            map_index=-1 if map_index is None else int(map_index),
        )

    def metadata_tag(self) -> dict[str, list[str]]:
        """The Toloka ``metadata`` entries (values are lists of strings) that mark objects this task created."""
        tag = {
            METADATA_DAG_ID: [self.dag_id],
            METADATA_RUN_ID: [self.run_id],
            METADATA_TASK_ID: [self.task_id],
        }
        if self.map_index >= 0:
            # Mapped instances share dag, run and task id; without the index they would find each other's objects.
            tag[METADATA_MAP_INDEX] = [str(self.map_index)]
        return tag

    def is_tagged(self, metadata: Mapping[str, Any] | None) -> bool:
        """Whether an object's ``metadata`` carries exactly this run's tag."""
        if not metadata:
            return False
        wanted = self.metadata_tag()
        keys = (METADATA_DAG_ID, METADATA_RUN_ID, METADATA_TASK_ID, METADATA_MAP_INDEX)
        return all(list(metadata.get(key) or []) == wanted.get(key, []) for key in keys)

    def operation_id(self, *parts: object) -> str:
        """A uuid5 that is the same for every try of this task instance (and differs per ``parts``)."""
        name = "\x1f".join([self.dag_id, self.run_id, self.task_id, str(self.map_index), *map(str, parts)])
        return str(uuid.uuid5(OPERATION_ID_NAMESPACE, name))

    def default_name(self) -> str:
        """``airflow:<dag id>:<run id>:<task id>[:<map index>]``: a name that is this task instance's key."""
        suffix = f":{self.map_index}" if self.map_index >= 0 else ""
        return f"airflow:{self.dag_id}:{self.run_id}:{self.task_id}{suffix}"


def tag_metadata(config: dict, identity: RunIdentity) -> dict:
    """Add the run's tag to ``config["metadata"]``, keeping the user's own metadata keys."""
    metadata = dict(config.get("metadata") or {})
    metadata.update(identity.metadata_tag())
    config["metadata"] = metadata
    return config
