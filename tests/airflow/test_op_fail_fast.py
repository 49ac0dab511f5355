"""Operators fail at once (no Airflow retry) on API refusals a retry cannot change; transient errors still retry.

The mapping is explicit: ``@maps_toloka_errors`` on each ``execute`` / ``execute_complete`` (or
``with self.toloka_errors():``), never an ``__init_subclass__`` that wraps methods out of sight.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from toloka_provider.client.errors import (
    AccessDeniedApiError,
    ApiError,
    AuthenticationApiError,
    ConflictStateApiError,
    DoesNotExistApiError,
    PaginationError,
    RemoteServiceUnavailableApiError,
    TolokaArgumentError,
    TooManyRequestsApiError,
    TransportError,
    ValidationApiError,
)
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors


def _error(cls, status, code):
    return cls(status_code=status, code=code, message="refused", request_id="r-1", payload=None,
               method="POST", path="/api/v1/pools/7/open")


class RaisingOperator(TolokaBaseOperator):
    def __init__(self, *, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    @maps_toloka_errors
    def execute(self, context):
        raise self.error

    @maps_toloka_errors
    def execute_complete(self, context, event=None):
        raise self.error


class SubclassedOperator(RaisingOperator):
    """Inherits the decorated execute, and calls it from its own decorated one: mapped once, not twice."""

    @maps_toloka_errors
    def execute(self, context):
        return super().execute(context)


class UndecoratedOperator(TolokaBaseOperator):
    """No decorator: nothing maps its errors behind its back."""

    def __init__(self, *, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        raise self.error


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (_error(DoesNotExistApiError, 404, "DOES_NOT_EXIST"), "does not exist for this account and environment"),
        (_error(AuthenticationApiError, 401, "AUTHENTICATION_ERROR"), "API token of Airflow connection 'conn_x' was rejected"),
        (_error(AccessDeniedApiError, 403, "ACCESS_DENIED"), "token of Airflow connection 'conn_x' has no access"),
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


def test_nothing_wraps_execute_implicitly():
    """The base class has no __init_subclass__ hook; an undecorated execute raises the client's error as it is."""
    assert "__init_subclass__" not in vars(TolokaBaseOperator)
    error = _error(DoesNotExistApiError, 404, "DOES_NOT_EXIST")
    with pytest.raises(DoesNotExistApiError) as raised:
        UndecoratedOperator(task_id="t", error=error).execute({})
    assert raised.value is error


def test_every_provider_operator_maps_its_errors_explicitly():
    """Each execute / execute_complete defined in toloka_provider.operators carries the decorator."""
    import importlib
    import inspect
    import pkgutil

    import toloka_provider.operators as package

    checked = []
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and issubclass(cls, TolokaBaseOperator) and cls.__module__ == module.__name__):
                continue
            for method in ("execute", "execute_complete"):
                function = vars(cls).get(method)
                if function is not None:
                    assert getattr(function, "__wrapped__", None) is not None, f"{name}.{method} is not decorated"
                    checked.append(f"{name}.{method}")
    assert len(checked) >= 12, checked


def test_argument_errors_of_the_client_become_input_errors():
    """TolokaArgumentError (the client refused an argument before sending) fails the task without retry."""
    error = TolokaArgumentError("batch_size for pools must be between 1 and 300, got 301")
    with pytest.raises(TolokaInputError) as raised:
        RaisingOperator(task_id="t", error=error).execute({})
    assert str(raised.value) == "batch_size for pools must be between 1 and 300, got 301"
    assert raised.value.__cause__ is error
    assert isinstance(raised.value, AirflowFailException) and isinstance(raised.value, ValueError)


def test_a_listing_that_does_not_advance_fails_without_retry():
    error = PaginationError("/api/v1/pools", "7", "the same page again")
    with pytest.raises(
        TolokaApiFailure, match=r"listing that does not advance \(not retried\): GET /api/v1/pools: .* cursor '7'"
    ):
        RaisingOperator(task_id="t", error=error).execute({})


@pytest.mark.parametrize("error", [ValueError("ours"), KeyError("k"), RuntimeError("bug")])
def test_other_exceptions_are_not_relabelled(error):
    """Only the client's classes are mapped: a bug in our code must not pass for a user's bad input."""
    with pytest.raises(type(error)) as raised:
        RaisingOperator(task_id="t", error=error).execute({})
    assert raised.value is error


def test_the_mapping_serves_a_smaller_block_too():
    operator = UndecoratedOperator(task_id="t", toloka_conn_id="conn_y", error=None)
    with pytest.raises(TolokaApiFailure, match="connection 'conn_y' was rejected"), operator.toloka_errors():
        raise _error(AuthenticationApiError, 401, "AUTHENTICATION_ERROR")
