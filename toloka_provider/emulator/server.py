"""The emulator's HTTP/1.1 server and :class:`TolokaEmulator`, the in-process handle on it.

One thread per connection (``ThreadingHTTPServer``, daemon threads, a deep listen queue), keep-alive with
``Content-Length`` on every answer, JSON bodies. Per request: route lookup, auth, fault draw, JSON parse,
handler, counters; nothing is logged per request unless ``verbose``.

Hostile input never takes the server down, and every answer the server writes itself, including the ones
for requests the standard library would refuse with its HTML page (bad request line, 414, 431, 501), is the
Toloka JSON error body ``{request_id, code, message}``. A connection has ``socket_timeout`` seconds to start
its next request (the keep-alive idle timeout) and again as many to send the rest of it (head and body): a
deadline over the whole read, not per ``recv``, so a client dripping one byte at a time cannot hold a thread.
A bug in a handler is a logged JSON 500 ``INTERNAL_ERROR`` and the connection goes on serving.

    with TolokaEmulator(seed=0, crowd=30) as emu:
        requests.get(f"{emu.url}/api/v1/requester", headers={"Authorization": f"ApiKey {emu.token}"})
"""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from toloka_provider.emulator import (
    aggregation,
    analytics,
    api_v1,
    apps,
    bulk,
    control,
    export,
    messages,
    project_check,
    quality,
    webhooks,
)
from toloka_provider.emulator.crowd import Crowd
from toloka_provider.emulator.errors import ApiError
from toloka_provider.emulator.faults import FaultInjector
from toloka_provider.emulator.records import dumps
from toloka_provider.emulator.router import RawResponse, Request, Router
from toloka_provider.emulator.state import EmulatorOptions, State
from toloka_provider.emulator.validation import parse_json_body

log = logging.getLogger(__name__)

