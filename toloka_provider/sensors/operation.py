"""TolokaOperationSensor: waits for an asynchronous Toloka operation to finish."""

from __future__ import annotations

from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.operation import TolokaOperationTrigger
from toloka_provider.triggers.outcomes import Outcome, operation_check


class TolokaOperationSensor(TolokaBaseSensor):
    """Wait for a Toloka operation: success on SUCCESS, fail fast on FAIL (with the server's details).

    Returns (XCom) ``{"operation_id", "operation": <the operation as a JSON dict>}``.

    :param operation_id: the operation id (templated).
    """

    template_fields = ("operation_id", "toloka_conn_id")

    def __init__(self, *, operation_id: str, poke_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.operation_id = operation_id

    def describe(self) -> str:
        return f"Toloka operation {self.operation_id}"

    def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        operation_id = str(self.operation_id)
        return operation_check(operation_id, client.get_operation(operation_id))

    def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        self.log.info(
            "%s is %s, progress %s%%", self.describe(), details.get("operation_status"), details.get("progress")
        )

    def build_trigger(self, deadline: float) -> TolokaOperationTrigger:
        return TolokaOperationTrigger(
            operation_id=str(self.operation_id),
            toloka_conn_id=self.toloka_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
