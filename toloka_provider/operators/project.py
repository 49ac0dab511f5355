"""Operator that creates a Toloka project from a config, once per task instance."""

from __future__ import annotations

from typing import Any

from toloka_provider.arguments import load_json_config
from toloka_provider.links import TolokaProjectLink
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.run_identity import RunIdentity, tag_metadata
from toloka_provider.steps.find_or_create import find_or_create_tagged


class TolokaCreateProjectOperator(TolokaBaseOperator):
    """Create a project and return its id.

    :param project: the project config: a dict, a JSON string, or a path/URL of a JSON file (templated).
    :param toloka_conn_id: the Toloka connection.

    Idempotent: the project is tagged in its ``metadata`` with the dag id, run id and task id (and map index);
    a retry finds the ACTIVE project its earlier try created and returns it instead of creating another.
    Pushes the project's web page for the "Toloka project" extra link. XCom: the project id (str).
    """

    template_fields = ("project", "toloka_conn_id")
    operator_extra_links = (TolokaProjectLink(),)
    ui_color = "#d8f0ff"

    def __init__(self, *, project: dict | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        identity = RunIdentity.from_context(context)
        config = tag_metadata(load_json_config(self.project, argument="project"), identity)
        client = self.hook.get_conn()
        project = find_or_create_tagged(
            kind="project",
            is_ours=identity.is_tagged,
            candidates=lambda: client.get_projects(status="ACTIVE"),
            create=lambda: client.create_project(config),
            argument="project",
            log=self.log,
        )
        project_id = str(project.id)
        self.push_project_url(context, project_id)
        return project_id
