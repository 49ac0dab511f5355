"""TolokaAssignmentsSensor: waits until at least N new assignments (past a watermark) are in a pool."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor, as_input_error
from toloka_provider.triggers.assignments import TolokaAssignmentsTrigger
from toloka_provider.waiting import AssignmentsWait, validate_consistency_lag, validate_min_count


class TolokaAssignmentsSensor(TolokaBaseSensor):
    """Wait for at least ``min_count`` assignments in ``statuses`` submitted after ``watermark``.

    One request per poke. Returns (through ``PokeReturnValue``, so it lands in XCom ``return_value``)
    ``{"pool_id", "count", "count_is_exact", "watermark", "previous_watermark"}``: ``watermark`` is the
    newest ``submitted`` time seen, to pass to the next run (``submitted_gt``); ``count`` is exact unless
    ``count_is_exact`` is false (more than one page of new assignments).

    :param pool_id: the pool id (templated).
    :param statuses: assignment statuses to count (default SUBMITTED) (templated).
    :param min_count: how many new assignments are enough (1 to 1000).
    :param watermark: count only assignments submitted strictly after this time (ISO string or datetime;
        templated, e.g. the previous run's XCom).
    :param consistency_lag: seconds; assignments submitted more recently than this are not counted yet,
        because the API may list them a little late (0 switches this off).
    """

    wait_class = AssignmentsWait
    trigger_class = TolokaAssignmentsTrigger
    template_fields = ("pool_id", "toloka_conn_id", "statuses", "watermark")

    def __init__(
        self,
        *,
        pool_id: str,
        statuses: Iterable[str] | str = ("SUBMITTED",),
        min_count: int = 1,
        watermark: str | dt.datetime | None = None,
        consistency_lag: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.statuses = statuses
        self.min_count = as_input_error(validate_min_count, min_count)
        self.watermark = watermark
        self.consistency_lag = as_input_error(validate_consistency_lag, consistency_lag)

    def wait_arguments(self) -> dict[str, Any]:
        return {
            "pool_id": self.pool_id,
            "statuses": self.statuses,
            "min_count": self.min_count,
            "watermark": self.watermark or None,
            "consistency_lag": self.consistency_lag,
        }
