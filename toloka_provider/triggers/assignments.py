"""TolokaAssignmentsTrigger: waits until enough new assignments (past a watermark) are in a pool.

The query and its reading are pure functions shared with ``TolokaAssignmentsSensor``. One request per
check: the newest matching assignments first (``sort=-submitted``), at most ``page_limit`` of them, so the
first item carries the new watermark (the greatest ``submitted``) and the page size bounds the work.
Assignments submitted within ``consistency_lag`` seconds of now are not counted yet: the API may show
them a little late, and a watermark past a not-yet-visible assignment would skip it for good.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from toloka_provider.client.dates import format_datetime, parse_datetime
from toloka_provider.triggers._polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_PROGRESS_INTERVAL,
    TolokaPollingTrigger,
)
from toloka_provider.triggers.outcomes import SUCCESS, WAITING, Outcome, normalise_names

#: Page size asked for (or min_count, if larger); the count is exact below it and "at least" at it.
DEFAULT_PAGE_LIMIT = 300
#: The largest page the assignments endpoint serves, hence the largest min_count one request can confirm.
MAX_MIN_COUNT = 1000


def validate_min_count(min_count: Any) -> int:
    if isinstance(min_count, bool) or not isinstance(min_count, int) or not 1 <= min_count <= MAX_MIN_COUNT:
        raise ValueError(f"min_count must be an integer from 1 to {MAX_MIN_COUNT}, got {min_count!r}")
    return min_count


def assignments_query(
    pool_id: str,
    statuses: Iterable[str],
    watermark: str | dt.datetime | None,
    min_count: int,
    consistency_lag: float,
    now: dt.datetime,
    page_limit: int = DEFAULT_PAGE_LIMIT,
) -> dict[str, Any]:
    """Keyword arguments for ``find_assignments``."""
    query: dict[str, Any] = {
        "pool_id": pool_id,
        "status": list(statuses),
        "sort": "-submitted",
        "limit": max(min_count, page_limit),
    }
    if watermark:
        query["submitted_gt"] = parse_datetime(watermark)
    if consistency_lag > 0:
        query["submitted_lte"] = now - dt.timedelta(seconds=consistency_lag)
    return query


def assignments_outcome(
    pool_id: str, items: list[Any], has_more: bool, min_count: int, watermark: str | dt.datetime | None
) -> tuple[Outcome, dict[str, Any]]:
    """Success when at least ``min_count`` assignments came back; details carry count and new watermark."""
    count = len(items)
    newest = _submitted(items[0]) if items else None
    new_watermark = format_datetime(newest) if newest else (format_datetime(watermark) if watermark else None)
    details = {
        "pool_id": pool_id,
        "count": count,
        "count_is_exact": not has_more,
        "watermark": new_watermark,
        "previous_watermark": format_datetime(watermark) if watermark else None,
    }
    what = f"Toloka pool {pool_id}"
    if count >= min_count:
        more = "+" if has_more else ""
        return Outcome(SUCCESS, f"{what}: {count}{more} new assignments (wanted {min_count})"), details
    return Outcome(WAITING, f"{what}: {count} new assignments of {min_count} wanted"), details


def _submitted(item: Any) -> dt.datetime | None:
    value = item.get("submitted") if isinstance(item, dict) else getattr(item, "submitted", None)
    return parse_datetime(value) if value else None


class TolokaAssignmentsTrigger(TolokaPollingTrigger):
    """Poll a pool until at least ``min_count`` assignments in ``statuses`` were submitted after ``watermark``.

    Success payload: ``{"status": "success", "pool_id", "count", "count_is_exact", "watermark",
    "previous_watermark"}`` (``watermark`` is the newest ``submitted`` seen, in the API's wire format).
    """

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = "toloka_default",
        statuses: Iterable[str] | str = ("SUBMITTED",),
        min_count: int = 1,
        watermark: str | None = None,
        consistency_lag: float = 60.0,
        poll_interval: float = 60.0,
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
        self.pool_id = str(pool_id)
        self.statuses = normalise_names(statuses, "statuses")
        self.min_count = validate_min_count(min_count)
        self.watermark = format_datetime(watermark) if watermark else None
        self.consistency_lag = float(consistency_lag)
        self._pool_seen = False

    def describe(self) -> str:
        return f"new assignments in Toloka pool {self.pool_id}"

    def _own_kwargs(self) -> dict[str, Any]:
        return {
            "pool_id": self.pool_id,
            "statuses": list(self.statuses),
            "min_count": self.min_count,
            "watermark": self.watermark,
            "consistency_lag": self.consistency_lag,
        }

    async def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        now = dt.datetime.now(dt.timezone.utc)
        query = assignments_query(
            self.pool_id, self.statuses, self.watermark, self.min_count, self.consistency_lag, now
        )
        result = await client.find_assignments(**query)
        if not result.items and not self._pool_seen:
            # An empty list may mean a pool id that does not exist: a 404 here ends the wait with an error
            # event naming the pool, instead of polling a typo until the deadline.
            await client.get_pool(self.pool_id)
            self._pool_seen = True
        return assignments_outcome(self.pool_id, list(result.items), bool(result.has_more), self.min_count, self.watermark)
