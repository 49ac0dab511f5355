"""TolokaOperationSensor: waits for a Toloka operation to reach SUCCESS, failing fast on FAIL."""

from __future__ import annotations

from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.operation import TolokaOperationTrigger
from toloka_provider.waiting import OperationWait


class TolokaOperationSensor(TolokaBaseSensor):
    """Wait for an operation (e.g. a bulk task creation or an aggregation) to finish.

    Fails fast on FAIL with the server's details. Returns (XCom)
    ``{"operation_id", "operation": <the operation as JSON>}``.

    :param operation_id: the operation id (templated).
    """

    wait_class = OperationWait
    trigger_class = TolokaOperationTrigger
    template_fields = ("operation_id", "toloka_conn_id")

    def __init__(self, *, operation_id: str, poke_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.operation_id = operation_id

    def wait_arguments(self) -> dict[str, Any]:
        return {"operation_id": self.operation_id}
