"""Waiting for a Toloka object: the provider's waiting policy, shared by sensors, triggers and operators.

A wait is a *check* (``PoolWait``, ``OperationWait``, ``AppBatchWait``, ``AssignmentsWait``): a plan that reads
the object once and returns an ``Outcome`` (waiting, success, failure). ``poll`` is the one waiting loop over a
check, ruled by a ``PollPolicy``. Both are plans; a client runs them with its ``run_plan`` (``check``,
``progress`` and ``wait_for`` below), so redaction, retries and deadlines are the client's own. A poller that
runs many waits needs only ``attempt`` (one check, transient errors as an outcome).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import attrs

from toloka_provider.client import core, models
from toloka_provider.client import pagination as lists
from toloka_provider.client.core import check_id, completion_percentage
from toloka_provider.client.dates import format_datetime, parse_datetime
from toloka_provider.client.errors import TolokaArgumentError, is_transient
from toloka_provider.client.protocol import Now, Plan, Sleep

log = logging.getLogger("toloka_provider.waiting")

# Outcome states. WAITING, SUCCESS, FAILURE and TRANSIENT come from one check; the loop adds TIMEOUT (the
# deadline passed) and GAVE_UP (more transient errors in a row than the budget allows).
WAITING = "waiting"
SUCCESS = "success"
FAILURE = "failure"
TRANSIENT = "transient"
TIMEOUT = "timeout"
GAVE_UP = "gave_up"

#: The shortest poll interval accepted from a task's arguments, in seconds. Zero would poll in a busy loop
#: and hammer the API; the floor is low enough for tests against the local emulator (which poll every
#: 0.3 s). Against Toloka itself, poll every 30 s or more: a pool takes minutes to hours.
MIN_POLL_INTERVAL = 0.1
DEFAULT_MAX_CONSECUTIVE_ERRORS = 10
DEFAULT_PROGRESS_INTERVAL = 300.0


@attrs.frozen
class Outcome:
    """What one look (or a whole wait) found.

    ``state``: one of the states above; ``message`` says why, naming the object; ``details`` is what a sensor
    returns and a trigger sends; ``subject`` the object last read (e.g. the ``Operation``); ``error`` the
    exception behind a TRANSIENT or GAVE_UP outcome.
    """

    state: str
    message: str
    details: dict = attrs.field(factory=dict)
    subject: Any = attrs.field(default=None, eq=False, repr=False)
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def done(self) -> bool:
        """A final answer of the check: success or failure."""
        return self.state in (SUCCESS, FAILURE)


# --------------------------------------------------------------------------------------------------- policy


def _seconds(name: str, value: Any, minimum: float, *, hint: str = "") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < minimum
    ):
        raise TolokaArgumentError(f"{name} must be a number >= {minimum:g} (seconds{hint}), got {value!r}")
    return float(value)


def check_poll_interval(value: Any, name: str = "poll_interval") -> float:
    """A task's poll interval: a finite number of seconds, at least ``MIN_POLL_INTERVAL``."""
    return _seconds(name, value, MIN_POLL_INTERVAL, hint="; 0 would poll in a busy loop")


def check_seconds(value: Any, name: str) -> float:
    """A finite number of seconds >= 0."""
    return _seconds(name, value, 0.0)


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """None (no limit) or a finite number of seconds >= 0; 0 means "look once, do not wait"."""
    return None if value is None else _seconds(name, value, 0.0)


def check_error_budget(value: Any, name: str = "max_consecutive_errors") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TolokaArgumentError(f"{name} must be an integer >= 0, got {value!r}")
    return value


