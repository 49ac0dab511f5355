"""Test harness: drive TolokaClient and AsyncTolokaClient against the same scripted fake server.

Sync: the ``responses`` library intercepts ``requests``. Async: an ``httpx.MockTransport`` passed to the
client (``transport=``). Both hand every request to one ``ScriptedServer``, which records it and answers
from a queue, so the same case runs unchanged over both transports.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import socket
import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import requests
import responses

from toloka_provider.client import AsyncTolokaClient, TolokaClient

BASE_URL = "https://toloka.test"
TOKEN = "secret-oauth-token-XYZ"
CONNECTION_ERROR = object()  # a scripted reply meaning "the connection failed"


class ScriptedServer:
    def __init__(self) -> None:
        self.replies: deque = deque()
        self.calls: list[dict[str, Any]] = []

    def reply(self, status: int = 200, body: Any = None, headers: dict | None = None, raw: bytes | None = None):
        self.replies.append((status, raw if raw is not None else (b"" if body is None else json.dumps(body).encode()), headers or {}))
        return self

    def fail_connection(self):
        self.replies.append(CONNECTION_ERROR)
        return self

    def handle(self, method: str, url: str, body: bytes | None, headers: dict[str, str]):
        parts = urlsplit(url)
        self.calls.append(
            {
                "method": method,
                "path": parts.path,
                "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                "body": json.loads(body) if body else None,
                "headers": headers,
            }
        )
        if not self.replies:
            raise AssertionError(f"unexpected request {method} {url}")
        return self.replies.popleft()

    def requests_made(self) -> list[tuple]:
        return [(call["method"], call["path"], call["query"], call["body"]) for call in self.calls]


class Harness:
    """``harness.call("get_pool", "1")`` runs the method on the sync or the async client and returns the result
    (iterators are drained into lists)."""

    def __init__(self, mode: str, server: ScriptedServer, **client_kwargs: Any) -> None:
        self.mode = mode
        self.server = server
        self.sleeps: list[float] = []
        self.now = 0.0
        self.client_kwargs = client_kwargs
        self._responses: responses.RequestsMock | None = None

    # clock and sleep shared by both modes: sleeping advances the fake clock
    def _clock(self) -> float:
        return self.now

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def _asleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def make_client(self, **overrides: Any):
        kwargs = {"url": BASE_URL, "clock": self._clock, **self.client_kwargs, **overrides}
        if self.mode == "sync":
            return TolokaClient(TOKEN, sleep=self._sleep, **kwargs)
        return AsyncTolokaClient(TOKEN, sleep=self._asleep, transport=httpx.MockTransport(self._httpx_handler), **kwargs)

    # ---- sync plumbing ----
    def __enter__(self) -> Harness:
        if self.mode == "sync":
            self._responses = responses.RequestsMock(assert_all_requests_are_fired=False)
            self._responses.__enter__()
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                self._responses.add_callback(method, re.compile(re.escape(BASE_URL) + r"/.*"), callback=self._responses_callback)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._responses is not None:
            self._responses.__exit__(None, None, None)

    def _responses_callback(self, request: requests.PreparedRequest):
        body = request.body.encode() if isinstance(request.body, str) else request.body
        reply = self.server.handle(request.method, request.url, body, dict(request.headers))
        if reply is CONNECTION_ERROR:
            raise requests.exceptions.ConnectionError("connection refused")
        status, content, headers = reply
        return status, headers, content

    def _httpx_handler(self, request: httpx.Request) -> httpx.Response:
        reply = self.server.handle(request.method, str(request.url), request.content, dict(request.headers))
        if reply is CONNECTION_ERROR:
            raise httpx.ConnectError("connection refused", request=request)
        status, content, headers = reply
        return httpx.Response(status, content=content, headers=headers)

    # ---- calling ----
    def call(self, name: str, /, *args: Any, client=None, **kwargs: Any) -> Any:
        # ``name`` is positional-only: some methods take a ``name`` filter (find_skills, patch_app_batch).
        client = client or self.make_client()
        if self.mode == "sync":
            result = getattr(client, name)(*args, **kwargs)
            return list(result) if inspect.isgenerator(result) else result

        async def run() -> Any:
            async with client:
                result = getattr(client, name)(*args, **kwargs)
                if inspect.isasyncgen(result):
                    return [item async for item in result]
                return await result

        return asyncio.run(run())


class SocketServer:
    """An HTTP server written on raw sockets on 127.0.0.1 (a free port), one thread per connection: subclasses
    answer in ``_handle(conn)`` byte by byte, which ``http.server`` cannot do wrong on purpose. Stops on exit."""

    def __init__(self) -> None:
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.listener.close()

    def _serve(self) -> None:
        workers = []
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(5)

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError
