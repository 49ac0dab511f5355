"""TolokaAppBatchSensor: waits for a Toloka Apps batch to finish processing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.app_batch import TolokaAppBatchTrigger
from toloka_provider.waiting import AppBatchWait


class TolokaAppBatchSensor(TolokaBaseSensor):
    """Wait for an app batch to reach one of ``success_statuses`` (default COMPLETED).

    Fails fast on ERROR, CANCELLED, NO_MONEY and ARCHIVE; STOPPED keeps waiting (it can be resumed).
    Logs ``items_processed_count / items_count`` every ``progress_interval`` seconds.

    Returns (XCom) ``{"batch_id", "batch_status", "items_count", "items_processed_count"}``.
    """

    wait_class = AppBatchWait
    trigger_class = TolokaAppBatchTrigger
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

    def wait_arguments(self) -> dict[str, Any]:
        return {
            "app_project_id": self.app_project_id,
            "batch_id": self.batch_id,
            "success_statuses": self.success_statuses,
        }
