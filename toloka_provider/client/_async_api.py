"""The async client's public signatures, for type checkers only. GENERATED: do not edit.

Written by ``tests/typing/async_api_gen.py`` from ``client/api.py``; ``aio.py`` imports it under
``TYPE_CHECKING`` only, so it never runs. Each method of ``TolokaApi`` appears here as a coroutine with the
same arguments and result, and each ``Iterator[X]`` listing as an ``AsyncIterator[X]``.
"""

# ruff: noqa
from __future__ import annotations

from collections.abc import AsyncIterator
import copy
import enum
import importlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO
from toloka_provider.client import core, export, models
from toloka_provider.client import listings as more
from toloka_provider.client import pagination as lists
from toloka_provider.client.config import ClientConfig
from toloka_provider.client.core import BatchKind, call, call_json, call_model, flags
from toloka_provider.client.errors import TolokaArgumentError
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

    async def archive_project_async(self, project_id: str) -> models.Operation | None:
        'Start archiving; returns the ``PROJECT.ARCHIVE`` operation without waiting (None on 204).'
        raise NotImplementedError

    async def check_update_project_for_major_version_change(self, project_id: str, project: models.Project | Mapping) -> models.ProjectUpdateDifferenceLevel:
        'Whether ``update_project(project_id, project)`` would be a breaking change, without applying it:'
        raise NotImplementedError

    async def clone_project(self, project_id: str, reuse_controllers: bool=True) -> models.CloneResults:
        'Copy a project with all its trainings and pools (no tasks); returns ``CloneResults(project, pools,'
        raise NotImplementedError

    async def find_projects(self, *, status: Any=None, owner: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of projects.'
        raise NotImplementedError

    def get_projects(self, *, status: Any=None, owner: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Project]:
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

    async def open_pool_async(self, pool_id: str) -> models.Operation | None:
        'Start opening; returns the ``POOL.OPEN`` operation without waiting, or None if already open (204).'
        raise NotImplementedError

    async def close_pool_async(self, pool_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def close_pool_for_update_async(self, pool_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def archive_pool_async(self, pool_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def clone_pool_async(self, pool_id: str) -> models.Operation:
        'Start cloning; the new pool\'s id is in ``operation.details["pool_id"]`` once it succeeds.'
        raise NotImplementedError

    async def find_pools(self, *, status: Any=None, project_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, last_started_lt: datetime | str | None=None, last_started_lte: datetime | str | None=None, last_started_gt: datetime | str | None=None, last_started_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of pools.'
        raise NotImplementedError

    def get_pools(self, *, status: Any=None, project_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, last_started_lt: datetime | str | None=None, last_started_lte: datetime | str | None=None, last_started_gt: datetime | str | None=None, last_started_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Pool]:
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

    async def open_training_async(self, training_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def close_training_async(self, training_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def archive_training_async(self, training_id: str) -> models.Operation | None:
        raise NotImplementedError

    async def clone_training_async(self, training_id: str) -> models.Operation:
        'Start cloning; the new training\'s id is in ``operation.details["training_id"]``. Retried only after a 429.'
        raise NotImplementedError

    async def find_trainings(self, *, status: Any=None, project_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, last_started_lt: datetime | str | None=None, last_started_lte: datetime | str | None=None, last_started_gt: datetime | str | None=None, last_started_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of trainings.'
        raise NotImplementedError

    def get_trainings(self, *, status: Any=None, project_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, last_started_lt: datetime | str | None=None, last_started_lte: datetime | str | None=None, last_started_gt: datetime | str | None=None, last_started_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Training]:
        'All matching trainings, lazily (default page 300, max 300).'
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

    async def patch_task(self, task_id: str, *, overlap: int | None=None, infinite_overlap: bool | None=None, baseline_solutions: list[dict[str, Any]] | None=None, known_solutions: list[dict[str, Any]] | None=None, message_on_unknown_solution: str | None=None, open_pool: bool | None=None) -> models.Task:
        'Patch the given fields (None ones are not sent); ``open_pool`` goes to the query string.'
        raise NotImplementedError

    async def patch_task_overlap_or_min(self, task_id: str, overlap: int | None=None, infinite_overlap: bool | None=None) -> models.Task:
        raise NotImplementedError

    async def find_tasks(self, *, pool_id: str | None=None, overlap: int | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, overlap_lt: int | None=None, overlap_lte: int | None=None, overlap_gt: int | None=None, overlap_gte: int | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of tasks.'
        raise NotImplementedError

    def get_tasks(self, *, pool_id: str | None=None, overlap: int | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, overlap_lt: int | None=None, overlap_lte: int | None=None, overlap_gt: int | None=None, overlap_gte: int | None=None, batch_size: int | None=None) -> AsyncIterator[models.Task]:
        'All matching tasks, lazily (default page 300, max 300).'
        raise NotImplementedError

    async def create_task_suite(self, task_suite: models.TaskSuite | Mapping, *, allow_defaults: bool=False, open_pool: bool=False) -> models.TaskSuite:
        raise NotImplementedError

    async def create_task_suites(self, task_suites: Iterable[models.TaskSuite | Mapping], *, async_mode: bool=True, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.BatchCreateResult:
        raise NotImplementedError

    async def create_task_suites_async(self, task_suites: Iterable[models.TaskSuite | Mapping], *, allow_defaults: bool=False, open_pool: bool=False, skip_invalid_items: bool=False, operation_id: str | None=None) -> models.Operation:
        raise NotImplementedError

    async def get_task_suite(self, task_suite_id: str) -> models.TaskSuite:
        raise NotImplementedError

    async def patch_task_suite(self, task_suite_id: str, *, overlap: int | None=None, infinite_overlap: bool | None=None, issuing_order_override: float | None=None, open_pool: bool | None=None) -> models.TaskSuite:
        'Patch the given fields (None ones are not sent); ``open_pool`` goes to the query string.'
        raise NotImplementedError

    async def patch_task_suite_overlap_or_min(self, task_suite_id: str, overlap: int) -> models.TaskSuite:
        "Set the suite's overlap, or the smallest value the server allows; ``overlap=0`` stops issuing it."
        raise NotImplementedError

    async def find_task_suites(self, *, task_id: str | None=None, pool_id: str | None=None, overlap: int | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, overlap_lt: int | None=None, overlap_lte: int | None=None, overlap_gt: int | None=None, overlap_gte: int | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of task suites.'
        raise NotImplementedError

    def get_task_suites(self, *, task_id: str | None=None, pool_id: str | None=None, overlap: int | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, overlap_lt: int | None=None, overlap_lte: int | None=None, overlap_gt: int | None=None, overlap_gte: int | None=None, batch_size: int | None=None) -> AsyncIterator[models.TaskSuite]:
        'All matching task suites, lazily (default page 300, max 300).'
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

    async def find_assignments(self, *, status: Any=None, task_id: str | None=None, task_suite_id: str | None=None, pool_id: str | None=None, user_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, submitted_lt: datetime | str | None=None, submitted_lte: datetime | str | None=None, submitted_gt: datetime | str | None=None, submitted_gte: datetime | str | None=None, accepted_lt: datetime | str | None=None, accepted_lte: datetime | str | None=None, accepted_gt: datetime | str | None=None, accepted_gte: datetime | str | None=None, rejected_lt: datetime | str | None=None, rejected_lte: datetime | str | None=None, rejected_gt: datetime | str | None=None, rejected_gte: datetime | str | None=None, skipped_lt: datetime | str | None=None, skipped_lte: datetime | str | None=None, skipped_gt: datetime | str | None=None, skipped_gte: datetime | str | None=None, expired_lt: datetime | str | None=None, expired_lte: datetime | str | None=None, expired_gt: datetime | str | None=None, expired_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of assignments. ``status``: a str, an AssignmentStatus, or a list of either.'
        raise NotImplementedError

    def get_assignments(self, *, status: Any=None, task_id: str | None=None, task_suite_id: str | None=None, pool_id: str | None=None, user_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, submitted_lt: datetime | str | None=None, submitted_lte: datetime | str | None=None, submitted_gt: datetime | str | None=None, submitted_gte: datetime | str | None=None, accepted_lt: datetime | str | None=None, accepted_lte: datetime | str | None=None, accepted_gt: datetime | str | None=None, accepted_gte: datetime | str | None=None, rejected_lt: datetime | str | None=None, rejected_lte: datetime | str | None=None, rejected_gt: datetime | str | None=None, rejected_gte: datetime | str | None=None, skipped_lt: datetime | str | None=None, skipped_lte: datetime | str | None=None, skipped_gt: datetime | str | None=None, skipped_gte: datetime | str | None=None, expired_lt: datetime | str | None=None, expired_lte: datetime | str | None=None, expired_gt: datetime | str | None=None, expired_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Assignment]:
        'All matching assignments, lazily; pages of ``batch_size`` (default 1,000, max 100,000).'
        raise NotImplementedError

    def get_assignments_raw(self, *, status: Any=None, task_id: str | None=None, task_suite_id: str | None=None, pool_id: str | None=None, user_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, submitted_lt: datetime | str | None=None, submitted_lte: datetime | str | None=None, submitted_gt: datetime | str | None=None, submitted_gte: datetime | str | None=None, accepted_lt: datetime | str | None=None, accepted_lte: datetime | str | None=None, accepted_gt: datetime | str | None=None, accepted_gte: datetime | str | None=None, rejected_lt: datetime | str | None=None, rejected_lte: datetime | str | None=None, rejected_gt: datetime | str | None=None, rejected_gte: datetime | str | None=None, skipped_lt: datetime | str | None=None, skipped_lte: datetime | str | None=None, skipped_gt: datetime | str | None=None, skipped_gte: datetime | str | None=None, expired_lt: datetime | str | None=None, expired_lte: datetime | str | None=None, expired_gt: datetime | str | None=None, expired_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[list[dict]]:
        'Like ``get_assignments`` but yields each page as a list of plain dicts, without building models.'
        raise NotImplementedError

    async def get_attachment(self, attachment_id: str) -> models.Attachment:
        raise NotImplementedError

    async def download_attachment(self, attachment_id: str, out: BinaryIO) -> None:
        "Write the attachment's bytes to the binary stream ``out``."
        raise NotImplementedError

    async def find_attachments(self, *, pool_id: str | None=None, assignment_id: str | None=None, name: str | None=None, type: str | None=None, user_id: str | None=None, owner_id: str | None=None, owner_company_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of attachments; ``pool_id`` or ``assignment_id`` is required.'
        raise NotImplementedError

    def get_attachments(self, *, pool_id: str | None=None, assignment_id: str | None=None, name: str | None=None, type: str | None=None, user_id: str | None=None, owner_id: str | None=None, owner_company_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Attachment]:
        'All matching attachments (default page 100, max 100).'
        raise NotImplementedError

    async def get_operation(self, operation_id: str) -> models.Operation:
        raise NotImplementedError

    async def get_operation_log(self, operation_id: str) -> list[models.OperationLogItem]:
        raise NotImplementedError

    async def wait_operation(self, operation: models.Operation | str, timeout: float | None=600.0, poll_interval: float=1.0) -> models.Operation:
        'Poll until the operation is SUCCESS or FAIL and return it (a completed one is returned at once).'
        raise NotImplementedError

    async def find_operations(self, *, type: Any=None, status: Any=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, submitted_lt: datetime | str | None=None, submitted_lte: datetime | str | None=None, submitted_gt: datetime | str | None=None, submitted_gte: datetime | str | None=None, finished_lt: datetime | str | None=None, finished_lte: datetime | str | None=None, finished_gt: datetime | str | None=None, finished_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of operations.'
        raise NotImplementedError

    def get_operations(self, *, type: Any=None, status: Any=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, submitted_lt: datetime | str | None=None, submitted_lte: datetime | str | None=None, submitted_gt: datetime | str | None=None, submitted_gte: datetime | str | None=None, finished_lt: datetime | str | None=None, finished_lte: datetime | str | None=None, finished_gt: datetime | str | None=None, finished_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Operation]:
        'All matching operations, lazily (default page 300, max 300).'
        raise NotImplementedError

    async def aggregate_solutions_by_pool(self, type: Any, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None=None) -> models.Operation:
        'Start aggregating a pool (DAWID_SKENE or WEIGHTED_DYNAMIC_OVERLAP); returns the operation.'
        raise NotImplementedError

    async def aggregate_solutions_by_task(self, type: Any, task_id: str, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None=None) -> models.AggregatedSolution:
        raise NotImplementedError

    async def find_aggregated_solutions(self, operation_id: str, *, task_id_lt: str | None=None, task_id_lte: str | None=None, task_id_gt: str | None=None, task_id_gte: str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        "One page of an aggregation's results."
        raise NotImplementedError

    def get_aggregated_solutions(self, operation_id: str, *, task_id_lt: str | None=None, task_id_lte: str | None=None, task_id_gt: str | None=None, task_id_gte: str | None=None, batch_size: int | None=None) -> AsyncIterator[models.AggregatedSolution]:
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

    async def find_user_bonuses(self, *, user_id: str | None=None, assignment_id: str | None=None, private_comment: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of bonuses.'
        raise NotImplementedError

    def get_user_bonuses(self, *, user_id: str | None=None, assignment_id: str | None=None, private_comment: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.UserBonus]:
        'All matching bonuses, lazily (default page 300, max 300).'
        raise NotImplementedError

    async def create_skill(self, skill: models.Skill | Mapping) -> models.Skill:
        'Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``).'
        raise NotImplementedError

    async def get_skill(self, skill_id: str) -> models.Skill:
        raise NotImplementedError

    async def update_skill(self, skill_id: str, skill: models.Skill | Mapping) -> models.Skill:
        raise NotImplementedError

    async def find_skills(self, *, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, modified_lt: datetime | str | None=None, modified_lte: datetime | str | None=None, modified_gt: datetime | str | None=None, modified_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of skills (``limit`` at most 100).'
        raise NotImplementedError

    def get_skills(self, *, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, modified_lt: datetime | str | None=None, modified_lte: datetime | str | None=None, modified_gt: datetime | str | None=None, modified_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.Skill]:
        'All matching skills, lazily (default page 100, max 100).'
        raise NotImplementedError

    async def set_user_skill(self, *, skill_id: str, user_id: str, value: Decimal | int | float | str, reason: str | None=None) -> models.UserSkill:
        "Set one performer's value of a skill (0..100, fractional allowed; an upsert, safe to repeat)."
        raise NotImplementedError

    async def get_user_skill(self, user_skill_id: str) -> models.UserSkill:
        raise NotImplementedError

    async def delete_user_skill(self, user_skill_id: str) -> None:
        "Remove a performer's skill value (the server answers 204)."
        raise NotImplementedError

    async def find_user_skills(self, *, user_id: str | None=None, skill_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, modified_lt: datetime | str | None=None, modified_lte: datetime | str | None=None, modified_gt: datetime | str | None=None, modified_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        "One page of performers' skill values (``limit`` at most 1,000)."
        raise NotImplementedError

    def get_user_skills(self, *, user_id: str | None=None, skill_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, modified_lt: datetime | str | None=None, modified_lte: datetime | str | None=None, modified_gt: datetime | str | None=None, modified_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.UserSkill]:
        'All matching skill values, lazily (default page 300, max 1,000).'
        raise NotImplementedError

    async def set_user_restriction(self, user_restriction: models.UserRestriction | Mapping) -> models.UserRestriction:
        'Ban a performer (an upsert): a ``SystemUserRestriction``, ``AllProjectsUserRestriction``,'
        raise NotImplementedError

    async def get_user_restriction(self, user_restriction_id: str) -> models.UserRestriction:
        raise NotImplementedError

    async def delete_user_restriction(self, user_restriction_id: str) -> None:
        'Lift a ban (the server answers 204).'
        raise NotImplementedError

    async def find_user_restrictions(self, *, scope: Any=None, user_id: str | None=None, project_id: str | None=None, pool_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of bans (each the subclass of its scope; ``limit`` at most 500).'
        raise NotImplementedError

    def get_user_restrictions(self, *, scope: Any=None, user_id: str | None=None, project_id: str | None=None, pool_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.UserRestriction]:
        'All matching bans, lazily (default page 300, max 500).'
        raise NotImplementedError

    async def get_user(self, user_id: str) -> models.User:
        "A performer's metadata: country, languages, adult_allowed, device and client attributes."
        raise NotImplementedError

    async def compose_message_thread(self, *, recipients_select_type: models.RecipientsSelectType | str, topic: Mapping[str, str], text: Mapping[str, str], answerable: bool=True, recipients_ids: Iterable[str] | None=None, recipients_filter: Mapping[str, Any] | None=None) -> models.MessageThread:
        'Start a thread: ``topic`` and ``text`` are ``{LANG: str}``; recipients are ``DIRECT`` (``recipients_ids``,'
        raise NotImplementedError

    async def reply_message_thread(self, message_thread_id: str, reply: Mapping[str, Any]) -> models.MessageThread:
        'Reply in a thread: ``reply`` is ``{"text": {LANG: str}}`` (or just the ``{LANG: str}`` text).'
        raise NotImplementedError

    async def add_message_thread_to_folders(self, message_thread_id: str, folders: Any) -> models.MessageThread:
        'Put the thread in folders (a list of ``Folder`` or names, e.g. ``["IMPORTANT"]``).'
        raise NotImplementedError

    async def remove_message_thread_from_folders(self, message_thread_id: str, folders: Any) -> models.MessageThread:
        'Take the thread out of folders; ``["UNREAD"]`` marks it read.'
        raise NotImplementedError

    async def find_message_threads(self, *, folder: Any=None, folder_ne: Any=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of message threads. ``folder``/``folder_ne``: a Folder, its name, or a list (e.g. ``["INBOX", "UNREAD"]``).'
        raise NotImplementedError

    def get_message_threads(self, *, folder: Any=None, folder_ne: Any=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.MessageThread]:
        'All matching message threads, lazily (default page 300, max 300); ``folder="UNREAD"`` for the unread ones.'
        raise NotImplementedError

    async def upsert_webhook_subscriptions(self, subscriptions: Iterable[models.WebhookSubscription | Mapping]) -> models.BatchCreateResult:
        'Create or update subscriptions: one ``PUT`` with a JSON array, as toloka-kit sends it.'
        raise NotImplementedError

    async def get_webhook_subscription(self, webhook_subscription_id: str) -> models.WebhookSubscription:
        raise NotImplementedError

    async def delete_webhook_subscription(self, webhook_subscription_id: str) -> None:
        raise NotImplementedError

    async def test_webhook_subscription(self, webhook_subscription_id: str) -> models.WebhookTestResult:
        "Ask Toloka to send a ``TEST_EVENT`` to the subscription's URL now; returns how the receiver answered."
        raise NotImplementedError

    async def find_webhook_subscriptions(self, *, event_type: Any=None, pool_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of webhook subscriptions.'
        raise NotImplementedError

    def get_webhook_subscriptions(self, *, event_type: Any=None, pool_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.WebhookSubscription]:
        'All matching webhook subscriptions, lazily, keyset-paged by id (default page 300, max 300).'
        raise NotImplementedError

    async def find_app_projects(self, *, app_id: str | None=None, parent_app_project_id: str | None=None, status: Any=None, scope: str | None=None, requester_ids: Any=None, after_id: str | None=None, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, name_lt: str | None=None, name_lte: str | None=None, name_gt: str | None=None, name_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of App projects.'
        raise NotImplementedError

    def get_app_projects(self, *, app_id: str | None=None, parent_app_project_id: str | None=None, status: Any=None, scope: str | None=None, requester_ids: Any=None, after_id: str | None=None, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, name_lt: str | None=None, name_lte: str | None=None, name_gt: str | None=None, name_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.AppProject]:
        'All matching App projects (default page 5,000, max 5,000).'
        raise NotImplementedError

    async def get_app_project(self, app_project_id: str) -> models.AppProject:
        raise NotImplementedError

    async def create_app_project(self, app_project: models.AppProject | Mapping) -> models.AppProject:
        'Create an App project (``{app_id, name, parameters}``); it starts in status CREATING.'
        raise NotImplementedError

    async def find_app_batches(self, app_project_id: str, *, status: Any=None, after_id: str | None=None, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, name_lt: str | None=None, name_lte: str | None=None, name_gt: str | None=None, name_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        "One page of an App project's batches."
        raise NotImplementedError

    def get_app_batches(self, app_project_id: str, *, status: Any=None, after_id: str | None=None, name: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, name_lt: str | None=None, name_lte: str | None=None, name_gt: str | None=None, name_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.AppBatch]:
        'All batches of an App project, lazily (default page 1,000, max 1,000).'
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

    async def find_app_items(self, app_project_id: str, *, batch_id: str | None=None, status: Any=None, after_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, finished_lt: datetime | str | None=None, finished_lte: datetime | str | None=None, finished_gt: datetime | str | None=None, finished_gte: datetime | str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        "One page of an App project's items."
        raise NotImplementedError

    def get_app_items(self, app_project_id: str, *, batch_id: str | None=None, status: Any=None, after_id: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, created_lt: datetime | str | None=None, created_lte: datetime | str | None=None, created_gt: datetime | str | None=None, created_gte: datetime | str | None=None, finished_lt: datetime | str | None=None, finished_lte: datetime | str | None=None, finished_gt: datetime | str | None=None, finished_gte: datetime | str | None=None, batch_size: int | None=None) -> AsyncIterator[models.AppItem]:
        'All matching items of an App project (default page 1,000, max 1,000).'
        raise NotImplementedError

    async def find_apps(self, *, after_id: str | None=None, lang: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, sort: Any=None, limit: int | None=None) -> models.SearchResult:
        'One page of Apps (ready-made solutions); ``lang`` picks the language of names and descriptions.'
        raise NotImplementedError

    def get_apps(self, *, after_id: str | None=None, lang: str | None=None, id_lt: str | None=None, id_lte: str | None=None, id_gt: str | None=None, id_gte: str | None=None, batch_size: int | None=None) -> AsyncIterator[models.App]:
        'All Apps, lazily (default page 1,000, max 1,000).'
        raise NotImplementedError

    async def get_app(self, app_id: str, lang: str | None=None) -> models.App:
        'One App (a ready-made solution); ``lang`` picks the language of its texts.'
        raise NotImplementedError

    async def archive_app_project(self, app_project_id: str) -> models.AppProject:
        'Archive an App project; returns it as it is right after.'
        raise NotImplementedError

    async def unarchive_app_project(self, app_project_id: str) -> models.AppProject:
        raise NotImplementedError

    async def create_app_item(self, app_project_id: str, app_item: models.AppItem | Mapping, *, force_new_original: bool | None=None) -> models.AppItem:
        'Add one item (``batch_id`` and ``input_data``) to a batch.'
        raise NotImplementedError

    async def create_app_items(self, app_project_id: str, batch_id: str, items: Iterable[Mapping[str, Any]], *, force_new_original: bool | None=None, ignore_errors: bool | None=None) -> list[str]:
        'Add up to 10,000 items (each a dict of input fields) to a batch; returns the created item ids.'
        raise NotImplementedError

    async def patch_app_batch(self, app_project_id: str, batch_id: str, *, name: str | None=None, priority_order: Any=None) -> models.AppBatch:
        'Rename a batch or change its ``priority_order`` (ONE..FIVE).'
        raise NotImplementedError

    async def resume_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        'Resume a STOPPING or STOPPED batch; returns the batch as it is right after.'
        raise NotImplementedError

    async def get_assignments_df(self, pool_id: str, *, status: Any=None, start_time_from: datetime | str | None=None, start_time_to: datetime | str | None=None, exclude_banned: bool | None=None, field: Any=None) -> Any:
        "The pool's results as a ``pandas.DataFrame``, as the web UI's download and toloka-kit give them: one"
        raise NotImplementedError

    def iter_assignments_table(self, pool_id: str, *, status: Any=None, start_time_from: datetime | str | None=None, start_time_to: datetime | str | None=None, exclude_banned: bool | None=None, field: Any=None) -> AsyncIterator[dict[str, str]]:
        'The export of ``get_assignments_df`` row by row, as dicts of strings keyed by column name, with no'
        raise NotImplementedError

    async def archive_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        'Archive a finished batch; returns the batch as it is right after.'
        raise NotImplementedError

    async def unarchive_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        raise NotImplementedError

    async def start_sync_batch_processing(self, app_project_id: str, name: str, items: Iterable[Mapping[str, Any]]) -> models.AppBatch:
        'Create a batch and label it synchronously (``POST …/batches/sync``): the answer holds the results.'
        raise NotImplementedError
