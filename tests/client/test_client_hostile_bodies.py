"""Hostile answers: every failure is a ``TolokaError`` naming method, path, status and the body's first bytes.

A 200 with HTML, truncated or non-JSON bodies, ``null``, an array for an object, model fields of the wrong
type, 3xx answers (never success, never followed, so the token never travels to another origin) — on both
clients, asserting the exact class, the message, and that the token is in none of it.
"""

from __future__ import annotations

import pickle

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client.errors import ApiError, RedirectError, ResponseFormatError, TolokaError

POOL = {"id": "21", "project_id": "1", "status": "OPEN"}
PATH = "/api/v1/pools/21"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def assert_clean(error: BaseException, *parts: str) -> None:
    text = str(error)
    for part in parts:
        assert part in text, (part, text)
    for shown in (text, repr(error), str(pickle.loads(pickle.dumps(error)))):
        assert TOKEN not in shown
    assert isinstance(error, TolokaError)


HTML = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"


@pytest.mark.parametrize(
    ("raw", "what", "starts"),
    [
        (HTML, "not JSON", "<html> <head><title>502 Bad Gateway"),
        (b'{"id": "21", "project_id": "1", "sta', "not JSON", '{"id": "21", "project_id": "1", "sta'),
        (b"OK", "not JSON", "OK"),
        (b"\xff\xfe\x00\x1b[31mgarbage", "not JSON", "\ufffd\ufffd??[31mgarbage"),  # no raw control bytes
        (b"null", "expected a JSON object, got null", "null"),
        (b'[{"id": "21"}]', "expected a JSON object, got an array", '[{"id": "21"}]'),
        (b'"21"', "expected a JSON object, got a string", '"21"'),
        (b"", "expected a JSON object, got an empty body", "(empty body)"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON", "[[[["),  # deeper than the JSON decoder's recursion
        (
            b'{"id": "21", "status": 5}',
            "not a valid Pool: TypeError: Pool.status",
            '{"id": "21", "status": 5}',
        ),
        (
            b'{"id": "21", "created": "yesterday"}',
            "not a valid Pool: ValueError",
            '{"id": "21", "created": "yes',
        ),
    ],
)
def test_a_200_that_is_not_a_pool(mode, raw, what, starts):
    server = ScriptedServer().reply(200, raw=raw)
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("get_pool", "21")
    error = caught.value
    assert_clean(error, f"GET {PATH} failed: HTTP 200", what, f"body starts: {starts}")
    assert (error.method, error.path, error.status_code) == ("GET", PATH, 200)
    assert len(server.calls) == 1  # not retried: asking again gets the same answer


def test_a_long_html_page_is_cut_to_its_first_bytes(mode):
    server = ScriptedServer().reply(200, raw=b"<html>" + b"x" * 100_000)
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("get_pool", "21")
    assert caught.value.excerpt.endswith("...") and len(caught.value.excerpt) <= 210
    assert len(str(caught.value)) < 1000


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_never_followed(mode, status):
    server = ScriptedServer().reply(status, raw=b"moved", headers={"Location": "https://evil.example/steal"})
    with Harness(mode, server) as harness, pytest.raises(RedirectError) as caught:
        harness.call("get_pool", "21")
    assert len(server.calls) == 1  # nothing went to evil.example (the harness would have refused it)
    error = caught.value
    assert_clean(
        error, f"GET {PATH} failed: HTTP {status}", "redirected to https://evil.example/steal", "not followed"
    )
    assert error.location == "https://evil.example/steal" and error.status_code == status
    assert isinstance(error, ApiError)


def test_a_redirect_loop_to_the_same_url_is_one_request(mode):
    server = ScriptedServer().reply(302, headers={"Location": f"https://toloka.test{PATH}"})
    with (
        Harness(mode, server) as harness,
        pytest.raises(RedirectError, match=r"redirected to https://toloka\.test"),
    ):
        harness.call("get_pool", "21")
    assert len(server.calls) == 1


def test_a_3xx_without_location_and_a_304_are_errors_too(mode):
    server = ScriptedServer().reply(300).reply(304)
    with Harness(mode, server) as harness:
        with pytest.raises(RedirectError, match=r"HTTP 300.*\(no Location header\)"):
            harness.call("get_pool", "21")
        with pytest.raises(RedirectError, match="HTTP 304"):
            harness.call("get_pool", "21")


def test_a_redirect_on_a_listing_and_on_a_post(mode):
    server = ScriptedServer().reply(302, headers={"Location": "http://toloka.test/login"})
    with Harness(mode, server) as harness, pytest.raises(RedirectError):
        harness.call("get_pools")
    server = ScriptedServer().reply(307, headers={"Location": "https://elsewhere.test/api/v1/pools"})
    with Harness(mode, server) as harness, pytest.raises(RedirectError):
        harness.call("create_pool", {"project_id": "1"})
    assert len(server.calls) == 1


def test_an_operation_answer_of_the_wrong_shape(mode):
    # open_pool: the action answers with an Operation; an array instead is a typed error, not a TypeError.
    server = ScriptedServer().reply(202, raw=b'["op-1"]')
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("open_pool", "21")
    assert_clean(caught.value, "POST /api/v1/pools/21/open failed: HTTP 202", "got an array")


def test_bulk_create_answers_of_the_wrong_shape(mode):
    task = {"pool_id": "21", "input_values": {"x": 1}}
    # async mode: the operation answer is not an object
    server = ScriptedServer().reply(202, raw=b"<html>busy</html>")
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("create_tasks", [task])
    assert_clean(caught.value, "POST /api/v1/tasks failed: HTTP 202", "not JSON", "<html>busy</html>")

    # async mode: the operation log is an object instead of an array
    operation = {"id": "op-1", "type": "TASK.BATCH_CREATE", "status": "SUCCESS"}
    server = ScriptedServer().reply(202, operation).reply(200, {"items": []})
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("create_tasks", [task])
    assert_clean(caught.value, "GET /api/v1/operations/op-1/log failed: HTTP 200", "got an object")

    # ... or an array of strings
    server = ScriptedServer().reply(202, operation).reply(200, ["ok"])
    with (
        Harness(mode, server) as harness,
        pytest.raises(ResponseFormatError, match="log entry 0 is a string"),
    ):
        harness.call("create_tasks", [task])

    # sync mode: items keyed by something that is not an index
    server = ScriptedServer().reply(201, {"items": {"first": {"id": "t1"}}, "validation_errors": {}})
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("create_tasks", [task], async_mode=False)
    assert_clean(caught.value, "POST /api/v1/tasks failed: HTTP 201", "ValueError")


def test_a_parsing_error_in_a_plan_outside_the_core_becomes_a_response_format_error(mode):
    # get_operation_log parses its items in api.py: a dict where the list should be must still be typed.
    server = ScriptedServer().reply(200, {"not": "a list"})
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call("get_operation_log", "op-1")
    assert_clean(
        caught.value, "GET /api/v1/operations/op-1/log failed: HTTP 200", "could not read the answer"
    )
