"""TolokaOperationTrigger: waits asynchronously for a Toloka operation to finish."""

from __future__ import annotations

from typing import Any

from toloka_provider.triggers._polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_PROGRESS_INTERVAL,
    TolokaPollingTrigger,
)
from toloka_provider.triggers.outcomes import Outcome, operation_check


class TolokaOperationTrigger(TolokaPollingTrigger):
    """Poll an operation until SUCCESS (success event) or FAIL (failure event with the server's details).

    Success payload: ``{"status": "success", "operation_id", "operation": <Operation.to_json_dict()>}``.
    """

    def __init__(
        self,
        operation_id: str,
        toloka_conn_id: str = "toloka_default",
        poll_interval: float = 5.0,
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
        self.operation_id = str(operation_id)

    def describe(self) -> str:
        return f"Toloka operation {self.operation_id}"

    def _own_kwargs(self) -> dict[str, Any]:
        return {"operation_id": self.operation_id}

    async def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        return operation_check(self.operation_id, await client.get_operation(self.operation_id))

    async def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        self.log.info(
            "%s is %s, progress %s%%", self.describe(), details.get("operation_status"), details.get("progress")
        )
