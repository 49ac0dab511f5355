"""TolokaPoolSensor: waits until a pool (or training) closes, failing fast when it never will."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toloka_provider.links import TolokaPoolLink
from toloka_provider.sensors._base import TolokaBaseSensor
from toloka_provider.triggers.outcomes import Outcome, normalise_names, plain, pool_outcome
from toloka_provider.triggers.pool import TolokaPoolTrigger, validate_kind


class TolokaPoolSensor(TolokaBaseSensor):
    """Wait for a Toloka pool (``kind="pool"``) or training (``kind="training"``) to close.

    Succeeds when it closes with one of ``success_reasons`` (default COMPLETED; add MANUAL or EXPIRED to
    accept those). Fails fast, naming the pool and the reason, on NOT_ENOUGH_BALANCE, BLOCKED,
    ASSIGNMENTS_LIMIT_EXCEEDED, ARCHIVED, or any other close reason not listed. Keeps waiting while the
    pool is OPEN or LOCKED, or closed FOR_UPDATE. One request per poke (``get_pool``); completion
    percentage is logged every ``progress_interval`` seconds.

    Returns (XCom) ``{"pool_id", "pool_status", "close_reason"}``.

    :param pool_id: the pool or training id (templated).
    :param success_reasons: close reasons that count as success (templated).
    :param kind: ``"pool"`` or ``"training"``.
    :param poke_interval: seconds between checks (also the trigger's poll interval when deferred).
    """

    template_fields = ("pool_id", "toloka_conn_id", "success_reasons")
    operator_extra_links = (TolokaPoolLink(),)

    def __init__(
        self,
        *,
        pool_id: str,
        success_reasons: Iterable[str] | str = ("COMPLETED",),
        kind: str = "pool",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.success_reasons = success_reasons
        self.kind = validate_kind(kind)

    def execute(self, context: Any) -> Any:
        # The "Toloka Pool" button must work while the task waits (hours), so the URL goes first.
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is not None:
            TolokaPoolLink.persist(context, self.hook.web_ui_url(pool_id=str(self.pool_id)))
        return super().execute(context)

    def describe(self) -> str:
        return f"Toloka {self.kind} {self.pool_id}"

    def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        pool_id = str(self.pool_id)
        pool = client.get_training(pool_id) if self.kind == "training" else client.get_pool(pool_id)
        status, reason = plain(pool.status), plain(pool.last_close_reason)
        reasons = normalise_names(self.success_reasons, "success_reasons")
        outcome = pool_outcome(pool_id, status, reason, reasons, kind=self.kind)
        return outcome, {"pool_id": pool_id, "pool_status": status, "close_reason": reason}

    def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        percentage = client.get_pool_completion_percentage(str(self.pool_id))
        self.log.info("%s is %s: %s%% complete", self.describe(), details.get("pool_status"), percentage)

    def build_trigger(self, deadline: float) -> TolokaPoolTrigger:
        return TolokaPoolTrigger(
            pool_id=str(self.pool_id),
            toloka_conn_id=self.toloka_conn_id,
            success_reasons=normalise_names(self.success_reasons, "success_reasons"),
            kind=self.kind,
            poll_interval=self.poke_interval,
            deadline=deadline,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
