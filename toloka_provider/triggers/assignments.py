"""TolokaAssignmentsTrigger: waits until enough new assignments (past a watermark) are in a pool.

The check is ``toloka_provider.waiting.AssignmentsWait`` (also the sensor's): one request per check,
the newest matching assignments first, with a consistency lag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from toloka_provider.triggers._polling import TolokaPollingTrigger
from toloka_provider.waiting import AssignmentsWait


class TolokaAssignmentsTrigger(TolokaPollingTrigger):
    """Poll a pool until at least ``min_count`` assignments in ``statuses`` were submitted after ``watermark``.

    Success payload: ``{"status": "success", "pool_id", "count", "count_is_exact", "watermark",
    "previous_watermark"}`` (``watermark`` is the newest ``submitted`` seen, in the API's wire format).
    """

    default_poll_interval = 60.0

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = "toloka_default",
        statuses: Iterable[str] | str = ("SUBMITTED",),
        min_count: int = 1,
        watermark: str | dt.datetime | None = None,
        consistency_lag: float = 60.0,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        wait = AssignmentsWait(pool_id, statuses, min_count, watermark, consistency_lag)
        super().__init__(wait, toloka_conn_id, policy)
        self.pool_id, self.statuses, self.min_count = wait.pool_id, wait.statuses, wait.min_count
        self.watermark, self.consistency_lag = wait.watermark, wait.consistency_lag
