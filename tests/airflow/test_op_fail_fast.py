"""Operators fail at once (no Airflow retry) on API refusals a retry cannot change; transient errors still retry."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from toloka_provider.client.errors import (
    ApiError,
    AuthenticationApiError,
    ConflictStateApiError,
    DoesNotExistApiError,
    RemoteServiceUnavailableApiError,
    TooManyRequestsApiError,
    TransportError,
    ValidationApiError,
)
from toloka_provider.operators._common import TolokaApiFailure, TolokaBaseOperator


def _error(cls, status, code):
    return cls(status_code=status, code=code, message="refused", request_id="r-1", payload=None,
               method="POST", path="/api/v1/pools/7/open")


class RaisingOperator(TolokaBaseOperator):
    def __init__(self, *, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        raise self.error

    def execute_complete(self, context, event=None):
        raise self.error


class SubclassedOperator(RaisingOperator):
    """Inherits execute: must not be wrapped twice (the message would repeat its prefix)."""


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (_error(DoesNotExistApiError, 404, "DOES_NOT_EXIST"), "does not exist for this account and environment"),
        (_error(AuthenticationApiError, 401, "AUTHENTICATION_ERROR"), "API token of Airflow connection 'conn_x' was rejected"),
        (_error(ConflictStateApiError, 409, "CONFLICT_STATE"), "Toloka refused the request"),
        (_error(ValidationApiError, 400, "VALIDATION_ERROR"), "Toloka refused the request"),
    ],
)
@pytest.mark.parametrize("method", ["execute", "execute_complete"])
def test_persistent_api_errors_fail_without_retry(error, fragment, method):
    operator = RaisingOperator(task_id="t", toloka_conn_id="conn_x", error=error)
    with pytest.raises(TolokaApiFailure) as raised:
        getattr(operator, method)({})
    assert isinstance(raised.value, AirflowFailException)
    assert raised.value.error is error and raised.value.__cause__ is error
    message = str(raised.value)
    assert fragment in message and "(not retried)" in message
    assert "POST /api/v1/pools/7/open" in message


@pytest.mark.parametrize(
    "error",
    [
        _error(RemoteServiceUnavailableApiError, 503, "REMOTE_SERVICE_UNAVAILABLE"),
        _error(TooManyRequestsApiError, 429, "TOO_MANY_REQUESTS"),
        _error(ApiError, 502, None),
        _error(ApiError, 408, None),
        TransportError("GET /api/v1/pools/7 failed: connection refused"),
    ],
)
def test_transient_errors_pass_through_for_airflow_retries(error):
    operator = RaisingOperator(task_id="t", error=error)
    with pytest.raises(type(error)) as raised:
        operator.execute({})
    assert raised.value is error


def test_inherited_execute_is_wrapped_once():
    error = _error(DoesNotExistApiError, 404, "DOES_NOT_EXIST")
    with pytest.raises(TolokaApiFailure) as raised:
        SubclassedOperator(task_id="t", error=error).execute({})
    assert str(raised.value).count("(not retried)") == 1
    assert raised.value.error is error
