"""The async client's public signatures, for type checkers only. GENERATED: do not edit.

Written by ``tests/typing/async_api_gen.py`` from ``client/api.py``; ``aio.py`` imports it under
``TYPE_CHECKING`` only, so it never runs. Each method of ``TolokaApi`` appears here as a coroutine with the
same arguments and result, and each ``Iterator[X]`` listing as an ``AsyncIterator[X]``.
"""

# ruff: noqa
from __future__ import annotations

from collections.abc import AsyncIterator
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO
from toloka_provider.client import core, models
from toloka_provider.client import pagination as lists
from toloka_provider.client.config import ClientConfig
from toloka_provider.client.core import BatchKind, call, call_json, call_model, flags
from toloka_provider.client.pagination import APPS, V1
from toloka_provider.client.protocol import Plan


class AsyncTolokaApi:
    """The methods of ``TolokaApi`` as ``AsyncTolokaClient`` offers them."""

    url: str
    _config: ClientConfig
    _clock: Callable[[], float]

    def __init__(self, config: ClientConfig, clock: Callable[[], float] | None) -> None:
        raise NotImplementedError

    async def get_requester(self) -> models.Requester:
        'The account behind the token (``GET /requester``): id, balance, public name.'
        raise NotImplementedError

    async def create_project(self, project: models.Project | Mapping) -> models.Project:
        'Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``).'
        raise NotImplementedError

    async def get_project(self, project_id: str) -> models.Project:
        raise NotImplementedError

    async def update_project(self, project_id: str, project: models.Project | Mapping) -> models.Project:
        raise NotImplementedError

    async def archive_project(self, project_id: str) -> models.Project:
        'Archive; waits for the ``PROJECT.ARCHIVE`` operation and returns the project as it is then.'
        raise NotImplementedError

    async def find_projects(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of projects. Filters: status, owner, id_*/created_* (lt, lte, gt, gte).'
        raise NotImplementedError

    def get_projects(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Project]:
        'All matching projects, lazily (keyset pages of ``batch_size``, default 300, max 300).'
        raise NotImplementedError

    async def create_pool(self, pool: models.Pool | Mapping) -> models.Pool:
        'Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``).'
        raise NotImplementedError

    async def get_pool(self, pool_id: str) -> models.Pool:
        raise NotImplementedError

    async def update_pool(self, pool_id: str, pool: models.Pool | Mapping) -> models.Pool:
        'Full replacement (``PUT``); the pool must not be open.'
        raise NotImplementedError

    async def patch_pool(self, pool_id: str, priority: int) -> models.Pool:
        raise NotImplementedError

    async def open_pool(self, pool_id: str) -> models.Pool:
        'Open; returns at once if it is already open (204), else after its operation succeeds.'
        raise NotImplementedError

    async def close_pool(self, pool_id: str) -> models.Pool:
        raise NotImplementedError

    async def close_pool_for_update(self, pool_id: str) -> models.Pool:
        raise NotImplementedError

    async def archive_pool(self, pool_id: str) -> models.Pool:
        raise NotImplementedError

    async def clone_pool(self, pool_id: str) -> models.Pool:
        "Clone; waits for ``POOL.CLONE`` and returns the new pool (its id is in the operation's details)."
        raise NotImplementedError

    async def find_pools(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of pools. Filters: status, project_id, id_*/created_*/last_started_*.'
        raise NotImplementedError

    def get_pools(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Pool]:
        'All matching pools, lazily (default page 300, max 300).'
        raise NotImplementedError

    async def create_training(self, training: models.Training | Mapping) -> models.Training:
        'Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``).'
        raise NotImplementedError

    async def get_training(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def update_training(self, training_id: str, training: models.Training | Mapping) -> models.Training:
        raise NotImplementedError

    async def open_training(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def close_training(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def close_training_for_update(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def archive_training(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def clone_training(self, training_id: str) -> models.Training:
        raise NotImplementedError

    async def find_trainings(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of trainings. Filters: status, project_id, id_*/created_*/last_started_*.'
        raise NotImplementedError

    def get_trainings(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Training]:
        raise NotImplementedError

    async def create_task(self, task: models.Task | Mapping, *, allow_defaults: bool=False, open_pool: bool=False) -> models.Task:
        'Create one task through the idempotent operation path (safe to retry); returns the created task.'
        raise NotImplementedError

    async def create_tasks(self, tasks: Iterable[models.Task | Mapping], *, async_mode: bool=True, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.BatchCreateResult:
        'Create tasks; ``items`` and ``validation_errors`` are keyed by the position in ``tasks`` (str).'
        raise NotImplementedError

    async def create_tasks_async(self, tasks: Iterable[models.Task | Mapping], *, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.Operation:
        'Start creating tasks and return the ``TASK.BATCH_CREATE`` operation without waiting.'
        raise NotImplementedError

    async def get_task(self, task_id: str) -> models.Task:
        raise NotImplementedError

    async def patch_task(self, task_id: str, **fields: Any) -> models.Task:
        'Patch overlap, infinite_overlap, baseline_solutions, known_solutions, message_on_unknown_solution.'
        raise NotImplementedError

    async def patch_task_overlap_or_min(self, task_id: str, overlap: int | None=None, infinite_overlap: bool | None=None) -> models.Task:
        raise NotImplementedError

    async def find_tasks(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of tasks. Filters: pool_id, overlap, id_*/created_*/overlap_*.'
        raise NotImplementedError

    def get_tasks(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Task]:
        raise NotImplementedError

    async def create_task_suite(self, task_suite: models.TaskSuite | Mapping, *, allow_defaults: bool=False, open_pool: bool=False) -> models.TaskSuite:
        raise NotImplementedError

    async def create_task_suites(self, task_suites: Iterable[models.TaskSuite | Mapping], *, async_mode: bool=True, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.BatchCreateResult:
        raise NotImplementedError

    async def create_task_suites_async(self, task_suites: Iterable[models.TaskSuite | Mapping], *, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.Operation:
        raise NotImplementedError

    async def get_task_suite(self, task_suite_id: str) -> models.TaskSuite:
        raise NotImplementedError

    async def patch_task_suite(self, task_suite_id: str, **fields: Any) -> models.TaskSuite:
        'Patch overlap, infinite_overlap, issuing_order_override; ``open_pool`` goes to the query string.'
        raise NotImplementedError

    async def find_task_suites(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of task suites. Filters: task_id, pool_id, overlap, id_*/created_*/overlap_*.'
        raise NotImplementedError

    def get_task_suites(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.TaskSuite]:
        raise NotImplementedError

    async def get_assignment(self, assignment_id: str) -> models.Assignment:
        raise NotImplementedError

    async def patch_assignment(self, assignment_id: str, status: Any, public_comment: str | None=None) -> models.Assignment:
        'Set ACCEPTED or REJECTED. A 409 means the assignment is already decided (the caller may treat it as done).'
        raise NotImplementedError

    async def accept_assignment(self, assignment_id: str, public_comment: str | None=None) -> models.Assignment:
        raise NotImplementedError

    async def reject_assignment(self, assignment_id: str, public_comment: str) -> models.Assignment:
        raise NotImplementedError

    async def find_assignments(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of assignments.'
        raise NotImplementedError

    def get_assignments(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Assignment]:
        'All matching assignments, lazily; pages of ``batch_size`` (default 1,000, max 100,000).'
        raise NotImplementedError

    def get_assignments_raw(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[list[dict]]:
        'Like ``get_assignments`` but yields each page as a list of plain dicts, without building models.'
        raise NotImplementedError

    async def get_attachment(self, attachment_id: str) -> models.Attachment:
        raise NotImplementedError

    async def download_attachment(self, attachment_id: str, out: BinaryIO) -> None:
        "Write the attachment's bytes to the binary stream ``out``."
        raise NotImplementedError

    async def find_attachments(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of attachments. Filters: pool_id or assignment_id (one required), name, type, user_id, id_*, created_*.'
        raise NotImplementedError

    def get_attachments(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Attachment]:
        'All matching attachments (default page 100, max 100).'
        raise NotImplementedError

    async def get_operation(self, operation_id: str) -> models.Operation:
        raise NotImplementedError

    async def get_operation_log(self, operation_id: str) -> list[models.OperationLogItem]:
        raise NotImplementedError

    async def wait_operation(self, operation: models.Operation | str, timeout: float | None=600.0, poll_interval: float=1.0) -> models.Operation:
        'Poll until the operation is SUCCESS or FAIL and return it (a completed one is returned at once).'
        raise NotImplementedError

    async def find_operations(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of operations. Filters: type, status, id_*/submitted_*/finished_*.'
        raise NotImplementedError

    def get_operations(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.Operation]:
        raise NotImplementedError

    async def aggregate_solutions_by_pool(self, type: Any, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None=None) -> models.Operation:
        'Start aggregating a pool (DAWID_SKENE or WEIGHTED_DYNAMIC_OVERLAP); returns the operation.'
        raise NotImplementedError

    async def aggregate_solutions_by_task(self, type: Any, task_id: str, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None=None) -> models.AggregatedSolution:
        raise NotImplementedError

    async def find_aggregated_solutions(self, operation_id: str, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        "One page of an aggregation's results. Filters: task_id_lt/lte/gt/gte."
        raise NotImplementedError

    def get_aggregated_solutions(self, operation_id: str, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.AggregatedSolution]:
        'All results of an aggregation, keyset-paged by ``task_id``.'
        raise NotImplementedError

    async def get_analytics(self, requests: Iterable[Mapping[str, Any]]) -> models.Operation:
        'Start an analytics request (``[{"subject": "POOL", "subject_id": ..., "name": ...}]``, up to 10).'
        raise NotImplementedError

    async def get_pool_completion_percentage(self, pool_id: str, timeout: float | None=60.0) -> int:
        "The pool's completion percentage (0..100): an analytics request, waited for."
        raise NotImplementedError

    async def create_user_bonus(self, user_bonus: models.UserBonus | Mapping) -> models.UserBonus:
        'Create one bonus through the idempotent operation path (a retry cannot pay twice).'
        raise NotImplementedError

    async def create_user_bonuses(self, user_bonuses: Iterable[models.UserBonus | Mapping], *, async_mode: bool=True, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.BatchCreateResult:
        'Create bonuses (sync mode: at most 100 per request, split automatically).'
        raise NotImplementedError

    async def create_user_bonuses_async(self, user_bonuses: Iterable[models.UserBonus | Mapping], *, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.Operation:
        raise NotImplementedError

    async def get_user_bonus(self, user_bonus_id: str) -> models.UserBonus:
        raise NotImplementedError

    async def find_user_bonuses(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of bonuses. Filters: user_id, assignment_id, private_comment, id_*, created_*.'
        raise NotImplementedError

    def get_user_bonuses(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.UserBonus]:
        raise NotImplementedError

    async def find_app_projects(self, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        'One page of App projects. Filters: app_id, parent_app_project_id, status, scope, requester_ids, id_*, name_*, created_*.'
        raise NotImplementedError

    def get_app_projects(self, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.AppProject]:
        'All matching App projects (default page 5,000, max 5,000).'
        raise NotImplementedError

    async def get_app_project(self, app_project_id: str) -> models.AppProject:
        raise NotImplementedError

    async def create_app_project(self, app_project: models.AppProject | Mapping) -> models.AppProject:
        'Create an App project (``{app_id, name, parameters}``); it starts in status CREATING.'
        raise NotImplementedError

    async def find_app_batches(self, app_project_id: str, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        "One page of an App project's batches. Filters: status, name, id_*, name_*, created_*."
        raise NotImplementedError

    def get_app_batches(self, app_project_id: str, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.AppBatch]:
        raise NotImplementedError

    async def get_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        raise NotImplementedError

    async def create_app_batch(self, app_project_id: str, name: str, items: Iterable[Mapping[str, Any]], priority_order: Any=None) -> models.AppBatch:
        'Create a batch of items (each a dict of input fields), at most 10,000; it starts in status NEW.'
        raise NotImplementedError

    async def start_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        'Send the batch for labeling; returns the batch as it is right after (processing is asynchronous).'
        raise NotImplementedError

    async def stop_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        raise NotImplementedError

    async def get_app_item(self, app_project_id: str, item_id: str) -> models.AppItem:
        raise NotImplementedError

    async def find_app_items(self, app_project_id: str, *, sort: Any=None, limit: int | None=None, **filters: Any) -> models.SearchResult:
        "One page of an App project's items. Filters: batch_id, status, id_*, created_*, finished_*."
        raise NotImplementedError

    def get_app_items(self, app_project_id: str, *, batch_size: int | None=None, **filters: Any) -> AsyncIterator[models.AppItem]:
        'All matching items (default page 1,000, max 1,000).'
        raise NotImplementedError
