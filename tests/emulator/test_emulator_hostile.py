"""Hostile HTTP against the in-process emulator, over raw sockets (``requests`` refuses to send most of it).

Every case asserts the Toloka JSON error body (``{request_id, code, message}``, never the standard
library's HTML page, never a 500), that a normal request succeeds afterwards, and that no connection thread
is left behind (``open_connections`` drops back to zero once our sockets are closed).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.errors import ApiError
from toloka_provider.emulator.validation import MAX_JSON_DEPTH

pytestmark = pytest.mark.integration

TOKEN = "hostile-token"
AUTH = f"ApiKey {TOKEN}"
PROJECT = {
    "public_name": "Cats or dogs",
    "task_spec": {
        "input_spec": {"image": {"type": "url"}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["cat", "dog"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


@pytest.fixture(scope="module")
def emu():
    # Short socket timeout so that the timeout cases finish quickly; module-wide to keep the file fast.
    emulator = TolokaEmulator(tokens=[TOKEN], crowd=0, socket_timeout=1.0, max_body_bytes=1_000_000)
    emulator.start()
    emulator.router.add("GET", "/_test/boom", _boom, auth=False)
    emulator.router.add("GET", "/_test/unencodable", lambda request: (200, {"x": object()}), auth=False)
    yield emulator
    emulator.stop()


def _boom(request):
    raise KeyError("a bug in a handler")


# ------------------------------------------------------------------------------------------- helpers


def connect(emu: TolokaEmulator, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", emu.port), timeout=timeout)


def read_response(sock: socket.socket, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    return response.status, response.headers, body


def exchange(
    emu: TolokaEmulator, data: bytes, method: str = "GET"
) -> tuple[int, http.client.HTTPMessage, bytes]:
    with connect(emu) as sock:
        sock.sendall(data)
        return read_response(sock, method)


def request_bytes(method: str, target: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {AUTH}"]
    all_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))} if body else {}
    all_headers.update(headers or {})
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_json_error(
    status: int, headers, body: bytes, expected_status: int, code: str | None = None
) -> dict:
    assert status == expected_status, body[:300]
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    error = json.loads(body)
    assert set(error) >= {"request_id", "code", "message"}, error
    assert error["request_id"] == headers["X-Request-Id"]
    assert isinstance(error["message"], str) and error["message"]
    assert b"<html" not in body.lower()
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_still_serving(emu: TolokaEmulator) -> None:
    """A normal request succeeds, and every connection thread ends once its client is gone."""
    response = requests.get(
        f"{emu.url}/api/v1/requester", headers={"Authorization": AUTH, "Connection": "close"}, timeout=10
    )
    assert response.status_code == 200 and "balance" in response.json()
    deadline = time.monotonic() + 10
    while emu.open_connections:
        assert time.monotonic() < deadline, f"{emu.open_connections} connection thread(s) still open"
        time.sleep(0.02)


def create_pool_body(emu: TolokaEmulator) -> dict:
    response = requests.post(
        f"{emu.url}/api/v1/projects", json=PROJECT, headers={"Authorization": AUTH}, timeout=10
    )
    assert response.status_code == 201
    return {
        "project_id": response.json()["id"],
        "private_name": "pool",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2030-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 1},
    }


# ------------------------------------------------------------------------------ numbers in JSON bodies

NON_FINITE_POOLS = [
    ("NaN", b'"reward_per_assignment": NaN'),
    ("Infinity", b'"reward_per_assignment": Infinity'),
    ("-Infinity", b'"reward_per_assignment": -Infinity'),
    ("1e400", b'"reward_per_assignment": 1e400'),
    ("-1e400", b'"reward_per_assignment": -1e400'),
    ("nested NaN", b'"reward_per_assignment": 0.01, "metadata": {"x": [1, [NaN]]}'),
    ("int beyond 64 bits", b'"reward_per_assignment": 0.01, "priority": 9223372036854775808'),
    ("5000-digit int", b'"reward_per_assignment": 0.01, "priority": ' + b"9" * 5000),
]


@pytest.mark.parametrize(("label", "fragment"), NON_FINITE_POOLS, ids=[case[0] for case in NON_FINITE_POOLS])
def test_non_finite_and_overflowing_numbers_are_validation_errors(emu, label, fragment):
    pool = create_pool_body(emu)
    pool.pop("reward_per_assignment")
    body = json.dumps(pool).encode()[:-1] + b", " + fragment + b"}"
    status, headers, content = exchange(emu, request_bytes("POST", "/api/v1/pools", body))
    error = assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
    assert "out of range" in error["message"]
    assert not [p for p in emu.state.pools.values() if p.get("private_name") == "pool"]
    assert_still_serving(emu)


@pytest.mark.parametrize("body", [b"NaN", b"[Infinity]", b'{"seconds": -Infinity}', b"1E400"])
def test_non_finite_top_level_values_are_refused_on_any_route(emu, body):
    # Control endpoints take numbers too (clock advance): the check is in the parser, for every route.
    status, headers, content = exchange(emu, request_bytes("POST", "/_emulator/clock/advance", body))
    assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
    assert_still_serving(emu)


def test_plain_large_finite_numbers_still_parse(emu):
    pool = dict(create_pool_body(emu), reward_per_assignment=1e300, priority=9223372036854775807)
    status, headers, content = exchange(
        emu, request_bytes("POST", "/api/v1/pools", json.dumps(pool).encode())
    )
    # The priority is out of Toloka's range (0..100): a field error, not a parse error.
    error = assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
    assert set(error["payload"]) == {"priority"}


# ------------------------------------------------------------------------------------ shape of bodies


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 100_000, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)],
    ids=["100k arrays", "100k objects", "just past the limit"],
)
def test_deeply_nested_json_is_a_validation_error(emu, body):
    status, headers, content = exchange(emu, request_bytes("POST", "/api/v1/projects", body))
    error = assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
    assert f"deeper than {MAX_JSON_DEPTH}" in error["message"] or "not valid JSON" in error["message"]
    assert_still_serving(emu)


def test_nesting_at_the_limit_is_accepted(emu):
    nested: list = []
    for _ in range(MAX_JSON_DEPTH - 3):  # project -> metadata -> key -> the nested lists
        nested = [nested]
    body = json.dumps(dict(PROJECT, metadata={"deep": nested})).encode()
    status, _, content = exchange(emu, request_bytes("POST", "/api/v1/projects", body))
    assert status == 201, content[:300]


@pytest.mark.parametrize(
    "body",
    [b'{"public_name": "\xff\xfe"}', b"\xef\xbb\xbf\xc3\x28", "{}".encode("utf-16")],
    ids=["latin1", "bad utf8", "utf16"],
)
def test_a_body_that_is_not_utf8_is_a_validation_error(emu, body):
    status, headers, content = exchange(emu, request_bytes("POST", "/api/v1/projects", body))
    error = assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
    assert "UTF-8" in error["message"]
    assert_still_serving(emu)


def test_a_utf8_bom_is_accepted(emu):
    body = b"\xef\xbb\xbf" + json.dumps(PROJECT).encode()
    status, _, _ = exchange(emu, request_bytes("POST", "/api/v1/projects", body))
    assert status == 201


def test_a_lone_surrogate_goes_back_as_a_json_escape(emu):
    body = json.dumps(dict(PROJECT, public_name="bad \ud800 name")).encode()  # ensure_ascii: "\\ud800"
    status, _, content = exchange(emu, request_bytes("POST", "/api/v1/projects", body))
    assert status == 201
    content.decode("utf-8")  # valid UTF-8 on the wire
    assert json.loads(content)["public_name"] == "bad \ud800 name"
    assert_still_serving(emu)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_body_declared_as_something_else_is_415(emu, content_type):
    data = request_bytes(
        "POST", "/api/v1/projects", json.dumps(PROJECT).encode(), {"Content-Type": content_type}
    )
    status, headers, content = exchange(emu, data)
    error = assert_json_error(status, headers, content, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert content_type.split(";")[0] in error["message"]
    assert_still_serving(emu)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_content_types_are_accepted(emu, content_type):
    data = request_bytes(
        "POST", "/api/v1/projects", json.dumps(PROJECT).encode(), {"Content-Type": content_type}
    )
    assert exchange(emu, data)[0] == 201


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_body_on_get_is_400_and_the_connection_goes_on(emu, method):
    with connect(emu) as sock:
        sock.sendall(request_bytes(method, "/api/v1/requester", b'{"x": 1}'))
        status, headers, content = read_response(sock, method)
        assert status == 400 and headers["Content-Type"] == "application/json"
        if method == "GET":
            assert json.loads(content)["code"] == "BAD_REQUEST"
        # The body was read, so the same connection serves the next request.
        sock.sendall(request_bytes("GET", "/api/v1/requester"))
        assert read_response(sock)[0] == 200
    assert_still_serving(emu)


# ------------------------------------------------------------------------------------- body framing


@pytest.mark.parametrize(
    "headers",
    [
        ["Content-Length: -1"],
        ["Content-Length: abc"],
        ["Content-Length: 1_0"],
        ["Content-Length: +5"],
        ["Content-Length: 0x10"],
        ["Content-Length: 5", "Content-Length: 6"],
        ["Content-Length: 5, 6"],
        ["Transfer-Encoding: chunked", "Content-Length: 5"],
        ["Transfer-Encoding: gzip"],
    ],
    ids=["negative", "letters", "underscore", "plus", "hex", "two values", "list", "te and cl", "gzip te"],
)
def test_bad_framing_is_400_and_the_connection_is_closed(emu, headers):
    data = ("POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n" + "\r\n".join(headers) + "\r\n\r\n{}").encode()
    with connect(emu) as sock:
        sock.sendall(data)
        status, response_headers, content = read_response(sock)
        assert_json_error(status, response_headers, content, 400, "BAD_REQUEST")
        assert response_headers["Connection"] == "close"
        assert sock.recv(1) == b""
    assert_still_serving(emu)


def test_chunked_bodies_are_refused_with_411(emu):
    data = (
        "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH + "\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    ).encode()
    status, headers, content = exchange(emu, data)
    error = assert_json_error(status, headers, content, 411, "LENGTH_REQUIRED")
    assert "Content-Length" in error["message"]
    assert_still_serving(emu)


@pytest.mark.parametrize("length", [1_000_001, 64 * 1024 * 1024 + 1, 10**18, 10**30])
def test_a_body_over_the_limit_is_413_without_reading_it(emu, length):
    data = request_bytes("POST", "/api/v1/projects", headers={"Content-Length": str(length)})
    status, headers, content = exchange(emu, data)
    assert_json_error(status, headers, content, 413, "PAYLOAD_TOO_LARGE")
    assert headers["Connection"] == "close"
    assert_still_serving(emu)


def test_expect_100_continue_is_answered_413_for_an_oversized_body_and_100_otherwise(emu):
    data = request_bytes(
        "POST", "/api/v1/projects", headers={"Content-Length": "2000000", "Expect": "100-continue"}
    )
    status, headers, content = exchange(emu, data)
    assert_json_error(status, headers, content, 413, "PAYLOAD_TOO_LARGE")
    body = json.dumps(PROJECT).encode()
    with connect(emu) as sock:
        sock.sendall(
            request_bytes(
                "POST",
                "/api/v1/projects",
                headers={"Content-Length": str(len(body)), "Expect": "100-continue"},
            )
        )
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert read_response(sock)[0] == 201
    assert_still_serving(emu)


def test_a_body_shorter_than_its_length_times_out_with_408(emu):
    started = time.monotonic()
    with connect(emu) as sock:
        sock.sendall(request_bytes("POST", "/api/v1/projects", headers={"Content-Length": "100"}) + b'{"a":')
        status, headers, content = read_response(sock)
        assert_json_error(status, headers, content, 408, "REQUEST_TIMEOUT")
        assert sock.recv(1) == b""
    assert time.monotonic() - started < 8  # socket_timeout is 1 s; generous bound
    assert_still_serving(emu)


def test_a_body_cut_short_by_the_client_is_400(emu):
    with connect(emu) as sock:
        sock.sendall(request_bytes("POST", "/api/v1/projects", headers={"Content-Length": "100"}) + b"{}")
        sock.shutdown(socket.SHUT_WR)
        status, headers, content = read_response(sock)
        error = assert_json_error(status, headers, content, 400, "BAD_REQUEST")
        assert "2 of its 100 bytes" in error["message"]
    assert_still_serving(emu)


# ------------------------------------------------------------------------- the request line and head


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"\x00\x01\x02", 400),
        (b"GET", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b"GET / FOO/1.1", 400),
        (b"GET / HTTP/1.x", 400),
        (b"G@T / HTTP/1.1", 400),
        (b"POST /api/v1/projects", 400),
        (b"GET / HTTP/2.0", 505),
        ("GET /\u00e9\u00ff HTTP/1.1".encode("latin-1"), 404),
    ],
    ids=[
        "binary",
        "one word",
        "four words",
        "bad protocol",
        "bad version",
        "bad method char",
        "http 0.9 post",
        "http 2",
        "latin-1 path",
    ],
)
def test_bad_request_lines_get_json_errors(emu, line, status):
    response_status, headers, content = exchange(emu, line + b"\r\nHost: x\r\n\r\n")
    assert_json_error(response_status, headers, content, status)
    assert_still_serving(emu)


def test_a_100kb_url_is_414(emu):
    data = request_bytes("GET", "/api/v1/pools?" + "a" * 100_000)
    status, headers, content = exchange(emu, data)
    assert_json_error(status, headers, content, 414, "URI_TOO_LONG")
    assert_still_serving(emu)


def test_a_long_url_under_the_limit_is_served(emu):
    status, _, content = exchange(emu, request_bytes("GET", "/api/v1/pools?" + "x=1&" * 10_000))
    assert status == 200 and json.loads(content)["items"] is not None


@pytest.mark.parametrize(
    "extra",
    [[f"X-Header-{i}: {i}" for i in range(120)], ["X-Long: " + "a" * 70_000]],
    ids=["too many headers", "one header too long"],
)
def test_oversized_heads_are_431(emu, extra):
    data = ("GET /api/v1/requester HTTP/1.1\r\nHost: x\r\n" + "\r\n".join(extra) + "\r\n\r\n").encode()
    status, headers, content = exchange(emu, data)
    assert_json_error(status, headers, content, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    assert_still_serving(emu)


def test_odd_header_bytes_do_not_break_the_server(emu):
    data = b"GET /api/v1/requester HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey \xff\xfe\r\nno colon here\r\n\r\n"
    status, headers, content = exchange(emu, data)
    assert_json_error(status, headers, content, 401, "AUTHENTICATION_ERROR")
    assert_still_serving(emu)


# ----------------------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("BREW", "/api/v1/pools", "GET, HEAD, POST"),
        ("PROPFIND", "/", None),
        ("TRACE", "/api/v1/requester", "GET, HEAD"),
        ("OPTIONS", "/api/v1/pools/1", "GET, HEAD, PUT, PATCH"),
        ("PATCH", "/api/v1/requester", "GET, HEAD"),
    ],
)
def test_unknown_and_unsupported_methods_are_405(emu, method, path, allow):
    status, headers, content = exchange(emu, request_bytes(method, path))
    error = assert_json_error(status, headers, content, 405, "METHOD_NOT_ALLOWED")
    assert method in error["message"]
    assert headers.get("Allow") == allow
    assert TOKEN.encode() not in content  # TRACE never echoes the request
    assert_still_serving(emu)


def test_head_is_get_without_the_body(emu):
    status, headers, content = exchange(emu, request_bytes("HEAD", "/api/v1/requester"), method="HEAD")
    assert status == 200 and content == b"" and int(headers["Content-Length"]) > 0


# ------------------------------------------------------------------------------------ query values


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=1_0",
        "limit=%D9%A3",
        "limit=+5",
        "limit=-5",
        "limit=0",
        "limit=1e3",
        "limit=" + "9" * 50,
        "sort=",
        "sort=,",
        "sort=id,",
        "sort=--id",
        "sort=nope",
        "sort=id,-id",
        "sort=%00",
        "created_gt=yesterday",
        "created_gt=2024-13-01",
        "created_gt=0000-01-01",
        "created_lte=9999-12-31T23:59:59-23:59",
        "created_gt=0001-01-01T00:00:00%2B23:59",
        "id_gt=1&limit=1.5",
    ],
)
def test_malformed_list_queries_are_validation_errors(emu, query):
    for path in ("/api/v1/pools", "/api/v1/assignments"):
        status, headers, content = exchange(emu, request_bytes("GET", f"{path}?{query}"))
        error = assert_json_error(status, headers, content, 400, "VALIDATION_ERROR")
        assert query.split("=")[0] in error["message"] or "limit" in error["message"]
    assert_still_serving(emu)


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/pools/..%2f..%2fetc",
        "/api/v1/pools/" + "9" * 4000,
        "/api/v1/pools/%00",
        "/api/v1/assignments/%ff%fe",
        "/api/v1/assignments?pool_id=%00&status=NOPE,%ff",
        "/api/v1/pools?%zz=%%&&=&id_gt=%ff",
        "//api/v1/pools",
    ],
)
def test_bad_ids_and_odd_queries_never_give_500(emu, target):
    status, headers, content = exchange(emu, request_bytes("GET", target))
    assert status in (200, 404), content[:300]
    if status == 404:
        assert_json_error(status, headers, content, 404, "DOES_NOT_EXIST")
    else:
        assert isinstance(json.loads(content)["items"], list)
    assert_still_serving(emu)


# ---------------------------------------------------------------------------------- handler bugs


@pytest.mark.parametrize("path", ["/_test/boom", "/_test/unencodable"])
def test_a_handler_bug_is_a_json_500_and_the_connection_goes_on(emu, path, caplog):
    with caplog.at_level(logging.ERROR, logger="toloka_provider.emulator.server"), connect(emu) as sock:
        sock.sendall(request_bytes("GET", path))
        status, headers, content = read_response(sock)
        error = assert_json_error(status, headers, content, 500, "INTERNAL_ERROR")
        assert "Connection" not in headers
        sock.sendall(request_bytes("GET", "/api/v1/requester"))  # same connection, same thread
        assert read_response(sock)[0] == 200
    assert "failed" in caplog.text and error["request_id"]
    assert any(record.exc_info for record in caplog.records)
    assert_still_serving(emu)


def test_a_bug_outside_the_handler_is_a_json_500_too(emu, monkeypatch, caplog):
    def broken_pick(method, path):
        raise RuntimeError("a bug in the fault injector")

    monkeypatch.setattr(emu.faults, "pick", broken_pick)
    with caplog.at_level(logging.ERROR, logger="toloka_provider.emulator.server"):
        status, headers, content = exchange(emu, request_bytes("GET", "/api/v1/requester"))
    assert_json_error(status, headers, content, 500, "INTERNAL_ERROR")
    assert "a bug in the fault injector" in caplog.text
    monkeypatch.undo()
    assert_still_serving(emu)


def test_an_api_error_raised_by_a_handler_keeps_its_shape(emu):
    def conflict(request):
        raise ApiError(409, "CONFLICT_STATE", "busy", {"why": "test"})

    emu.router.add("GET", "/_test/conflict", conflict, auth=False)
    status, headers, content = exchange(emu, request_bytes("GET", "/_test/conflict"))
    assert assert_json_error(status, headers, content, 409, "CONFLICT_STATE")["payload"] == {"why": "test"}


# ------------------------------------------------------------------------------------ slow clients


def test_an_idle_connection_is_closed_after_the_socket_timeout(emu):
    started = time.monotonic()
    with connect(emu) as sock:
        assert sock.recv(1) == b""  # closed by the server, nothing written
    assert time.monotonic() - started < 8
    assert_still_serving(emu)


def test_an_idle_keep_alive_connection_is_closed_after_the_socket_timeout(emu):
    with connect(emu) as sock:
        sock.sendall(request_bytes("GET", "/api/v1/requester"))
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 8
    assert_still_serving(emu)


@pytest.mark.parametrize("where", ["request line", "headers"])
def test_a_client_dripping_bytes_cannot_hold_a_thread(emu, where):
    # One byte every 0.1 s resets any per-recv timeout; the deadline over the whole read still ends it.
    prefix = b"" if where == "request line" else b"GET /api/v1/requester HTTP/1.1\r\n"
    drip = b"GET /api/v1/requester HTTP/1.1" if where == "request line" else b"X-Slow: " + b"a" * 1000
    stop = threading.Event()
    closed_after = []

    with connect(emu) as sock:
        sock.sendall(prefix)
        started = time.monotonic()

        def dripper():
            for byte in drip:
                if stop.is_set():
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

        thread = threading.Thread(target=dripper, daemon=True)
        thread.start()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        closed_after.append(time.monotonic() - started)
        stop.set()
        thread.join(5)
    # At most two socket timeouts (idle + request line, then the head) and a margin, never the whole drip.
    assert closed_after[0] < 8, closed_after
    if received:
        assert b" 408 " in received.split(b"\r\n", 1)[0]
        assert b'"code":"REQUEST_TIMEOUT"' in received
    assert_still_serving(emu)


def test_socket_timeout_is_validated():
    for bad in (0, -1, float("inf"), float("nan"), "30"):
        with pytest.raises(ValueError, match="socket_timeout"):
            TolokaEmulator(socket_timeout=bad)
    with pytest.raises(ValueError, match="max_body_bytes"):
        TolokaEmulator(max_body_bytes=-1)
