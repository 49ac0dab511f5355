"""What every Toloka sensor shares: poke / reschedule / deferrable execution, error handling, progress log.

A subclass implements ``check(client)`` (one synchronous look at the object, returning an Outcome and a
details dict), ``build_trigger(deadline)`` (the trigger that does the same look asynchronously) and
optionally ``log_progress``. This class turns those into Airflow behaviour:

- success -> the sensor finishes and returns the details dict (pushed as XCom ``return_value``);
- failure (a state that will not change by itself: a pool closed for lack of money, a failed operation)
  -> ``AirflowFailException`` with the message: the task fails at once and is not retried, because a
  retry would only see the same state. ``soft_fail``/``never_fail`` turn it into a skip, as usual;
- transient API errors (5xx, 429, connection failures, after the client's own retries) -> logged and
  counted as "not yet", up to ``max_consecutive_errors`` in a row; then the task fails (retryable);
- persistent API errors (401/403/404, validation) and a misconfigured connection -> ``AirflowFailException``
  with what to fix.

In deferrable mode the sensor looks once synchronously (finished already -> no deferral), then defers to
the trigger with an absolute deadline of now + ``timeout``. ``mode`` is ignored when deferrable.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from toloka_provider.hooks.toloka import TolokaConnectionError, TolokaHook
from toloka_provider.triggers._polling import DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_PROGRESS_INTERVAL
from toloka_provider.triggers.outcomes import (
    FAILURE,
    SUCCESS,
    Outcome,
    describe_persistent_error,
    is_transient_error,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

#: Extra time Airflow's own deferral timeout allows beyond the trigger's deadline, so that the trigger's
#: informative "timeout" event normally arrives first.
_DEFERRAL_TIMEOUT_GRACE = 120.0


class TolokaBaseSensor(BaseSensorOperator):
    """Base class of the Toloka sensors (not used directly).

    :param toloka_conn_id: Airflow connection of type ``toloka``.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param max_consecutive_errors: transient API errors tolerated in a row before the task fails.
    :param progress_interval: seconds between progress log lines (never one per poke).
    """

    template_fields: tuple[str, ...] = ("toloka_conn_id",)
    ui_color = "#fde5b6"

    def __init__(
        self,
        *,
        toloka_conn_id: str = TolokaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id
        self.deferrable = deferrable
        if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, int) or max_consecutive_errors < 0:
            raise ValueError(f"max_consecutive_errors must be an integer >= 0, got {max_consecutive_errors!r}")
        self.max_consecutive_errors = max_consecutive_errors
        self.progress_interval = float(progress_interval)
        self._consecutive_errors = 0
        self._last_progress_log: float | None = None

    @cached_property
    def hook(self) -> TolokaHook:
        return TolokaHook(toloka_conn_id=self.toloka_conn_id)

    # -- what subclasses provide -----------------------------------------------------------------------

    def describe(self) -> str:
        raise NotImplementedError

    def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        raise NotImplementedError

    def build_trigger(self, deadline: float) -> BaseTrigger:
        raise NotImplementedError

    def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        self.log.info("%s: still waiting (%s)", self.describe(), details)

    # -- poke ------------------------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        try:
            client = self.hook.get_conn()
            outcome, details = self.check(client)
        except TolokaConnectionError as error:
            raise AirflowFailException(str(error)) from error
        except Exception as error:
            if not is_transient_error(error):
                raise AirflowFailException(
                    describe_persistent_error(error, self.describe(), self.toloka_conn_id)
                ) from error
            self._consecutive_errors += 1
            if self._consecutive_errors > self.max_consecutive_errors:
                raise AirflowException(
                    f"{self.describe()}: {self._consecutive_errors} transient errors in a row, giving up "
                    f"(last: {type(error).__name__}: {error})"
                ) from error
            self.log.warning(
                "%s: transient error %d of at most %d in a row, will poke again: %s",
                self.describe(),
                self._consecutive_errors,
                self.max_consecutive_errors,
                error,
            )
            return PokeReturnValue(is_done=False)
        self._consecutive_errors = 0
        if outcome.state == SUCCESS:
            self.log.info("%s", outcome.message)
            return PokeReturnValue(is_done=True, xcom_value=details)
        if outcome.state == FAILURE:
            raise AirflowFailException(outcome.message)
        if self._progress_due():
            try:
                self.log_progress(client, details)
            except Exception as error:  # progress is a courtesy; it must not fail the wait
                self.log.warning("%s: could not read progress: %s", self.describe(), error)
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
        except (AirflowFailException, AirflowSensorTimeout) as error:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping: {error}") from error
            raise
        if result.is_done:
            return result.xcom_value
        deadline = time.time() + self.timeout
        self.log.info("%s: deferring for up to %.0f s", self.describe(), self.timeout)
        self.defer(
            trigger=self.build_trigger(deadline),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_TIMEOUT_GRACE),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the success details, or raise with the event's message."""
        if not isinstance(event, dict) or "status" not in event:
            raise AirflowException(f"{self.describe()}: the trigger sent an unexpected event {event!r}")
        status = event["status"]
        message = event.get("message") or f"{self.describe()}: {status}"
        if status == SUCCESS:
            details = {key: value for key, value in event.items() if key != "status"}
            self.log.info("%s finished: %s", self.describe(), details)
            return details
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        if status == FAILURE:
            raise AirflowFailException(message)
        if status == "error" and event.get("retryable"):
            raise AirflowException(message)
        raise AirflowFailException(message)
