"""TolokaAssignmentsSensor: waits until at least N new assignments (past a watermark) are in a pool."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.assignments import (
    TolokaAssignmentsTrigger,
    assignments_outcome,
    assignments_query,
    validate_min_count,
)
from toloka_provider.triggers.outcomes import Outcome, normalise_names


class TolokaAssignmentsSensor(TolokaBaseSensor):
    """Wait for at least ``min_count`` assignments in ``statuses`` submitted after ``watermark``.

    One request per poke. Returns (through ``PokeReturnValue``, so it lands in XCom ``return_value``)
    ``{"pool_id", "count", "count_is_exact", "watermark", "previous_watermark"}``: ``watermark`` is the
    newest ``submitted`` time seen, to pass to the next run (``submitted_gt``); ``count`` is exact unless
    ``count_is_exact`` is false (more than one page of new assignments).

    :param pool_id: the pool id (templated).
    :param statuses: assignment statuses to count (default SUBMITTED) (templated).
    :param min_count: how many new assignments are enough (>= 1).
    :param watermark: count only assignments submitted strictly after this time (ISO string or datetime;
        templated, e.g. the previous run's XCom).
    :param consistency_lag: seconds; assignments submitted more recently than this are not counted yet,
        because the API may list them a little late (0 switches this off).
    """

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
        self.min_count = validate_min_count(min_count)
        self.watermark = watermark
        if isinstance(consistency_lag, bool) or not isinstance(consistency_lag, (int, float)) or consistency_lag < 0:
            raise ValueError(f"consistency_lag must be a number of seconds >= 0, got {consistency_lag!r}")
        self.consistency_lag = float(consistency_lag)
        self._pool_seen = False

    def describe(self) -> str:
        return f"new assignments in Toloka pool {self.pool_id}"

    def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        statuses = normalise_names(self.statuses, "statuses")
        watermark = self.watermark or None
        now = dt.datetime.now(dt.timezone.utc)
        query = assignments_query(str(self.pool_id), statuses, watermark, self.min_count, self.consistency_lag, now)
        result = client.find_assignments(**query)
        if not result.items and not self._pool_seen:
            # A list filtered by a pool id that does not exist is just empty: without this look the sensor
            # would wait for a mistyped pool until its timeout. A 404 here fails it at once, naming the pool.
            client.get_pool(str(self.pool_id))
            self._pool_seen = True
        return assignments_outcome(str(self.pool_id), list(result.items), bool(result.has_more), self.min_count, watermark)

    def build_trigger(self, deadline: float) -> TolokaAssignmentsTrigger:
        return TolokaAssignmentsTrigger(
            pool_id=str(self.pool_id),
            toloka_conn_id=self.toloka_conn_id,
            statuses=normalise_names(self.statuses, "statuses"),
            min_count=self.min_count,
            watermark=self.watermark or None,
            consistency_lag=self.consistency_lag,
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
