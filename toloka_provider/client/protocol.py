"""The sans-I/O vocabulary shared by the core and both transports.

An API method is a *plan*: a generator that yields effects and receives their results.

* ``Request``  -> the transport sends it once and sends back a ``Response`` or a ``TransportFailure``.
* ``Sleep``    -> the transport sleeps (``time.sleep`` or ``asyncio.sleep``, injectable) and sends back None.
* ``Now``      -> the transport sends back a monotonic clock reading (for operation deadlines).
* ``Emit``     -> only in listing plans: the driver hands ``values`` to the caller's iterator, sends back None.
* ``OpenStream`` / ``ReadStream`` / ``CloseStream`` -> a body read chunk by chunk (the TSV export): the
  transport answers ``OpenStream`` with a ``StreamedResponse`` (2xx) or a whole ``Response`` (any other status),
  ``ReadStream`` with the next chunk (``b""`` at the end) or a ``TransportFailure``.

The plan's return value (``StopIteration.value``) is the method's result. Plans raise the client's errors
themselves, so a transport never needs to know what a status code means.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs

#: The largest response body a transport reads (a 100,000-assignment page is a few hundred MB at most); a
#: server streaming more is cut off as a transport failure, so an endless stream cannot exhaust memory.
MAX_RESPONSE_BYTES = 1 << 30


@attrs.frozen(slots=True)
class Request:
    """One HTTP request, relative to the client's base URL (``path`` starts with ``/api/``)."""

    method: str
    path: str
    params: dict[str, str] | None = None
    body: bytes | None = None


@attrs.frozen(slots=True)
class Response:
    """What came back: status, the raw body and the headers the core reads (``Location`` only for a 3xx)."""

    status: int
    body: bytes
    retry_after: str | None = None
    request_id: str | None = None
    location: str | None = None


@attrs.frozen(slots=True)
class TransportFailure:
    """No usable response: the connection failed, timed out or broke mid-body.

    ``description`` is the exception's class and message; it never holds headers (so never the token).
    """

    description: str
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class Sleep:
    seconds: float


@attrs.frozen(slots=True)
class Now:
    pass


@attrs.frozen(slots=True)
class Emit:
    values: list


#: Bytes asked for per ``ReadStream``.
STREAM_CHUNK_SIZE = 64 * 1024


@attrs.frozen(slots=True)
class StreamedResponse(Response):
    """A 2xx answer whose body is read through ``stream`` (``body`` stays empty).

    ``stream`` is the transport's handle; its synchronous ``abandon()`` releases it when the plan is closed
    without a chance to yield ``CloseStream``.
    """

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

Effect = Request | Sleep | Now | Emit | OpenStream | ReadStream | CloseStream
Plan = Generator[Effect, Any, Any]


def streamed(plan: Plan) -> Plan:
    """Run a ``core.call`` plan with its ``Request`` effects sent as ``OpenStream`` (same retries, same errors)."""
    sent = None
    while True:
        try:
            effect = plan.send(sent)
        except StopIteration as stop:
            return stop.value
        sent = yield (OpenStream(effect) if type(effect) is Request else effect)


def bounded(chunks: Any) -> bytes:
    """An error body from an iterable of chunks, read up to ``MAX_RESPONSE_BYTES`` (the rest is not read)."""
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    return b"".join(parts)[:MAX_RESPONSE_BYTES]


def declared_length(content_length: str | None, content_encoding: str | None) -> int | None:
    """The body's length in bytes as the headers declare it, when it is sent as is; None if unknown.

    Only a body without a ``Content-Encoding`` (or ``identity``) has its size on the wire equal to its decoded size,
    which is what ``MAX_RESPONSE_BYTES`` bounds; a compressed or chunked body must be counted as it is read.
    """
    if content_encoding is not None and content_encoding.strip().lower() not in ("", "identity"):
        return None
    if content_length is None:
        return None
    text = content_length.strip()
    if not text.isdigit() or not text.isascii():
        return None
    return int(text)