@attrs.frozen
class PollPolicy:
    """How to wait: ``interval`` seconds between looks; stop at ``deadline`` (in the clock of the plan's
    ``Now``: epoch seconds for a trigger; None: never); give up after more than ``max_consecutive_errors``
    transient errors in a row; log progress every ``progress_interval`` seconds."""

    interval: float = attrs.field(default=30.0, converter=lambda v: _seconds("poll_interval", v, 0.0))
    deadline: float | None = attrs.field(
        default=None, converter=lambda v: None if v is None else _seconds("deadline", v, 0.0)
    )
    max_consecutive_errors: int = attrs.field(
        default=DEFAULT_MAX_CONSECUTIVE_ERRORS, converter=check_error_budget
    )
    progress_interval: float = attrs.field(
        default=DEFAULT_PROGRESS_INTERVAL, converter=lambda v: _seconds("progress_interval", v, 0.0)
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, as a trigger's kwargs must be."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PollPolicy:
        unknown = set(data) - {field.name for field in attrs.fields(cls)}
        if unknown:
            raise TolokaArgumentError(f"poll policy: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@attrs.define
class ErrorBudget:
    """Transient errors in a row: ``note`` passes outcomes through and turns one too many into GAVE_UP."""

    allowed: int
    in_a_row: int = 0

    def note(self, what: str, outcome: Outcome) -> Outcome:
        if outcome.state != TRANSIENT:
            self.in_a_row = 0
            return outcome
        self.in_a_row += 1
        if self.in_a_row <= self.allowed:
            return outcome
        error = outcome.error
        return Outcome(
            GAVE_UP,
            f"{what}: {self.in_a_row} transient errors in a row, giving up (last: {type(error).__name__}: {error})",
            error=error,
        )


# --------------------------------------------------------------------------------------------------- rules


def plain(value: Any) -> str | None:
    """An enum member or a string as its plain string value (None stays None)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    return str(value)


def normalise_names(values: Iterable[Any] | str, argument: str) -> tuple[str, ...]:
    """``("COMPLETED",)`` from a str, enum or iterable of them; an error naming ``argument`` if empty."""
    if isinstance(values, (str, enum.Enum)):
        values = [values]
    if not isinstance(values, Iterable):
        raise TolokaArgumentError(f"{argument} must be a status name or a list of them, got {values!r}")
    names = tuple(dict.fromkeys(str(plain(value)).strip().upper() for value in values))
    if not names or any(not name for name in names):
        raise TolokaArgumentError(f"{argument} must name at least one status, got {values!r}")
    return names


#: Close reasons after which a pool will not finish its work without a human fixing something.
POOL_FAIL_FAST_REASONS = {
    "NOT_ENOUGH_BALANCE": "top up the Toloka account balance, then reopen the pool",
    "BLOCKED": "the pool was blocked by Toloka; contact Toloka support",
    "ASSIGNMENTS_LIMIT_EXCEEDED": "the pool hit its assignments limit; raise it or split the tasks",
}
#: Close reasons that mean "closed for a moment": Toloka (or the user) reopens the pool afterwards.
POOL_TRANSIENT_CLOSE_REASONS = frozenset({"FOR_UPDATE"})
#: Statuses that mean "work in progress" whatever the close reason. LOCKED is the short state while Toloka
#: switches a pool between OPEN and CLOSED.
POOL_WAITING_STATUSES = frozenset({"OPEN", "LOCKED"})
#: Every close reason Toloka documents; ``success_reasons`` must be among them.
KNOWN_CLOSE_REASONS = frozenset(member.value for member in models.PoolCloseReason)
POOL_KINDS = ("pool", "training")

APP_BATCH_FAILURE_STATUSES = frozenset({"ERROR", "CANCELLED", "NO_MONEY", "ARCHIVE"})
OPERATION_SUCCESS = "SUCCESS"
OPERATION_FAILURE = "FAIL"


def check_success_reasons(
    values: Iterable[Any] | str, what: str = "the pool", argument: str = "success_reasons"
) -> tuple[str, ...]:
    """Normalised close reasons; a misspelt one ("COMPLETE") is refused now, not hours later at the close."""
    reasons = normalise_names(values, argument)
    unknown = sorted(set(reasons) - KNOWN_CLOSE_REASONS)
    if unknown:
        raise TolokaArgumentError(
            f"{argument} for {what}: unknown close reason(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(KNOWN_CLOSE_REASONS))}"
        )
    return reasons


def validate_kind(kind: Any) -> str:
    if kind not in POOL_KINDS:
        raise TolokaArgumentError(f"kind must be one of {', '.join(POOL_KINDS)}, got {kind!r}")
    return kind


def pool_outcome(
    pool_id: str, status: Any, close_reason: Any, success_reasons: Iterable[str], kind: str = "pool"
) -> Outcome:
    """What a pool's (or training's) ``status`` and ``last_close_reason`` mean.

    - OPEN, LOCKED: waiting.
    - CLOSED or ARCHIVED with a reason in ``success_reasons``: success.
    - CLOSED with NOT_ENOUGH_BALANCE, BLOCKED, ASSIGNMENTS_LIMIT_EXCEEDED: failure, with what to fix.
    - CLOSED with FOR_UPDATE, or without any reason yet (never opened): waiting.
    - CLOSED with any other reason (MANUAL, EXPIRED unless opted in; unknown reasons): failure, since
      nobody is going to complete the pool. ARCHIVED otherwise: failure (an archived pool never reopens).
    - A status this version does not know: waiting (it will settle).
    """
    what = f"Toloka {kind} {pool_id}"
    status_name = plain(status) or "UNKNOWN"
    reason = plain(close_reason)
    successes = set(check_success_reasons(success_reasons, what))
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
    if status_name != "CLOSED":
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
    """A status in ``success_statuses``: success; ERROR, CANCELLED, NO_MONEY, ARCHIVE: failure; else waiting
    (STOPPED too: a stopped batch can be resumed)."""
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


# --------------------------------------------------------------------------------------------------- checks


def _get(new_policy: core.PolicyFactory, model: type[models.BaseModel], path: str) -> Plan:
    return core.call_model(new_policy, model, "GET", path)


class Wait:
    """One check: ``check`` reads the object once; ``progress`` says how far it is (a courtesy line)."""

    @property
    def what(self) -> str:
        """What is waited for, for messages ("Toloka pool 12")."""
        raise NotImplementedError

    def check(self, new_policy: core.PolicyFactory) -> Plan:  # pragma: no cover - abstract
        raise NotImplementedError

    def progress(self, new_policy: core.PolicyFactory, outcome: Outcome) -> Plan:
        return f"{self.what}: still waiting ({outcome.message})"
        yield  # a plan that sends nothing

    #: The task argument that names the object waited for (for error messages).
    argument: ClassVar[str] = "id"

    @property
    def subject(self) -> str:
        """The object the check reads, for error messages ("Toloka pool 12")."""
        return self.what

    @property
    def left_running(self) -> str:
        """What keeps going in Toloka when the wait gives up (appended to a timeout message)."""
        return ""

    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild this wait, as plain JSON (a trigger's kwargs)."""
        fields = attrs.fields(type(self))  # type: ignore[arg-type]  # every concrete wait is an attrs class
        values = {field.name: getattr(self, field.name) for field in fields if field.init}
        return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def spend_cap(value: Any, argument: str = "max_spend") -> decimal.Decimal:
    """A cap in USD as a finite Decimal >= 0 (a float through its shortest text), or an error naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, (decimal.Decimal, int, float, str)):
        raise TolokaArgumentError(f"{argument} must be an amount in USD (Decimal, str, int or float), got {value!r}")
    try:
        amount = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise TolokaArgumentError(f"{argument} must be an amount in USD, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise TolokaArgumentError(f"{argument} must be a finite amount >= 0 USD, got {value!r}")
    return amount


@attrs.frozen
class PoolSpend:
    """What a pool has cost so far: the rewards Toloka charged (accepted assignments, ``spent_budget``) plus
    those it will charge for the submitted assignments awaiting a decision (at the pool's reward)."""

    pool_id: str
    charged: decimal.Decimal
    submitted: int
    reward: decimal.Decimal

    @property
    def total(self) -> decimal.Decimal:
        return self.charged + self.submitted * self.reward

    def explain(self) -> str:
        return f"{self.charged} USD charged for accepted assignments + {self.submitted} submitted * reward {self.reward} USD"


def pool_spend(new_policy: core.PolicyFactory, pool_id: str, reward: Any, timeout: float | None = 60.0) -> Plan:
    """One analytics read of a pool's spend (``PoolSpend``): ``spent_budget`` and ``submitted_assignments_count``."""
    names = ("spent_budget", "submitted_assignments_count")
    body = [{"subject": "POOL", "subject_id": check_id(pool_id, "pool_id"), "name": name} for name in names]
    operation = yield from core.call_model(new_policy, models.Operation, "POST", "/api/staging/analytics-2", body=body)
    operation = yield from core.wait_operation(new_policy, operation, timeout, 0.5)
    operation.raise_on_fail()
    try:
        results = {
            item["request"]["name"]: item["result"]["value"] if isinstance(item["result"], Mapping) else item["result"]
            for item in (operation.details or {})["value"]
        }
        charged = decimal.Decimal(str(results["spent_budget"] or 0))
        submitted = int(results["submitted_assignments_count"] or 0)
    except (KeyError, IndexError, TypeError, ValueError, decimal.InvalidOperation):
        raise ValueError(f"analytics operation {operation.id} has no spend results: {operation.details!r}") from None
    return PoolSpend(str(pool_id), charged, submitted, decimal.Decimal(str(reward or 0)))


@attrs.define
class PoolWait(Wait):
    """Until the pool (``kind="pool"``) or training closes with one of ``success_reasons``; ``pool_outcome``."""

    pool_id: str = attrs.field(converter=lambda v: check_id(v, "pool_id"))
    # Normalised here; unknown names are refused by the check (``pool_outcome``), so that a trigger built
    # with a misspelt reason ends in one error event instead of failing to load. Tasks check them up front.
    success_reasons: tuple[str, ...] = attrs.field(
        default=("COMPLETED",), converter=lambda v: normalise_names(v, "success_reasons")
    )
    kind: str = attrs.field(default="pool", validator=lambda _s, _a, v: validate_kind(v))
    # A cap in USD on what the pool has cost in all (``pool_spend``); reached while the pool is open, the check
    # closes the pool and fails. A string (exact, and plain JSON in a trigger's kwargs); None: no spend read.
    max_spend: str | None = attrs.field(default=None, converter=lambda v: None if v is None else str(spend_cap(v)))
    argument: ClassVar[str] = "pool_id"

    def __attrs_post_init__(self) -> None:
        if self.max_spend is not None and self.kind != "pool":
            raise TolokaArgumentError(f"max_spend applies to pools, not to a {self.kind} (trainings are not paid)")

    def kwargs(self) -> dict[str, Any]:
        values = super().kwargs()
        if values.get("max_spend") is None:  # a wait without a cap serializes as it always did
            values.pop("max_spend", None)
        return values

    @property
    def what(self) -> str:
        return f"Toloka {self.kind} {self.pool_id}"

    @property
    def left_running(self) -> str:
        return (
            f" The {self.kind} stays open in Toloka and keeps spending money until it closes: close it in Toloka "
            "if it should stop, or wait longer."
        )

    def check(self, new_policy: core.PolicyFactory) -> Plan:
        model, collection = (
            (models.Training, "trainings") if self.kind == "training" else (models.Pool, "pools")
        )
        pool = yield from _get(new_policy, model, f"{lists.V1}/{collection}/{self.pool_id}")
        status, reason = plain(pool.status), plain(pool.last_close_reason)
        outcome = pool_outcome(self.pool_id, status, reason, self.success_reasons, kind=self.kind)
        details: dict[str, Any] = {"pool_id": self.pool_id, "pool_status": status, "close_reason": reason}
        if self.max_spend is not None and outcome.state != FAILURE:
            cost = yield from pool_spend(new_policy, self.pool_id, pool.reward_per_assignment)
            cap = decimal.Decimal(self.max_spend)
            details.update(spend=str(cost.total), max_spend=self.max_spend)
            if outcome.state == WAITING and status == "OPEN" and cost.total >= cap:
                yield from core.run_action(new_policy, f"{lists.V1}/pools/{self.pool_id}/close")
                message = (
                    f"{self.what} reached its spend cap and was closed: spent {cost.total} USD >= "
                    f"max_spend={cap} USD ({cost.explain()}). Raise max_spend and reopen the pool to go on."
                )
                details.update(pool_status="CLOSED", close_reason="MANUAL")
                return Outcome(FAILURE, message, details, pool)
        return attrs.evolve(outcome, details=details, subject=pool)

    def progress(self, new_policy: core.PolicyFactory, outcome: Outcome) -> Plan:
        percentage = yield from completion_percentage(new_policy, self.pool_id)
        spent = outcome.details.get("spend")
        cap = f", spent {spent} of max_spend={self.max_spend} USD" if spent is not None else ""
        return f"{self.what} is {outcome.details.get('pool_status')}: {percentage}% complete{cap}"


@attrs.define
class OperationWait(Wait):
    """Until the operation is SUCCESS (success) or FAIL (failure with the server's details)."""

    operation_id: str = attrs.field(converter=lambda v: check_id(v, "operation_id"))
    argument: ClassVar[str] = "operation_id"

    @property
    def what(self) -> str:
        return f"Toloka operation {self.operation_id}"

    def check(self, new_policy: core.PolicyFactory) -> Plan:
        operation = yield from _get(new_policy, models.Operation, core.operation_path(self.operation_id))
        outcome = operation_outcome(self.operation_id, operation.status, getattr(operation, "details", None))
        details: dict[str, Any] = {"operation_id": self.operation_id}
        if outcome.done:
            details["operation"] = operation.to_json_dict()
        else:
            details["operation_status"] = plain(operation.status)
            details["progress"] = getattr(operation, "progress", None)
        return attrs.evolve(outcome, details=details, subject=operation)

    def progress(self, new_policy: core.PolicyFactory, outcome: Outcome) -> Plan:
        operation = outcome.subject
        kind = f" ({plain(operation.type)})" if getattr(operation, "type", None) else ""
        return (
            f"{self.what}{kind} is {outcome.details.get('operation_status')}, "
            f"progress {outcome.details.get('progress') or 0}%"
        )
        yield  # a plan that sends nothing


@attrs.define
class AppBatchWait(Wait):
    """Until the App batch reaches one of ``success_statuses``; ``app_batch_outcome``."""

    app_project_id: str = attrs.field(converter=lambda v: check_id(v, "app_project_id"))
    batch_id: str = attrs.field(converter=lambda v: check_id(v, "batch_id"))
    success_statuses: tuple[str, ...] = attrs.field(
        default=("COMPLETED",), converter=lambda v: normalise_names(v, "success_statuses")
    )
    argument: ClassVar[str] = "batch_id"

    @property
    def what(self) -> str:
        return f"Toloka app batch {self.batch_id} (app project {self.app_project_id})"

    def check(self, new_policy: core.PolicyFactory) -> Plan:
        path = f"{lists.APPS}/app-projects/{self.app_project_id}/batches/{self.batch_id}"
        batch = yield from _get(new_policy, models.AppBatch, path)
        details = {
            "batch_id": self.batch_id,
            "batch_status": plain(batch.status),
            "items_count": getattr(batch, "items_count", None),
            "items_processed_count": getattr(batch, "items_processed_count", None),
        }
        outcome = app_batch_outcome(self.app_project_id, self.batch_id, batch.status, self.success_statuses)
        return attrs.evolve(outcome, details=details, subject=batch)

    def progress(self, new_policy: core.PolicyFactory, outcome: Outcome) -> Plan:
        details = outcome.details
        return (
            f"{self.what} is {details.get('batch_status')}: {details.get('items_processed_count')} of "
            f"{details.get('items_count')} items processed"
        )
        yield  # a plan that sends nothing


#: Page size asked for (or min_count, if larger); the count is exact below it and "at least" at it.
DEFAULT_PAGE_LIMIT = 300
#: The largest page the assignments endpoint serves, hence the largest min_count one request can confirm.
MAX_MIN_COUNT = 1000


def validate_min_count(min_count: Any) -> int:
    if isinstance(min_count, bool) or not isinstance(min_count, int) or not 1 <= min_count <= MAX_MIN_COUNT:
        raise TolokaArgumentError(
            f"min_count must be an integer from 1 to {MAX_MIN_COUNT}, got {min_count!r}"
        )
    return min_count


def validate_consistency_lag(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise TolokaArgumentError(f"consistency_lag must be a number of seconds >= 0, got {value!r}")
    return float(value)


def assignments_query(
    pool_id: str,
    statuses: Iterable[str],
    watermark: str | dt.datetime | None,
    min_count: int,
    consistency_lag: float,
    now: dt.datetime,
    page_limit: int = DEFAULT_PAGE_LIMIT,
) -> dict[str, Any]:
    """Keyword arguments of ``find_assignments``: the newest first, so the first item carries the watermark."""
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
) -> Outcome:
    """Success when at least ``min_count`` assignments came back; details carry the count and new watermark."""
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
        return Outcome(SUCCESS, f"{what}: {count}{more} new assignments (wanted {min_count})", details)
    return Outcome(WAITING, f"{what}: {count} new assignments of {min_count} wanted", details)


def _submitted(item: Any) -> dt.datetime | None:
    value = item.get("submitted") if isinstance(item, dict) else getattr(item, "submitted", None)
    return parse_datetime(value) if value else None


@attrs.define
class AssignmentsWait(Wait):
    """Until at least ``min_count`` assignments in ``statuses`` were submitted after ``watermark``.

    One request per check: the newest matching assignments first, at most ``max(min_count, 300)``.
    Assignments submitted within ``consistency_lag`` seconds of now are not counted yet: the API may list
    them a little late, and a watermark past a not-yet-visible assignment would skip it for good.
    """

    pool_id: str = attrs.field(converter=lambda v: check_id(v, "pool_id"))
    statuses: tuple[str, ...] = attrs.field(
        default=("SUBMITTED",), converter=lambda v: normalise_names(v, "statuses")
    )
    min_count: int = attrs.field(default=1, converter=validate_min_count)
    watermark: str | None = attrs.field(default=None, converter=lambda v: format_datetime(v) if v else None)
    consistency_lag: float = attrs.field(default=60.0, converter=validate_consistency_lag)
    # Set once the pool is known to exist: an empty list for a mistyped pool id would otherwise wait forever.
    pool_seen: bool = attrs.field(default=False, init=False)
    argument: ClassVar[str] = "pool_id"

    @property
    def what(self) -> str:
        return f"new assignments in Toloka pool {self.pool_id}"

    @property
    def subject(self) -> str:
        return f"Toloka pool {self.pool_id}"

    def check(self, new_policy: core.PolicyFactory) -> Plan:
        now = dt.datetime.now(dt.timezone.utc)  # wall clock: the lag is against the server's timestamps
        query = assignments_query(
            self.pool_id, self.statuses, self.watermark, self.min_count, self.consistency_lag, now
        )
        sort, limit = query.pop("sort"), query.pop("limit")
        result = yield from core.prepare_find(
            new_policy, lists.ASSIGNMENTS, models.Assignment, "find_assignments", query, sort, limit
        )
        if not result.items and not self.pool_seen:
            # A 404 here ends the wait at once, naming the pool, instead of polling a typo until the deadline.
            yield from _get(new_policy, models.Pool, f"{lists.V1}/pools/{self.pool_id}")
            self.pool_seen = True
        outcome = assignments_outcome(
            self.pool_id, list(result.items), bool(result.has_more), self.min_count, self.watermark
        )
        return attrs.evolve(outcome, subject=result)


# --------------------------------------------------------------------------------------------------- the loop


def attempt(wait: Wait, new_policy: core.PolicyFactory) -> Plan:
    """One check; a transient API error (``errors.is_transient``) becomes a TRANSIENT outcome, others raise."""
    try:
        return (yield from wait.check(new_policy))
    except Exception as error:
        if not is_transient(error):
            raise
        return Outcome(
            TRANSIENT, f"{wait.what}: transient error: {type(error).__name__}: {error}", error=error
        )


def progress_line(wait: Wait, new_policy: core.PolicyFactory, outcome: Outcome) -> Plan:
    """The wait's progress line; a failure to read it is reported in the line (progress must not end a wait)."""
    try:
        return (yield from wait.progress(new_policy, outcome))
    except Exception as error:
        return f"{wait.what}: could not read progress: {type(error).__name__}: {error}"


def poll(wait: Wait, policy: PollPolicy, new_policy: core.PolicyFactory, *, logger: Any = None) -> Plan:
    """Check until done; return the last Outcome: SUCCESS, FAILURE, TIMEOUT or GAVE_UP. Persistent errors raise.

    The first check happens even when the deadline has passed already; a sleep never overshoots the deadline;
    progress is logged every ``progress_interval`` seconds from the start (to ``logger``, a logging.Logger).
    """
    logger = logger or log
    budget = ErrorBudget(policy.max_consecutive_errors)
    last_progress = yield Now()
    last_line = ""
    while True:
        outcome = budget.note(wait.what, (yield from attempt(wait, new_policy)))
        if outcome.done or outcome.state == GAVE_UP:
            return outcome
        now = yield Now()
        if outcome.state == TRANSIENT:
            logger.warning(
                "%s: transient error %d of at most %d in a row, polling again: %s",
                wait.what,
                budget.in_a_row,
                budget.allowed,
                outcome.error,
            )
        elif now - last_progress >= policy.progress_interval:
            last_progress = now
            last_line = yield from progress_line(wait, new_policy, outcome)
            logger.info("%s", last_line)
            now = yield Now()
        if policy.deadline is not None and now >= policy.deadline:
            return Outcome(
                TIMEOUT,
                f"{wait.what} did not finish before the deadline; last seen: {outcome.message}"
                + (f"; last progress: {last_line}" if last_line else "")
                + f".{wait.left_running}",
                outcome.details,
                outcome.subject,
            )
        delay = (
            policy.interval
            if policy.deadline is None
            else min(policy.interval, max(policy.deadline - now, 0.0))
        )
        yield Sleep(delay)


# --------------------------------------------------------------------------------------------------- with a client


def check(client: Any, wait: Wait) -> Any:
    """One ``attempt`` run by ``client`` (an Outcome; with the async client, an awaitable of it)."""
    return client.run_plan(attempt(wait, client.new_retry_policy))


def progress(client: Any, wait: Wait, outcome: Outcome) -> Any:
    """The wait's progress line, read by ``client`` (a str; with the async client, an awaitable of it)."""
    return client.run_plan(progress_line(wait, client.new_retry_policy, outcome))


def wait_for(
    client: Any,
    wait: Wait,
    policy: PollPolicy,
    *,
    sleep: Callable[[float], Any] | None = None,
    clock: Callable[[], float] | None = None,
    logger: Any = None,
) -> Any:
    """``poll`` run by ``client``, sleeping and reading the clock through ``sleep``/``clock`` when given."""
    plan = poll(wait, policy, client.new_retry_policy, logger=logger)
    return client.run_plan(plan, sleep=sleep, clock=clock)


__all__ = [
    "FAILURE",
    "GAVE_UP",
    "MIN_POLL_INTERVAL",
    "SUCCESS",
    "TIMEOUT",
    "TRANSIENT",
    "WAITING",
    "AppBatchWait",
    "AssignmentsWait",
    "ErrorBudget",
    "OperationWait",
    "Outcome",
    "PollPolicy",
    "PoolSpend",
    "PoolWait",
    "Wait",
    "attempt",
    "check",
    "poll",
    "pool_spend",
    "progress",
    "spend_cap",
    "wait_for",
]
