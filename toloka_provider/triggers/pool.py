"""TolokaPoolTrigger: waits asynchronously until a pool (or training) closes, for deferrable tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from toloka_provider.triggers._polling import TolokaPollingTrigger
from toloka_provider.waiting import PoolWait


class TolokaPoolTrigger(TolokaPollingTrigger):
    """Poll a pool (``kind="pool"``) or a training (``kind="training"``) until it is done.

    The rules are ``toloka_provider.waiting.pool_outcome``: success when it closes with one of
    ``success_reasons``; failure on NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED, ARCHIVED or
    another close reason; waiting while OPEN, LOCKED or closed FOR_UPDATE.
    Success payload: ``{"status": "success", "pool_id", "pool_status", "close_reason"}``.

    :param policy: a ``PollPolicy`` dict (interval, absolute ``deadline`` in epoch seconds, ...).
    :param max_spend: a cap in USD on the pool's spend: reached while it is open, the pool is closed and the
        event is a failure saying what was spent (``PoolWait``). Serialized only when set.

    The pool triggers of one triggerer that use the same connection share one poll loop
    (``toloka_provider.waiting_shared``): a listing of the open pools answers them all (a wait with
    ``max_spend`` reads its pool and spend alone, in that loop).
    """

    shared_polling = True

    def __init__(
        self,
        pool_id: str,
        toloka_conn_id: str = "toloka_default",
        success_reasons: Iterable[str] | str = ("COMPLETED",),
        kind: str = "pool",
        policy: Mapping[str, Any] | None = None,
        max_spend: str | None = None,
    ) -> None:
        wait = PoolWait(pool_id, success_reasons, kind, max_spend)
        super().__init__(wait, toloka_conn_id, policy)
        self.pool_id, self.success_reasons, self.kind = wait.pool_id, wait.success_reasons, wait.kind
