"""Error responses become typed exceptions: class by code, readable text, non-JSON bodies, pickling."""

from __future__ import annotations

import json
import pickle

import pytest

from toloka_provider.client import errors
from toloka_provider.client.errors import (
    AccessDeniedApiError,
    ApiError,
    AuthenticationApiError,
    ConflictStateApiError,
    DoesNotExistApiError,
    FailedOperationError,
    IncorrectActionsApiError,
    InternalApiError,
    OperationTimeoutError,
    RemoteServiceUnavailableApiError,
    TolokaError,
    TooManyRequestsApiError,
    TransportError,
    ValidationApiError,
    error_from_response,
)


def body(code, message="went wrong", payload=None, request_id="req-1") -> bytes:
    document = {"request_id": request_id, "code": code, "message": message}
    if payload is not None:
        document["payload"] = payload
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected_class"),
    [
        (400, "VALIDATION_ERROR", ValidationApiError),
        (500, "INTERNAL_ERROR", InternalApiError),
        (401, "AUTHENTICATION_ERROR", AuthenticationApiError),
        (403, "ACCESS_DENIED", AccessDeniedApiError),
        (404, "DOES_NOT_EXIST", DoesNotExistApiError),
        (409, "CONFLICT_STATE", ConflictStateApiError),
        (429, "TOO_MANY_REQUESTS", TooManyRequestsApiError),
        (503, "REMOTE_SERVICE_UNAVAILABLE", RemoteServiceUnavailableApiError),
        (409, "OPERATION_ALREADY_EXISTS", IncorrectActionsApiError),
        (409, "INAPPROPRIATE_STATUS", IncorrectActionsApiError),
        (400, "EMPTY_POOL", IncorrectActionsApiError),
        (404, "NOT_FOUND", ApiError),  # Java-SDK-only code: no special class
        (418, "SOMETHING_NEW", ApiError),
    ],
)
def test_class_is_chosen_by_code(status, code, expected_class):
    error = error_from_response(status, body(code), method="POST", path="/api/v1/pools/1/open")

    assert type(error) is expected_class
    assert isinstance(error, ApiError)
    assert isinstance(error, TolokaError)
    assert (error.status_code, error.code, error.message, error.request_id) == (status, code, "went wrong", "req-1")
    assert (error.method, error.path) == ("POST", "/api/v1/pools/1/open")


@pytest.mark.parametrize("code", sorted(errors.INCORRECT_ACTION_CODES))
def test_every_internal_code_maps_to_incorrect_actions(code):
    assert type(error_from_response(400, body(code), method="GET", path="/x")) is IncorrectActionsApiError


def test_internal_code_list_is_complete():
    assert len(errors.INCORRECT_ACTION_CODES) == 64  # toloka-kit InternalErrorCodes
    assert {"OPERATION_ALREADY_EXISTS", "INAPPROPRIATE_STATUS", "WRONG_REVISION", "ACCOUNT_ALREADY_USED"} <= (
        errors.INCORRECT_ACTION_CODES
    )


def test_str_names_method_path_status_code_message_and_request_id():
    error = error_from_response(
        409,
        body("INAPPROPRIATE_STATUS", "Pool is archived", {"appropriate_statuses": ["OPEN"]}),
        method="POST",
        path="/api/v1/pools/7/open",
    )

    assert str(error) == (
        "POST /api/v1/pools/7/open failed: HTTP 409 INAPPROPRIATE_STATUS: Pool is archived; "
        'payload: {"appropriate_statuses":["OPEN"]} (request_id=req-1)'
    )
    assert error.payload == {"appropriate_statuses": ["OPEN"]}


def test_validation_error_lists_invalid_fields():
    payload = {
        "input_values.image": {"code": "VALUE_REQUIRED", "message": "Value must be present"},
        "overlap": {"code": "VALUE_LESS_THAN_MIN", "message": "too small", "params": [1]},
    }
    error = error_from_response(400, body("VALIDATION_ERROR", payload=payload), method="POST", path="/api/v1/tasks")

    assert isinstance(error, ValidationApiError)
    assert error.invalid_fields == ["input_values.image", "overlap"]
    assert error.payload == payload
    assert "input_values.image" in str(error)
    assert ValidationApiError(400, "VALIDATION_ERROR", "bad", None).invalid_fields == []


def test_long_payload_is_cut_in_the_message_but_kept_whole():
    payload = {f"field{i}": {"code": "VALUE_REQUIRED", "message": "x" * 50} for i in range(100)}
    error = error_from_response(400, body("VALIDATION_ERROR", payload=payload), method="POST", path="/p")

    assert len(str(error)) < 800
    assert str(error).endswith("... (request_id=req-1)")
    assert error.payload == payload
    assert len(error.invalid_fields) == 100


def test_request_id_header_is_the_fallback():
    no_id = json.dumps({"code": "DOES_NOT_EXIST", "message": "no"}).encode()
    assert error_from_response(404, no_id, method="GET", path="/p", request_id_header="hdr").request_id == "hdr"
    with_id = body("DOES_NOT_EXIST")
    assert error_from_response(404, with_id, method="GET", path="/p", request_id_header="hdr").request_id == "req-1"


HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def test_html_body_gives_an_api_error_with_the_body_start_on_one_line():
    error = error_from_response(502, HTML_502, method="GET", path="/api/v1/pools", request_id_header="abc")

    assert type(error) is ApiError
    assert error.status_code == 502
    assert error.code is None
    assert error.payload is None
    assert error.request_id == "abc"
    assert error.message == (
        "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> "
        "<hr><center>nginx</center> </body> </html>"
    )
    assert "\n" not in str(error)
    assert str(error) == (
        f"GET /api/v1/pools failed: HTTP 502 (no error code): {error.message} (request_id=abc)"
    )


def test_long_non_json_body_is_cut_to_the_limit():
    error = error_from_response(500, b"Error " * 1000, method="GET", path="/p")

    assert error.message.endswith("...")
    assert len(error.message) <= errors.NON_JSON_BODY_MESSAGE_LIMIT + 3
    assert error.message.startswith("Error Error")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "(empty body)"),
        (b"   \r\n ", "(blank body)"),
        (b"Service Unavailable", "Service Unavailable"),
        (b"[1, 2]", "[1, 2]"),  # JSON, but not an error object
        (b'"just a string"', '"just a string"'),
        (b'{"code": "VALIDATION_ERROR", "mess', '{"code": "VALIDATION_ERROR", "mess'),  # truncated JSON
        ("Ошибка".encode() + b"\xff", "Ошибка\ufffd"),  # undecodable bytes never raise
    ],
)
def test_non_json_bodies_never_raise(raw, message):
    error = error_from_response(503, raw, method="DELETE", path="/p")

    assert type(error) is ApiError
    assert (error.status_code, error.code, error.message) == (503, None, message)


def test_json_without_code_is_a_plain_api_error():
    error = error_from_response(500, b'{"message": "boom"}', method="GET", path="/p")

    assert type(error) is ApiError
    assert (error.code, error.message, error.request_id) == (None, "boom", None)
    assert str(error) == "GET /p failed: HTTP 500 (no error code): boom"


def test_api_error_built_by_hand_reads_well():
    assert str(ApiError(None, "X", None, None)) == "Toloka API error: X"


@pytest.mark.parametrize(
    "error",
    [
        ApiError(502, None, "<html>", "r", None, "GET", "/p"),
        ValidationApiError(400, "VALIDATION_ERROR", "bad", "r", {"a": {"code": "VALUE_REQUIRED"}}, "POST", "/p"),
        IncorrectActionsApiError(409, "OPERATION_ALREADY_EXISTS", "exists", "r", None, "POST", "/api/v1/tasks"),
        TooManyRequestsApiError(429, "TOO_MANY_REQUESTS", "slow down", "r", {"interval": "MIN"}),
        TransportError("connection reset by peer", "GET", "/api/v1/pools", 4),
        OperationTimeoutError("op-1", 600),
        OperationTimeoutError({"id": "op-2", "status": "RUNNING", "progress": 40}, 1.5),
        FailedOperationError({"id": "op-3", "type": "POOL.OPEN", "status": "FAIL", "details": {"x": 1}}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle_with_their_attributes(error):
    restored = pickle.loads(pickle.dumps(error))

    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)


def test_validation_error_keeps_invalid_fields_after_pickling():
    error = error_from_response(400, body("VALIDATION_ERROR", payload={"f": {}}), method="POST", path="/p")
    assert pickle.loads(pickle.dumps(error)).invalid_fields == ["f"]


def test_failed_operation_error_names_id_type_and_details():
    error = FailedOperationError(
        {"id": "op-9", "type": "TASK.BATCH_CREATE", "status": "FAIL", "details": {"failed_count": 3}}
    )
    assert error.operation_id == "op-9"
    assert str(error) == 'Toloka operation op-9 (TASK.BATCH_CREATE) failed: {"failed_count":3}'
    assert str(FailedOperationError({"id": "op-8", "type": "POOL.OPEN"})) == (
        "Toloka operation op-8 (POOL.OPEN) failed (the server gave no failure details)"
    )


def test_operation_timeout_error_is_a_timeout_error():
    error = OperationTimeoutError({"id": "op-2", "status": "RUNNING", "progress": 40}, 1.5)

    assert isinstance(error, TimeoutError)
    assert isinstance(error, TolokaError)
    assert error.operation_id == "op-2"
    assert str(error) == "Toloka operation op-2 did not complete within 1.5 s; last status RUNNING, progress 40%"
    assert str(OperationTimeoutError("op-1", 600)) == "Toloka operation op-1 did not complete within 600 s"
    with pytest.raises(TimeoutError):
        raise OperationTimeoutError("op-1")


def test_transport_error_text():
    assert str(TransportError("read timed out", "GET", "/api/v1/assignments", 4)) == (
        "GET /api/v1/assignments failed: read timed out (after 4 attempts)"
    )
    assert str(TransportError("connection refused")) == "connection refused"
    assert str(TransportError("refused", "GET", "/p", 1)) == "GET /p failed: refused (after 1 attempt)"
