"""Timeouts: a server that accepts connections and never answers makes a request fail, never hang.

``SilentServer`` is a raw socket on 127.0.0.1 that accepts every connection, reads nothing and answers
nothing, and stops itself (after the test, or after ``MAX_LIFETIME`` seconds at the latest). Against it both
clients, and the hook with the timeout and retries from the connection's extras, must raise
``TransportError`` after ``retries + 1`` attempts of ``timeout`` seconds each, naming the request (method and
path), the timeout and the number of attempts, well inside the bound ``attempts * timeout + backoff + slack``.
Backoff sleeps are injected (recorded, not slept) where the client is built directly; through the hook
they are real (one backoff of 0.5-1 s).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
from rel_a_harness import TOKEN

from toloka_provider.client import AsyncTolokaClient, TolokaClient, TransportError

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(60)]

TIMEOUT = 0.3
RETRIES = 2
MAX_LIFETIME = 30.0
SLACK = 2.0  # scheduling on a busy machine; a hang would be far beyond it
BACKOFF_1 = 1.0  # the client's first backoff is 0.5-1 s (slept for real through the hook)


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and holds them open without reading or answering."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        deadline = time.monotonic() + MAX_LIFETIME  # stops by itself even if the test never calls stop()
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.accepted += 1
            self._held.append(connection)
        for connection in self._held:
            connection.close()
        self._socket.close()

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def silent_server():
    with SilentServer() as server:
        yield server


def _assert_names_endpoint_timeout_and_attempts(error: TransportError, path: str, attempts: int) -> None:
    message = str(error)
    assert error.method == "GET" and error.path == path and error.attempts == attempts
    assert message.startswith(f"GET {path} failed: ReadTimeout: ")
    assert f"{TIMEOUT}" in message  # "read timeout=0.3" (requests) / "read timeout of 0.3 s" (httpx)
    assert message.endswith(f"(after {attempts} attempts)")
    assert TOKEN not in message


def test_sync_client_gives_up_after_timeout_and_retries(silent_server):
    sleeps: list[float] = []
    client = TolokaClient(TOKEN, url=silent_server.url, timeout=TIMEOUT, retries=RETRIES, sleep=sleeps.append)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.get_pool("7")
    elapsed = time.monotonic() - started
    client.close()

    _assert_names_endpoint_timeout_and_attempts(caught.value, "/api/v1/pools/7", RETRIES + 1)
    assert "Read timed out. (read timeout=0.3)" in str(caught.value)
    assert len(sleeps) == RETRIES  # backoff between attempts, injected
    assert silent_server.accepted == RETRIES + 1  # each attempt opened a new connection (the old one is dead)
    assert (RETRIES + 1) * TIMEOUT <= elapsed < (RETRIES + 1) * TIMEOUT + SLACK


async def test_async_client_gives_up_after_timeout_and_retries(silent_server):
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    started = time.monotonic()
    async with AsyncTolokaClient(
        TOKEN, url=silent_server.url, timeout=TIMEOUT, retries=RETRIES, sleep=record_sleep
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_pool("7")
    elapsed = time.monotonic() - started

    _assert_names_endpoint_timeout_and_attempts(caught.value, "/api/v1/pools/7", RETRIES + 1)
    assert "ReadTimeout: no answer within the read timeout of 0.3 s" in str(caught.value)
    assert len(sleeps) == RETRIES
    assert silent_server.accepted == RETRIES + 1
    assert (RETRIES + 1) * TIMEOUT <= elapsed < (RETRIES + 1) * TIMEOUT + SLACK


def test_many_concurrent_async_requests_all_time_out_without_blocking_each_other(silent_server):
    """20 requests in flight against the silent server end together, after one timeout each, not in series."""

    async def main() -> list[BaseException]:
        async with AsyncTolokaClient(TOKEN, url=silent_server.url, timeout=TIMEOUT, retries=0) as client:
            return await asyncio.gather(*(client.get_pool(str(n)) for n in range(20)), return_exceptions=True)

    started = time.monotonic()
    outcomes = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert all(isinstance(outcome, TransportError) for outcome in outcomes), outcomes
    assert sorted(outcome.path for outcome in outcomes) == sorted(f"/api/v1/pools/{n}" for n in range(20))
    assert elapsed < TIMEOUT + SLACK


def test_hook_uses_the_connections_timeout_and_retries(silent_server, monkeypatch):
    """Through Airflow: extras ``timeout`` and ``retries`` reach both the sync and the async client."""
    from toloka_provider.hooks.toloka import TolokaHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_SILENT",
        json.dumps({"conn_type": "toloka", "host": silent_server.url, "password": TOKEN,
                    "extra": {"timeout": TIMEOUT, "retries": 1}}),
    )
    hook = TolokaHook(toloka_conn_id="toloka_silent")
    client = hook.get_conn()
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        client.get_pool("9")
    sync_elapsed = time.monotonic() - started
    _assert_names_endpoint_timeout_and_attempts(caught.value, "/api/v1/pools/9", 2)
    assert 2 * TIMEOUT <= sync_elapsed < 2 * TIMEOUT + BACKOFF_1 + SLACK

    async def main() -> TransportError:
        async with await hook.get_async_conn() as async_client:
            with pytest.raises(TransportError) as async_caught:
                await async_client.get_pool("9")
            return async_caught.value

    started = time.monotonic()
    error = asyncio.run(main())
    async_elapsed = time.monotonic() - started
    _assert_names_endpoint_timeout_and_attempts(error, "/api/v1/pools/9", 2)
    assert 2 * TIMEOUT <= async_elapsed < 2 * TIMEOUT + BACKOFF_1 + SLACK
    assert silent_server.accepted == 4
