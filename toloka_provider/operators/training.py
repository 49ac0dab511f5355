"""Operators for Toloka trainings (training pools): create once per task instance, open, close, archive."""

from __future__ import annotations

from typing import Any

from toloka_provider.arguments import load_json_config
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.links import TolokaProjectLink
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.operators.status import TrainingStatusOperator
from toloka_provider.run_identity import RunIdentity, tag_metadata
from toloka_provider.steps.find_or_create import find_or_create_tagged


class TolokaCreateTrainingOperator(TolokaBaseOperator):
    """Create a training and return its id.

    :param training: the training config: a dict, a JSON string, or a path/URL of a JSON file (templated).
    :param project_id: sets ``project_id`` in the config (templated); optional if the config has it.

    Idempotent like :class:`TolokaCreateProjectOperator`: tagged ``metadata``, a retry returns the training
    its earlier try created (searched among the project's trainings). XCom: the training id (str).
    """

    template_fields = ("training", "project_id", "toloka_conn_id")
    operator_extra_links = (TolokaProjectLink(),)
    ui_color = "#d8f0ff"

    def __init__(self, *, training: dict | str, project_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training
        self.project_id = project_id

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        identity = RunIdentity.from_context(context)
        config = tag_metadata(load_json_config(self.training, argument="training"), identity)
        if self.project_id:
            config["project_id"] = str(self.project_id)
        project_id = config.get("project_id")
        if not project_id:
            raise TolokaInputError("Give 'project_id', or set 'project_id' in the 'training' config")
        client = self.hook.get_conn()
        training = find_or_create_tagged(
            kind="training",
            is_ours=identity.is_tagged,
            candidates=lambda: client.get_trainings(project_id=str(project_id)),
            create=lambda: client.create_training(config),
            argument="training",
            log=self.log,
        )
        training_id = str(training.id)
        self.push_project_url(context, str(project_id))
        return training_id


class TolokaOpenTrainingOperator(TrainingStatusOperator):
    """Open a training; opening an open training is fine. XCom: the new status (``"OPEN"``)."""

    action = "open"


class TolokaCloseTrainingOperator(TrainingStatusOperator):
    """Close a training; closing a closed one is fine. XCom: the new status."""

    action = "close"


class TolokaArchiveTrainingOperator(TrainingStatusOperator):
    """Archive a (closed) training; archiving an archived one is fine. XCom: the new status."""

    action = "archive"
