"""The one trigger adapter: run a wait (``toloka_provider.waiting``) in the triggerer, yield one event.

A trigger is a check (a ``Wait``) plus a ``PollPolicy``, run by the async client the hook gives. One event:
``success`` (the details), ``failure`` (the object reached a failing state), ``timeout`` (the deadline passed),
or ``error`` with ``retryable`` (a persistent error or a bad connection: false; too many transient errors in a
row: true). Kwargs: the wait's own arguments, ``toloka_conn_id`` and ``policy`` (one dict).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from toloka_provider import waiting, waiting_shared
from toloka_provider.client.aio import warm_tls
from toloka_provider.exceptions import explain_error
from toloka_provider.hooks.toloka import TolokaHook

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
    warm_tls(verify)


async def _prepare_transport(client: Any) -> None:
    """Do, in a worker thread and once per process, the blocking work of a client's first request.

    The async client builds its TLS context (CA-bundle loading, 50-100 ms) lazily at its first request, and
    httpx imports anyio's asyncio backend there (50-250 ms): both in one event-loop callback, which stalls
    every other trigger of the triggerer. Done here off the loop, the first request finds them made (the
    context is cached per process, the modules are imported); every trigger waits for the same warm-up.
    """
    verify = client.config.verify
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

    #: Whether the waits of this trigger that the shared listing can answer join the connection's shared
    #: poller (``toloka_provider.waiting_shared``) instead of polling alone.
    shared_polling: ClassVar[bool] = False
    #: The poll interval of a trigger built without a policy.
    default_poll_interval: ClassVar[float] = 30.0
    # Injectable for tests: a clock (epoch seconds, like ``deadline``) and an async sleep.
    _clock = staticmethod(time.time)
    _sleep = staticmethod(asyncio.sleep)

    def __init__(
        self, wait: waiting.Wait, toloka_conn_id: str, policy: Mapping[str, Any] | waiting.PollPolicy | None
    ) -> None:
        super().__init__()
        self.wait = wait
        self.toloka_conn_id = toloka_conn_id
        if policy is None:
            policy = waiting.PollPolicy(interval=self.default_poll_interval)
        elif not isinstance(policy, waiting.PollPolicy):
            policy = waiting.PollPolicy.from_dict({"interval": self.default_poll_interval, **policy})
        self.policy = policy

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
        if self.shared_polling and waiting_shared.can_share(self.wait):
            yield TriggerEvent(await self._wait_shared())
            return
        try:
            client = await TolokaHook(toloka_conn_id=self.toloka_conn_id).get_async_conn()
        except Exception as error:
            yield TriggerEvent(self._connection_error(error))
            return
        async with client:
            await _prepare_transport(client)
            yield TriggerEvent(await self._wait_for_event(client))

    def _connection_error(self, error: BaseException) -> dict[str, Any]:
        message = (
            f"Cannot use Airflow connection {self.toloka_conn_id!r} to check {self.describe()}: "
            f"{type(error).__name__}: {error}"
        )
        return {"status": "error", "message": message, "retryable": False}

    async def _make_client(self) -> Any:
        client = await TolokaHook(toloka_conn_id=self.toloka_conn_id).get_async_conn()
        await _prepare_transport(client)
        return client

    async def _wait_shared(self) -> dict[str, Any]:
        """The event of this wait, run by the shared poller of its connection (one per triggerer process)."""
        try:
            outcome = await waiting_shared.wait_shared(
                self.toloka_conn_id, self.wait, self.policy, self._make_client,
                sleep=self._sleep, clock=self._clock, logger=self.log,
            )
        except asyncio.CancelledError:
            raise
        except waiting_shared.ConnectionProblem as problem:
            return self._connection_error(problem.error)
        except Exception as error:
            message = explain_error(error, self.toloka_conn_id, what=self.wait.subject, argument=self.wait.argument)
            return {"status": "error", "message": message, "retryable": False}
        return self._payload(outcome)

    async def _wait_for_event(self, client: Any) -> dict[str, Any]:
        try:
            outcome = await waiting.wait_for(
                client, self.wait, self.policy, sleep=self._sleep, clock=self._clock, logger=self.log
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            message = explain_error(error, self.toloka_conn_id, what=self.wait.subject, argument=self.wait.argument)
            return {"status": "error", "message": message, "retryable": False}
        return self._payload(outcome)

    def _payload(self, outcome: waiting.Outcome) -> dict[str, Any]:
        if outcome.state == waiting.SUCCESS:
            return {"status": "success", **outcome.details}
        if outcome.state == waiting.FAILURE:
            return {"status": "failure", "message": outcome.message, **outcome.details}
        if outcome.state == waiting.TIMEOUT:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.policy.deadline or 0))
            return {"status": "timeout", "message": f"{outcome.message} (deadline {when})"}
        return {
            "status": "error",
            "message": f"{outcome.message}. Check Toloka's status and retry the task.",
            "retryable": True,
        }