# The modules that add routes, in the order they add them.
ROUTE_MODULES = (api_v1, bulk, aggregation, analytics, apps, quality, messages, webhooks, export, project_check)

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    411: "Length Required", 413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}
# The error code of each answer the HTTP layer gives itself (framing, limits), before any handler runs.
_HTTP_ERROR_CODES = {
    400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE", 414: "URI_TOO_LONG", 415: "UNSUPPORTED_MEDIA_TYPE",
    431: "REQUEST_HEADER_FIELDS_TOO_LARGE", 501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED",
}
DEFAULT_SOCKET_TIMEOUT = 30.0
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_REQUEST_LINE = 65536
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1024 * 1024
# Methods the emulator knows; any other well-formed method is a 405 (TRACE is never echoed back).
_KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_METHOD_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}")
_CONTENT_LENGTH_RE = re.compile(r"[0-9]+")
_BAD_GATEWAY_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"<hr><center>nginx</center></body></html>"
)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class _DeadlineReader(io.RawIOBase):
    """The connection's read side with a deadline over a whole read (set per request by the handler).

    Each ``recv`` waits at most until the deadline (and at most ``timeout``), so the time to read a request
    is bounded however the client splits it into packets. Past the deadline a read raises ``TimeoutError``.
    """

    def __init__(self, sock: Any, timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self.timeout = timeout
        self.deadline: float | None = None
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the client did not send the request in time")
            self._sock.settimeout(min(remaining, self.timeout))
        try:
            count = self._sock.recv_into(buffer)
        finally:
            if self.deadline is not None:
                # Writes use the socket's timeout too: give them the full one back.
                self._sock.settimeout(self.timeout)
        self.received += count
        return count


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: TolokaEmulator) -> None:
        self.app = app
        self.open_connections = 0
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Counted so that a test (or a user) can see that no connection thread is left behind.
        with self._connections_lock:
            self.open_connections += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self.open_connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer is normal under load and with faults; do not print tracebacks.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def shutdown_request(self, request: Any) -> None:
        """Close a connection without losing the last answer: send FIN, then read (and drop) what the
        client still sends, for a bounded time, before closing. Closing a socket with unread input makes
        the kernel send a reset, which can destroy an error answer (413, 400) the client has not read yet."""
        try:
            request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + min(_LINGER_SECONDS, self.app.socket_timeout)
            drained = 0
            while drained < _LINGER_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                request.settimeout(remaining)
                data = request.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
        self.close_request(request)


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads requests itself (deadlines, limits) and sends every error as JSON; routing is the app's."""

    protocol_version = "HTTP/1.1"
    server_version = "TolokaEmulator/1"
    server: _HTTPServer
    responded = False

    def setup(self) -> None:
        super().setup()
        timeout = self.server.app.socket_timeout
        self.connection.settimeout(timeout)
        self._reader = _DeadlineReader(self.connection, timeout)
        buffered, self.rfile = self.rfile, io.BufferedReader(self._reader, 65536)
        buffered.close()  # the socket's own reader; closing it keeps the socket's file count right

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            log.info("%s - %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        reader = self._reader
        self.command = ""
        self.request_version = "HTTP/1.1"
        self.requestline = ""
        self.responded = False
        reader.received = 0
        timeout = reader.timeout
        try:
            # The keep-alive idle wait and the request line share one deadline; the head and body another.
            reader.deadline = time.monotonic() + timeout
            line = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            for _ in range(4):  # RFC 9112: ignore a few empty lines before the request line
                if line not in (b"\r\n", b"\n"):
                    break
                line = self.rfile.readline(_MAX_REQUEST_LINE + 1)
            if not line:
                self.close_connection = True
                return
            reader.deadline = time.monotonic() + timeout
            if len(line) > _MAX_REQUEST_LINE:
                self.send_error(414, f"The request line is longer than {_MAX_REQUEST_LINE} bytes")
                return
            if not line.endswith(b"\n"):
                self.send_error(400, "The request line does not end with CRLF")
                return
            self.raw_requestline = line
            if not self.parse_request():  # sends its own (JSON) error
                return
            if not _METHOD_RE.fullmatch(self.command):
                self.send_error(400, f"Bad request method {_clip(self.command, 40)!r}")
                return
            self._dispatch()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if reader.received and not self.responded:
                # Part of a request came and the rest did not: say so, then hang up.
                self._send_error_quietly(408, f"The request was not received within {timeout:g} seconds")
        finally:
            reader.deadline = None

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client is told to send it.
        length = (self.headers.get("Content-Length") or "").strip()
        if length.isdigit() and (len(length) > 18 or int(length) > self.server.app.max_body_bytes):
            self.send_error(413, f"The body is {_clip(length, 40)} bytes; at most {self.server.app.max_body_bytes} are accepted")
            return False
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        try:
            self.server.app.serve(self, self.command)
        except OSError:
            raise  # timeouts and a client that went away: handled by the caller and the server
        except Exception:
            log.exception("the emulator failed on %s %s", self.command, _clip(self.path))
            self.close_connection = True
            if not self.responded:
                error = ApiError(500, "INTERNAL_ERROR", "The emulator failed to handle the request")
                request_id = uuid.uuid4().hex
                self.server.app._send(self, 500, dumps(error.body(request_id)), "application/json", request_id)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every error the HTTP layer gives (ours and the standard library's) as Toloka's JSON body.

        The connection is closed afterwards: after a framing error the rest of the stream means nothing."""
        self.close_connection = True
        status = int(code)
        reason = _REASONS.get(status, "Error")
        text = message or reason
        if explain and explain not in text:
            text = f"{text}: {explain}"
        error = ApiError(status, _HTTP_ERROR_CODES.get(status, "BAD_REQUEST"), text)
        request_id = uuid.uuid4().hex
        self.server.app._count(self.command or "-", "(http)", status)
        self.server.app._send(self, status, dumps(error.body(request_id)), "application/json", request_id)

    def _send_error_quietly(self, code: int, message: str) -> None:
        try:
            self.send_error(code, message)
            self.wfile.flush()
        except OSError:
            pass  # the client is gone or not reading; the connection closes either way


class TolokaEmulator:
    """A Toloka-compatible server on loopback, in a background thread. Use as a context manager.

    Arguments are those of ``python -m toloka_provider.emulator``: ``tokens`` accepted in
    ``Authorization: ApiKey|OAuth <token>``; ``seed`` for every random choice; ``crowd`` workers with
    accuracies drawn from ``accuracy`` (lo, hi), a ``spammers`` fraction answering at random, ``speed``
    assignments per second; ``truth`` file of correct answers; starting ``balance`` in USD; ``faults`` spec
    (see ``faults.py``); ``latency_ms`` added to every API request; ``host``/``port`` (0 = a free port).
    ``operation_delay`` is how long operations take to finish (seconds); ``verbose`` logs each request.
    ``socket_timeout`` (seconds) bounds a connection's keep-alive idle time and the time it may take to send
    a request; ``max_body_bytes`` is the largest request body accepted (larger ones get 413).
    """

    def __init__(
        self,
        tokens: tuple[str, ...] | list[str] | str = ("emulator-token",),
        seed: int = 0,
        crowd: int = 30,
        accuracy: tuple[float, float] = (0.55, 0.95),
        spammers: float = 0.1,
        speed: float = 200.0,
        truth: str | Path | None = None,
        balance: Decimal | float | str = Decimal("1000"),
        faults: str | dict | None = None,
        latency_ms: float = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        operation_delay: float = 0.1,
        verbose: bool = False,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if isinstance(tokens, str):
            tokens = (tokens,)
        tokens = tuple(tokens)
        if not tokens or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError(f"tokens must be a non-empty list of non-empty strings, got {len(tokens)} token(s)")
        low, high = accuracy
        if not 0 <= low <= high <= 1:
            raise ValueError(f"accuracy must be (low, high) with 0 <= low <= high <= 1, got {accuracy!r}")
        if not 0 <= spammers <= 1:
            raise ValueError(f"spammers must be a fraction in [0, 1], got {spammers!r}")
        if crowd < 0:
            raise ValueError(f"crowd must be >= 0 workers, got {crowd!r}")
        if speed <= 0:
            raise ValueError(f"speed must be > 0 assignments per second, got {speed!r}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
        if not (isinstance(socket_timeout, (int, float)) and 0 < socket_timeout < float("inf")):
            raise ValueError(f"socket_timeout must be a finite number of seconds > 0, got {socket_timeout!r}")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be an integer >= 0, got {max_body_bytes!r}")
        self.socket_timeout = float(socket_timeout)
        self.max_body_bytes = max_body_bytes
        self.options = EmulatorOptions(
            tokens=tokens,
            seed=seed,
            crowd=crowd,
            accuracy=(float(low), float(high)),
            spammers=float(spammers),
            speed=float(speed),
            truth=truth,
            balance=Decimal(str(balance)),
            faults=faults,
            latency_ms=float(latency_ms),
            host=host,
            port=port,
            operation_delay=operation_delay,
        )
        self.verbose = verbose
        self.state = State(self.options)
        self.faults = FaultInjector(seed)
        self.faults.configure(faults)
        self._auth_values = frozenset(f"{scheme} {token}" for token in tokens for scheme in ("ApiKey", "OAuth"))
        self._latency = float(latency_ms) / 1000.0
        self._counter_lock = threading.Lock()
        self.router = Router()
        for module in ROUTE_MODULES:
            module.register(self.router, self.state)
        control.register(self.router, self)
        self.crowd: Crowd | None = None
        self._services: list[Any] = []
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> TolokaEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _HTTPServer((self.options.host, self.options.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="toloka-emulator", daemon=True
        )
        self._thread.start()
        self.crowd = Crowd(self.state, self.options)
        self.crowd.start()
        # Webhook delivery runs in the background: started here, stopped in stop().
        self._services = [webhooks.start_service(self.state)]
        return self

    def stop(self) -> None:
        for service in self._services:
            service.stop()
        self._services = []
        if self.crowd is not None:
            self.crowd.stop()
            self.crowd = None
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TolokaEmulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- handles
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def token(self) -> str:
        return self.options.tokens[0]

    @property
    def open_connections(self) -> int:
        """Connections being served right now (each holds one thread); 0 when stopped."""
        return self._server.open_connections if self._server is not None else 0

    def counters(self) -> dict:
        snapshot = self.state.counters_snapshot()
        snapshot["faults_injected"] = self.faults.describe()["injected"]
        return snapshot

    def set_faults(self, spec_or_dict: str | dict | None, paths: list[str] | None = None, methods: list[str] | None = None) -> None:
        self.faults.configure(spec_or_dict, paths, methods)

    def clear_faults(self) -> None:
        self.faults.clear()

    def revoke_token(self, token: str) -> None:
        """Stop accepting ``token`` (both schemes): its next requests get 401, as a revoked key does."""
        self._auth_values = self._auth_values - {f"ApiKey {token}", f"OAuth {token}"}

    def grant_token(self, token: str) -> None:
        """Accept ``token`` from now on, besides those given at start."""
        self._auth_values = self._auth_values | {f"ApiKey {token}", f"OAuth {token}"}

    def pause_crowd(self) -> None:
        if self.crowd is not None:
            self.crowd.pause()

    def resume_crowd(self) -> None:
        if self.crowd is not None:
            self.crowd.resume()

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def bulk_load_assignments(self, pool_id: str, n: int, status: str = "SUBMITTED") -> dict:
        """The crowd adds ``n`` synthetic assignments to a pool at once (benchmarks, tests)."""
        return self._crowd().bulk_load(pool_id, n, status)

    def worker_writes(self, user_id: str, body: dict) -> dict:
        """A worker of the crowd writes to the requester; returns the message thread."""
        return self._crowd().worker_writes(user_id, body)

    def _crowd(self) -> Crowd:
        if self.crowd is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        return self.crowd

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"TolokaEmulator({where})"

    # ------------------------------------------------------------------------------------- serving
    def _count(self, method: str, template: str, status: int | str) -> None:
        key = f"{method} {template} {status}"
        with self._counter_lock:
            self.state.requests[key] += 1

    def serve(self, handler: _RequestHandler, method: str) -> None:
        path, _, query_string = handler.path.partition("?")
        request_id = uuid.uuid4().hex
        try:
            raw_body = self._read_body(handler, method)
        except ApiError as exc:
            self._count(method, "(http)", exc.status)
            self._send(handler, exc.status, dumps(exc.body(request_id)), "application/json", request_id)
            return
        # HEAD is GET without the body (``_send`` drops it); any other method is unknown here.
        resolved = self.router.resolve("GET" if method == "HEAD" else method, path)
        if resolved is None:
            allowed = self.router.allowed_methods(path)
            if allowed or method not in _KNOWN_METHODS:
                where = f" on {_clip(path)}" if allowed else ""
                error = ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed{where}")
                extra = {"Allow": ", ".join(allowed)} if allowed else None
            else:
                error = ApiError(404, "DOES_NOT_EXIST", f"No such endpoint: {method} {_clip(path)}")
                extra = None
            self._count(method, "(unmatched)", error.status)
            self._send(handler, error.status, dumps(error.body(request_id)), "application/json", request_id, extra)
            return
        route, params = resolved
        template = route.template
        if route.auth:
            if self._latency:
                time.sleep(self._latency)
            if handler.headers.get("Authorization", "").strip() not in self._auth_values:
                error = ApiError(401, "AUTHENTICATION_ERROR", "Missing or invalid Authorization header (expected 'ApiKey <token>' or 'OAuth <token>')")
                self._count(method, template, 401)
                self._send(handler, 401, dumps(error.body(request_id)), "application/json", request_id)
                return
            fault = self.faults.pick(method, path)
            if fault is not None and fault != "lost":
                self._count(method, template, f"fault:{fault}")
                self._send_fault(handler, fault, request_id)
                return
        else:
            fault = None
        status, content, content_type, headers = self._call(
            route, method, path, params, query_string, raw_body, handler, request_id
        )
        self._count(method, template, status)
        if fault == "lost":
            # The effect happened; the answer is lost on the way.
            handler.close_connection = True
            return
        self._send(handler, status, content, content_type, request_id, headers)

    def _read_body(self, handler: _RequestHandler, method: str) -> bytes:
        """The request body, framed by ``Content-Length`` only; ApiError for anything else.

        When the body is left unread (refused before reading it) the connection is closed after the answer,
        since what follows on it is not a request."""
        headers = handler.headers
        encodings = headers.get_all("Transfer-Encoding")
        lengths = headers.get_all("Content-Length")
        if encodings:
            handler.close_connection = True
            if lengths:
                raise ApiError(400, "BAD_REQUEST", "A request must not have both Transfer-Encoding and Content-Length")
            if any("chunked" in value.lower() for value in encodings):
                raise ApiError(411, "LENGTH_REQUIRED", "Chunked request bodies are not supported: send Content-Length")
            raise ApiError(400, "BAD_REQUEST", f"Unsupported Transfer-Encoding {_clip(', '.join(encodings), 60)!r}")
        if not lengths:
            return b""
        values = {value.strip() for value in lengths}
        value = values.pop()
        if values or not _CONTENT_LENGTH_RE.fullmatch(value):
            handler.close_connection = True
            raise ApiError(400, "BAD_REQUEST", f"Bad Content-Length {_clip(', '.join(lengths), 60)!r}")
        if len(value) > 18 or int(value) > self.max_body_bytes:
            handler.close_connection = True
            raise ApiError(
                413, "PAYLOAD_TOO_LARGE", f"The body is {_clip(value, 40)} bytes; at most {self.max_body_bytes} are accepted"
            )
        length = int(value)
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:
            handler.close_connection = True
            raise ApiError(400, "BAD_REQUEST", f"The body ended after {len(body)} of its {length} bytes")
        if body and method in ("GET", "HEAD"):
            raise ApiError(400, "BAD_REQUEST", f"A {method} request carries no body (got {length} bytes)")
        return body

    def _call(
        self, route, method, path, params, query_string, raw_body, handler, request_id
    ) -> tuple[int, bytes, str | None, dict | None]:
        """Run the handler and encode its answer: (status, content, content type, headers). Never raises."""
        try:
            body = None
            if raw_body.strip():
                _check_content_type(handler.headers.get("Content-Type"))
                body = parse_json_body(raw_body)
            query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
            request = Request(method, path, params, query, body, raw_body, handler.headers, route, self.state)
            result = route.handler(request)
            status, payload = result[0], result[1]
            headers = result[2] if len(result) > 2 else None
            if payload is None:
                return status, b"", None, headers
            if isinstance(payload, RawResponse):
                return status, payload.content, payload.content_type, headers
            # Encoded here, so that an answer that cannot be encoded is a 500 like any other handler bug.
            return status, dumps(payload), "application/json", headers
        except ApiError as exc:
            return exc.status, dumps(exc.body(request_id)), "application/json", None
        except Exception:
            log.exception("emulator handler for %s %s failed", method, route.template)
            error = ApiError(500, "INTERNAL_ERROR", "The emulator failed to handle the request")
            return 500, dumps(error.body(request_id)), "application/json", None

    def _send_fault(self, handler: _RequestHandler, fault: str, request_id: str) -> None:
        if fault == "drop":
            handler.close_connection = True
            return
        if fault == "502":
            self._send(handler, 502, _BAD_GATEWAY_HTML, "text/html", request_id)
            return
        if fault == "500":
            error = ApiError(500, "INTERNAL_ERROR", "Injected fault: internal error")
            self._send(handler, 500, dumps(error.body(request_id)), "application/json", request_id)
        elif fault == "503":
            error = ApiError(503, "REMOTE_SERVICE_UNAVAILABLE", "Injected fault: service unavailable")
            self._send(handler, 503, dumps(error.body(request_id)), "application/json", request_id)
        elif fault == "429":
            error = ApiError(429, "TOO_MANY_REQUESTS", "Injected fault: too many requests")
            self._send(handler, 429, dumps(error.body(request_id)), "application/json", request_id, {"Retry-After": "1"})
        elif fault == "429quota":
            error = ApiError(429, "TOO_MANY_REQUESTS", "Injected fault: quota exceeded for the minute", {"interval": "MIN"})
            self._send(handler, 429, dumps(error.body(request_id)), "application/json", request_id)

    @staticmethod
    def _send(
        handler: _RequestHandler,
        status: int,
        content: bytes,
        content_type: str | None,
        request_id: str,
        headers: dict | None = None,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Length: {len(content)}", f"X-Request-Id: {request_id}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        if headers:
            lines.extend(f"{name}: {value}" for name, value in headers.items())
        if handler.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if handler.command == "HEAD":
            content = b""
        handler.responded = True
        handler.wfile.write(head + content if len(content) < 65536 else head)
        if len(content) >= 65536:
            handler.wfile.write(content)


def _check_content_type(value: str | None) -> None:
    """A body is JSON: refuse one declared as something else (a form post, text). No header is fine."""
    if value is None:
        return
    media = value.split(";", 1)[0].strip().lower()
    if media in ("", "application/json", "text/json") or media.endswith("+json"):
        return
    raise ApiError(
        415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {_clip(value, 80)!r} is not supported: send application/json"
    )


__all__ = ["TolokaEmulator"]
