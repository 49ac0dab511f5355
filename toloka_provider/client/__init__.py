"""The Toloka API client: ``TolokaClient`` (requests) and ``AsyncTolokaClient`` (httpx), one shared core.

Needs no workflow engine and nothing else of the provider; usable on its own::

    from toloka_provider.client import TolokaClient
    client = TolokaClient(token, environment="SANDBOX")
    for assignment in client.get_assignments(pool_id="123", status=["SUBMITTED", "ACCEPTED"]):
        ...
"""

from __future__ import annotations

from toloka_provider.client.aio import AsyncTolokaClient
from toloka_provider.client.environment import Environment
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
    PaginationError,
    RedirectError,
    RemoteServiceUnavailableApiError,
    ResponseFormatError,
    TolokaArgumentError,
    TolokaArgumentTypeError,
    TolokaError,
    TooManyRequestsApiError,
    TransportError,
    ValidationApiError,
)
from toloka_provider.client.retry import RetryPolicy
from toloka_provider.client.sync import TolokaClient

__all__ = [
    "AccessDeniedApiError",
    "ApiError",
    "AsyncTolokaClient",
    "AuthenticationApiError",
    "ConflictStateApiError",
    "DoesNotExistApiError",
    "Environment",
    "FailedOperationError",
    "IncorrectActionsApiError",
    "InternalApiError",
    "OperationTimeoutError",
    "PaginationError",
    "RedirectError",
    "RemoteServiceUnavailableApiError",
    "ResponseFormatError",
    "RetryPolicy",
    "TolokaArgumentError",
    "TolokaArgumentTypeError",
    "TolokaClient",
    "TolokaError",
    "TooManyRequestsApiError",
    "TransportError",
    "ValidationApiError",
]
