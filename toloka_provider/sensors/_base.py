"""The one sensor adapter: run a wait's check (``toloka_provider.waiting``) once per poke.

A subclass names its check (``wait_class``), its trigger (``trigger_class``) and how its (templated)
arguments make the check (``wait_arguments``). This class turns outcomes into Airflow behaviour:

- success -> the sensor finishes and returns the details dict (XCom ``return_value``);
- failure (a state that will not change by itself: a pool closed for lack of money, a failed operation)
  -> ``AirflowFailException`` with the reason: not retried, a retry would see the same state.
  ``soft_fail``/``never_fail`` turn it into a skip, as usual;
- transient API errors (``errors.is_transient``, after the client's own retries) -> logged, "not yet", up to
  ``max_consecutive_errors`` in a row; then the task fails (retryable);
- persistent API errors and a misconfigured connection -> ``AirflowFailException`` saying what to fix;
  a bad argument -> ``TolokaInputError``.

Deferrable: one look here (finished already -> no deferral), then the trigger, carrying a ``PollPolicy`` with
the absolute deadline now + ``timeout``. ``timeout=0`` means "look once": in every mode a wait that is not
finished at the first look ends with ``AirflowSensorTimeout``. ``poke_interval`` is at least
``waiting.MIN_POLL_INTERVAL`` seconds.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from toloka_provider import waiting
from toloka_provider.client.errors import TolokaArgumentError
from toloka_provider.exceptions import TolokaInputError, api_failure
from toloka_provider.hooks.toloka import TolokaHook

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

#: Extra time Airflow's own deferral timeout allows beyond the trigger's deadline, so that the trigger's
#: informative "timeout" event normally arrives first.
_DEFERRAL_TIMEOUT_GRACE = 120.0


def as_input_error(check: Any, *args: Any) -> Any:
    """Run an argument check; its ``TolokaArgumentError`` becomes ``TolokaInputError`` (not retried)."""
    try:
        return check(*args)
    except TolokaArgumentError as error:
        raise TolokaInputError(str(error)) from error


def _seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


class TolokaBaseSensor(BaseSensorOperator):
    """Base class of the Toloka sensors (not used directly).

    :param toloka_conn_id: Airflow connection of type ``toloka``.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param poke_interval: seconds between checks, at least 0.1 (``waiting.MIN_POLL_INTERVAL``).
    :param timeout: seconds to wait at most; 0 means look once and time out if not finished.
    :param max_consecutive_errors: transient API errors tolerated in a row before the task fails.
    :param progress_interval: seconds between progress log lines (never one per poke).
    """

    wait_class: ClassVar[type[waiting.Wait]]
    trigger_class: ClassVar[type[BaseTrigger]]
    template_fields: tuple[str, ...] = ("toloka_conn_id",)
    ui_color = "#fde5b6"

    def __init__(
        self,
        *,
        toloka_conn_id: str = TolokaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_errors: int = waiting.DEFAULT_MAX_CONSECUTIVE_ERRORS,
        progress_interval: float = waiting.DEFAULT_PROGRESS_INTERVAL,
        **kwargs: Any,
    ) -> None:
        # Checked before Airflow's own checks, so that every bad value is a TolokaInputError naming the rule.
        if "poke_interval" in kwargs:
            as_input_error(waiting.check_poll_interval, _seconds(kwargs["poke_interval"]), "poke_interval")
        if kwargs.get("timeout") is not None and _seconds(kwargs["timeout"]) != math.inf:
            as_input_error(waiting.check_timeout, _seconds(kwargs["timeout"]))
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id
        self.deferrable = deferrable
        self.max_consecutive_errors = as_input_error(waiting.check_error_budget, max_consecutive_errors)
        self.progress_interval = as_input_error(waiting.check_seconds, progress_interval, "progress_interval")
        self._budget = waiting.ErrorBudget(self.max_consecutive_errors)
        self._last_progress_log: float | None = None

    @cached_property
    def hook(self) -> TolokaHook:
        return TolokaHook(toloka_conn_id=self.toloka_conn_id)

    # -- what subclasses provide -----------------------------------------------------------------------

    def wait_arguments(self) -> dict[str, Any]:
        """The check's arguments from this sensor's (rendered) fields."""
        raise NotImplementedError

    @cached_property
    def toloka_wait(self) -> waiting.Wait:
        """The check, built once the fields are rendered (it keeps state between pokes, e.g. "pool seen")."""
        return as_input_error(lambda: self.wait_class(**self.wait_arguments()))

    def describe(self) -> str:
        return self.toloka_wait.what

    def log_progress(self, client: Any, outcome: waiting.Outcome) -> None:
        self.log.info("%s", waiting.progress(client, self.toloka_wait, outcome))

    # -- poke ------------------------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        wait = self.toloka_wait
        try:
            client = self.hook.get_conn()
            outcome = self._budget.note(wait.what, waiting.check(client, wait))
        except TolokaInputError:  # a connection that cannot be valid
            raise
        except TolokaArgumentError as error:
            raise TolokaInputError(str(error)) from error
        except Exception as error:  # check lets only persistent errors through
            raise api_failure(error, self.toloka_conn_id, what=wait.subject, argument=wait.argument) from error
        if outcome.state == waiting.GAVE_UP:
            raise AirflowException(outcome.message) from outcome.error
        if outcome.state == waiting.TRANSIENT:
            self.log.warning(
                "%s: transient error %d of at most %d in a row, will poke again: %s",
                wait.what,
                self._budget.in_a_row,
                self._budget.allowed,
                outcome.error,
            )
            return PokeReturnValue(is_done=False)
        if outcome.state == waiting.SUCCESS:
            self.log.info("%s", outcome.message)
            return PokeReturnValue(is_done=True, xcom_value=outcome.details)
        if outcome.state == waiting.FAILURE:
            raise AirflowFailException(outcome.message)
        if self._progress_due():
            self.log_progress(client, outcome)
        return PokeReturnValue(is_done=False)

    def _progress_due(self) -> bool:
        now = time.time()
        if self._last_progress_log is None and self.reschedule:
            # Each reschedule-mode poke is a fresh instance: log on the first poke of each
            # progress_interval window of wall-clock time instead of keeping state.
            window = max(self.progress_interval, 1.0)
            due = int(now // window) != int((now - max(self.poke_interval, 1.0)) // window)
        else:
            due = self._last_progress_log is None or now - self._last_progress_log >= self.progress_interval
        if due:
            self._last_progress_log = now
        return due

    # -- execute / deferral ----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        try:
            result = self.poke(context)
            if not result.is_done and self.timeout == 0:
                raise AirflowSensorTimeout(
                    f"{self.describe()} is not finished, and timeout=0 allows one look only"
                )
        except (AirflowFailException, AirflowSensorTimeout) as error:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping: {error}") from error
            raise
        if result.is_done:
            return result.xcom_value
        self.log.info("%s: deferring for up to %.0f s", self.describe(), self.timeout)
        self.defer(
            trigger=self.build_trigger(time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_TIMEOUT_GRACE)
            if math.isfinite(self.timeout)
            else None,
        )

    def build_trigger(self, deadline: float | None) -> BaseTrigger:
        policy = waiting.PollPolicy(
            interval=self.poke_interval,
            deadline=deadline if deadline is not None and math.isfinite(deadline) else None,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
        return self.trigger_class(
            **self.toloka_wait.kwargs(), toloka_conn_id=self.toloka_conn_id, policy=policy.to_dict()
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the success details, or raise with the event's message."""
        if not isinstance(event, dict) or "status" not in event:
            raise AirflowException(f"{self.describe()}: the trigger sent an unexpected event {event!r}")
        status = event["status"]
        message = event.get("message") or f"{self.describe()}: {status}"
        if status == waiting.SUCCESS:
            details = {key: value for key, value in event.items() if key != "status"}
            self.log.info("%s finished: %s", self.describe(), details)
            return details
        if status == "timeout":
            raise AirflowSensorTimeout(f"{message}; the timeout was {self.timeout:g} s")
        if status == waiting.FAILURE:
            raise AirflowFailException(message)
        if status == "error" and event.get("retryable"):
            raise AirflowException(message)
        raise AirflowFailException(message)
