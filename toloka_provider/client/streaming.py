"""Streamed response bodies: effects a plan yields to read a large body chunk by chunk (the TSV export).

A plain ``Request`` makes the transport read the whole body before the plan sees it. A listing that must not
hold the body (``iter_assignments_table``) yields these instead:

* ``OpenStream(request)`` -> the transport sends the request with a streamed body. A 2xx answer comes back as a
  ``StreamedResponse`` (a ``Response`` with an empty ``body`` and a ``stream`` handle); any other status is read
  whole and comes back as a plain ``Response``, so retry decisions and error mapping are the ones of
  ``core.call``. No connection: a ``TransportFailure``, as for a ``Request``.
* ``ReadStream(stream)`` -> the next chunk of bytes (``b""`` at the end, and the stream is then closed), or a
  ``TransportFailure`` if the connection broke mid-body.
* ``CloseStream(stream)`` -> close it early (an error in the plan).

A plan cannot yield while it is being closed (the caller dropped the iterator), so each handle also has a
synchronous ``abandon()``: the sync one closes the response at once, the async one schedules ``aclose()`` on
the running loop.

The transports perform these through ``perform_sync`` / ``perform_async`` (one hook line in each ``_perform``);
everything else here is I/O-free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any

import attrs

from toloka_provider.client import protocol
from toloka_provider.client.protocol import Plan, Request, Response, TransportFailure

CHUNK_SIZE = 64 * 1024


@attrs.frozen(slots=True)
class StreamedResponse(Response):
    """A 2xx answer whose body is read through ``stream`` (``body`` stays empty)."""

    stream: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class OpenStream:
    request: Request


@attrs.frozen(slots=True)
class ReadStream:
    stream: Any = attrs.field(eq=False)


@attrs.frozen(slots=True)
class CloseStream:
    stream: Any = attrs.field(eq=False)


StreamEffect = (OpenStream, ReadStream, CloseStream)


def streamed(plan: Plan) -> Generator[Any, Any, Any]:
    """Run a ``core.call`` plan with its ``Request`` effects sent as ``OpenStream`` (same retries, same errors)."""
    sent = None
    while True:
        try:
            effect = plan.send(sent)
        except StopIteration as stop:
            return stop.value
        sent = yield (OpenStream(effect) if type(effect) is Request else effect)


# --------------------------------------------------------------------------------------------------- sync


def _bounded_body(chunks: Any) -> bytes:
    """An error body, read up to ``protocol.MAX_RESPONSE_BYTES`` (the rest is not read)."""
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > protocol.MAX_RESPONSE_BYTES:
            break
    return b"".join(parts)[: protocol.MAX_RESPONSE_BYTES]


class _SyncStream:
    conn: Any = None  # the connection the stream reads from, for the per-chunk deadline

    def __init__(self, response: Any) -> None:
        self.response = response
        self.chunks = response.iter_content(CHUNK_SIZE)
        self.closed = False

    def abandon(self) -> None:
        if not self.closed:
            self.closed = True
            self.response.close()


def _requests_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
    )


def _watched(client: Any, conn: Any = None) -> Any:
    """An attempt under the sync client's total deadline, watched by its watchdog (None: no deadline).

    The same cut-off as every other request of ``TolokaClient`` (see ``sync.py``): the socket is shut down
    when the deadline passes, whatever phase the read is in. ``conn``: the stream's connection, for a chunk.
    """
    from toloka_provider.client import sync
    from toloka_provider.client.config import DEADLINE_GRACE

    if client._deadline is None:
        return None
    attempt = sync._Attempt(time.monotonic() + client._deadline + DEADLINE_GRACE)
    attempt.conn = conn
    sync._current.attempt = attempt
    sync._watchdog.watch(attempt)
    return attempt


def _unwatch(attempt: Any) -> None:
    from toloka_provider.client import sync

    if attempt is not None:
        sync._current.attempt = None
        sync._watchdog.finish(attempt)


def _failure(client: Any, attempt: Any, exc: BaseException, what: str) -> TransportFailure:
    if attempt is not None and (attempt.expired or time.monotonic() > attempt.deadline_at):
        return TransportFailure(f"TimeoutError: {what} within the total timeout of {client._deadline:g} s", exc)
    return TransportFailure(f"{type(exc).__name__}: {exc}", exc)


def perform_sync(client: Any, effect: Any) -> Any:
    """Perform a stream effect for ``TolokaClient`` (its session, base URL and timeout).

    Opening the stream (status line, headers, an error body) is one attempt under the client's total
    deadline; then each chunk of ``CHUNK_SIZE`` bytes must arrive within that deadline too, so a server that
    drips or stalls cannot hold the export, while a long export that keeps flowing is not cut off.
    """
    errors = _requests_errors()
    if type(effect) is OpenStream:
        request = effect.request
        attempt = _watched(client)
        try:
            response = client._session().request(
                request.method,
                client.url + request.path,
                params=request.params,
                data=request.body,
                headers={"Content-Type": "application/json"} if request.body is not None else None,
                timeout=client._timeout,
                stream=True,
                allow_redirects=False,  # as httpx: the token is never sent elsewhere; a 3xx is not the body
            )
            headers = response.headers
            retry_after, request_id = headers.get("Retry-After"), headers.get("X-Request-Id")
            if not 200 <= response.status_code < 300:
                try:
                    body = _bounded_body(response.iter_content(CHUNK_SIZE))
                finally:
                    response.close()
                return Response(response.status_code, body, retry_after, request_id)
        except errors as exc:
            return _failure(client, attempt, exc, "no answer")
        finally:
            _unwatch(attempt)
        stream = _SyncStream(response)
        stream.conn = attempt.conn if attempt is not None else None
        return StreamedResponse(response.status_code, b"", retry_after, request_id, stream=stream)
    stream = effect.stream
    if type(effect) is CloseStream:
        stream.abandon()
        return None
    attempt = _watched(client, stream.conn) if stream.conn is not None else None
    try:
        chunk = next(stream.chunks, b"")
    except errors as exc:
        stream.abandon()
        return _failure(client, attempt, exc, f"no chunk of the export ({CHUNK_SIZE} bytes)")
    finally:
        _unwatch(attempt)
    if not chunk:
        stream.abandon()
    return chunk


# --------------------------------------------------------------------------------------------------- async


class _AsyncStream:
    _closing: set[asyncio.Task] = set()  # keeps scheduled closes alive until they ran

    def __init__(self, response: Any) -> None:
        self.response = response
        self.chunks = response.aiter_bytes(CHUNK_SIZE)
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


async def perform_async(client: Any, effect: Any) -> Any:
    """Perform a stream effect for ``AsyncTolokaClient`` (its per-loop ``httpx.AsyncClient``).

    Deadlines as for the sync client: opening (status, headers, an error body) within the total deadline,
    then each chunk within it (``aio._within``, the asyncio timeout every other request runs under).
    """
    from toloka_provider.client.aio import _TRANSPORT_ERRORS, _within
    from toloka_provider.client.config import DEADLINE_GRACE

    limit = None if client._deadline is None else client._deadline + DEADLINE_GRACE

    def failure(exc: BaseException, what: str) -> TransportFailure:
        if isinstance(exc, asyncio.TimeoutError):
            return TransportFailure(f"TimeoutError: {what} within the total timeout of {client._deadline:g} s", exc)
        return TransportFailure(f"{type(exc).__name__}: {exc}", exc)

    if type(effect) is OpenStream:
        request = effect.request
        http = client._http()
        built = http.build_request(
            request.method,
            request.path,
            params=request.params,
            content=request.body,
            headers={"Content-Type": "application/json"} if request.body is not None else None,
        )

        async def open_stream() -> Any:
            response = await http.send(built, stream=True)
            if 200 <= response.status_code < 300:
                return response, None
            try:
                parts, size = [], 0
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
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
            return failure(exc, "no answer")
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
        return failure(exc, f"no chunk of the export ({CHUNK_SIZE} bytes)")
    if not chunk:
        await stream.close()
    return chunk
