"""TolokaAppBatchTrigger: waits asynchronously for a Toloka Apps batch to finish processing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toloka_provider.triggers._polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_PROGRESS_INTERVAL,
    TolokaPollingTrigger,
)
from toloka_provider.triggers.outcomes import Outcome, app_batch_check, app_batch_progress, normalise_names


class TolokaAppBatchTrigger(TolokaPollingTrigger):
    """Poll an app batch until its status is one of ``success_statuses`` (success) or ERROR, CANCELLED,
    NO_MONEY or ARCHIVE (failure).

    Success payload: ``{"status": "success", "batch_id", "batch_status", "items_count", "items_processed_count"}``.
    """

    def __init__(
        self,
        app_project_id: str,
        batch_id: str,
        toloka_conn_id: str = "toloka_default",
        success_statuses: Iterable[str] | str = ("COMPLETED",),
        poll_interval: float = 30.0,
        deadline: float | None = None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    ) -> None:
        super().__init__(
            toloka_conn_id=toloka_conn_id,
            poll_interval=poll_interval,
            deadline=deadline,
            max_consecutive_errors=max_consecutive_errors,
            progress_interval=progress_interval,
        )
        self.app_project_id = str(app_project_id)
        self.batch_id = str(batch_id)
        self.success_statuses = normalise_names(success_statuses, "success_statuses")

    def describe(self) -> str:
        return f"Toloka app batch {self.batch_id} (app project {self.app_project_id})"

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "app_project_id": self.app_project_id,
            "batch_id": self.batch_id,
            "success_statuses": list(self.success_statuses),
        }

    async def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        batch = await client.get_app_batch(self.app_project_id, self.batch_id)
        return app_batch_check(self.app_project_id, self.batch_id, batch, self.success_statuses)

    async def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        self.log.info("%s", app_batch_progress(self.describe(), details))
