"""Every wait is bounded: server wait hints are clamped to ``max_retry_after``, retries and backoff are capped,
and a drip-feeding or endless server cannot hold one attempt much past its ``timeout``.

The deadline tests run a real, tiny hostile HTTP server on 127.0.0.1 (a thread with a raw socket), on both
clients; their time bounds are generous (seconds, not milliseconds), so they do not depend on timing luck.
"""

from __future__ import annotations

import asyncio
import email.utils
import pickle
import socket
import time

import pytest
from client_harness import TOKEN, Harness, ScriptedServer, SocketServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import (
    ApiError,
    TolokaArgumentError,
    TooManyRequestsApiError,
    TransportError,
)
from toloka_provider.client.protocol import Response
from toloka_provider.client.retry import MAX_RETRIES, RetryPolicy, parse_retry_after

POOL = {"id": "21", "project_id": "1", "status": "OPEN"}


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def too_many(**payload) -> dict:
    return {"code": "TOO_MANY_REQUESTS", "message": "slow down", "payload": payload or None}


# ---------------------------------------------------------------------------------------------- Retry-After


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        ("301", 301.0),
        ("1e9", 1e9),
        ("inf", float("inf")),
        ("1e400", float("inf")),
        ("Infinity", float("inf")),
    ],
)
def test_a_retry_after_above_max_retry_after_raises_at_once_with_the_hint(mode, header, hint):
    server = ScriptedServer().reply(429, too_many(), headers={"Retry-After": header}).reply(200, POOL)
    with Harness(mode, server) as harness, pytest.raises(TooManyRequestsApiError) as caught:
        harness.call("get_pool", "21")
    assert harness.sleeps == [] and len(server.calls) == 1
    error = caught.value
    assert error.retry_after == hint and error.status_code == 429
    assert "more than the client's max_retry_after" in str(error) and "GET /api/v1/pools/21" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.retry_after == hint and str(copy) == str(error)


def test_a_retry_after_http_date_far_ahead_raises_and_a_near_one_is_slept(mode):
    server = ScriptedServer().reply(503, raw=b"", headers={"Retry-After": http_date(10 * 86400)})
    with Harness(mode, server) as harness, pytest.raises(ApiError) as caught:
        harness.call("get_pool", "21")
    assert type(caught.value) is ApiError and caught.value.status_code == 503
    assert harness.sleeps == [] and caught.value.retry_after > 9 * 86400

    server = ScriptedServer().reply(503, raw=b"", headers={"Retry-After": http_date(30)}).reply(200, POOL)
    with Harness(mode, server) as harness:
        harness.call("get_pool", "21")
    assert len(harness.sleeps) == 1 and 25 <= harness.sleeps[0] <= 30


@pytest.mark.parametrize("header", ["nan", "-5", "garbage", "Wed, 99 Foo 2015 07:28:10 GMT", "1" * 1000, ""])
def test_odd_retry_after_values_fall_back_to_bounded_waits(mode, header):
    server = ScriptedServer().reply(429, too_many(), headers={"Retry-After": header}).reply(200, POOL)
    with Harness(mode, server) as harness:
        assert harness.call("get_pool", "21").id == "21"
    assert len(harness.sleeps) == 1 and 0 <= harness.sleeps[0] <= 1.0  # "now" or the first backoff step


def test_max_retry_after_is_a_constructor_argument_and_raises_the_bound(mode):
    server = ScriptedServer().reply(429, too_many(), headers={"Retry-After": "600"}).reply(200, POOL)
    with Harness(mode, server, max_retry_after=900) as harness:
        harness.call("get_pool", "21")
    assert harness.sleeps == [600.0]

    server = ScriptedServer().reply(429, too_many(), headers={"Retry-After": "2"})
    with (
        Harness(mode, server, max_retry_after=1) as harness,
        pytest.raises(TooManyRequestsApiError) as caught,
    ):
        harness.call("get_pool", "21")
    assert caught.value.retry_after == 2.0 and harness.sleeps == []


def test_a_quota_interval_longer_than_max_retry_after_is_not_slept(mode):
    server = ScriptedServer().reply(429, too_many(interval="HOUR")).reply(200, POOL)
    with (
        Harness(mode, server, retry_quotas=["MIN", "HOUR"]) as harness,
        pytest.raises(TooManyRequestsApiError) as caught,
    ):
        harness.call("get_pool", "21")
    assert caught.value.retry_after == 3600.0 and harness.sleeps == [] and len(server.calls) == 1


def test_a_429_without_a_json_body_is_still_too_many_requests(mode):
    server = ScriptedServer().reply(429, raw=b"<html>rate limited</html>", headers={"Retry-After": "86400"})
    with Harness(mode, server) as harness, pytest.raises(TooManyRequestsApiError) as caught:
        harness.call("get_pool", "21")
    assert caught.value.retry_after == 86400.0 and "rate limited" in str(caught.value)


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "300", True])
def test_a_bad_max_retry_after_is_refused(value):
    for client_class in (TolokaClient, AsyncTolokaClient):
        with pytest.raises(TolokaArgumentError, match="max_retry_after"):
            client_class(TOKEN, url="http://127.0.0.1:9", max_retry_after=value)


