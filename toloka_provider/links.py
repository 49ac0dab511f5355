"""Operator extra links to the Toloka web UI: the pool page and the project page.

An operator pushes the page URL to XCom (keys below) before it starts waiting, so the button works while
the task is still running or deferred. In Airflow 3 the API server reads a link straight from XCom under
the link's ``xcom_key``; at the end of a task the task runner calls ``get_link`` and writes its result
back under the same key, so ``get_link`` returns the URL already there (or "" when none was pushed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

POOL_URL_XCOM_KEY = "toloka_pool_url"
PROJECT_URL_XCOM_KEY = "toloka_project_url"


class _TolokaXComLink(BaseOperatorLink):
    link_name: ClassVar[str]
    link_xcom_key: ClassVar[str]

    @property
    def name(self) -> str:
        return self.link_name

    @property
    def xcom_key(self) -> str:
        return self.link_xcom_key

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=self.link_xcom_key)
        return value if isinstance(value, str) else ""

    @classmethod
    def persist(cls, context: Any, url: str | None) -> None:
        """Push ``url`` for this link from inside ``execute`` (no-op for None)."""
        if url:
            context["ti"].xcom_push(key=cls.link_xcom_key, value=url)


class TolokaPoolLink(_TolokaXComLink):
    """'Toloka Pool' button: the pool's page in the Toloka web UI (XCom key ``toloka_pool_url``)."""

    link_name = "Toloka Pool"
    link_xcom_key = POOL_URL_XCOM_KEY


class TolokaProjectLink(_TolokaXComLink):
    """'Toloka Project' button: the project's page in the Toloka web UI (XCom key ``toloka_project_url``)."""

    link_name = "Toloka Project"
    link_xcom_key = PROJECT_URL_XCOM_KEY
