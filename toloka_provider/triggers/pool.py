"""TolokaPoolTrigger: waits asynchronously until a pool (or training) closes, for deferrable tasks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toloka_provider.triggers._polling import (
    DEFAULT_MAX_CONSECUTIVE_ERRORS,
    DEFAULT_PROGRESS_INTERVAL,
    TolokaPollingTrigger,
)
from toloka_provider.triggers.outcomes import Outcome, normalise_names, plain, pool_outcome

POOL_KINDS = ("pool", "training")


def validate_kind(kind: str) -> str:
    if kind not in POOL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(POOL_KINDS)}, got {kind!r}")
    return kind


class TolokaPoolTrigger(TolokaPollingTrigger):
    """Poll a pool (``kind="pool"``) or a training (``kind="training"``) until it is done.

    Outcomes follow :func:`~toloka_provider.triggers.outcomes.pool_outcome`: success when it closes with
    one of ``success_reasons``; failure on NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED,
    ARCHIVED or another close reason; waiting while OPEN, LOCKED or closed FOR_UPDATE.
    Success payload: ``{"status": "success", "pool_id", "pool_status", "close_reason"}``.

    :param deadline: absolute deadline in epoch seconds; a ``timeout`` event is sent when it passes.
    """

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = "toloka_default",
        success_reasons: Iterable[str] | str = ("COMPLETED",),
        kind: str = "pool",
        poll_interval: float = 30.0,
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
        self.success_reasons = normalise_names(success_reasons, "success_reasons")
        self.kind = validate_kind(kind)

    def describe(self) -> str:
        return f"Toloka {self.kind} {self.pool_id}"

    def _own_kwargs(self) -> dict[str, Any]:
        return {"pool_id": self.pool_id, "success_reasons": list(self.success_reasons), "kind": self.kind}

    async def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        if self.kind == "training":
            pool = await client.get_training(self.pool_id)
        else:
            pool = await client.get_pool(self.pool_id)
        status, reason = plain(pool.status), plain(pool.last_close_reason)
        outcome = pool_outcome(self.pool_id, status, reason, self.success_reasons, kind=self.kind)
        return outcome, {"pool_id": self.pool_id, "pool_status": status, "close_reason": reason}

    async def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        percentage = await client.get_pool_completion_percentage(self.pool_id)
        self.log.info("%s is %s: %s%% complete", self.describe(), details.get("pool_status"), percentage)
