"""TolokaOperationTrigger: waits asynchronously for a Toloka operation to finish."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toloka_provider.triggers._polling import TolokaPollingTrigger
from toloka_provider.waiting import OperationWait


class TolokaOperationTrigger(TolokaPollingTrigger):
    """Poll an operation until SUCCESS (success event) or FAIL (failure event with the server's details).

    Success payload: ``{"status": "success", "operation_id", "operation": <Operation.to_json_dict()>}``.
    """

    default_poll_interval = 5.0

    def __init__(
        self,
        operation_id: str,
        toloka_conn_id: str = "toloka_default",
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        wait = OperationWait(operation_id)
        super().__init__(wait, toloka_conn_id, policy)
        self.operation_id = wait.operation_id
