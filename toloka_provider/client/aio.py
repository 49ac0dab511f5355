"""``AsyncTolokaClient``: the Toloka API over ``httpx.AsyncClient``.

Same methods and arguments as ``TolokaClient`` (both come from ``api.TolokaApi``), each returning an awaitable
(``get_*``: async iterators). This module performs the plans' effects (``run_plan``, the client's one runner).
One ``httpx.AsyncClient`` per running event loop, opened lazily, so the client may be used from any loop; close
it with ``async with`` or ``await client.aclose()``. Each attempt runs under a total deadline; listings request
the next page in a task of the same loop while the caller reads the current one (``prefetch``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from toloka_provider.client import protocol
from toloka_provider.client.api import TolokaApi
from toloka_provider.client.config import DEADLINE_GRACE, ClientConfig, make_config
from toloka_provider.client.core import step
from toloka_provider.client.environment import Environment
from toloka_provider.client.errors import RedactingFilter, reset_secrets, use_secrets
from toloka_provider.client.observe import AttemptWatch, Observer, check_observer
from toloka_provider.client.pagination import check_prefetch
from toloka_provider.client.protocol import (
    CloseStream,
    Emit,
    Now,
    OpenStream,
    Plan,
    ReadStream,
    Request,
    Response,
    Sleep,
    StreamedResponse,
    TransportFailure,
)
from toloka_provider.client.retry import DEFAULT_MAX_RETRY_AFTER, RetryPolicy

if TYPE_CHECKING:
    # The same methods as TolokaApi, typed as coroutines and async iterators (generated from api.py; see
    # tests/typing/async_api_gen.py). At run time the class derives from TolokaApi itself.
    from toloka_provider.client._async_api import AsyncTolokaApi as _ApiBase
else:
    _ApiBase = TolokaApi


@functools.lru_cache(maxsize=8)
def _shared_ssl_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS context per ``verify`` setting, shared by every client of the process.

    ``httpx.AsyncClient(verify=True)`` builds a fresh context and loads the CA bundle: 25-50 ms of blocking
    work on the event loop, per client. A triggerer starts one client per deferred task, so with hundreds of
    them the loop stalled for that long again and again; built once, it costs that only once per process.
    """
    return httpx.create_ssl_context(verify=verify)


# httpx and httpcore log response headers at debug level; a server may echo the token in one.
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(existing, RedactingFilter) for existing in _logger.filters):
        _logger.addFilter(RedactingFilter())


def warm_tls(verify: bool | str) -> None:
    """Build (and keep) the TLS context for ``verify`` now: blocking work a caller may do off the event loop."""
    if verify is not False:
        _shared_ssl_context(verify)


# httpx raises these when there is no usable answer (connect/read/write errors and timeouts, broken
# or unexpected protocol data, a body it cannot decode); all are worth a retry. OSError: nothing raw escapes.
_TRANSPORT_ERRORS = (httpx.TransportError, httpx.DecodingError, httpx.StreamError, OSError)

_asyncio_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+; asyncio.wait_for before

#: Connections per event loop. Requests beyond it queue in front of httpx (see ``_send_request``), so that the
#: per-attempt deadline starts when a connection is free, not while waiting for one.
_MAX_CONNECTIONS = 32


async def _within(seconds: float | None, awaitable: Awaitable[Any]) -> Any:
    """``await awaitable`` under an asyncio timeout (``TimeoutError`` when it passes); None = no limit."""
    if seconds is None:
        return await awaitable
    if _asyncio_timeout is not None:
        async with _asyncio_timeout(seconds):
            return await awaitable
    return await _within_py310(seconds, awaitable)


async def _within_py310(seconds: float, awaitable: Awaitable[Any]) -> Any:
    """Python 3.10's stand-in for ``asyncio.timeout``: the running task is cancelled when ``seconds`` pass.

    Not ``asyncio.wait_for``: on 3.10 it swallows a cancellation that arrives as the awaited call finishes
    (bpo-42130), so a trigger could outlive its cancellation. Here the awaitable runs in the caller's own task;
    a cancellation from elsewhere is never turned into a result, and is a ``CancelledError`` unless the timer
    had fired first.
    """
    task = asyncio.current_task()
    assert task is not None  # called from a coroutine run by the event loop
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if fired:
            raise asyncio.TimeoutError() from None
        raise
    finally:
        handle.cancel()

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


