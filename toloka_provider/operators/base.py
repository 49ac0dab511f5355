"""The base class of every Toloka operator, the two errors that fail a task at once, and the error mapping.

Operators turn their arguments into steps (``toloka_provider.steps``) and a small XCom. What a failure means
for Airflow is decided here, once, by the class of the client's exception:

* ``TolokaArgumentError`` (the client, or a step, refused an argument before sending anything)
  becomes :class:`TolokaInputError`: Airflow does not retry it.
* A persistent API refusal (``is_transient()`` is false: 400, 401, 403, 404, 409, a listing that does not
  advance, ...) becomes :class:`TolokaApiFailure`: Airflow does not retry it either.
* Transient errors (5xx, 408, 429, no answer at all: the client has retried them already) pass through, so
  Airflow's task retries still cover an outage.

Nothing wraps ``execute`` behind the operator's back: each ``execute`` / ``execute_complete`` is decorated
with :func:`maps_toloka_errors` where it is defined, and code that wants the mapping for a smaller block uses
``with self.toloka_errors():``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator
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

if TYPE_CHECKING:
    from toloka_provider.hooks.toloka import TolokaHook

Method = TypeVar("Method", bound=Callable[..., Any])


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


def api_failure(error: BaseException, conn_id: str, *, argument: str | None = None) -> TolokaApiFailure:
    """The :class:`TolokaApiFailure` for a persistent refusal, with what to check first, by the error's class.

    ``argument`` names the operator argument whose value the server refused (e.g. a ``pool_id`` that does
    not exist), when the caller knows it.
    """
    if isinstance(error, AuthenticationApiError):
        hint = f"the API token of Airflow connection {conn_id!r} was rejected; check or renew it"
    elif isinstance(error, AccessDeniedApiError):
        hint = f"the token of Airflow connection {conn_id!r} has no access; check the account and act_under_account_id"
    elif isinstance(error, DoesNotExistApiError):
        hint = "the object does not exist for this account and environment; check the id and the connection"
    elif isinstance(error, PaginationError):
        hint = "the server sent a listing that does not advance"
    else:
        hint = "Toloka refused the request"
    prefix = f"Argument {argument!r}: " if argument else ""
    return TolokaApiFailure(f"{prefix}{hint} (not retried): {error}", error)


@contextlib.contextmanager
def toloka_error_mapping(conn_id: str) -> Iterator[None]:
    """Map the client's exceptions raised in the block to what Airflow should do (see the module docstring)."""
    try:
        yield
    except TolokaArgumentError as error:
        raise TolokaInputError(str(error)) from error
    except (ApiError, PaginationError) as error:
        if is_transient(error):
            raise
        raise api_failure(error, conn_id) from error


def maps_toloka_errors(method: Method) -> Method:
    """Decorate ``execute`` / ``execute_complete``: run it under :meth:`TolokaBaseOperator.toloka_errors`.

    Applied by hand on each method (never by a metaclass or ``__init_subclass__``), so that reading an
    operator shows what its failures turn into. Nesting is harmless: the mapped errors are not mapped again.
    """

    @functools.wraps(method)
    def wrapper(self: TolokaBaseOperator, *args: Any, **kwargs: Any) -> Any:
        with self.toloka_errors():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read at operator construction like the official providers do."""
    from airflow.sdk.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


class TolokaBaseOperator(BaseOperator):
    """Holds the connection id, builds the hook lazily (never at DAG parse time), pushes extra-link URLs."""

    def __init__(self, *, toloka_conn_id: str = "toloka_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id

    @cached_property
    def hook(self) -> TolokaHook:
        from toloka_provider.hooks.toloka import TolokaHook

        return TolokaHook(toloka_conn_id=self.toloka_conn_id)

    def toloka_errors(self) -> contextlib.AbstractContextManager[None]:
        """``with self.toloka_errors():`` maps the client's exceptions for this operator's connection."""
        return toloka_error_mapping(self.toloka_conn_id)

    def push_pool_url(
        self, context: Mapping[str, Any], pool_id: str, *, project_id: str | None = None
    ) -> None:
        """Publish the pool's web page for the extra link; do it before any waiting.

        With ``project_id`` (known from a pool already read) the hook needs no request to build the URL.
        """
        from toloka_provider.links import POOL_URL_XCOM_KEY

        url = self.hook.web_ui_url(project_id=project_id, pool_id=pool_id)
        if url:
            context["ti"].xcom_push(key=POOL_URL_XCOM_KEY, value=url)

    def push_project_url(self, context: Mapping[str, Any], project_id: str) -> None:
        from toloka_provider.links import PROJECT_URL_XCOM_KEY

        url = self.hook.web_ui_url(project_id=project_id)
        if url:
            context["ti"].xcom_push(key=PROJECT_URL_XCOM_KEY, value=url)

    def read_pool_for_link(
        self, context: Mapping[str, Any], pool_id: Any, *, argument: str = "pool_id"
    ) -> Any:
        """Read the pool (or training) that ``argument`` names, push its link, and return it.

        The one read serves two purposes: the extra link needs the pool's project, and an operator that only
        reads a pool (fetch, review) must not succeed with nothing because the id was mistyped (``"None"``,
        ``""``, a typo): a pool that does not exist fails here, naming the argument, before anything is written.
        """
        from toloka_provider.steps.pools import read_pool_or_training

        pool_id = str(pool_id if pool_id is not None else "").strip()
        if not pool_id or pool_id == "None":
            raise TolokaInputError(f"Argument {argument!r} must be a pool id, got {pool_id!r}")
        try:
            pool = read_pool_or_training(self.hook.get_conn(), pool_id)
        except DoesNotExistApiError as error:
            raise api_failure(error, self.toloka_conn_id, argument=argument) from error
        project_id = getattr(pool, "project_id", None)
        self.push_pool_url(context, pool_id, project_id=None if project_id is None else str(project_id))
        return pool
