"""The emulator's HTTP/1.1 server and :class:`TolokaEmulator`, the in-process handle on it.

One thread per connection (``ThreadingHTTPServer``, daemon threads, a deep listen queue), keep-alive with
``Content-Length`` on every answer, JSON bodies. Per request: route lookup, auth, fault draw, JSON parse,
handler, counters; nothing is logged per request unless ``verbose``.

    with TolokaEmulator(seed=0, crowd=30) as emu:
        requests.get(f"{emu.url}/api/v1/requester", headers={"Authorization": f"ApiKey {emu.token}"})
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from toloka_provider.emulator import aggregation, api_v1, bulk, control
from toloka_provider.emulator.errors import ApiError
from toloka_provider.emulator.faults import FaultInjector
from toloka_provider.emulator.router import RawResponse, Request, Router
from toloka_provider.emulator.state import EmulatorOptions, State

log = logging.getLogger(__name__)

# Modules of this package that add routes and the crowd, when they exist (written separately).
PLUGIN_MODULES = ("crowd", "analytics", "apps", "quality", "messages", "webhooks", "export", "project_check")

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}
_BAD_GATEWAY_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    b"<hr><center>nginx</center></body></html>"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Built once: no whitespace, no circularity bookkeeping (our bodies are trees), UTF-8 as is.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_default)


def dumps(body: Any) -> bytes:
    return _ENCODER.encode(body).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: TolokaEmulator) -> None:
        self.app = app
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer is normal under load and with faults; do not print tracebacks.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TolokaEmulator/1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            log.info("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.server.app.serve(self, "GET")

    def do_POST(self) -> None:
        self.server.app.serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.app.serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.app.serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.app.serve(self, "DELETE")


class TolokaEmulator:
    """A Toloka-compatible server on loopback, in a background thread. Use as a context manager.

    Arguments are those of ``python -m toloka_provider.emulator``: ``tokens`` accepted in
    ``Authorization: ApiKey|OAuth <token>``; ``seed`` for every random choice; ``crowd`` workers with
    accuracies drawn from ``accuracy`` (lo, hi), a ``spammers`` fraction answering at random, ``speed``
    assignments per second; ``truth`` file of correct answers; starting ``balance`` in USD; ``faults`` spec
    (see ``faults.py``); ``latency_ms`` added to every API request; ``host``/``port`` (0 = a free port).
    ``operation_delay`` is how long operations take to finish (seconds); ``verbose`` logs each request.
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
        api_v1.register(self.router, self.state)
        bulk.register(self.router, self.state)
        aggregation.register(self.router, self.state)
        control.register(self.router, self)
        self.crowd: Any = None
        self._plugins: dict[str, Any] = {}
        for name in PLUGIN_MODULES:
            module = _import_plugin(name)
            if module is not None:
                self._plugins[name] = module
                if hasattr(module, "register"):
                    module.register(self.router, self.state)
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
        crowd_module = self._plugins.get("crowd")
        if crowd_module is not None and hasattr(crowd_module, "Crowd"):
            self.crowd = crowd_module.Crowd(self.state, self.options)
            self.crowd.start()
        # Background services of plugins (webhook delivery): started here, stopped in stop().
        self._services = [module.start_service(self.state) for module in self._plugins.values() if hasattr(module, "start_service")]
        return self

    def stop(self) -> None:
        for service in getattr(self, "_services", ()):
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
        return control.bulk_load_assignments(self.state, pool_id, n, status)

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"TolokaEmulator({where})"

    # ------------------------------------------------------------------------------------- serving
    def _count(self, method: str, template: str, status: int | str) -> None:
        key = f"{method} {template} {status}"
        with self._counter_lock:
            self.state.requests[key] += 1

    def serve(self, handler: _RequestHandler, method: str) -> None:
        raw_path = handler.path
        path, _, query_string = raw_path.partition("?")
        length = handler.headers.get("Content-Length")
        raw_body = handler.rfile.read(int(length)) if length else b""
        request_id = uuid.uuid4().hex
        resolved = self.router.resolve(method, path)
        if resolved is None:
            if self.router.has_path(path):
                error = ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}")
            else:
                error = ApiError(404, "DOES_NOT_EXIST", f"No such endpoint: {method} {path}")
            self._count(method, "(unmatched)", error.status)
            self._send(handler, error.status, dumps(error.body(request_id)), "application/json", request_id)
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
        status, payload, headers = self._call(route, method, path, params, query_string, raw_body, handler, request_id)
        self._count(method, template, status)
        if fault == "lost":
            # The effect happened; the answer is lost on the way.
            handler.close_connection = True
            return
        if payload is None:
            self._send(handler, status, b"", None, request_id, headers)
        elif isinstance(payload, RawResponse):
            self._send(handler, status, payload.content, payload.content_type, request_id, headers)
        else:
            self._send(handler, status, dumps(payload), "application/json", request_id, headers)

    def _call(self, route, method, path, params, query_string, raw_body, handler, request_id) -> tuple[int, Any, dict | None]:
        try:
            body = None
            if raw_body.strip():
                try:
                    body = json.loads(raw_body)
                except ValueError as error:
                    raise ApiError(400, "VALIDATION_ERROR", f"The request body is not valid JSON: {error}") from None
            query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
            request = Request(method, path, params, query, body, raw_body, handler.headers, route, self.state)
            result = route.handler(request)
            if len(result) == 2:
                return result[0], result[1], None
            return result[0], result[1], result[2]
        except ApiError as error:
            return error.status, error.body(request_id), None
        except Exception:
            log.exception("emulator handler for %s %s failed", method, route.template)
            return 500, ApiError(500, "INTERNAL_ERROR", "The emulator failed to handle the request").body(request_id), None

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
        handler.wfile.write(head + content if len(content) < 65536 else head)
        if len(content) >= 65536:
            handler.wfile.write(content)


def _import_plugin(name: str) -> Any:
    module_name = f"toloka_provider.emulator.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise


__all__ = ["TolokaEmulator"]