class _AsyncStream:
    """A streamed body being read; ``abandon`` schedules the close on the running loop."""

    _closing: set[asyncio.Task] = set()  # keeps scheduled closes alive until they ran

    def __init__(self, response: Any) -> None:
        self.response = response
        self.chunks = response.aiter_bytes(protocol.STREAM_CHUNK_SIZE)
        self.closed = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.response.aclose()

    def abandon(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop any more: the connection goes with the garbage collector
            return
        task = loop.create_task(self.response.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


class AsyncTolokaClient(_ApiBase):
    """Asynchronous Toloka client; constructor as ``TolokaClient`` (``sleep`` must be an async callable).

    ``timeout`` and ``max_retry_after`` mean the same as for ``TolokaClient``: a number is the total per
    attempt (enforced with an asyncio timeout around the whole request, body included). ``prefetch`` as for
    ``TolokaClient``: listings request the next page while the caller reads this one; False pages serially.
    """

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
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        prefetch: bool = True,
        observer: Observer | None = None,
    ) -> None:
        check_prefetch(prefetch)
        config = make_config(
            token, environment, retries, timeout, url, retry_quotas, retryer_factory, act_under_account_id, verify,
            max_retry_after=max_retry_after,
        )
        super().__init__(config, clock)
        self._deadline = config.deadline
        self._secrets = config.secrets
        connect, read = config.timeout
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        self._sleep = sleep or asyncio.sleep
        self._transport = transport  # tests pass an httpx.MockTransport
        self._prefetch = prefetch
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._observer = check_observer(observer)

    @property
    def config(self) -> ClientConfig:
        """The validated settings (URL, headers, timeouts, retries); its repr never shows the token."""
        return self._config

    def new_retry_policy(self) -> RetryPolicy:
        """A fresh retry policy for one logical request, as the client's own calls use."""
        return self._config.new_retry_policy()

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
                limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=16),
                follow_redirects=False,  # never send the token elsewhere; a 3xx is an error (core.call)
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

    async def _exchange(self, request: Request) -> tuple[httpx.Response, bytes | None]:
        """Send, then read the body in chunks up to ``MAX_RESPONSE_BYTES`` (None: larger, or declared larger; not read)."""
        http = self._http()
        outgoing = http.build_request(
            request.method,
            request.path,
            params=request.params,
            content=request.body,
            headers=_JSON_CONTENT_TYPE if request.body is not None else None,
        )
        response = await http.send(outgoing, stream=True)
        try:
            headers = response.headers
            length = protocol.declared_length(headers.get("Content-Length"), headers.get("Content-Encoding"))
            if length is not None and length > protocol.MAX_RESPONSE_BYTES:
                return response, None  # declared too long: refused unread
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > protocol.MAX_RESPONSE_BYTES:
                    return response, None
            return response, b"".join(chunks)
        finally:
            await response.aclose()

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(_MAX_CONNECTIONS)
        return gate

    async def _send_request(self, request: Request) -> Response | TransportFailure:
        gate = self._gate()
        try:
            # Waiting for a free connection is bounded by the pool timeout, as httpx would, not by the deadline.
            await _within(self._timeout.pool, gate.acquire())
        except asyncio.TimeoutError as exc:
            return TransportFailure(
                f"PoolTimeout: no free connection within the pool timeout of {self._timeout.pool} s", exc
            )
        try:
            return await self._attempt(request)
        finally:
            gate.release()

    async def _attempt(self, request: Request) -> Response | TransportFailure:
        deadline = self._deadline
        try:
            exchanged = await _within(None if deadline is None else deadline + DEADLINE_GRACE, self._exchange(request))
        except asyncio.TimeoutError as exc:
            # Only our deadline (first: it is an OSError on 3.11+); httpx's own timeouts are httpx.TimeoutException.
            return TransportFailure(
                f"TimeoutError: no complete answer within the total timeout of {deadline:g} s per attempt", exc
            )
        except _TRANSPORT_ERRORS as exc:
            return TransportFailure(_describe_transport_error(exc, self._timeout), exc)
        response, body = exchanged
        if body is None:
            return TransportFailure(f"ResponseTooLarge: the body exceeds {protocol.MAX_RESPONSE_BYTES} bytes; not read")
        headers = response.headers
        status = response.status_code
        return Response(
            status, body, headers.get("Retry-After"), headers.get("X-Request-Id"),
            headers.get("Location") if 300 <= status < 400 else None,
        )

    async def _perform(self, effect: Any) -> Any:
        if type(effect) is Request:
            return await self._send_request(effect)
        if type(effect) is Sleep:
            await self._sleep(effect.seconds)
            return None
        if type(effect) is Now:
            return self._clock()
        if type(effect) in (OpenStream, ReadStream, CloseStream):  # streamed bodies (the TSV export)
            return await self._perform_stream(effect)
        raise TypeError(f"unexpected effect {effect!r}")

    # ---- streamed bodies --------------------------------------------------------------------------------

    def _stream_failure(self, exc: BaseException, what: str) -> TransportFailure:
        if isinstance(exc, asyncio.TimeoutError):
            return TransportFailure(f"TimeoutError: {what} within the total timeout of {self._deadline:g} s", exc)
        return TransportFailure(f"{type(exc).__name__}: {exc}", exc)

    async def _perform_stream(self, effect: Any) -> Any:
        """Open, read or close a streamed body: opening within the total deadline, then each chunk within it."""
        limit = None if self._deadline is None else self._deadline + DEADLINE_GRACE
        if type(effect) is OpenStream:
            request = effect.request
            http = self._http()
            built = http.build_request(
                request.method,
                request.path,
                params=request.params,
                content=request.body,
                headers=_JSON_CONTENT_TYPE if request.body is not None else None,
            )

            async def open_stream() -> Any:
                response = await http.send(built, stream=True)
                if 200 <= response.status_code < 300:
                    return response, None
                try:
                    parts, size = [], 0
                    async for chunk in response.aiter_bytes(protocol.STREAM_CHUNK_SIZE):
                        parts.append(chunk)
                        size += len(chunk)
                        if size > protocol.MAX_RESPONSE_BYTES:
                            break
                    return response, b"".join(parts)[: protocol.MAX_RESPONSE_BYTES]
                finally:
                    await response.aclose()

            try:
                response, body = await _within(limit, open_stream())
            except (asyncio.TimeoutError, *_TRANSPORT_ERRORS) as exc:
                return self._stream_failure(exc, "no answer")
            headers = response.headers
            retry_after, request_id = headers.get("Retry-After"), headers.get("X-Request-Id")
            if body is not None:
                return Response(response.status_code, body, retry_after, request_id)
            return StreamedResponse(
                response.status_code, b"", retry_after, request_id, stream=_AsyncStream(response)
            )
        stream = effect.stream
        if type(effect) is CloseStream:
            await stream.close()
            return None
        try:
            chunk = await _within(limit, anext(stream.chunks, b""))
        except (asyncio.TimeoutError, *_TRANSPORT_ERRORS) as exc:
            await stream.close()
            return self._stream_failure(exc, f"no chunk of the export ({protocol.STREAM_CHUNK_SIZE} bytes)")
        if not chunk:
            await stream.close()
        return chunk

    async def run_plan(
        self,
        plan: Plan,
        *,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Any:
        """Run ``plan`` to its result: the one way this client performs a plan's effects.

        Every step goes through ``core.step`` (the client's token is redacted from what the plan raises or
        logs); requests are sent under the client's timeouts; ``Sleep`` and ``Now`` go to ``sleep`` (a
        coroutine function) and ``clock`` when given, else to the client's own.
        """
        sleep = sleep or self._sleep
        clock = clock or self._clock
        secrets = self._secrets
        watch = AttemptWatch(self._observer) if self._observer is not None else None
        # The token is the active secret while effects are performed too: what the transport's libraries
        # log (httpcore logs response headers at debug level) is redacted like the plan's own lines.
        active = use_secrets(secrets)
        try:
            return await self._drive(plan, sleep, clock, secrets, watch)
        finally:
            reset_secrets(active)

    async def _drive(self, plan: Plan, sleep: Any, clock: Any, secrets: tuple[str, ...], watch: Any) -> Any:
        sent: Any = None
        last = None
        while True:
            try:
                effect = step(plan, sent, secrets, last)
            except StopIteration as stop:
                if watch is not None:
                    watch.next(None)
                return stop.value
            except BaseException:
                if watch is not None:
                    watch.next(None)
                raise
            if watch is not None:
                watch.next(effect)
            kind = type(effect)
            if kind is Request:
                started = time.monotonic()
                sent = await self._send_request(effect)
                if type(sent) is Response:
                    last = (effect, sent)
                if watch is not None:
                    watch.sent(effect, sent, time.monotonic() - started)
            elif kind is Sleep:
                sent = await sleep(effect.seconds)
            elif kind is Now:
                sent = clock()
            elif kind is OpenStream and watch is not None:
                started = time.monotonic()
                sent = await self._perform_stream(effect)
                watch.sent(effect.request, sent, time.monotonic() - started)
            else:
                sent = await self._perform(effect)

    def _run(self, plan: Plan) -> Awaitable[Any]:
        return self.run_plan(plan)

    def _iterate(self, plan: Plan) -> AsyncIterator[Any]:
        prefetch = self._prefetch

        async def drive() -> AsyncIterator[Any]:
            secrets = self._secrets
            last = None
            ahead: asyncio.Task | None = None
            watch = AttemptWatch(self._observer) if self._observer is not None else None
            try:
                effect = _advance(plan, None, secrets, None)
                while effect is not _END:
                    if watch is not None:
                        watch.next(effect)
                    if type(effect) is not Emit:
                        started = time.monotonic()
                        active = use_secrets(secrets)  # as in run_plan (no yield while it is set)
                        try:
                            sent = await self._perform(effect)
                        finally:
                            reset_secrets(active)
                        if type(sent) is Response:
                            last = (effect, sent)
                        if watch is not None and type(effect) is Request:
                            watch.sent(effect, sent, time.monotonic() - started)
                        effect = _advance(plan, sent, secrets, last)
                        continue
                    values = effect.values
                    if not prefetch:
                        for value in values:
                            yield value
                        effect = _advance(plan, None, secrets, last)
                        continue
                    # Look one effect ahead now: the next page's request, sent while the caller reads this page.
                    # An error of the plan here is raised where the caller would have met it: after this page.
                    failure = None
                    try:
                        effect = _advance(plan, None, secrets, last)
                    except Exception as exc:
                        failure, effect = exc, _END
                    if type(effect) is Request:
                        active = use_secrets(secrets)  # the task copies the context it is made in
                        try:
                            ahead = asyncio.ensure_future(self._send_request(effect))
                        finally:
                            reset_secrets(active)
                        started = time.monotonic()
                    for value in values:
                        yield value
                    if failure is not None:
                        raise failure
                    if ahead is not None:
                        sent = await ahead
                        ahead = None
                        if type(sent) is Response:
                            last = (effect, sent)
                        if watch is not None:
                            watch.sent(effect, sent, time.monotonic() - started)
                        effect = _advance(plan, sent, secrets, last)
            finally:
                if watch is not None:
                    watch.next(None)
                if ahead is not None:  # the caller stopped early: cancel the request, leave no task behind
                    await _stop(ahead)
                plan.close()

        return drive()


_END = object()  # a plan's end, from ``_advance``


def _advance(plan: Plan, sent: Any, secrets: tuple[str, ...], last: Any) -> Any:
    """``core.step``, with the plan's end as ``_END`` instead of ``StopIteration``."""
    try:
        return step(plan, sent, secrets, last)
    except StopIteration:
        return _END


async def _stop(task: asyncio.Task) -> None:
    """Cancel a prefetch task and wait until it has ended (its result or error is of no use any more)."""
    task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning for an abandoned page
