"""The one Airflow-facing error vocabulary: the exceptions that fail a task at once, and how a client error maps.

* ``TolokaArgumentError`` (the client, or a step, refused an argument before sending anything) becomes
  :class:`TolokaInputError`: Airflow does not retry it.
* A persistent API refusal (``is_transient()`` is false: 400, 401, 403, 404, 409, a listing that does not
  advance, ...) becomes :class:`TolokaApiFailure`: Airflow does not retry it either.
* Transient errors (5xx, 408, 429, no answer at all: the client has retried them already) pass through.

:func:`explain_error` is the one wording of such an error for operators, sensors and triggers alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.sdk.exceptions import AirflowFailException

from toloka_provider.client.errors import (
    AccessDeniedApiError,
    ApiError,
    AuthenticationApiError,
    DoesNotExistApiError,
    PaginationError,
    TolokaArgumentError,
    is_transient,
)


class TolokaInputError(AirflowFailException, ValueError):
    """An operator argument is wrong (bad JSON, wrong type, ...). Retrying cannot help, so the task fails at once."""


class TolokaApiFailure(AirflowFailException):
    """Toloka refused a request for a reason a retry cannot change (HTTP 400, 401, 403, 404, 409, 413, ...).

    Airflow retries a task on any other exception; for these it would only repeat the same refusal after the
    retry delay, so the task fails at once. ``error`` is the client's original exception (also ``__cause__``).
    """

    def __init__(self, message: str, error: BaseException) -> None:
        super().__init__(message)
        self.error = error


def explain_error(
    error: BaseException, conn_id: str, *, what: str | None = None, argument: str | None = None
) -> str:
    """The one wording of an error another try cannot cure, saying what to check first (by the error's class).

    ``what`` names the object the request was about ("Toloka pool 12"); ``argument`` the task argument that
    named it, when the caller knows it (named when the object does not exist). Sensors, triggers and operators all explain errors with this.
    """
    subject = what or "the object"
    if isinstance(error, AuthenticationApiError):
        hint = f"the API token of Airflow connection {conn_id!r} was rejected; check or renew it"
    elif isinstance(error, AccessDeniedApiError):
        hint = (
            f"the token of Airflow connection {conn_id!r} has no access to {subject}; check the account "
            "and act_under_account_id"
        )
    elif isinstance(error, DoesNotExistApiError):
        hint = (
            f"{subject} does not exist for this account and environment; check the id and the environment "
            f"of Airflow connection {conn_id!r}"
        )
    elif isinstance(error, PaginationError):
        hint = "the server sent a listing that does not advance"
    elif isinstance(error, ApiError):
        hint = f"Toloka refused the request for {subject}"
    else:
        hint = f"unexpected error while reading {subject}"
    prefix = f"Argument {argument!r}: " if argument and isinstance(error, DoesNotExistApiError) else ""
    return f"{prefix}{hint} (not retried): {error}"


def api_failure(
    error: BaseException, conn_id: str, *, what: str | None = None, argument: str | None = None
) -> TolokaApiFailure:
    """The :class:`TolokaApiFailure` for a persistent refusal, worded by :func:`explain_error`."""
    return TolokaApiFailure(explain_error(error, conn_id, what=what, argument=argument), error)


@contextlib.contextmanager
def toloka_error_mapping(
    conn_id: str, *, what: str | None = None, argument: str | None = None
) -> Iterator[None]:
    """Map the client's exceptions raised in the block to what Airflow should do (see the module docstring).

    ``what`` / ``argument``: the object the block is about and the argument naming it, for the message.
    """
    try:
        yield
    except TolokaArgumentError as error:
        raise TolokaInputError(str(error)) from error
    except (ApiError, PaginationError) as error:
        if is_transient(error):
            raise
        raise api_failure(error, conn_id, what=what, argument=argument) from error
