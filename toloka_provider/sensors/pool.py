"""TolokaPoolSensor: waits until a pool (or training) closes, failing fast when it never will."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from toloka_provider.links import TolokaPoolLink
from toloka_provider.sensors._base import TolokaBaseSensor, as_input_error
from toloka_provider.triggers.pool import TolokaPoolTrigger
from toloka_provider.waiting import PoolWait, check_success_reasons, spend_cap, validate_kind


class TolokaPoolSensor(TolokaBaseSensor):
    """Wait for a Toloka pool (``kind="pool"``) or training (``kind="training"``) to close.

    Succeeds when it closes with one of ``success_reasons`` (default COMPLETED; add MANUAL or EXPIRED to
    accept those). Fails fast, naming the pool and the reason, on NOT_ENOUGH_BALANCE, BLOCKED,
    ASSIGNMENTS_LIMIT_EXCEEDED, ARCHIVED, or any other close reason not listed. Keeps waiting while the
    pool is OPEN or LOCKED, or closed FOR_UPDATE. One request per poke (``get_pool``); completion
    percentage is logged every ``progress_interval`` seconds. Shows the "Toloka Pool" link while it waits.

    Returns (XCom) ``{"pool_id", "pool_status", "close_reason"}``.

    :param pool_id: the pool or training id (templated).
    :param success_reasons: close reasons that count as success (templated).
    :param kind: ``"pool"`` or ``"training"``.
    :param poke_interval: seconds between checks (also the trigger's poll interval when deferred).
    :param max_spend: a cap in USD (Decimal, str, int or float) on what the pool has cost in all: accepted
        assignments' rewards plus the submitted ones' at the pool's reward (one analytics read per check).
        Reached while the pool is open, the sensor closes the pool and fails, saying what was spent. Not
        retried: a retry would see the same spend.
    """

    wait_class = PoolWait
    trigger_class = TolokaPoolTrigger
    template_fields = ("pool_id", "toloka_conn_id", "success_reasons")
    operator_extra_links = (TolokaPoolLink(),)

    def __init__(
        self,
        *,
        pool_id: str,
        success_reasons: Iterable[str] | str = ("COMPLETED",),
        kind: str = "pool",
        max_spend: Decimal | str | int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.success_reasons = success_reasons
        self.kind = as_input_error(validate_kind, kind)
        self.max_spend = None if max_spend is None else str(as_input_error(spend_cap, max_spend))

    def wait_arguments(self) -> dict[str, Any]:
        # Misspelt reasons fail before the first request, not when the pool closes hours later.
        reasons = check_success_reasons(self.success_reasons, f"Toloka {self.kind} {self.pool_id}")
        arguments = {"pool_id": self.pool_id, "success_reasons": reasons, "kind": self.kind}
        if self.max_spend is not None:
            arguments["max_spend"] = self.max_spend
        return arguments

    def execute(self, context: Any) -> Any:
        # The "Toloka Pool" button must work while the task waits (hours), so the URL goes first.
        if context.get("ti") is not None:
            TolokaPoolLink.persist(context, self.hook.web_ui_url(pool_id=str(self.pool_id)))
        return super().execute(context)
