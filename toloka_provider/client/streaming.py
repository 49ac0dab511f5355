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
from collections.abc import Generator
from typing import Any

import attrs

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


class _SyncStream:
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


def perform_sync(client: Any, effect: Any) -> Any:
    """Perform a stream effect for ``TolokaClient`` (its session, base URL and timeout)."""
    errors = _requests_errors()
    if type(effect) is OpenStream:
        request = effect.request
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
        except errors as exc:
            return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
        headers = response.headers
        retry_after, request_id = headers.get("Retry-After"), headers.get("X-Request-Id")
        if not 200 <= response.status_code < 300:
            try:
                body = response.content
            except errors as exc:
                return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
            finally:
                response.close()
            return Response(response.status_code, body, retry_after, request_id)
        return StreamedResponse(
            response.status_code, b"", retry_after, request_id, stream=_SyncStream(response)
        )
    stream = effect.stream
    if type(effect) is CloseStream:
        stream.abandon()
        return None
    try:
        chunk = next(stream.chunks, b"")
    except errors as exc:
        stream.abandon()
        return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
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
    """Perform a stream effect for ``AsyncTolokaClient`` (its per-loop ``httpx.AsyncClient``)."""
    import httpx

    errors = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
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
        try:
            response = await http.send(built, stream=True)
        except errors as exc:
            return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
        headers = response.headers
        retry_after, request_id = headers.get("Retry-After"), headers.get("X-Request-Id")
        if not 200 <= response.status_code < 300:
            try:
                body = await response.aread()
            except errors as exc:
                return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
            finally:
                await response.aclose()
            return Response(response.status_code, body, retry_after, request_id)
        return StreamedResponse(
            response.status_code, b"", retry_after, request_id, stream=_AsyncStream(response)
        )
    stream = effect.stream
    if type(effect) is CloseStream:
        await stream.close()
        return None
    try:
        chunk = await anext(stream.chunks, b"")
    except errors as exc:
        await stream.close()
        return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
    if not chunk:
        await stream.close()
    return chunk
