"""Base classes of the open / close / archive operators for pools and trainings.

The step itself (change the status; a state conflict that leaves the object where the user wanted it is
success, so a retried task never fails on what its first try did) is ``toloka_provider.steps.status``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.steps import status as status_step


def change_status(operator: TolokaBaseOperator, kind: str, action: str, object_id: str) -> str:
    """Run the status step for ``operator``'s connection and log; return the resulting status string."""
    return status_step.change_status(operator.hook.get_conn(), kind, action, object_id, log=operator.log)


class PoolStatusOperator(TolokaBaseOperator):
    """Base: change a pool's status. ``pool_id`` is templated. XCom: the new status string."""

    action: ClassVar[str]
    template_fields = ("pool_id", "toloka_conn_id")
    ui_color = "#e8f7e4"

    def __init__(self, *, pool_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id

    @maps_toloka_errors
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

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        return change_status(self, "training", self.action, str(self.training_id))
