"""TolokaAppBatchTrigger: waits asynchronously for a Toloka Apps batch to finish processing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from toloka_provider.triggers._polling import TolokaPollingTrigger
from toloka_provider.waiting import AppBatchWait


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
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        wait = AppBatchWait(app_project_id, batch_id, success_statuses)
        super().__init__(wait, toloka_conn_id, policy)
        self.app_project_id, self.batch_id = wait.app_project_id, wait.batch_id
        self.success_statuses = wait.success_statuses
