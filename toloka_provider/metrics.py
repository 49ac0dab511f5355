"""Metrics of the Toloka operators and clients, sent through Airflow's own ``Stats`` under the ``toloka.`` prefix.

Airflow decides where they go (StatsD, Datadog, OpenTelemetry, or nowhere: with metrics off its ``Stats`` is a
no-op). Names and tags are listed in ``docs/metrics.md``. A metric that cannot be sent is dropped with a debug
line: metrics never fail a task or change a request.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "toloka"

# Where Airflow keeps Stats, newest first (the task SDK's re-export, then the core's older homes).
_STATS_MODULES = ("airflow.sdk.observability.stats", "airflow.observability.stats", "airflow.stats")


@functools.lru_cache(maxsize=1)
def _stats() -> Any:
    for name in _STATS_MODULES:
        try:
            return importlib.import_module(name).Stats
        except (ImportError, AttributeError):
            continue
    return None


def enabled() -> bool:
    """Whether Airflow sends metrics at all (``[metrics] statsd_on``, ``otel_on`` or ``statsd_datadog_enabled``)."""
    try:
        from airflow.sdk.configuration import conf

        return any(
            conf.getboolean("metrics", option, fallback=False)
            for option in ("statsd_on", "otel_on", "statsd_datadog_enabled")
        )
    except Exception:  # no configuration to read: no metrics
        return False


def _tags(tags: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in tags.items() if value is not None}


def _send(kind: str, name: str, value: Any, tags: Mapping[str, Any]) -> None:
    """One metric through ``Stats.<kind>``; any failure is logged at debug level and swallowed."""
    try:
        stats = _stats()
        if stats is None:
            return
        getattr(stats, kind)(f"{PREFIX}.{name}", value, tags=_tags(tags))
    except Exception:  # a metric must never fail the task that sends it
        log.debug("Could not send metric %s.%s", PREFIX, name, exc_info=True)


def _id_part(value: Any) -> str:
    """An id as one part of a metric name (StatsD names allow letters, digits, ``_ . -``)."""
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(value))


# ----------------------------------------------------------------------------------------------------------
# Progress and money


def money_spent(amount: Decimal | str | float, *, what: str, pool_id: str | None = None) -> None:
    """``toloka.spend.usd`` (all pools; tags ``what``, ``pool_id``) and ``toloka.pool.<id>.spend.usd``."""
    try:
        value = float(Decimal(str(amount)))
    except Exception:
        log.debug("Not a money amount: %r", amount)
        return
    if value <= 0:
        return
    _send("incr", "spend.usd", value, {"what": what, "pool_id": pool_id})
    if pool_id is not None:
        _send("incr", f"pool.{_id_part(pool_id)}.spend.usd", value, {"what": what})


def tasks_uploaded(count: int, *, pool_id: str | None = None) -> None:
    """``toloka.tasks.uploaded`` (tag ``pool_id``)."""
    if count > 0:
        _send("incr", "tasks.uploaded", count, {"pool_id": pool_id})


def assignments_decided(*, accepted: int, rejected: int, pool_id: str | None = None) -> None:
    """``toloka.assignments.accepted`` and ``toloka.assignments.rejected`` (tag ``pool_id``)."""
    if accepted > 0:
        _send("incr", "assignments.accepted", accepted, {"pool_id": pool_id})
    if rejected > 0:
        _send("incr", "assignments.rejected", rejected, {"pool_id": pool_id})


def wait_finished(kind: str, seconds: float, *, outcome: str, pool_id: str | None = None) -> None:
    """``toloka.wait.<kind>.duration`` (a timer; tags ``outcome``, ``pool_id``) and ``toloka.wait.<kind>.<outcome>``."""
    _send("timing", f"wait.{_id_part(kind)}.duration", datetime.timedelta(seconds=max(seconds, 0.0)),
          {"outcome": outcome, "pool_id": pool_id})
    _send("incr", f"wait.{_id_part(kind)}.{_id_part(outcome)}", 1, {"pool_id": pool_id})


def spend_estimated(estimate: Decimal, *, cap: Decimal | None, pool_id: str, refused: bool) -> None:
    """``toloka.spend.estimate_usd`` (a gauge; tag ``pool_id``) and ``toloka.spend.cap_refusals``."""
    _send("gauge", "spend.estimate_usd", float(estimate), {"pool_id": pool_id})
    if refused:
        _send("incr", "spend.cap_refusals", 1, {"pool_id": pool_id, "cap": cap})


# ----------------------------------------------------------------------------------------------------------
# API requests: the clients' observer


def endpoint_group(endpoint: str) -> str:
    """The collection an API path belongs to: ``/api/v1/pools/{id}/open`` -> ``pools``."""
    parts = [part for part in str(endpoint).split("?", 1)[0].split("/") if part]
    def is_version(part: str) -> bool:
        return part[:1] == "v" and part[1:].isdigit()

    if parts[:1] == ["api"]:
        parts = parts[1:]
        if len(parts) > 1 and parts[0] == "app" and is_version(parts[1]):  # the Apps API: /api/app/v0/...
            parts = parts[2:]
        elif parts and is_version(parts[0]):
            parts = parts[1:]
    for part in parts:
        if part != "{id}":
            return _id_part(part)
    return "other"


def _field(event: Any, *names: str) -> Any:
    for name in names:
        if isinstance(event, Mapping):
            if name in event:
                return event[name]
        elif hasattr(event, name):
            return getattr(event, name)
    return None


def request_observer(event: Any) -> None:
    """A client observer: one HTTP attempt's counts and time, by endpoint group.

    Pass it as ``TolokaClient(..., observer=metrics.request_observer)``. From the event (``method``,
    ``endpoint`` or ``path``, ``status`` or None, ``attempt``, ``retried``/``will_retry``, ``retry_after``,
    ``elapsed`` seconds; attributes or a mapping) it sends ``toloka.api.requests``, ``toloka.api.retries``,
    ``toloka.api.throttled`` (429s), ``toloka.api.errors`` (no answer, or a 5xx) and the timer
    ``toloka.api.duration``, tagged ``group``, ``method`` and ``status``. It never raises.
    """
    try:
        group = endpoint_group(_field(event, "endpoint", "path") or "")
        status = _field(event, "status")
        tags = {"group": group, "method": _field(event, "method"), "status": "none" if status is None else status}
        _send("incr", "api.requests", 1, tags)
        _send("incr", f"api.{group}.requests", 1, {"status": tags["status"]})
        if _field(event, "retried", "will_retry"):
            _send("incr", "api.retries", 1, tags)
        if status == 429:
            _send("incr", "api.throttled", 1, tags)
        elif status is None or (isinstance(status, int) and status >= 500):
            _send("incr", "api.errors", 1, tags)
        elapsed = _field(event, "elapsed")
        if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool):
            _send("timing", "api.duration", datetime.timedelta(seconds=max(float(elapsed), 0.0)), tags)
    except Exception:
        log.debug("Could not turn a client event into metrics: %r", event, exc_info=True)
