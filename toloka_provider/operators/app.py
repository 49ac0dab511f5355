"""Operators for Toloka Apps: create a batch of items once per task instance, start it, export its items."""

from __future__ import annotations

import collections
from typing import Any

from toloka_provider.arguments import load_json_config
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.files import atomic_jsonl_writer, dump_json_line, iter_jsonl, storage_path
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.run_identity import RunIdentity
from toloka_provider.steps import status as status_step
from toloka_provider.steps.find_or_create import find_or_create_app_batch
from toloka_provider.steps.values import as_json_dict


class TolokaCreateAppBatchOperator(TolokaBaseOperator):
    """Create a batch of items in an App project and return the batch id.

    :param app_project_id: the App project (templated).
    :param items: a list of item dicts (the App's input fields), or a JSON string of one (templated).
    :param items_path: instead of ``items``, a JSONL file with one item per line (templated).
    :param name: the batch name (templated). Default: ``airflow:<dag id>:<run id>:<task id>[:<map index>]``.
        The name is the idempotency key: before creating, the project's batches are searched for one with this
        name, and a found batch is returned instead of creating another.
    :param priority_order: ``ONE`` .. ``FIVE`` (Toloka's default FIVE when None).

    XCom: the batch id (str).
    """

    template_fields = ("app_project_id", "items", "items_path", "name", "toloka_conn_id")
    ui_color = "#ffe4e4"

    def __init__(
        self,
        *,
        app_project_id: str,
        items: list[dict] | str | None = None,
        items_path: str | None = None,
        name: str | None = None,
        priority_order: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (items is None) == (items_path is None):
            raise TolokaInputError("Give exactly one of 'items' (a list) and 'items_path' (a JSONL file)")
        self.app_project_id = app_project_id
        self.items = items
        self.items_path = items_path
        self.name = name
        self.priority_order = priority_order

    def batch_name(self, identity: RunIdentity) -> str:
        return str(self.name) if self.name else identity.default_name()

    def load_items(self) -> list:
        if self.items_path is not None:
            items = list(iter_jsonl(self.items_path, argument="items_path"))
        else:
            items = load_json_config(self.items, argument="items", expect=list)
        if not items:
            raise TolokaInputError("No items to put in the batch")
        return items

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        name = self.batch_name(RunIdentity.from_context(context))
        items = self.load_items()  # checked before anything is sent
        kwargs = {"priority_order": self.priority_order} if self.priority_order else {}
        return find_or_create_app_batch(
            self.hook.get_conn(), str(self.app_project_id), name=name, items=items, log=self.log, **kwargs
        )


class TolokaStartAppBatchOperator(TolokaBaseOperator):
    """Start processing a batch; a batch that is already started (or done) is fine. XCom: the batch status."""

    template_fields = ("app_project_id", "batch_id", "toloka_conn_id")
    ui_color = "#ffe4e4"

    def __init__(self, *, app_project_id: str, batch_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_project_id = app_project_id
        self.batch_id = batch_id

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        return status_step.start_app_batch(
            self.hook.get_conn(), str(self.app_project_id), str(self.batch_id), log=self.log
        )


class TolokaGetAppItemsOperator(TolokaBaseOperator):
    """Write an App project's items (optionally of one batch and status) to a JSONL file.

    :param app_project_id: the App project (templated).
    :param batch_id: only this batch's items (templated).
    :param status: only items in this status, e.g. ``COMPLETED`` (templated).
    :param output: the JSONL file (templated; written under a temporary name and renamed).

    XCom: ``{"path", "count", "status_counts"}``.
    """

    template_fields = ("app_project_id", "batch_id", "status", "output_path", "toloka_conn_id")
    ui_color = "#ffe4e4"

    def __init__(
        self,
        *,
        app_project_id: str,
        output: str,
        batch_id: str | None = None,
        status: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app_project_id = app_project_id
        self.output_path = output
        self.batch_id = batch_id
        self.status = status

    @maps_toloka_errors
    def execute(self, context: Any) -> dict:
        client = self.hook.get_conn()
        filters: dict[str, Any] = {k: str(v) for k, v in (("batch_id", self.batch_id), ("status", self.status)) if v}
        path = storage_path(self.output_path)
        count = 0
        status_counts: collections.Counter[str] = collections.Counter()
        with atomic_jsonl_writer(path) as handle:
            for item in client.get_app_items(str(self.app_project_id), **filters):
                data = as_json_dict(item)
                status_counts[str(data.get("status"))] += 1
                handle.write(dump_json_line(data))
                count += 1
                if count % 10000 == 0:
                    self.log.info("Written %d items", count)
        self.log.info("Wrote %d items to %s", count, path)
        return {"path": str(path), "count": count, "status_counts": dict(status_counts)}
