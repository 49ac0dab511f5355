"""``AsyncTolokaClient``: the Toloka API over ``httpx.AsyncClient``.

Same methods and arguments as ``TolokaClient`` (both come from ``api.TolokaApi``): every method returns an
awaitable, ``get_*`` return async iterators. This module only performs the plans' effects.

Event loops: an ``httpx.AsyncClient`` must not be shared across event loops, so one is opened per running
loop, lazily, on the first request made from that loop. The client object itself may therefore be used
from any loop (an Airflow triggerer, ``asyncio.run`` in a task, pytest-asyncio). Close it with
``async with AsyncTolokaClient(...) as client:`` or ``await client.aclose()``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpx

from toloka_provider.client import streaming
from toloka_provider.client.api import TolokaApi
from toloka_provider.client.config import make_config
from toloka_provider.client.environment import Environment
from toloka_provider.client.protocol import Emit, Now, Plan, Request, Response, Sleep, TransportFailure


@functools.lru_cache(maxsize=8)
def _shared_ssl_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per ``verify`` setting, shared by every client of the process.

    ``httpx.AsyncClient(verify=True)`` builds a fresh context and loads the CA bundle: 25-50 ms of blocking
    work on the event loop, per client. A triggerer starts one client per deferred task, so with hundreds of
    them the loop stalled for that long again and again; built once, it costs that only once per process.
    """
    return httpx.create_ssl_context(verify=verify)


# httpx raises these when there is no usable answer (connect/read/write errors and timeouts, broken
# or unexpected protocol data); all are worth a retry.
_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_JSON_CONTENT_TYPE = {"Content-Type": "application/json"}


_TIMEOUT_PHASES = (
    (httpx.ConnectTimeout, "connect", "could not connect"),
    (httpx.ReadTimeout, "read", "no answer"),
    (httpx.WriteTimeout, "write", "could not send the request"),
    (httpx.PoolTimeout, "pool", "no free connection"),
)


def _describe_transport_error(exc: Exception, timeout: httpx.Timeout) -> str:
    """The exception's class and message; for a timeout, which one and how long (httpx's own text is often empty)."""
    for kind, phase, what in _TIMEOUT_PHASES:
        if isinstance(exc, kind):
            detail = f"{what} within the {phase} timeout of {getattr(timeout, phase)} s"
            return f"{type(exc).__name__}: {detail}" + (f" ({exc})" if str(exc) else "")
    return f"{type(exc).__name__}: {exc}"


class AsyncTolokaClient(TolokaApi):
    """Asynchronous Toloka client; constructor as ``TolokaClient`` (``sleep`` must be an async callable)."""

    def __init__(
        self,
        token: str,
        environment: Environment | str | None = None,
        retries: int | object = 3,
        timeout: float | tuple[float | None, float | None] | None = 10.0,
        url: str | None = None,
        retry_quotas: str | Iterable[str] | None = "MIN",
        retryer_factory: Callable[[], object] | None = None,
        act_under_account_id: str | None = None,
        verify: bool | str = True,
        *,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = make_config(
            token, environment, retries, timeout, url, retry_quotas, retryer_factory, act_under_account_id, verify
        )
        super().__init__(config, clock)
        connect, read = config.timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        self._sleep = sleep or asyncio.sleep
        self._transport = transport  # tests pass an httpx.MockTransport
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    # ---- connections ----------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                base_url=self.url,
                headers=self._config.headers,
                timeout=self._timeout,
                verify=_shared_ssl_context(self._config.verify) if self._config.verify is not False else False,
                transport=self._transport,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the connections opened from the running event loop (others belong to their own loops)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> AsyncTolokaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- performing effects ---------------------------------------------------------------------------

    async def _send_request(self, request: Request) -> Response | TransportFailure:
        try:
            response = await self._http().request(
                request.method,
                request.path,
                params=request.params,
                content=request.body,
                headers=_JSON_CONTENT_TYPE if request.body is not None else None,
            )
        except _TRANSPORT_ERRORS as exc:
            return TransportFailure(_describe_transport_error(exc, self._timeout), exc)
        headers = response.headers
        return Response(response.status_code, response.content, headers.get("Retry-After"), headers.get("X-Request-Id"))

    async def _perform(self, effect: Any) -> Any:
        if type(effect) is Request:
            return await self._send_request(effect)
        if type(effect) is Sleep:
            await self._sleep(effect.seconds)
            return None
        if type(effect) is Now:
            return self._clock()
        if isinstance(effect, streaming.StreamEffect):  # streamed bodies (the TSV export)
            return await streaming.perform_async(self, effect)
        raise TypeError(f"unexpected effect {effect!r}")

    async def _run(self, plan: Plan) -> Any:
        sent = None
        while True:
            try:
                effect = plan.send(sent)
            except StopIteration as stop:
                return stop.value
            sent = await self._perform(effect)

    def _iterate(self, plan: Plan) -> AsyncIterator[Any]:
        async def drive() -> AsyncIterator[Any]:
            sent = None
            try:
                while True:
                    try:
                        effect = plan.send(sent)
                    except StopIteration:
                        return
                    if type(effect) is Emit:
                        for value in effect.values:
                            yield value
                        sent = None
                    else:
                        sent = await self._perform(effect)
            finally:
                plan.close()

        return drive()
