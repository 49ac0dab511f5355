"""The base class of every Toloka operator and the decorator that maps client errors for a method.

Operators turn their arguments into steps (``toloka_provider.steps``) and a small XCom; what a failure means
for Airflow is decided in ``toloka_provider.exceptions``. Each ``execute`` / ``execute_complete`` is decorated
with :func:`maps_toloka_errors` where it is defined; a smaller block uses ``with self.toloka_errors():``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseOperator

from toloka_provider.client.errors import DoesNotExistApiError
from toloka_provider.exceptions import TolokaInputError, api_failure, toloka_error_mapping
from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.links import POOL_URL_XCOM_KEY, PROJECT_URL_XCOM_KEY
from toloka_provider.steps.pools import read_pool_or_training

Method = TypeVar("Method", bound=Callable[..., Any])


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
        url = self.hook.web_ui_url(project_id=project_id, pool_id=pool_id)
        if url:
            context["ti"].xcom_push(key=POOL_URL_XCOM_KEY, value=url)

    def push_project_url(self, context: Mapping[str, Any], project_id: str) -> None:
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
        pool_id = str(pool_id if pool_id is not None else "").strip()
        if not pool_id or pool_id == "None":
            raise TolokaInputError(f"Argument {argument!r} must be a pool id, got {pool_id!r}")
        try:
            pool = read_pool_or_training(self.hook.get_conn(), pool_id)
        except DoesNotExistApiError as error:
            raise api_failure(error, self.toloka_conn_id, what=f"Toloka pool {pool_id}", argument=argument) from error
        project_id = getattr(pool, "project_id", None)
        self.push_pool_url(context, pool_id, project_id=None if project_id is None else str(project_id))
        return pool
