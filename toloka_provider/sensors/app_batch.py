"""TolokaAppBatchSensor: waits for a Toloka Apps batch to finish processing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.app_batch import TolokaAppBatchTrigger
from toloka_provider.triggers.outcomes import Outcome, app_batch_check, app_batch_progress, normalise_names


class TolokaAppBatchSensor(TolokaBaseSensor):
    """Wait for an app batch to reach one of ``success_statuses`` (default COMPLETED).

    Fails fast on ERROR, CANCELLED, NO_MONEY and ARCHIVE; STOPPED keeps waiting (it can be resumed).
    Logs ``items_processed_count / items_count`` every ``progress_interval`` seconds.

    Returns (XCom) ``{"batch_id", "batch_status", "items_count", "items_processed_count"}``.
    """

    template_fields = ("app_project_id", "batch_id", "toloka_conn_id", "success_statuses")

    def __init__(
        self,
        *,
        app_project_id: str,
        batch_id: str,
        success_statuses: Iterable[str] | str = ("COMPLETED",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_project_id = app_project_id
        self.batch_id = batch_id
        self.success_statuses = success_statuses

    def describe(self) -> str:
        return f"Toloka app batch {self.batch_id} (app project {self.app_project_id})"

    def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        batch = client.get_app_batch(str(self.app_project_id), str(self.batch_id))
        statuses = normalise_names(self.success_statuses, "success_statuses")
        return app_batch_check(str(self.app_project_id), str(self.batch_id), batch, statuses)

    def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        self.log.info("%s", app_batch_progress(self.describe(), details))

    def build_trigger(self, deadline: float) -> TolokaAppBatchTrigger:
        return TolokaAppBatchTrigger(
            app_project_id=str(self.app_project_id),
            batch_id=str(self.batch_id),
            toloka_conn_id=self.toloka_conn_id,
            success_statuses=normalise_names(self.success_statuses, "success_statuses"),
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
