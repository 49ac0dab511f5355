"""What a polled Toloka object's state means for a waiting task: success, failure, or keep waiting.

Pure functions over plain values, shared by the sensors (poke / reschedule), the triggers (deferrable) and
the operators that wait, so that all of them succeed, fail and wait on exactly the same states. Also the
one place that decides which API errors are worth another poll (transient) and which need a human.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from toloka_provider.client.errors import ApiError, TransportError
from toloka_provider.client.models import PoolCloseReason

SUCCESS = "success"
FAILURE = "failure"
WAITING = "waiting"

#: Close reasons after which a pool will not finish its work without a human fixing something.
POOL_FAIL_FAST_REASONS = {
    "NOT_ENOUGH_BALANCE": "top up the Toloka account balance, then reopen the pool",
    "BLOCKED": "the pool was blocked by Toloka; contact Toloka support",
    "ASSIGNMENTS_LIMIT_EXCEEDED": "the pool hit its assignments limit; raise it or split the tasks",
}
#: Close reasons that mean "closed for a moment": Toloka (or the user) reopens the pool afterwards.
POOL_TRANSIENT_CLOSE_REASONS = frozenset({"FOR_UPDATE"})
#: Statuses that mean "work in progress" regardless of the close reason. LOCKED is the short state
#: while Toloka switches a pool between OPEN and CLOSED.
POOL_WAITING_STATUSES = frozenset({"OPEN", "LOCKED"})

#: Every close reason Toloka documents; ``success_reasons`` must be among them.
KNOWN_CLOSE_REASONS = frozenset(member.value for member in PoolCloseReason)

APP_BATCH_FAILURE_STATUSES = frozenset({"ERROR", "CANCELLED", "NO_MONEY", "ARCHIVE"})

OPERATION_SUCCESS = "SUCCESS"
OPERATION_FAILURE = "FAIL"


@dataclass(frozen=True)
class Outcome:
    """``state`` is "success", "failure" or "waiting"; ``message`` says why, naming the object."""

    state: Literal["success", "failure", "waiting"]
    message: str

    @property
    def done(self) -> bool:
        return self.state != WAITING


def plain(value: Any) -> str | None:
    """An enum member or a string as its plain upper-case-as-sent string value (None stays None)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    return str(value)


def normalise_names(values: Iterable[Any] | str, argument: str) -> tuple[str, ...]:
    """``("COMPLETED",)`` from a str, enum or iterable of them; ValueError naming ``argument`` if empty."""
    if isinstance(values, (str, enum.Enum)):
        values = [values]
    names = tuple(dict.fromkeys(str(plain(value)).strip().upper() for value in values))
    if not names or any(not name for name in names):
        raise ValueError(f"{argument} must name at least one status, got {values!r}")
    return names


def pool_outcome(
    pool_id: str,
    status: Any,
    close_reason: Any,
    success_reasons: Iterable[str],
    kind: str = "pool",
) -> Outcome:
    """Decide what a pool's (or training's) ``status`` and ``last_close_reason`` mean.

    - OPEN, LOCKED: waiting.
    - CLOSED with a reason in ``success_reasons``: success.
    - CLOSED with NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED: failure (fail fast, with what to fix).
    - CLOSED with FOR_UPDATE, or without any reason yet (never opened): waiting.
    - CLOSED with any other reason (MANUAL, EXPIRED unless opted in; unknown reasons): failure, since
      nobody is going to complete the pool.
    - ARCHIVED: success if its last close reason is a success reason (it finished, then was archived),
      otherwise failure: an archived pool never opens again.
    """
    what = f"Toloka {kind} {pool_id}"
    status_name = plain(status) or "UNKNOWN"
    reason = plain(close_reason)
    successes = set(success_reasons)
    unknown = sorted(successes - KNOWN_CLOSE_REASONS)
    if unknown:
        # A misspelt reason ("COMPLETE") would only show when the pool closes, hours later, as a failure.
        raise ValueError(
            f"success_reasons for {what}: unknown close reason(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(KNOWN_CLOSE_REASONS))}"
        )
    if status_name in POOL_WAITING_STATUSES:
        return Outcome(WAITING, f"{what} is {status_name}")
    if reason is not None and reason in successes and status_name in ("CLOSED", "ARCHIVED"):
        return Outcome(SUCCESS, f"{what} is {status_name} with reason {reason}")
    if status_name == "ARCHIVED":
        return Outcome(
            FAILURE,
            f"{what} is ARCHIVED (last close reason {reason or 'none'}); an archived {kind} never reopens. "
            f"Success reasons were {', '.join(sorted(successes))}.",
        )
    if status_name != "CLOSED":  # an unknown status from a newer API: keep polling, it will settle
        return Outcome(WAITING, f"{what} has status {status_name}")
    if reason is None:
        return Outcome(WAITING, f"{what} is CLOSED and was never opened yet")
    if reason in POOL_FAIL_FAST_REASONS:
        return Outcome(FAILURE, f"{what} closed with reason {reason}: {POOL_FAIL_FAST_REASONS[reason]}.")
    if reason in POOL_TRANSIENT_CLOSE_REASONS:
        return Outcome(WAITING, f"{what} is closed for an update ({reason}); waiting for it to reopen")
    return Outcome(
        FAILURE,
        f"{what} closed with reason {reason}, which is not a success reason "
        f"({', '.join(sorted(successes))}); add it to success_reasons to accept it.",
    )


