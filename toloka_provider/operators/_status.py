"""Shared machinery of the open / close / archive operators for pools and trainings.

Toloka answers 204 when the object is already in the wanted state (the client then returns the object);
a 409 may still come when, say, a pool is closed a second time while archived. Both count as success when
the object ends up where the user wanted it, so a retried task never fails on what its first try did.
"""

from __future__ import annotations

from typing import Any, ClassVar

from toloka_provider.operators._common import TolokaBaseOperator, enum_value

TARGET_STATUSES = {
    "open": ("OPEN",),
    "close": ("CLOSED", "ARCHIVED"),  # an archived object is closed too
    "archive": ("ARCHIVED",),
}


def change_status(operator: TolokaBaseOperator, kind: str, action: str, object_id: str) -> str:
    """Run ``client.<action>_<kind>(object_id)`` and return the resulting status string."""
    client = operator.hook.get_conn()
    try:
        result = getattr(client, f"{action}_{kind}")(object_id)
    except Exception as error:
        if getattr(error, "status_code", None) != 409:
            raise
        current = getattr(client, f"get_{kind}")(object_id)
        status = enum_value(current.status)
        if status in TARGET_STATUSES[action]:
            operator.log.info("%s %s is already %s", kind.capitalize(), object_id, status)
            return status
        raise
    status = enum_value(result.status)
    operator.log.info("%s %s is now %s", kind.capitalize(), object_id, status)
    return status


class PoolStatusOperator(TolokaBaseOperator):
    """Base: change a pool's status. ``pool_id`` is templated. XCom: the new status string."""

    action: ClassVar[str]
    template_fields = ("pool_id", "toloka_conn_id")
    ui_color = "#e8f7e4"

    def __init__(self, *, pool_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id

    def execute(self, context: Any) -> str:
        self.push_pool_url(context, str(self.pool_id))
        return change_status(self, "pool", self.action, str(self.pool_id))


class TrainingStatusOperator(TolokaBaseOperator):
    """Base: change a training's status. ``training_id`` is templated. XCom: the new status string."""

    action: ClassVar[str]
    template_fields = ("training_id", "toloka_conn_id")
    ui_color = "#e8f7e4"

    def __init__(self, *, training_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training_id = training_id

    def execute(self, context: Any) -> str:
        return change_status(self, "training", self.action, str(self.training_id))
