"""TolokaPoolTrigger: waits asynchronously until a pool (or training) closes, for deferrable tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from toloka_provider.client.waits import POOL_KINDS, PoolWait, validate_kind
from toloka_provider.triggers._polling import TolokaPollingTrigger

__all__ = ["POOL_KINDS", "TolokaPoolTrigger", "validate_kind"]


class TolokaPoolTrigger(TolokaPollingTrigger):
    """Poll a pool (``kind="pool"``) or a training (``kind="training"``) until it is done.

    The rules are ``toloka_provider.client.waits.pool_outcome``: success when it closes with one of
    ``success_reasons``; failure on NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED, ARCHIVED or
    another close reason; waiting while OPEN, LOCKED or closed FOR_UPDATE.
    Success payload: ``{"status": "success", "pool_id", "pool_status", "close_reason"}``.

    :param policy: a ``PollPolicy`` dict (interval, absolute ``deadline`` in epoch seconds, ...).
    """

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = "toloka_default",
        success_reasons: Iterable[str] | str = ("COMPLETED",),
        kind: str = "pool",
        policy: Mapping[str, Any] | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__(PoolWait(pool_id, success_reasons, kind), toloka_conn_id, policy, legacy)