def operation_outcome(operation_id: str, status: Any, details: Any = None) -> Outcome:
    """SUCCESS: success; FAIL: failure with the server's details; anything else: waiting."""
    status_name = plain(status) or "UNKNOWN"
    what = f"Toloka operation {operation_id}"
    if status_name == OPERATION_SUCCESS:
        return Outcome(SUCCESS, f"{what} succeeded")
    if status_name == OPERATION_FAILURE:
        suffix = f": {details}" if details else " (the server gave no details)"
        return Outcome(FAILURE, f"{what} failed{suffix}")
    return Outcome(WAITING, f"{what} is {status_name}")


def app_batch_outcome(
    app_project_id: str, batch_id: str, status: Any, success_statuses: Iterable[str]
) -> Outcome:
    """A status in ``success_statuses``: success; ERROR, CANCELLED, NO_MONEY, ARCHIVE: failure; else waiting.

    STOPPED counts as waiting: a stopped batch can be resumed.
    """
    status_name = plain(status) or "UNKNOWN"
    successes = set(success_statuses)
    what = f"Toloka app batch {batch_id} (app project {app_project_id})"
    if status_name in successes:
        return Outcome(SUCCESS, f"{what} is {status_name}")
    if status_name in APP_BATCH_FAILURE_STATUSES:
        hint = " Top up the account balance and restart the batch." if status_name == "NO_MONEY" else ""
        return Outcome(
            FAILURE,
            f"{what} ended with status {status_name}, not one of {', '.join(sorted(successes))}.{hint}",
        )
    return Outcome(WAITING, f"{what} is {status_name}")


# -- one check, shared by the sensors (sync client) and the triggers (async client) ----------------------


def operation_check(operation_id: str, operation: Any) -> tuple[Outcome, dict[str, Any]]:
    """The outcome of a fetched operation and the details a sensor returns / a trigger sends."""
    outcome = operation_outcome(operation_id, operation.status, getattr(operation, "details", None))
    details: dict[str, Any] = {"operation_id": operation_id}
    if outcome.done:
        details["operation"] = operation.to_json_dict()
    else:
        details["operation_status"] = plain(operation.status)
        details["progress"] = getattr(operation, "progress", None)
    return outcome, details


def app_batch_check(
    app_project_id: str, batch_id: str, batch: Any, success_statuses: Iterable[str]
) -> tuple[Outcome, dict[str, Any]]:
    """The outcome of a fetched app batch and its details (status and item counts)."""
    details = {
        "batch_id": batch_id,
        "batch_status": plain(batch.status),
        "items_count": getattr(batch, "items_count", None),
        "items_processed_count": getattr(batch, "items_processed_count", None),
    }
    return app_batch_outcome(app_project_id, batch_id, batch.status, success_statuses), details


def app_batch_progress(description: str, details: dict[str, Any]) -> str:
    return (
        f"{description} is {details.get('batch_status')}: {details.get('items_processed_count')} of "
        f"{details.get('items_count')} items processed"
    )


# -- errors ----------------------------------------------------------------------------------------------

_TRANSIENT_STATUSES = frozenset({408, 429})


def is_transient_error(error: BaseException) -> bool:
    """True when polling again later may succeed: 5xx, 429, 408, connection failures and timeouts.

    The client has already retried these; a waiting task tolerates a few more in a row, because a wait
    lasts hours and a short outage should not fail it. 401/403/404 and validation errors are persistent.
    """
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ApiError):
        return error.status_code is None or error.status_code in _TRANSIENT_STATUSES or error.status_code >= 500
    return isinstance(error, (ConnectionError, TimeoutError, asyncio.TimeoutError))


def describe_persistent_error(error: BaseException, what: str, conn_id: str) -> str:
    """A message for a non-transient error that says what to fix."""
    status = getattr(error, "status_code", None)
    if status == 401:
        hint = f"the API token in Airflow connection {conn_id!r} was rejected; check or renew it"
    elif status == 403:
        hint = (
            f"the token of Airflow connection {conn_id!r} has no access to {what}; check the account "
            "(and act_under_account_id)"
        )
    elif status == 404:
        hint = f"{what} does not exist for this account/environment; check the id and the connection's environment"
    elif isinstance(error, ApiError):
        hint = f"the request for {what} was refused"
    else:
        hint = f"unexpected error while checking {what}"
    return f"{hint}: {type(error).__name__}: {error}"
