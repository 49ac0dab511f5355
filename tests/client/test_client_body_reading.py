"""How both clients read an answer's body off a real socket: exact bytes whatever the framing, the size limit
before reading a body whose length is declared too long, and on the decoded size of a compressed one.

A raw-socket HTTP/1.1 server on 127.0.0.1 (a thread) answers each request with the next scripted bytes, over
keep-alive connections. Time bounds are generous (seconds): they fail only when a body is waited for that should
have been refused.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time

import pytest
from client_harness import TOKEN, SocketServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient, protocol
from toloka_provider.client.errors import TransportError

POOL = {"id": "21", "project_id": "1", "status": "OPEN", "private_name": "p"}


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


class Closing(bytes):
    """An answer after which the server closes the connection."""


class RawServer(SocketServer):
    """Answers the n-th request with ``answers[n]``: raw bytes; ``Closing(bytes)`` then closes the connection;
    ``None`` holds the connection open, silent."""

    def __init__(self, *answers: bytes | Closing | None) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[bytes] = []

    def _read_request(self, conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                if self.stop.is_set():
                    return None
                continue
            if not chunk:
                return None
            data += chunk
        return data

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        try:
            while not self.stop.is_set():
                request = self._read_request(conn)
                if request is None or not self.answers:
                    return
                self.requests.append(request)
                answer = self.answers.pop(0)
                if answer is None:
                    self.stop.wait(30)  # silent until the test ends
                    return
                conn.sendall(answer)
                if isinstance(answer, Closing):
                    return
        except OSError:
            pass
        finally:
            conn.close()


def answer(body: bytes, *, headers: dict[str, str] | None = None, length: int | None = None) -> bytes:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body) if length is None else length)}
    head.update(headers or {})
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    return f"HTTP/1.1 200 OK\r\n{lines}\r\n".encode() + body


def chunked(body: bytes, piece: int = 1000) -> bytes:
    framed = b"".join(
        f"{len(body[i : i + piece]):x}\r\n".encode() + body[i : i + piece] + b"\r\n" for i in range(0, len(body), piece)
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + framed + b"0\r\n\r\n"


def get_pools(mode: str, url: str, count: int, **kwargs) -> list:
    if mode == "sync":
        with TolokaClient(TOKEN, url=url, **kwargs) as client:
            return [client.get_pool("21") for _ in range(count)]

    async def go() -> list:
        async with AsyncTolokaClient(TOKEN, url=url, **kwargs) as client:
            return [await client.get_pool("21") for _ in range(count)]

    return asyncio.run(go())


def big_pool(size: int) -> dict:
    return {**POOL, "public_description": "x" * size}


def test_bodies_of_declared_length_come_back_exact_over_one_kept_alive_connection(mode):
    # A small one, one larger than a socket read and than the old 1 MiB chunk, and an empty string field.
    pools = [POOL, big_pool(3 * 1024 * 1024 + 17), {**POOL, "private_name": ""}]
    with RawServer(*(answer(json.dumps(pool).encode()) for pool in pools)) as server:
        got = get_pools(mode, server.url, 3, timeout=30, retries=0)
    assert [pool.to_json_dict() for pool in got] == pools
    assert server.connections == 1 and len(server.requests) == 3


def test_chunked_bodies_come_back_exact(mode):
    pool = big_pool(200_000)
    with RawServer(chunked(json.dumps(pool).encode()), answer(json.dumps(POOL).encode())) as server:
        got = get_pools(mode, server.url, 2, timeout=30, retries=0)
    assert [got[0].to_json_dict(), got[1].to_json_dict()] == [pool, POOL]
    assert server.connections == 1


def test_a_body_declared_longer_than_the_limit_is_refused_without_waiting_for_it(mode, monkeypatch):
    # The server declares 5,000 bytes, sends none of them and stays silent: refusing must not wait for the body.
    monkeypatch.setattr(protocol, "MAX_RESPONSE_BYTES", 1000)
    head_only = answer(b"", length=5000)
    with RawServer(head_only) as server:
        started = time.monotonic()
        with pytest.raises(TransportError, match="the body exceeds 1000 bytes") as caught:
            get_pools(mode, server.url, 1, timeout=30, retries=0)
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"refusing took {elapsed:.1f} s: the body was waited for"
    assert caught.value.attempts == 1 and TOKEN not in str(caught.value)


def test_a_body_of_exactly_the_limit_is_read(mode, monkeypatch):
    body = json.dumps(POOL).encode()
    monkeypatch.setattr(protocol, "MAX_RESPONSE_BYTES", len(body))
    with RawServer(answer(body)) as server:
        assert get_pools(mode, server.url, 1, timeout=30, retries=0)[0].id == "21"


def test_a_compressed_body_is_bounded_by_its_decoded_size(mode, monkeypatch):
    # 200 bytes on the wire, 50 KB once decoded: the limit is on what the client would hold.
    monkeypatch.setattr(protocol, "MAX_RESPONSE_BYTES", 20_000)
    packed = gzip.compress(json.dumps(big_pool(50_000)).encode())
    assert len(packed) < 20_000
    server = RawServer(answer(packed, headers={"Content-Encoding": "gzip"}))
    with server, pytest.raises(TransportError, match="the body exceeds 20000 bytes"):
        get_pools(mode, server.url, 1, timeout=30, retries=0)


def test_a_compressed_body_within_the_limit_comes_back_decoded(mode):
    pool = big_pool(100_000)
    packed = gzip.compress(json.dumps(pool).encode())
    with RawServer(answer(packed, headers={"Content-Encoding": "gzip"})) as server:
        got = get_pools(mode, server.url, 1, timeout=30, retries=0)
    assert got[0].to_json_dict() == pool


def test_a_body_cut_short_of_its_declared_length_is_a_transport_failure_then_retried(mode):
    # The first answer declares 1,000 bytes more than it sends and the server closes: never a truncated body.
    body = json.dumps(POOL).encode()
    server = RawServer(Closing(answer(body, length=len(body) + 1000)))
    with server, pytest.raises(TransportError) as caught:
        get_pools(mode, server.url, 1, timeout=30, retries=0)
    assert caught.value.attempts == 1 and TOKEN not in str(caught.value)
    with RawServer(Closing(answer(body, length=len(body) + 1000)), answer(body)) as server:
        assert get_pools(mode, server.url, 1, timeout=30, retries=1)[0].to_json_dict() == POOL
    assert server.connections == 2 and len(server.requests) == 2


def test_declared_length_reads_only_bodies_sent_as_is():
    assert protocol.declared_length("123", None) == 123
    assert protocol.declared_length(" 0 ", "identity") == 0
    assert protocol.declared_length("123", "IDENTITY ") == 123
    assert protocol.declared_length("123", "gzip") is None
    assert protocol.declared_length(None, None) is None
    for bad in ("", "-1", "1e3", "12, 12", "١٢", "0x10"):
        assert protocol.declared_length(bad, None) is None, bad
