"""Every public Toloka API method, written once for both clients.

``TolokaApi`` is the shared class body of ``TolokaClient`` and ``AsyncTolokaClient``. Each method builds a plan
(see ``protocol`` and ``core``) and hands it to ``self._run`` (one result) or ``self._iterate`` (a lazy
listing). The sync client's ``_run`` returns the result; the async client's ``_run`` is a coroutine and its
``_iterate`` an async iterator, so ``await client.get_pool(...)`` and ``async for p in client.get_pools()``
follow from the same definitions. Arguments are checked when the method is called, before any request.

Return annotations name the sync result; the async client returns an awaitable of it (or an async iterator
for ``get_*``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from toloka_provider.client import core, models, waits
from toloka_provider.client import pagination as lists
from toloka_provider.client.config import ClientConfig
from toloka_provider.client.core import BatchKind, call, call_json, call_model, flags
from toloka_provider.client.pagination import APPS, V1
from toloka_provider.client.protocol import Plan

TASKS_KIND = BatchKind(f"{V1}/tasks", models.Task, "task_id", 5_000, lists.TASKS, "pool_id")
TASK_SUITES_KIND = BatchKind(f"{V1}/task-suites", models.TaskSuite, "task_suite_id", 5_000, lists.TASK_SUITES, "pool_id")
USER_BONUSES_KIND = BatchKind(f"{V1}/user-bonuses", models.UserBonus, "user_bonus_id", 100, lists.USER_BONUSES, None)

#: Poll interval for the operations that the client waits for on the caller's behalf.
OPERATION_POLL_INTERVAL = 1.0


#: Path ids: a non-empty str (ints are accepted and converted); never a path separator.
_id = waits.check_id


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


class TolokaApi:
    """The Toloka API methods shared by the sync and async clients (see the module docstring)."""

    def __init__(self, config: ClientConfig, clock: Callable[[], float] | None) -> None:
        """What both clients keep of their validated constructor arguments (``config.make_config``)."""
        self.url = config.url
        self._config = config
        self._new_retry_policy = config.new_retry_policy
        self._clock = clock or time.monotonic

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(url={self.url!r})"

    # Provided by the concrete client.

    def _run(self, plan: Plan) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _iterate(self, plan: Plan) -> Any:  # pragma: no cover
        raise NotImplementedError

    # ---- small plan builders --------------------------------------------------------------------------

    def _get(self, model: type, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._run(call_model(self._new_retry_policy, model, "GET", path, params=params))

    def _send(
        self, model: type, method: str, path: str, body: Any, params: Mapping[str, str] | None = None,
        *, idempotent: bool = True,
    ) -> Any:
        return self._run(
            call_model(self._new_retry_policy, model, method, path, body=body, params=params, idempotent=idempotent)
        )

    def _find(self, listing, model, name, filters, sort, limit, path_fields=None) -> Any:
        return self._run(core.prepare_find(self._new_retry_policy, listing, model, name, filters, sort, limit, path_fields))

    def _pages(self, listing, model, name, filters, batch_size, path_fields=None) -> Any:
        return self._iterate(core.prepare_pages(self._new_retry_policy, listing, model, name, filters, batch_size, path_fields))

    def _action_then_get(self, action_path: str, model: type, object_path: str) -> Any:
        def plan() -> Plan:
            yield from core.run_action(self._new_retry_policy, action_path, poll_interval=OPERATION_POLL_INTERVAL)
            return (yield from call_model(self._new_retry_policy, model, "GET", object_path))

        return self._run(plan())

    def _clone(self, path: str, model: type, new_id_key: str, base: str) -> Any:
        def plan() -> Plan:
            # A repeated clone request makes a second clone: retried only after a 429 (see core.call).
            operation = yield from core.run_action(
                self._new_retry_policy, path, poll_interval=OPERATION_POLL_INTERVAL, idempotent=False
            )
            new_id = (operation.details or {}).get(new_id_key) if operation is not None else None
            if not new_id:
                raise ValueError(f"POST {path}: the clone operation did not name the new {new_id_key}")
            return (yield from call_model(self._new_retry_policy, model, "GET", f"{base}/{new_id}"))

        return self._run(plan())

    def _create_many(self, kind: BatchKind, items: Iterable[Any], async_mode: bool, params: dict, open_pool, operation_id):
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TypeError(f"expected a list of objects, got {type(items).__name__}")
        return self._run(
            core.create_batch(
                self._new_retry_policy, kind, list(items), async_mode=async_mode, params=params,
                open_pool=open_pool, operation_id=operation_id, poll_interval=OPERATION_POLL_INTERVAL,
            )
        )

    def _create_one(self, kind: BatchKind, obj: Any, params: dict, open_pool=None) -> Any:
        body = core.as_body(obj, "object")
        return self._run(
            core.create_one(
                self._new_retry_policy, kind, body, params=params, open_pool=open_pool, operation_id=None,
                poll_interval=OPERATION_POLL_INTERVAL,
            )
        )

    def _start_many(self, kind: BatchKind, items: Iterable[Any], params: dict, operation_id: str | None) -> Any:
        import uuid

        bodies = [core.as_body(item, "items") for item in items]
        marked = [{**body, core.ITEM_INDEX_KEY: str(index)} for index, body in enumerate(bodies)]
        return self._run(
            core.start_batch_operation(self._new_retry_policy, kind, marked, params, operation_id or str(uuid.uuid4()))
        )

    # ---- requester ------------------------------------------------------------------------------------

    def get_requester(self) -> models.Requester:
        """The account behind the token (``GET /requester``): id, balance, public name."""
        return self._get(models.Requester, f"{V1}/requester")

    # ---- projects -------------------------------------------------------------------------------------

    def create_project(self, project: models.Project | Mapping) -> models.Project:
        """Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``)."""
        return self._send(models.Project, "POST", f"{V1}/projects", core.as_body(project, "project"), idempotent=False)

    def get_project(self, project_id: str) -> models.Project:
        return self._get(models.Project, f"{V1}/projects/{_id(project_id, 'project_id')}")

    def update_project(self, project_id: str, project: models.Project | Mapping) -> models.Project:
        return self._send(models.Project, "PUT", f"{V1}/projects/{_id(project_id, 'project_id')}", core.as_body(project, "project"))

    def archive_project(self, project_id: str) -> models.Project:
        """Archive; waits for the ``PROJECT.ARCHIVE`` operation and returns the project as it is then."""
        path = f"{V1}/projects/{_id(project_id, 'project_id')}"
        return self._action_then_get(f"{path}/archive", models.Project, path)

    def find_projects(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of projects. Filters: status, owner, id_*/created_* (lt, lte, gt, gte)."""
        return self._find(lists.PROJECTS, models.Project, "find_projects", filters, sort, limit)

    def get_projects(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Project]:
        """All matching projects, lazily (keyset pages of ``batch_size``, default 300, max 300)."""
        return self._pages(lists.PROJECTS, models.Project, "get_projects", filters, batch_size)

    # ---- pools ----------------------------------------------------------------------------------------

    def create_pool(self, pool: models.Pool | Mapping) -> models.Pool:
        """Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``)."""
        return self._send(models.Pool, "POST", f"{V1}/pools", core.as_body(pool, "pool"), idempotent=False)

    def get_pool(self, pool_id: str) -> models.Pool:
        return self._get(models.Pool, f"{V1}/pools/{_id(pool_id, 'pool_id')}")

    def update_pool(self, pool_id: str, pool: models.Pool | Mapping) -> models.Pool:
        """Full replacement (``PUT``); the pool must not be open."""
        return self._send(models.Pool, "PUT", f"{V1}/pools/{_id(pool_id, 'pool_id')}", core.as_body(pool, "pool"))

    def patch_pool(self, pool_id: str, priority: int) -> models.Pool:
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
            raise ValueError(f"priority must be an int from 0 to 100, got {priority!r}")
        return self._send(models.Pool, "PATCH", f"{V1}/pools/{_id(pool_id, 'pool_id')}", {"priority": priority})

    def open_pool(self, pool_id: str) -> models.Pool:
        """Open; returns at once if it is already open (204), else after its operation succeeds."""
        path = f"{V1}/pools/{_id(pool_id, 'pool_id')}"
        return self._action_then_get(f"{path}/open", models.Pool, path)

    def close_pool(self, pool_id: str) -> models.Pool:
        path = f"{V1}/pools/{_id(pool_id, 'pool_id')}"
        return self._action_then_get(f"{path}/close", models.Pool, path)

    def close_pool_for_update(self, pool_id: str) -> models.Pool:
        path = f"{V1}/pools/{_id(pool_id, 'pool_id')}"
        return self._action_then_get(f"{path}/close-for-update", models.Pool, path)

    def archive_pool(self, pool_id: str) -> models.Pool:
        path = f"{V1}/pools/{_id(pool_id, 'pool_id')}"
        return self._action_then_get(f"{path}/archive", models.Pool, path)

    def clone_pool(self, pool_id: str) -> models.Pool:
        """Clone; waits for ``POOL.CLONE`` and returns the new pool (its id is in the operation's details)."""
        return self._clone(f"{V1}/pools/{_id(pool_id, 'pool_id')}/clone", models.Pool, "pool_id", f"{V1}/pools")

    def find_pools(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of pools. Filters: status, project_id, id_*/created_*/last_started_*."""
        return self._find(lists.POOLS, models.Pool, "find_pools", filters, sort, limit)

    def get_pools(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Pool]:
        """All matching pools, lazily (default page 300, max 300)."""
        return self._pages(lists.POOLS, models.Pool, "get_pools", filters, batch_size)

    # ---- trainings ------------------------------------------------------------------------------------

    def create_training(self, training: models.Training | Mapping) -> models.Training:
        """Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``)."""
        return self._send(models.Training, "POST", f"{V1}/trainings", core.as_body(training, "training"), idempotent=False)

    def get_training(self, training_id: str) -> models.Training:
        return self._get(models.Training, f"{V1}/trainings/{_id(training_id, 'training_id')}")

    def update_training(self, training_id: str, training: models.Training | Mapping) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}"
        return self._send(models.Training, "PUT", path, core.as_body(training, "training"))

    def open_training(self, training_id: str) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}"
        return self._action_then_get(f"{path}/open", models.Training, path)

    def close_training(self, training_id: str) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}"
        return self._action_then_get(f"{path}/close", models.Training, path)

    def close_training_for_update(self, training_id: str) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}"
        return self._action_then_get(f"{path}/close-for-update", models.Training, path)

    def archive_training(self, training_id: str) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}"
        return self._action_then_get(f"{path}/archive", models.Training, path)

    def clone_training(self, training_id: str) -> models.Training:
        path = f"{V1}/trainings/{_id(training_id, 'training_id')}/clone"
        return self._clone(path, models.Training, "training_id", f"{V1}/trainings")

    def find_trainings(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of trainings. Filters: status, project_id, id_*/created_*/last_started_*."""
        return self._find(lists.TRAININGS, models.Training, "find_trainings", filters, sort, limit)

    def get_trainings(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Training]:
        return self._pages(lists.TRAININGS, models.Training, "get_trainings", filters, batch_size)

    # ---- tasks ----------------------------------------------------------------------------------------

    def create_task(
        self, task: models.Task | Mapping, *, allow_defaults: bool = False, open_pool: bool = False
    ) -> models.Task:
        """Create one task through the idempotent operation path (safe to retry); returns the created task.

        Raises ``ValidationApiError`` when the task is invalid.
        """
        return self._create_one(TASKS_KIND, task, flags(allow_defaults=allow_defaults), open_pool=open_pool)

    def create_tasks(
        self,
        tasks: Iterable[models.Task | Mapping],
        *,
        async_mode: bool = True,
        allow_defaults: bool = False,
        open_pool: bool = False,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.BatchCreateResult:
        """Create tasks; ``items`` and ``validation_errors`` are keyed by the position in ``tasks`` (str).

        ``async_mode=True`` (default): one request under ``operation_id`` (a uuid4 unless given), safe to retry
        and to re-run with the same ``operation_id``. ``async_mode=False``: requests of at most 5,000 tasks.
        """
        params = flags(allow_defaults=allow_defaults, skip_invalid_items=skip_invalid_items)
        return self._create_many(TASKS_KIND, tasks, async_mode, params, open_pool, operation_id)

    def create_tasks_async(
        self,
        tasks: Iterable[models.Task | Mapping],
        *,
        allow_defaults: bool = False,
        open_pool: bool = False,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.Operation:
        """Start creating tasks and return the ``TASK.BATCH_CREATE`` operation without waiting."""
        params = flags(allow_defaults=allow_defaults, open_pool=open_pool, skip_invalid_items=skip_invalid_items)
        return self._start_many(TASKS_KIND, tasks, params, operation_id)

    def get_task(self, task_id: str) -> models.Task:
        return self._get(models.Task, f"{V1}/tasks/{_id(task_id, 'task_id')}")

    def patch_task(self, task_id: str, **fields: Any) -> models.Task:
        """Patch overlap, infinite_overlap, baseline_solutions, known_solutions, message_on_unknown_solution.

        ``open_pool`` goes to the query string.
        """
        open_pool = fields.pop("open_pool", None)
        body = {key: value for key, value in fields.items() if value is not None}
        return self._send(models.Task, "PATCH", f"{V1}/tasks/{_id(task_id, 'task_id')}", body, flags(open_pool=open_pool))

    def patch_task_overlap_or_min(
        self, task_id: str, overlap: int | None = None, infinite_overlap: bool | None = None
    ) -> models.Task:
        body = {key: value for key, value in (("overlap", overlap), ("infinite_overlap", infinite_overlap)) if value is not None}
        if not body:
            raise ValueError("patch_task_overlap_or_min() needs overlap or infinite_overlap")
        return self._send(models.Task, "PATCH", f"{V1}/tasks/{_id(task_id, 'task_id')}/set-overlap-or-min", body)

    def find_tasks(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of tasks. Filters: pool_id, overlap, id_*/created_*/overlap_*."""
        return self._find(lists.TASKS, models.Task, "find_tasks", filters, sort, limit)

    def get_tasks(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Task]:
        return self._pages(lists.TASKS, models.Task, "get_tasks", filters, batch_size)

    # ---- task suites ----------------------------------------------------------------------------------

    def create_task_suite(
        self, task_suite: models.TaskSuite | Mapping, *, allow_defaults: bool = False, open_pool: bool = False
    ) -> models.TaskSuite:
        return self._create_one(TASK_SUITES_KIND, task_suite, flags(allow_defaults=allow_defaults), open_pool=open_pool)

    def create_task_suites(
        self,
        task_suites: Iterable[models.TaskSuite | Mapping],
        *,
        async_mode: bool = True,
        allow_defaults: bool = False,
        open_pool: bool = False,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.BatchCreateResult:
        params = flags(allow_defaults=allow_defaults, skip_invalid_items=skip_invalid_items)
        return self._create_many(TASK_SUITES_KIND, task_suites, async_mode, params, open_pool, operation_id)

    def create_task_suites_async(
        self,
        task_suites: Iterable[models.TaskSuite | Mapping],
        *,
        allow_defaults: bool = False,
        open_pool: bool = False,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.Operation:
        params = flags(allow_defaults=allow_defaults, open_pool=open_pool, skip_invalid_items=skip_invalid_items)
        return self._start_many(TASK_SUITES_KIND, task_suites, params, operation_id)

    def get_task_suite(self, task_suite_id: str) -> models.TaskSuite:
        return self._get(models.TaskSuite, f"{V1}/task-suites/{_id(task_suite_id, 'task_suite_id')}")

    def patch_task_suite(self, task_suite_id: str, **fields: Any) -> models.TaskSuite:
        """Patch overlap, infinite_overlap, issuing_order_override; ``open_pool`` goes to the query string."""
        open_pool = fields.pop("open_pool", None)
        body = {key: value for key, value in fields.items() if value is not None}
        path = f"{V1}/task-suites/{_id(task_suite_id, 'task_suite_id')}"
        return self._send(models.TaskSuite, "PATCH", path, body, flags(open_pool=open_pool))

    def find_task_suites(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of task suites. Filters: task_id, pool_id, overlap, id_*/created_*/overlap_*."""
        return self._find(lists.TASK_SUITES, models.TaskSuite, "find_task_suites", filters, sort, limit)

    def get_task_suites(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.TaskSuite]:
        return self._pages(lists.TASK_SUITES, models.TaskSuite, "get_task_suites", filters, batch_size)

    # ---- assignments ----------------------------------------------------------------------------------

    def get_assignment(self, assignment_id: str) -> models.Assignment:
        return self._get(models.Assignment, f"{V1}/assignments/{_id(assignment_id, 'assignment_id')}")

    def patch_assignment(self, assignment_id: str, status: Any, public_comment: str | None = None) -> models.Assignment:
        """Set ACCEPTED or REJECTED. A 409 means the assignment is already decided (the caller may treat it as done)."""
        body: dict[str, Any] = {"status": _value(status)}
        if public_comment is not None:
            body["public_comment"] = public_comment
        return self._send(models.Assignment, "PATCH", f"{V1}/assignments/{_id(assignment_id, 'assignment_id')}", body)

    def accept_assignment(self, assignment_id: str, public_comment: str | None = None) -> models.Assignment:
        return self.patch_assignment(assignment_id, "ACCEPTED", public_comment)

    def reject_assignment(self, assignment_id: str, public_comment: str) -> models.Assignment:
        if not public_comment:
            raise ValueError("reject_assignment() needs a public_comment: Toloka shows it to the performer")
        return self.patch_assignment(assignment_id, "REJECTED", public_comment)

    def find_assignments(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of assignments.

        Filters: status (a str, an AssignmentStatus, or a list of either), task_id, task_suite_id, pool_id,
        user_id, and id/created/submitted/accepted/rejected/skipped/expired with _lt/_lte/_gt/_gte.
        """
        return self._find(lists.ASSIGNMENTS, models.Assignment, "find_assignments", filters, sort, limit)

    def get_assignments(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Assignment]:
        """All matching assignments, lazily; pages of ``batch_size`` (default 1,000, max 100,000)."""
        return self._pages(lists.ASSIGNMENTS, models.Assignment, "get_assignments", filters, batch_size)

    def get_assignments_raw(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[list[dict]]:
        """Like ``get_assignments`` but yields each page as a list of plain dicts, without building models.

        For bulk export: the response body goes through ``json.loads`` and nothing else.
        """
        return self._pages(lists.ASSIGNMENTS, None, "get_assignments_raw", filters, batch_size)

    # ---- attachments ----------------------------------------------------------------------------------

    def get_attachment(self, attachment_id: str) -> models.Attachment:
        return self._get(models.Attachment, f"{V1}/attachments/{_id(attachment_id, 'attachment_id')}")

    def download_attachment(self, attachment_id: str, out: BinaryIO) -> None:
        """Write the attachment's bytes to the binary stream ``out``."""
        path = f"{V1}/attachments/{_id(attachment_id, 'attachment_id')}/download"

        def plan() -> Plan:
            response = yield from call(self._new_retry_policy, "GET", path)
            out.write(response.body)

        return self._run(plan())

    @staticmethod
    def _check_attachment_filters(name: str, filters: Mapping[str, Any]) -> None:
        if filters.get("pool_id") is None and filters.get("assignment_id") is None:
            raise ValueError(f"{name}() needs pool_id or assignment_id")

    def find_attachments(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of attachments. Filters: pool_id or assignment_id (one required), name, type, user_id, id_*, created_*."""
        self._check_attachment_filters("find_attachments", filters)
        return self._find(lists.ATTACHMENTS, models.Attachment, "find_attachments", filters, sort, limit)

    def get_attachments(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Attachment]:
        """All matching attachments (default page 100, max 100)."""
        self._check_attachment_filters("get_attachments", filters)
        return self._pages(lists.ATTACHMENTS, models.Attachment, "get_attachments", filters, batch_size)

    # ---- operations -----------------------------------------------------------------------------------

    def get_operation(self, operation_id: str) -> models.Operation:
        return self._get(models.Operation, core.operation_path(_id(operation_id, "operation_id")))

    def get_operation_log(self, operation_id: str) -> list[models.OperationLogItem]:
        path = f"{core.operation_path(_id(operation_id, 'operation_id'))}/log"

        def plan() -> Plan:
            data = yield from call_json(self._new_retry_policy, "GET", path)
            return [models.OperationLogItem.from_json_dict(item) for item in data or ()]

        return self._run(plan())

    def wait_operation(
        self, operation: models.Operation | str, timeout: float | None = 600.0, poll_interval: float = 1.0
    ) -> models.Operation:
        """Poll until the operation is SUCCESS or FAIL and return it (a completed one is returned at once).

        Raises ``OperationTimeoutError`` (a ``TimeoutError``) after ``timeout`` seconds; None waits forever.
        It does not raise on FAIL: call ``raise_on_fail()`` on the result.
        """
        return self._run(core.wait_operation(self._new_retry_policy, operation, timeout, poll_interval))

    def find_operations(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of operations. Filters: type, status, id_*/submitted_*/finished_*."""
        return self._find(lists.OPERATIONS, models.Operation, "find_operations", filters, sort, limit)

    def get_operations(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.Operation]:
        return self._pages(lists.OPERATIONS, models.Operation, "get_operations", filters, batch_size)

    # ---- aggregation ----------------------------------------------------------------------------------

    @staticmethod
    def _aggregation_body(type: Any, fields: Iterable[Any], answer_weight_skill_id: str | None, **ids: str) -> dict:
        if isinstance(fields, str):
            fields = [fields]
        body: dict[str, Any] = {"type": _value(type), **ids}
        body["fields"] = [{"name": field} if isinstance(field, str) else dict(field) for field in fields]
        if not body["fields"]:
            raise ValueError("fields must name at least one output field to aggregate")
        if answer_weight_skill_id is not None:
            body["answer_weight_skill_id"] = answer_weight_skill_id
        return body

    def aggregate_solutions_by_pool(
        self, type: Any, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None = None
    ) -> models.Operation:
        """Start aggregating a pool (DAWID_SKENE or WEIGHTED_DYNAMIC_OVERLAP); returns the operation.

        ``fields``: output field names (or ``{"name": ...}`` dicts). Read results with
        ``get_aggregated_solutions(operation.id)`` once the operation succeeds.
        """
        body = self._aggregation_body(type, fields, answer_weight_skill_id, pool_id=_id(pool_id, "pool_id"))
        return self._send(models.Operation, "POST", f"{V1}/aggregated-solutions/aggregate-by-pool", body)

    def aggregate_solutions_by_task(
        self, type: Any, task_id: str, pool_id: str, fields: Iterable[Any], answer_weight_skill_id: str | None = None
    ) -> models.AggregatedSolution:
        body = self._aggregation_body(
            type, fields, answer_weight_skill_id, task_id=_id(task_id, "task_id"), pool_id=_id(pool_id, "pool_id")
        )
        return self._send(models.AggregatedSolution, "POST", f"{V1}/aggregated-solutions/aggregate-by-task", body)

    def find_aggregated_solutions(
        self, operation_id: str, *, sort: Any = None, limit: int | None = None, **filters: Any
    ) -> models.SearchResult:
        """One page of an aggregation's results. Filters: task_id_lt/lte/gt/gte."""
        fields = {"operation_id": _id(operation_id, "operation_id")}
        return self._find(
            lists.AGGREGATED_SOLUTIONS, models.AggregatedSolution, "find_aggregated_solutions", filters, sort, limit, fields
        )

    def get_aggregated_solutions(
        self, operation_id: str, *, batch_size: int | None = None, **filters: Any
    ) -> Iterator[models.AggregatedSolution]:
        """All results of an aggregation, keyset-paged by ``task_id``."""
        fields = {"operation_id": _id(operation_id, "operation_id")}
        return self._pages(
            lists.AGGREGATED_SOLUTIONS, models.AggregatedSolution, "get_aggregated_solutions", filters, batch_size, fields
        )

    # ---- analytics ------------------------------------------------------------------------------------

    def get_analytics(self, requests: Iterable[Mapping[str, Any]]) -> models.Operation:
        """Start an analytics request (``[{"subject": "POOL", "subject_id": ..., "name": ...}]``, up to 10)."""
        body = [dict(request) for request in requests]
        if not body or len(body) > 10:
            raise ValueError(f"get_analytics() takes 1 to 10 requests, got {len(body)}")
        return self._send(models.Operation, "POST", "/api/staging/analytics-2", body)

    def get_pool_completion_percentage(self, pool_id: str, timeout: float | None = 60.0) -> int:
        """The pool's completion percentage (0..100): an analytics request, waited for."""
        return self._run(waits.completion_percentage(self._new_retry_policy, _id(pool_id, "pool_id"), timeout))

    # ---- user bonuses ---------------------------------------------------------------------------------

    def create_user_bonus(self, user_bonus: models.UserBonus | Mapping) -> models.UserBonus:
        """Create one bonus through the idempotent operation path (a retry cannot pay twice)."""
        return self._create_one(USER_BONUSES_KIND, user_bonus, {})

    def create_user_bonuses(
        self,
        user_bonuses: Iterable[models.UserBonus | Mapping],
        *,
        async_mode: bool = True,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.BatchCreateResult:
        """Create bonuses (sync mode: at most 100 per request, split automatically)."""
        params = flags(skip_invalid_items=skip_invalid_items)
        return self._create_many(USER_BONUSES_KIND, user_bonuses, async_mode, params, None, operation_id)

    def create_user_bonuses_async(
        self,
        user_bonuses: Iterable[models.UserBonus | Mapping],
        *,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> models.Operation:
        return self._start_many(USER_BONUSES_KIND, user_bonuses, flags(skip_invalid_items=skip_invalid_items), operation_id)

    def get_user_bonus(self, user_bonus_id: str) -> models.UserBonus:
        return self._get(models.UserBonus, f"{V1}/user-bonuses/{_id(user_bonus_id, 'user_bonus_id')}")

    def find_user_bonuses(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of bonuses. Filters: user_id, assignment_id, private_comment, id_*, created_*."""
        return self._find(lists.USER_BONUSES, models.UserBonus, "find_user_bonuses", filters, sort, limit)

    def get_user_bonuses(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.UserBonus]:
        return self._pages(lists.USER_BONUSES, models.UserBonus, "get_user_bonuses", filters, batch_size)

    # ---- apps -----------------------------------------------------------------------------------------

    def find_app_projects(self, *, sort: Any = None, limit: int | None = None, **filters: Any) -> models.SearchResult:
        """One page of App projects. Filters: app_id, parent_app_project_id, status, scope, requester_ids, id_*, name_*, created_*."""
        return self._find(lists.APP_PROJECTS, models.AppProject, "find_app_projects", filters, sort, limit)

    def get_app_projects(self, *, batch_size: int | None = None, **filters: Any) -> Iterator[models.AppProject]:
        """All matching App projects (default page 5,000, max 5,000)."""
        return self._pages(lists.APP_PROJECTS, models.AppProject, "get_app_projects", filters, batch_size)

    def get_app_project(self, app_project_id: str) -> models.AppProject:
        return self._get(models.AppProject, f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}")

    def create_app_project(self, app_project: models.AppProject | Mapping) -> models.AppProject:
        """Create an App project (``{app_id, name, parameters}``); it starts in status CREATING.

        Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``).
        """
        return self._send(
            models.AppProject, "POST", f"{APPS}/app-projects", core.as_body(app_project, "app_project"), idempotent=False
        )

    def find_app_batches(
        self, app_project_id: str, *, sort: Any = None, limit: int | None = None, **filters: Any
    ) -> models.SearchResult:
        """One page of an App project's batches. Filters: status, name, id_*, name_*, created_*."""
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._find(lists.APP_BATCHES, models.AppBatch, "find_app_batches", filters, sort, limit, fields)

    def get_app_batches(
        self, app_project_id: str, *, batch_size: int | None = None, **filters: Any
    ) -> Iterator[models.AppBatch]:
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._pages(lists.APP_BATCHES, models.AppBatch, "get_app_batches", filters, batch_size, fields)

    def get_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/batches/{_id(batch_id, 'batch_id')}"
        return self._get(models.AppBatch, path)

    def create_app_batch(
        self, app_project_id: str, name: str, items: Iterable[Mapping[str, Any]], priority_order: Any = None
    ) -> models.AppBatch:
        """Create a batch of items (each a dict of input fields), at most 10,000; it starts in status NEW.

        Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``), and a
        second batch would be paid for twice.
        """
        item_list = [dict(item) for item in items]
        if len(item_list) > 10_000:
            raise ValueError(f"create_app_batch() takes at most 10000 items, got {len(item_list)}")
        body: dict[str, Any] = {"name": name, "items": item_list}
        if priority_order is not None:
            body["priority_order"] = _value(priority_order)
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/batches"
        return self._send(models.AppBatch, "POST", path, body, idempotent=False)

    def _app_batch_action(self, app_project_id: str, batch_id: str, action: str) -> models.AppBatch:
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/batches/{_id(batch_id, 'batch_id')}"

        def plan() -> Plan:
            yield from call(self._new_retry_policy, "POST", f"{path}/{action}")
            return (yield from call_model(self._new_retry_policy, models.AppBatch, "GET", path))

        return self._run(plan())

    def start_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        """Send the batch for labeling; returns the batch as it is right after (processing is asynchronous)."""
        return self._app_batch_action(app_project_id, batch_id, "start")

    def stop_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        return self._app_batch_action(app_project_id, batch_id, "stop")

    def get_app_item(self, app_project_id: str, item_id: str) -> models.AppItem:
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/items/{_id(item_id, 'item_id')}"
        return self._get(models.AppItem, path)

    def find_app_items(
        self, app_project_id: str, *, sort: Any = None, limit: int | None = None, **filters: Any
    ) -> models.SearchResult:
        """One page of an App project's items. Filters: batch_id, status, id_*, created_*, finished_*."""
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._find(lists.APP_ITEMS, models.AppItem, "find_app_items", filters, sort, limit, fields)

    def get_app_items(
        self, app_project_id: str, *, batch_size: int | None = None, **filters: Any
    ) -> Iterator[models.AppItem]:
        """All matching items (default page 1,000, max 1,000)."""
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._pages(lists.APP_ITEMS, models.AppItem, "get_app_items", filters, batch_size, fields)