def test_parse_retry_after_never_raises():
    assert parse_retry_after("inf") == float("inf")
    assert parse_retry_after("nan") is None and parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 -0000", now=1445412480.0) == 10.0  # naive = UTC
    for junk in ("Mon, 32 Foo 99999 99:99:99 GMT", "\x00", "1" * 1000, "Tue, 01 Jan 10000 00:00:00 GMT"):
        parse_retry_after(junk)


def test_retries_and_backoff_are_bounded():
    with pytest.raises(TolokaArgumentError, match=f"at most {MAX_RETRIES}"):
        TolokaClient(TOKEN, url="http://127.0.0.1:9", retries=10**9)
    policy = RetryPolicy(total=MAX_RETRIES, backoff_factor=1e6, backoff_cap=1e9, max_retry_after=120)
    assert all(policy.backoff(n) <= 120 for n in (0, 10, 99, 10**6))
    for field in ("backoff_factor", "backoff_cap"):
        with pytest.raises(TolokaArgumentError, match=field):
            RetryPolicy(**{field: float("inf")})
    failing = Response(503, b"")
    assert policy.delay_for(failing, MAX_RETRIES) is None

    class Urllib3Like:
        total = 5
        backoff_factor = 10**9
        backoff_max = 10**12
        status_forcelist = None

    client = TolokaClient(TOKEN, url="http://127.0.0.1:9", retries=Urllib3Like(), max_retry_after=30)
    assert all(client._new_retry_policy().backoff(n) <= 30 for n in range(6))


# ---------------------------------------------------------------------------------------------- deadlines


class HostileServer(SocketServer):
    """A raw-socket HTTP server on 127.0.0.1 that misbehaves in one of a few ways, forever, until stopped."""

    def __init__(self, behaviour: str) -> None:
        super().__init__()
        self.behaviour = behaviour

    def _drip(self, conn: socket.socket, data: bytes) -> bool:
        for index in range(len(data)):
            if self.stop.wait(0.2):
                return False
            conn.sendall(data[index : index + 1])
        return True

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(0.5)
            try:
                conn.recv(65536)  # the request (small GETs fit in one read)
            except OSError:
                pass
            if self.behaviour == "drip-headers":
                # The status line and then header bytes, one per 0.2 s, forever.
                self._drip(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000)
            elif self.behaviour == "drip-body":
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
                conn.sendall(head)
                self._drip(conn, b'{"id": "21", "x": "' + b"a" * 1_000_000)
            elif self.behaviour == "endless-chunked":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                conn.sendall(b'13\r\n{"id": "21", "x": "\r\n')
                chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
                while not self.stop.wait(0.01):
                    conn.sendall(chunk)
        except OSError:
            pass  # the client cut the connection: that is the point
        finally:
            conn.close()


def run_client(mode: str, url: str, **kwargs):
    if mode == "sync":
        with TolokaClient(TOKEN, url=url, **kwargs) as client:
            return client.get_pool("21")

    async def go():
        async with AsyncTolokaClient(TOKEN, url=url, **kwargs) as client:
            return await client.get_pool("21")

    return asyncio.run(go())


@pytest.mark.parametrize("behaviour", ["drip-headers", "drip-body", "endless-chunked"])
def test_a_hostile_server_cannot_hold_an_attempt_past_its_timeout(mode, behaviour):
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            run_client(mode, server.url, timeout=1, retries=0)
        elapsed = time.monotonic() - started
    assert elapsed < 5, f"one attempt took {elapsed:.1f} s with timeout=1"
    error = caught.value
    assert error.method == "GET" and error.path == "/api/v1/pools/21" and error.attempts == 1
    assert "within the total timeout of 1 s per attempt" in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)


def test_each_retry_gets_its_own_bounded_attempt(mode):
    with HostileServer("drip-body") as server:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            run_client(
                mode,
                server.url,
                timeout=1,
                retries=1,
                retryer_factory=lambda: RetryPolicy(total=1, backoff_factor=0.01),
            )
        elapsed = time.monotonic() - started
    assert caught.value.attempts == 2 and server.connections == 2
    assert elapsed < 8, f"two attempts took {elapsed:.1f} s with timeout=1"


def test_a_connect_read_pair_bounds_the_attempt_by_their_sum(mode):
    with HostileServer("drip-headers") as server:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"total timeout of 1\.5 s"):
            run_client(mode, server.url, timeout=(0.5, 1.0), retries=0)
    assert time.monotonic() - started < 6


def test_an_endless_stream_is_cut_off_at_the_size_limit_too(mode, monkeypatch):
    from toloka_provider.client import protocol

    monkeypatch.setattr(protocol, "MAX_RESPONSE_BYTES", 20_000)
    with HostileServer("endless-chunked") as server:
        started = time.monotonic()
        with pytest.raises(TransportError, match="the body exceeds 20000 bytes"):
            run_client(mode, server.url, timeout=30, retries=0)
    assert time.monotonic() - started < 10  # long before the 30 s deadline
