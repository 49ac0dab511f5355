"""The one trigger adapter: run a wait (``toloka_provider.client.waits``) in the triggerer, yield one event.

A trigger is a check (a ``Wait``) plus a ``PollPolicy``; the loop is ``waits.poll``, run on an
``AsyncTolokaClient`` opened from the connection (read with Airflow's async API). Exactly one event:

- ``{"status": "success", ...details}``
- ``{"status": "failure", "message": ..., ...details}`` (the object reached a failing state)
- ``{"status": "timeout", "message": ...}`` (the deadline passed first)
- ``{"status": "error", "message": ..., "retryable": ...}`` (a persistent API error or a bad connection:
  not retryable; more transient errors in a row than the budget: retryable)

Kwargs: the wait's own arguments, ``toloka_conn_id`` and ``policy`` (one dict). Triggers serialised before
the policy existed carry ``poll_interval``, ``deadline``, ``max_consecutive_errors`` and
``progress_interval`` instead; they still load (``PollPolicy.from_trigger_kwargs``).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

import toloka_provider.client as client_package
from toloka_provider.client import aio, waits
from toloka_provider.hooks.toloka import TolokaHook

# Kept for importers of the old names.
DEFAULT_MAX_CONSECUTIVE_ERRORS = waits.DEFAULT_MAX_CONSECUTIVE_ERRORS
DEFAULT_PROGRESS_INTERVAL = waits.DEFAULT_PROGRESS_INTERVAL


# (loop, conn_id) -> the connection read in flight, shared by the triggers that start while it runs.
_reads_in_flight: dict[tuple[int, str], asyncio.Future[Any]] = {}


async def _connection_settings(conn_id: str) -> Any:
    """The connection's settings, read once for all the triggers of the loop that ask at the same moment.

    A triggerer resuming hundreds of deferred tasks starts their triggers together; each read goes through
    Airflow's async connection API (a worker-thread hop, the secrets backends, or the supervisor) and costs
    several milliseconds of the loop's CPU. Only reads in flight are shared, nothing is kept after: a trigger
    that starts later reads the connection afresh, so an edited connection is seen as before.
    """
    loop = asyncio.get_running_loop()
    key = (id(loop), conn_id)
    read = _reads_in_flight.get(key)
    if read is None or read.get_loop() is not loop:
        read = asyncio.ensure_future(TolokaHook(toloka_conn_id=conn_id).aget_connection_settings())
        _reads_in_flight[key] = read

        def forget(done: asyncio.Future[Any], key: tuple[int, str] = key) -> None:
            if _reads_in_flight.get(key) is done:
                del _reads_in_flight[key]

        read.add_done_callback(forget)
    # Shielded: one trigger cancelled while it waits must not cancel the read for the others.
    return await asyncio.shield(read)


# What httpx's async transport imports at its first request (anyio and its asyncio backend: 50-250 ms).
_TRANSPORT_MODULES = ("anyio", "anyio._backends._asyncio", "httpcore._backends.anyio")
# verify setting -> the task preparing the transport in a worker thread (one per setting per process).
_warmups: dict[Any, asyncio.Future[Any]] = {}


def _prepare_in_thread(verify: Any) -> None:
    for name in _TRANSPORT_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # another httpx/httpcore layout: the first request imports what it needs
            pass
    if verify is not False:
        aio._shared_ssl_context(verify)


async def _prepare_transport(client: Any) -> None:
    """Do, in a worker thread and once per process, the blocking work of a client's first request.

    The async client builds its TLS context (CA-bundle loading, 50-100 ms) lazily at its first request, and
    httpx imports anyio's asyncio backend there (50-250 ms): both in one event-loop callback, which stalls
    every other trigger of the triggerer. Done here off the loop, the first request finds them made (the
    context is cached per process, the modules are imported); every trigger waits for the same warm-up.
    """
    verify = getattr(getattr(client, "_config", None), "verify", False)
    warmup = _warmups.get(verify)
    if warmup is not None and warmup.done() and not warmup.cancelled() and warmup.exception() is None:
        return  # done already
    if warmup is None or warmup.done() or warmup.get_loop() is not asyncio.get_running_loop():
        # A task, not a bare coroutine: one trigger cancelled while it waits must not cancel the others'.
        warmup = asyncio.ensure_future(asyncio.to_thread(_prepare_in_thread, verify))
        _warmups[verify] = warmup
    try:
        await asyncio.shield(warmup)
    except asyncio.CancelledError:
        raise
    except Exception:  # the first request does it again and reports the error where errors are handled
        return


class TolokaPollingTrigger(BaseTrigger):
    """Base class; see the module docstring. Not registered as a trigger by itself."""

    #: The poll interval of a trigger built without one (old kwargs always carried it).
    default_poll_interval: ClassVar[float] = 30.0
    # Injectable for tests: a clock (epoch seconds, like ``deadline``) and an async sleep.
    _clock = staticmethod(time.time)
    _sleep = staticmethod(asyncio.sleep)

    def __init__(
        self,
        wait: waits.Wait,
        toloka_conn_id: str,
        policy: Mapping[str, Any] | None,
        legacy: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.wait = wait
        self.toloka_conn_id = toloka_conn_id
        self.policy = waits.PollPolicy.from_trigger_kwargs(policy, legacy, self.default_poll_interval)

    def __getattr__(self, name: str) -> Any:
        # trigger.pool_id, trigger.watermark, ...: the wait's arguments, as the triggers had them.
        if name != "wait" and "wait" in self.__dict__ and hasattr(self.wait, name):
            return getattr(self.wait, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def deadline(self) -> float | None:
        return self.policy.deadline

    @property
    def poll_interval(self) -> float:
        return self.policy.interval

    def describe(self) -> str:
        return self.wait.what

    # -- serialisation ---------------------------------------------------------------------------------

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        kwargs = {
            **self.wait.kwargs(),
            "toloka_conn_id": self.toloka_conn_id,
            "policy": self.policy.to_dict(),
        }
        return f"{cls.__module__}.{cls.__qualname__}", kwargs

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.serialize() == self.serialize()

    def __hash__(self) -> int:
        path, kwargs = self.serialize()
        return hash((path, json.dumps(kwargs, sort_keys=True, default=str)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.serialize()[1]!r}>"

    # -- the run ---------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            settings = await _connection_settings(self.toloka_conn_id)
            # As TolokaHook.get_async_conn builds it (looked up at call time, as the hook does).
            client = client_package.AsyncTolokaClient(**settings.client_kwargs())
        except Exception as error:
            message = (
                f"Cannot use Airflow connection {self.toloka_conn_id!r} to check {self.describe()}: "
                f"{type(error).__name__}: {error}"
            )
            yield TriggerEvent({"status": "error", "message": message, "retryable": False})
            return
        async with client:
            await _prepare_transport(client)
            yield TriggerEvent(await self._wait_for_event(client))

    async def _wait_for_event(self, client: Any) -> dict[str, Any]:
        plan = waits.poll(self.wait, self.policy, client._new_retry_policy, logger=self.log)
        try:
            outcome = await waits.run_async(client, plan, sleep=self._sleep, clock=self._clock)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            message = waits.describe_persistent_error(error, self.describe(), self.toloka_conn_id)
            return {"status": "error", "message": message, "retryable": False}
        return self._payload(outcome)

    def _payload(self, outcome: waits.Outcome) -> dict[str, Any]:
        if outcome.state == waits.SUCCESS:
            return {"status": "success", **outcome.details}
        if outcome.state == waits.FAILURE:
            return {"status": "failure", "message": outcome.message, **outcome.details}
        if outcome.state == waits.TIMEOUT:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.policy.deadline or 0))
            return {"status": "timeout", "message": f"{outcome.message} ({when})."}
        return {
            "status": "error",
            "message": f"{outcome.message}. Check Toloka's status and retry the task.",
            "retryable": True,
        }
