"""Tokens never leak: a token that cannot be sent as a header is refused without being shown, and whatever the
server echoes back (messages, payloads, HTML, a Location, operation details) is redacted before it reaches an
exception, its pickle or a log line — on both clients.
"""

from __future__ import annotations

import logging
import pickle

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import (
    ApiError,
    FailedOperationError,
    RedirectError,
    ResponseFormatError,
    TolokaArgumentError,
    TolokaArgumentTypeError,
    TooManyRequestsApiError,
    ValidationApiError,
)

BARE = "secret-oauth-token-XYZ"
assert TOKEN == BARE


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


@pytest.mark.parametrize(
    "token",
    [
        "",
        " ",
        "\n",
        "SECRETPART with space",
        " SECRETPART",
        "SECRETPART ",
        "SECRETPART\n",
        "SECRET\r\nX-Evil: 1",
        "SECRET\tPART",
        "SECRET\x00PART",
        "SECRET\x7fPART",
        "SECRET\x1bPART",
        "SECRETPARTé",
        "SECRETPART€",
        "СЕКРЕТPART",
        "SECRET\u200bPART",
        "SECRET\u00a0PART",
        "OAuth ",
        "OAuth SECRET PART",
        "ApiKey SECRET\nPART",
    ],
)
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(token):
    for client_class in (TolokaClient, AsyncTolokaClient):
        with pytest.raises(TolokaArgumentError) as caught:
            client_class(token, url="http://127.0.0.1:9")
        message = str(caught.value)
        assert message.startswith("token ")
        for fragment in ("SECRET", "PART", "СЕКРЕТ", "Evil"):
            assert fragment not in message and fragment not in repr(caught.value)
        if token.strip() not in ("", "OAuth"):
            assert "token contains" in message and "cannot be sent as an HTTP header" in message
        else:
            assert "non-empty" in message


@pytest.mark.parametrize("token", [None, b"SECRETPART", 12345])
def test_a_token_that_is_not_a_str_is_refused(token):
    with pytest.raises(TolokaArgumentTypeError, match="token must be a str") as caught:
        TolokaClient(token, url="http://127.0.0.1:9")
    assert "SECRETPART" not in str(caught.value) and "12345" not in str(caught.value)


def test_good_tokens_still_pass():
    for token in (BARE, "OAuth " + BARE, "ApiKey " + BARE, "y0_AgAAAAA-._~+/=", "a" * 500):
        TolokaClient(token, url="http://127.0.0.1:9")


def everything_said(error: BaseException, caplog) -> list[str]:
    copy = pickle.loads(pickle.dumps(error))
    said = [str(error), repr(error), str(copy), repr(copy), repr(vars(error)), repr(vars(copy))]
    said += [record.getMessage() for record in caplog.records]
    return said


def assert_no_token(said: list[str]) -> None:
    for text in said:
        assert BARE not in text, text


ECHO = f"your token {BARE} is wrong; Authorization: OAuth {BARE}"


@pytest.mark.parametrize(
    ("status", "body", "raw", "error_class"),
    [
        (401, {"code": "AUTHENTICATION_ERROR", "message": ECHO, "request_id": BARE}, None, ApiError),
        (
            400,
            {"code": "VALIDATION_ERROR", "message": ECHO, "payload": {BARE: {"code": ECHO}, "x": [ECHO]}},
            None,
            ValidationApiError,
        ),
        (500, None, f"<html><body>{ECHO}</body></html>".encode(), ApiError),
        (
            429,
            {"code": "TOO_MANY_REQUESTS", "message": ECHO, "payload": {"interval": "DAY", "echo": ECHO}},
            None,
            TooManyRequestsApiError,
        ),
        (200, None, f"<html>{ECHO}</html>".encode(), ResponseFormatError),
        (200, None, ("x" * 190 + BARE).encode(), ResponseFormatError),  # straddles the excerpt's cut
        (200, {"id": "21", "created": ECHO}, None, ResponseFormatError),  # echoed inside a model error
        (302, None, ECHO.encode(), RedirectError),
    ],
)
def test_server_text_echoing_the_token_is_redacted(mode, caplog, status, body, raw, error_class):
    headers = {"Location": f"https://evil.example/?t={BARE}"} if status == 302 else {}
    server = ScriptedServer().reply(status, body=body, raw=raw, headers=headers)
    for _ in range(4):  # a 500 is retried
        server.reply(status, body=body, raw=raw, headers=headers)
    caplog.set_level(logging.DEBUG)
    with Harness(mode, server, retries=1) as harness, pytest.raises(error_class) as caught:
        harness.call("get_pool", "21")
    assert_no_token(everything_said(caught.value, caplog))
    assert "***" in str(caught.value)


def test_the_token_with_its_scheme_is_redacted_as_well(mode, caplog):
    for token in (f"OAuth {BARE}", f"ApiKey {BARE}"):
        server = ScriptedServer().reply(403, {"code": "ACCESS_DENIED", "message": f"got {token} and {BARE}"})
        with Harness(mode, server) as harness, pytest.raises(ApiError) as caught:
            _call_with_token(harness, token)
        assert_no_token(everything_said(caught.value, caplog))
        assert "got *** and ***" in str(caught.value)


def _call_with_token(harness: Harness, token: str):
    client = harness.make_client()
    # Same harness transport, another token: rebuild the client's config the public way.
    if harness.mode == "sync":
        client = TolokaClient(token, url=client.url, sleep=harness._sleep, clock=harness._clock)
    else:
        import httpx

        client = AsyncTolokaClient(
            token,
            url=client.url,
            sleep=harness._asleep,
            clock=harness._clock,
            transport=httpx.MockTransport(harness._httpx_handler),
        )
    return harness.call("get_pool", "21", client=client)


def test_failed_operation_details_and_bulk_logs_are_redacted(mode, caplog):
    caplog.set_level(logging.DEBUG)
    failed = {"id": "op-1", "type": "POOL.OPEN", "status": "FAIL", "details": {"reason": ECHO}}
    server = ScriptedServer().reply(202, {**failed, "status": "RUNNING"}).reply(200, failed)
    with Harness(mode, server) as harness, pytest.raises(FailedOperationError) as caught:
        harness.call("open_pool", "21")
    said = everything_said(caught.value, caplog)
    assert_no_token(said)
    assert "***" in str(caught.value)

    operation = {"id": "op-2", "type": "TASK.BATCH_CREATE", "status": "SUCCESS"}
    log_items = [
        {"type": "TASK_CREATE", "success": False, "output": {"message": ECHO}},
        {"type": "TASK_VALIDATE", "success": False, "input": {"__item_idx": "0"}, "output": {"x": ECHO}},
    ]
    server = ScriptedServer().reply(202, operation).reply(200, log_items)
    with Harness(mode, server) as harness, pytest.raises(ValidationApiError) as caught:
        harness.call("create_tasks", [{"pool_id": "21", "input_values": {}}])
    assert_no_token(everything_said(caught.value, caplog))
