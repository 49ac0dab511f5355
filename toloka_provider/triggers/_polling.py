"""The polling loop shared by the Toloka triggers: deadline, error budget, progress log, one event.

A subclass says how to fetch its object once (``check``) and how to describe progress; this loop opens one
AsyncTolokaClient from the connection (read with Airflow's async API), polls until the object is done or
the absolute deadline passes, and yields exactly one TriggerEvent:

- ``{"status": "success", ...details}``
- ``{"status": "failure", "message": ..., ...details}`` (the object reached a failing state)
- ``{"status": "timeout", "message": ...}`` (the deadline passed first)
- ``{"status": "error", "message": ...}`` (a persistent API error, a bad connection, or too many transient
  errors in a row); the message says what to fix, ``retryable`` whether retrying the task may help.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.triggers.outcomes import (
    FAILURE,
    SUCCESS,
    Outcome,
    describe_persistent_error,
    is_transient_error,
)

DEFAULT_MAX_CONSECUTIVE_ERRORS = 10
DEFAULT_PROGRESS_INTERVAL = 300.0


def _validate_positive(name: str, value: Any, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        raise ValueError(f"{name} must be {expected} (seconds), got {value!r}")
    return float(value)


class TolokaPollingTrigger(BaseTrigger):
    """Base class; see the module docstring. Not registered as a trigger by itself."""

    #: Seconds between checks; overridable per instance.
    poll_interval: float
    # Injectable for tests: a clock (epoch seconds) and an async sleep.
    _clock = staticmethod(time.time)
    _sleep = staticmethod(asyncio.sleep)

    def __init__(
        self,
        *,
        toloka_conn_id: str,
        poll_interval: float,
        deadline: float | None,
        max_consecutive_errors: int = DEFAULT_MAX_CONSECUTIVE_ERRORS,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    ) -> None:
        super().__init__()
        self.toloka_conn_id = toloka_conn_id
        self.poll_interval = _validate_positive("poll_interval", poll_interval)
        self.deadline = None if deadline is None else _validate_positive("deadline", deadline)
        if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, int) or max_consecutive_errors < 0:
            raise ValueError(f"max_consecutive_errors must be an integer >= 0, got {max_consecutive_errors!r}")
        self.max_consecutive_errors = max_consecutive_errors
        self.progress_interval = _validate_positive("progress_interval", progress_interval)

    # -- what subclasses provide -----------------------------------------------------------------------

    def describe(self) -> str:
        """What is being waited for, for messages ("Toloka pool 123")."""
        raise NotImplementedError

    def _own_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    async def check(self, client: Any) -> tuple[Outcome, dict[str, Any]]:
        """Fetch the object once; return its outcome and the payload details for the event."""
        raise NotImplementedError

    async def log_progress(self, client: Any, details: dict[str, Any]) -> None:
        """Log how far the work is (called at most every ``progress_interval`` seconds)."""
        self.log.info("%s: still waiting (%s)", self.describe(), details)

    # -- serialisation ---------------------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        kwargs = self._own_kwargs()
        kwargs.update(
            toloka_conn_id=self.toloka_conn_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            max_consecutive_errors=self.max_consecutive_errors,
            progress_interval=self.progress_interval,
        )
        return f"{cls.__module__}.{cls.__qualname__}", kwargs

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.serialize() == self.serialize()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        # Consistent with __eq__: equal triggers (same class and kwargs) hash alike.
        path, kwargs = self.serialize()
        return hash((path, json.dumps(kwargs, sort_keys=True, default=str)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.serialize()[1]!r}>"

    # -- the loop --------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = TolokaHook(toloka_conn_id=self.toloka_conn_id)
        try:
            client = await hook.get_async_conn()
        except Exception as error:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"Cannot use Airflow connection {self.toloka_conn_id!r} to check "
                    f"{self.describe()}: {type(error).__name__}: {error}",
                    "retryable": False,
                }
            )
            return
        async with client:
            yield await self._poll_until_done(client)

    async def _poll_until_done(self, client: Any) -> TriggerEvent:
        consecutive_errors = 0
        last_progress_log = self._clock()
        while True:
            try:
                outcome, details = await self.check(client)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_transient_error(error):
                    return self._event(
                        "error",
                        describe_persistent_error(error, self.describe(), self.toloka_conn_id),
                        retryable=False,
                    )
                consecutive_errors += 1
                if consecutive_errors > self.max_consecutive_errors:
                    return self._event(
                        "error",
                        f"{self.describe()}: {consecutive_errors} transient errors in a row, giving up "
                        f"(last: {type(error).__name__}: {error}). Check Toloka's status and retry the task.",
                        retryable=True,
                    )
                self.log.warning(
                    "%s: transient error %d of at most %d in a row, polling again: %s",
                    self.describe(),
                    consecutive_errors,
                    self.max_consecutive_errors,
                    error,
                )
            else:
                consecutive_errors = 0
                if outcome.state == SUCCESS:
                    return self._event(SUCCESS, outcome.message, **details)
                if outcome.state == FAILURE:
                    return self._event(FAILURE, outcome.message, **details)
                if self._clock() - last_progress_log >= self.progress_interval:
                    last_progress_log = self._clock()
                    try:
                        await self.log_progress(client, details)
                    except asyncio.CancelledError:
                        raise
                    except Exception as error:  # progress is a courtesy; it must not end the wait
                        self.log.warning("%s: could not read progress: %s", self.describe(), error)

            now = self._clock()
            if self.deadline is not None and now >= self.deadline:
                return self._event(
                    "timeout",
                    f"{self.describe()} did not finish before the deadline "
                    f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.deadline))}).",
                )
            delay = self.poll_interval
            if self.deadline is not None:
                delay = min(delay, max(self.deadline - now, 0.0))
            await self._sleep(delay)

    @staticmethod
    def _event(status: str, message: str, **details: Any) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status}
        if status != SUCCESS:
            payload["message"] = message
        payload.update(details)
        return TriggerEvent(payload)
