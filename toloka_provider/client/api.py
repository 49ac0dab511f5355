"""Every public Toloka API method, written once for both clients.

``TolokaApi`` is the shared class body of ``TolokaClient`` and ``AsyncTolokaClient``. Each method builds a plan
(see ``protocol`` and ``core``) and hands it to ``self._run`` (one result, through the client's ``run_plan``) or ``self._iterate`` (a lazy
listing). The sync client's ``_run`` returns the result; the async client's ``_run`` is a coroutine and its
``_iterate`` an async iterator, so ``await client.get_pool(...)`` and ``async for p in client.get_pools()``
follow from the same definitions. Arguments are checked when the method is called, before any request.

Return annotations name the sync result; the async client returns an awaitable of it (or an async iterator
for ``get_*``).
"""

from __future__ import annotations

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

TASKS_KIND = BatchKind(f"{V1}/tasks", models.Task, "task_id", 5_000, lists.TASKS, "pool_id")
TASK_SUITES_KIND = BatchKind(f"{V1}/task-suites", models.TaskSuite, "task_suite_id", 5_000, lists.TASK_SUITES, "pool_id")
USER_BONUSES_KIND = BatchKind(f"{V1}/user-bonuses", models.UserBonus, "user_bonus_id", 100, lists.USER_BONUSES, None)

log = logging.getLogger("toloka_provider.client")

#: Poll interval for the operations that the client waits for on the caller's behalf.
OPERATION_POLL_INTERVAL = 1.0


def _bad(argument: str, expected: str, got: Any) -> TolokaArgumentError:
    """The one shape of an argument error: which argument, what it must be, what came."""
    return TolokaArgumentError(f"{argument} must be {expected}, got {type(got).__name__} {got!r}")


#: Path ids: a non-empty str (ints are accepted and converted); never a path separator. One check for the
#: API methods and the waits.
_id = core.check_id


#: Parameters of find_*/get_* that are not query filters.
_NOT_FILTERS = frozenset({"self", "sort", "limit", "batch_size", "operation_id", "app_project_id"})


def _given(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The filters a find_*/get_* call was given (its ``locals()`` on entry), None ones dropped.

    Filters are explicit keyword parameters, so a misspelt one is Python's own TypeError; enum-valued ones
    other than ``status`` (scope, folder, event_type) are checked by name here, before any request.
    """
    filters = {key: value for key, value in arguments.items() if key not in _NOT_FILTERS and value is not None}
    for key, enum_class in more.ENUM_FILTERS.items():
        if key in filters:
            _check_enum_names(key, filters[key], enum_class)
    return filters


def _check_enum_names(argument: str, value: Any, enum_class: type[enum.Enum]) -> None:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    known = [member.value for member in enum_class]
    for item in values:
        # An enum instance passes: that is how a caller asks for a value newer than this client.
        if type(item) is str and item not in known:
            raise _bad(argument, f"one of {', '.join(known)} (or a list of them)", item)
        if not isinstance(item, str):
            raise _bad(argument, f"a {enum_class.__name__}, its name, or a list of them", item)


def _need_pool_or_assignment(name: str, filters: Mapping[str, Any]) -> None:
    if filters.get("pool_id") is None and filters.get("assignment_id") is None:
        raise TolokaArgumentError(f"{name}() needs pool_id or assignment_id, got neither")


def _value(value: Any) -> Any:
    return getattr(value, "value", value)


#: Server-set fields that a copy must not send back (clone_project).
_PROJECT_READ_ONLY = frozenset({"id", "status", "created", "owner"})
_POOL_READ_ONLY = frozenset(
    {"id", "status", "last_close_reason", "created", "last_started", "last_stopped", "owner", "type"}
)


def _without(data: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


def _cloned_quality_control(quality_control: Any, new_training_ids: Mapping[str, str], reuse_controllers: bool) -> Any:
    """A copy of a quality_control dict for a cloned pool or project (see ``clone_project``)."""
    if not isinstance(quality_control, Mapping):
        return quality_control
    copied = copy.deepcopy(dict(quality_control))
    if not reuse_controllers:
        for config in copied.get("configs") or ():
            collector = config.get("collector_config") if isinstance(config, dict) else None
            if isinstance(collector, dict):
                collector.pop("uuid", None)
    requirement = copied.get("training_requirement")
    if isinstance(requirement, dict) and requirement.get("training_pool_id") is not None:
        old_id = str(requirement["training_pool_id"])
        if old_id in new_training_ids:
            requirement["training_pool_id"] = new_training_ids[old_id]
        else:
            log.warning("clone_project: training %s is not in the project; the requirement keeps pointing to it", old_id)
    return copied


def _lang_map(value: Any, argument: str) -> dict[str, str]:
    """Message texts are ``{LANG: str}`` (e.g. ``{"EN": "Thanks!"}``)."""
    if not isinstance(value, Mapping) or not value or not all(
        isinstance(key, str) and isinstance(text, str) for key, text in value.items()
    ):
        raise _bad(argument, 'a non-empty {LANG: text} dict, e.g. {"EN": "Thanks!"}', value)
    return dict(value)


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

    def _get(self, model: type[models.BaseModel], path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._run(call_model(self._new_retry_policy, model, "GET", path, params=params))

    def _send(
        self, model: type[models.BaseModel], method: str, path: str, body: Any,
        params: Mapping[str, str] | None = None, *, idempotent: bool = True,
    ) -> Any:
        return self._run(
            call_model(self._new_retry_policy, model, method, path, body=body, params=params, idempotent=idempotent)
        )

    def _find(self, listing, model, name, filters, sort, limit, path_fields=None) -> Any:
        return self._run(core.prepare_find(self._new_retry_policy, listing, model, name, filters, sort, limit, path_fields))

    def _pages(self, listing, model, name, filters, batch_size, path_fields=None) -> Any:
        return self._iterate(core.prepare_pages(self._new_retry_policy, listing, model, name, filters, batch_size, path_fields))

    def _action_then_get(self, action_path: str, model: type[models.BaseModel], object_path: str) -> Any:
        def plan() -> Plan:
            yield from core.run_action(self._new_retry_policy, action_path, poll_interval=OPERATION_POLL_INTERVAL)
            return (yield from call_model(self._new_retry_policy, model, "GET", object_path))

        return self._run(plan())

    def _clone(self, path: str, model: type[models.BaseModel], new_id_key: str, base: str) -> Any:
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
            raise _bad("items", "a list of model objects or dicts", items)
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

    def _start_action(self, action_path: str, *, idempotent: bool = True) -> Any:
        """POST an action and return its Operation without waiting (None when the server answers 204:
        the object is already in that state)."""

        def plan() -> Plan:
            response = yield from call(self._new_retry_policy, "POST", action_path, idempotent=idempotent)
            if response.status == 204 or not response.body:
                return None
            return models.Operation.from_json_dict(json.loads(response.body))

        return self._run(plan())

    def _delete(self, path: str) -> None:
        def plan() -> Plan:
            yield from call(self._new_retry_policy, "DELETE", path)

        return self._run(plan())

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

    def archive_project_async(self, project_id: str) -> models.Operation | None:
        """Start archiving; returns the ``PROJECT.ARCHIVE`` operation without waiting (None on 204)."""
        return self._start_action(f"{V1}/projects/{_id(project_id, 'project_id')}/archive")

    def check_update_project_for_major_version_change(
        self, project_id: str, project: models.Project | Mapping
    ) -> models.ProjectUpdateDifferenceLevel:
        """Whether ``update_project(project_id, project)`` would be a breaking change, without applying it:
        EQUAL, NON_BREAKING_CHANGE or BREAKING_CHANGE (``POST /api/staging/projects/{id}/check``)."""
        path = f"/api/staging/projects/{_id(project_id, 'project_id')}/check"
        body = core.as_body(project, "project")

        def plan() -> Plan:
            data = yield from call_json(self._new_retry_policy, "POST", path, body=body)
            level = data.get("differenceLevel") if isinstance(data, Mapping) else None
            if not isinstance(level, str):
                raise ValueError(f"POST {path}: the answer has no differenceLevel: {data!r}")
            return models.ProjectUpdateDifferenceLevel(level)

        return self._run(plan())

    def clone_project(self, project_id: str, reuse_controllers: bool = True) -> models.CloneResults:
        """Copy a project with all its trainings and pools (no tasks); returns ``CloneResults(project, pools,
        trainings)``.

        Like toloka-kit: the copies keep their expiry dates and skills; each pool's (and the project's)
        ``quality_control.training_requirement.training_pool_id`` is re-pointed to the copy of that training;
        ``reuse_controllers=False`` drops the collectors' ``uuid`` so the copies count answers on their own.
        Unlike toloka-kit, read-only fields (id, status, created, owner...) are not sent back, and a training
        requirement that names a training outside the project is left as it is (with a warning) instead of
        failing half-way with a KeyError. Several requests: if one fails, the project is partly cloned.
        """
        if not isinstance(reuse_controllers, bool):
            raise _bad("reuse_controllers", "a bool", reuse_controllers)
        source_id = _id(project_id, "project_id")
        policy = self._new_retry_policy

        def plan() -> Plan:
            project = yield from call_json(policy, "GET", f"{V1}/projects/{source_id}")
            quality_control = project.pop("quality_control", None)
            body = _without(project, _PROJECT_READ_ONLY)
            new_project = yield from call_model(
                policy, models.Project, "POST", f"{V1}/projects", body=body, idempotent=False
            )
            trainings = yield from core.collect(
                core.prepare_pages(policy, lists.TRAININGS, None, "clone_project", {"project_id": source_id}, None)
            )
            new_ids: dict[str, str] = {}
            new_trainings = []
            for page in trainings:
                for training in page:
                    body = {**_without(training, _POOL_READ_ONLY), "project_id": new_project.id}
                    created = yield from call_model(
                        policy, models.Training, "POST", f"{V1}/trainings", body=body, idempotent=False
                    )
                    new_ids[str(training["id"])] = created.id
                    new_trainings.append(created)
            if quality_control is not None:
                new_body = {
                    **_without(new_project.to_json_dict(), _PROJECT_READ_ONLY),
                    "quality_control": _cloned_quality_control(quality_control, new_ids, reuse_controllers),
                }
                new_project = yield from call_model(
                    policy, models.Project, "PUT", f"{V1}/projects/{new_project.id}", body=new_body
                )
            pools = yield from core.collect(
                core.prepare_pages(policy, lists.POOLS, None, "clone_project", {"project_id": source_id}, None)
            )
            new_pools = []
            for page in pools:
                for pool in page:
                    body = {**_without(pool, _POOL_READ_ONLY), "project_id": new_project.id}
                    if body.get("quality_control") is not None:
                        body["quality_control"] = _cloned_quality_control(
                            body["quality_control"], new_ids, reuse_controllers
                        )
                    new_pools.append(
                        (yield from call_model(policy, models.Pool, "POST", f"{V1}/pools", body=body, idempotent=False))
                    )
            return models.CloneResults(new_project, new_pools, new_trainings)

        return self._run(plan())

    def find_projects(
        self,
        *,
        status: Any = None, owner: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of projects."""
        filters = _given(locals())
        return self._find(lists.PROJECTS, models.Project, "find_projects", filters, sort, limit)

    def get_projects(
        self,
        *,
        status: Any = None, owner: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Project]:
        """All matching projects, lazily (keyset pages of ``batch_size``, default 300, max 300)."""
        filters = _given(locals())
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
            raise _bad("priority", "an int from 0 to 100", priority)
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

    def open_pool_async(self, pool_id: str) -> models.Operation | None:
        """Start opening; returns the ``POOL.OPEN`` operation without waiting, or None if already open (204)."""
        return self._start_action(f"{V1}/pools/{_id(pool_id, 'pool_id')}/open")

    def close_pool_async(self, pool_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/pools/{_id(pool_id, 'pool_id')}/close")

    def close_pool_for_update_async(self, pool_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/pools/{_id(pool_id, 'pool_id')}/close-for-update")

    def archive_pool_async(self, pool_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/pools/{_id(pool_id, 'pool_id')}/archive")

    def clone_pool_async(self, pool_id: str) -> models.Operation:
        """Start cloning; the new pool's id is in ``operation.details["pool_id"]`` once it succeeds.

        Retried only after a 429: a repeated clone request makes a second clone (see ``core.call``).
        """
        return self._start_action(f"{V1}/pools/{_id(pool_id, 'pool_id')}/clone", idempotent=False)

    def find_pools(
        self,
        *,
        status: Any = None, project_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        last_started_lt: datetime | str | None = None, last_started_lte: datetime | str | None = None,
        last_started_gt: datetime | str | None = None, last_started_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of pools."""
        filters = _given(locals())
        return self._find(lists.POOLS, models.Pool, "find_pools", filters, sort, limit)

    def get_pools(
        self,
        *,
        status: Any = None, project_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        last_started_lt: datetime | str | None = None, last_started_lte: datetime | str | None = None,
        last_started_gt: datetime | str | None = None, last_started_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Pool]:
        """All matching pools, lazily (default page 300, max 300)."""
        filters = _given(locals())
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

    def open_training_async(self, training_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/trainings/{_id(training_id, 'training_id')}/open")

    def close_training_async(self, training_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/trainings/{_id(training_id, 'training_id')}/close")

    def archive_training_async(self, training_id: str) -> models.Operation | None:
        return self._start_action(f"{V1}/trainings/{_id(training_id, 'training_id')}/archive")

    def clone_training_async(self, training_id: str) -> models.Operation:
        """Start cloning; the new training's id is in ``operation.details["training_id"]``. Retried only after a 429."""
        return self._start_action(f"{V1}/trainings/{_id(training_id, 'training_id')}/clone", idempotent=False)

    def find_trainings(
        self,
        *,
        status: Any = None, project_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        last_started_lt: datetime | str | None = None, last_started_lte: datetime | str | None = None,
        last_started_gt: datetime | str | None = None, last_started_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of trainings."""
        filters = _given(locals())
        return self._find(lists.TRAININGS, models.Training, "find_trainings", filters, sort, limit)

    def get_trainings(
        self,
        *,
        status: Any = None, project_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        last_started_lt: datetime | str | None = None, last_started_lte: datetime | str | None = None,
        last_started_gt: datetime | str | None = None, last_started_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Training]:
        """All matching trainings, lazily (default page 300, max 300)."""
        filters = _given(locals())
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

    def patch_task(
        self,
        task_id: str,
        *,
        overlap: int | None = None,
        infinite_overlap: bool | None = None,
        baseline_solutions: list[dict[str, Any]] | None = None,
        known_solutions: list[dict[str, Any]] | None = None,
        message_on_unknown_solution: str | None = None,
        open_pool: bool | None = None,
    ) -> models.Task:
        """Patch the given fields (None ones are not sent); ``open_pool`` goes to the query string."""
        fields = {
            "overlap": overlap, "infinite_overlap": infinite_overlap, "baseline_solutions": baseline_solutions,
            "known_solutions": known_solutions, "message_on_unknown_solution": message_on_unknown_solution,
        }  # fmt: skip
        body = {key: value for key, value in fields.items() if value is not None}
        return self._send(models.Task, "PATCH", f"{V1}/tasks/{_id(task_id, 'task_id')}", body, flags(open_pool=open_pool))

    def patch_task_overlap_or_min(
        self, task_id: str, overlap: int | None = None, infinite_overlap: bool | None = None
    ) -> models.Task:
        body = {key: value for key, value in (("overlap", overlap), ("infinite_overlap", infinite_overlap)) if value is not None}
        if not body:
            raise TolokaArgumentError("patch_task_overlap_or_min() needs overlap or infinite_overlap, got neither")
        return self._send(models.Task, "PATCH", f"{V1}/tasks/{_id(task_id, 'task_id')}/set-overlap-or-min", body)

    def find_tasks(
        self,
        *,
        pool_id: str | None = None, overlap: int | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        overlap_lt: int | None = None, overlap_lte: int | None = None, overlap_gt: int | None = None,
        overlap_gte: int | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of tasks."""
        filters = _given(locals())
        return self._find(lists.TASKS, models.Task, "find_tasks", filters, sort, limit)

    def get_tasks(
        self,
        *,
        pool_id: str | None = None, overlap: int | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        overlap_lt: int | None = None, overlap_lte: int | None = None, overlap_gt: int | None = None,
        overlap_gte: int | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Task]:
        """All matching tasks, lazily (default page 300, max 300)."""
        filters = _given(locals())
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

    def patch_task_suite(
        self,
        task_suite_id: str,
        *,
        overlap: int | None = None,
        infinite_overlap: bool | None = None,
        issuing_order_override: float | None = None,
        open_pool: bool | None = None,
    ) -> models.TaskSuite:
        """Patch the given fields (None ones are not sent); ``open_pool`` goes to the query string."""
        fields = {"overlap": overlap, "infinite_overlap": infinite_overlap, "issuing_order_override": issuing_order_override}
        body = {key: value for key, value in fields.items() if value is not None}
        path = f"{V1}/task-suites/{_id(task_suite_id, 'task_suite_id')}"
        return self._send(models.TaskSuite, "PATCH", path, body, flags(open_pool=open_pool))

    def patch_task_suite_overlap_or_min(self, task_suite_id: str, overlap: int) -> models.TaskSuite:
        """Set the suite's overlap, or the smallest value the server allows; ``overlap=0`` stops issuing it."""
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= 30_000:
            raise _bad("overlap", "an int from 0 to 30000", overlap)
        path = f"{V1}/task-suites/{_id(task_suite_id, 'task_suite_id')}/set-overlap-or-min"
        return self._send(models.TaskSuite, "PATCH", path, {"overlap": overlap})

    def find_task_suites(
        self,
        *,
        task_id: str | None = None, pool_id: str | None = None, overlap: int | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, overlap_lt: int | None = None,
        overlap_lte: int | None = None, overlap_gt: int | None = None, overlap_gte: int | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of task suites."""
        filters = _given(locals())
        return self._find(lists.TASK_SUITES, models.TaskSuite, "find_task_suites", filters, sort, limit)

    def get_task_suites(
        self,
        *,
        task_id: str | None = None, pool_id: str | None = None, overlap: int | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, overlap_lt: int | None = None,
        overlap_lte: int | None = None, overlap_gt: int | None = None, overlap_gte: int | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.TaskSuite]:
        """All matching task suites, lazily (default page 300, max 300)."""
        filters = _given(locals())
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
            raise _bad("public_comment", "a non-empty str (Toloka shows it to the performer)", public_comment)
        return self.patch_assignment(assignment_id, "REJECTED", public_comment)

    def find_assignments(
        self,
        *,
        status: Any = None, task_id: str | None = None, task_suite_id: str | None = None,
        pool_id: str | None = None, user_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        submitted_lt: datetime | str | None = None, submitted_lte: datetime | str | None = None,
        submitted_gt: datetime | str | None = None, submitted_gte: datetime | str | None = None,
        accepted_lt: datetime | str | None = None, accepted_lte: datetime | str | None = None,
        accepted_gt: datetime | str | None = None, accepted_gte: datetime | str | None = None,
        rejected_lt: datetime | str | None = None, rejected_lte: datetime | str | None = None,
        rejected_gt: datetime | str | None = None, rejected_gte: datetime | str | None = None,
        skipped_lt: datetime | str | None = None, skipped_lte: datetime | str | None = None,
        skipped_gt: datetime | str | None = None, skipped_gte: datetime | str | None = None,
        expired_lt: datetime | str | None = None, expired_lte: datetime | str | None = None,
        expired_gt: datetime | str | None = None, expired_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of assignments. ``status``: a str, an AssignmentStatus, or a list of either."""
        filters = _given(locals())
        return self._find(lists.ASSIGNMENTS, models.Assignment, "find_assignments", filters, sort, limit)

    def get_assignments(
        self,
        *,
        status: Any = None, task_id: str | None = None, task_suite_id: str | None = None,
        pool_id: str | None = None, user_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        submitted_lt: datetime | str | None = None, submitted_lte: datetime | str | None = None,
        submitted_gt: datetime | str | None = None, submitted_gte: datetime | str | None = None,
        accepted_lt: datetime | str | None = None, accepted_lte: datetime | str | None = None,
        accepted_gt: datetime | str | None = None, accepted_gte: datetime | str | None = None,
        rejected_lt: datetime | str | None = None, rejected_lte: datetime | str | None = None,
        rejected_gt: datetime | str | None = None, rejected_gte: datetime | str | None = None,
        skipped_lt: datetime | str | None = None, skipped_lte: datetime | str | None = None,
        skipped_gt: datetime | str | None = None, skipped_gte: datetime | str | None = None,
        expired_lt: datetime | str | None = None, expired_lte: datetime | str | None = None,
        expired_gt: datetime | str | None = None, expired_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Assignment]:
        """All matching assignments, lazily; pages of ``batch_size`` (default 1,000, max 100,000)."""
        filters = _given(locals())
        return self._pages(lists.ASSIGNMENTS, models.Assignment, "get_assignments", filters, batch_size)

    def get_assignments_raw(
        self,
        *,
        status: Any = None, task_id: str | None = None, task_suite_id: str | None = None,
        pool_id: str | None = None, user_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        submitted_lt: datetime | str | None = None, submitted_lte: datetime | str | None = None,
        submitted_gt: datetime | str | None = None, submitted_gte: datetime | str | None = None,
        accepted_lt: datetime | str | None = None, accepted_lte: datetime | str | None = None,
        accepted_gt: datetime | str | None = None, accepted_gte: datetime | str | None = None,
        rejected_lt: datetime | str | None = None, rejected_lte: datetime | str | None = None,
        rejected_gt: datetime | str | None = None, rejected_gte: datetime | str | None = None,
        skipped_lt: datetime | str | None = None, skipped_lte: datetime | str | None = None,
        skipped_gt: datetime | str | None = None, skipped_gte: datetime | str | None = None,
        expired_lt: datetime | str | None = None, expired_lte: datetime | str | None = None,
        expired_gt: datetime | str | None = None, expired_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[list[dict]]:
        """Like ``get_assignments`` but yields each page as a list of plain dicts, without building models.

        For bulk export: the response body goes through ``json.loads`` and nothing else.
        """
        filters = _given(locals())
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

    def find_attachments(
        self,
        *,
        pool_id: str | None = None, assignment_id: str | None = None, name: str | None = None,
        type: str | None = None, user_id: str | None = None, owner_id: str | None = None,
        owner_company_id: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of attachments; ``pool_id`` or ``assignment_id`` is required."""
        filters = _given(locals())
        _need_pool_or_assignment("find_attachments", filters)
        return self._find(lists.ATTACHMENTS, models.Attachment, "find_attachments", filters, sort, limit)

    def get_attachments(
        self,
        *,
        pool_id: str | None = None, assignment_id: str | None = None, name: str | None = None,
        type: str | None = None, user_id: str | None = None, owner_id: str | None = None,
        owner_company_id: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Attachment]:
        """All matching attachments (default page 100, max 100)."""
        filters = _given(locals())
        _need_pool_or_assignment("get_attachments", filters)
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

    def find_operations(
        self,
        *,
        type: Any = None, status: Any = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, submitted_lt: datetime | str | None = None,
        submitted_lte: datetime | str | None = None, submitted_gt: datetime | str | None = None,
        submitted_gte: datetime | str | None = None, finished_lt: datetime | str | None = None,
        finished_lte: datetime | str | None = None, finished_gt: datetime | str | None = None,
        finished_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of operations."""
        filters = _given(locals())
        return self._find(lists.OPERATIONS, models.Operation, "find_operations", filters, sort, limit)

    def get_operations(
        self,
        *,
        type: Any = None, status: Any = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, submitted_lt: datetime | str | None = None,
        submitted_lte: datetime | str | None = None, submitted_gt: datetime | str | None = None,
        submitted_gte: datetime | str | None = None, finished_lt: datetime | str | None = None,
        finished_lte: datetime | str | None = None, finished_gt: datetime | str | None = None,
        finished_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Operation]:
        """All matching operations, lazily (default page 300, max 300)."""
        filters = _given(locals())
        return self._pages(lists.OPERATIONS, models.Operation, "get_operations", filters, batch_size)

    # ---- aggregation ----------------------------------------------------------------------------------

    @staticmethod
    def _aggregation_body(type: Any, fields: Iterable[Any], answer_weight_skill_id: str | None, **ids: str) -> dict:
        if isinstance(fields, str):
            fields = [fields]
        body: dict[str, Any] = {"type": _value(type), **ids}
        body["fields"] = [{"name": field} if isinstance(field, str) else dict(field) for field in fields]
        if not body["fields"]:
            raise _bad("fields", "at least one output field name to aggregate", body["fields"])
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
        self,
        operation_id: str,
        *,
        task_id_lt: str | None = None, task_id_lte: str | None = None, task_id_gt: str | None = None,
        task_id_gte: str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of an aggregation's results."""
        filters = _given(locals())
        fields = {"operation_id": _id(operation_id, "operation_id")}
        return self._find(lists.AGGREGATED_SOLUTIONS, models.AggregatedSolution, "find_aggregated_solutions", filters, sort, limit, fields)

    def get_aggregated_solutions(
        self,
        operation_id: str,
        *,
        task_id_lt: str | None = None, task_id_lte: str | None = None, task_id_gt: str | None = None,
        task_id_gte: str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.AggregatedSolution]:
        """All results of an aggregation, keyset-paged by ``task_id``."""
        filters = _given(locals())
        fields = {"operation_id": _id(operation_id, "operation_id")}
        return self._pages(lists.AGGREGATED_SOLUTIONS, models.AggregatedSolution, "get_aggregated_solutions", filters, batch_size, fields)

    # ---- analytics ------------------------------------------------------------------------------------

    def get_analytics(self, requests: Iterable[Mapping[str, Any]]) -> models.Operation:
        """Start an analytics request (``[{"subject": "POOL", "subject_id": ..., "name": ...}]``, up to 10)."""
        body = [dict(request) for request in requests]
        if not body or len(body) > 10:
            raise TolokaArgumentError(f"requests must hold 1 to 10 analytics requests, got {len(body)}")
        return self._send(models.Operation, "POST", "/api/staging/analytics-2", body)

    def get_pool_completion_percentage(self, pool_id: str, timeout: float | None = 60.0) -> int:
        """The pool's completion percentage (0..100): an analytics request, waited for."""
        return self._run(core.completion_percentage(self._new_retry_policy, _id(pool_id, "pool_id"), timeout))

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

    def find_user_bonuses(
        self,
        *,
        user_id: str | None = None, assignment_id: str | None = None, private_comment: str | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of bonuses."""
        filters = _given(locals())
        return self._find(lists.USER_BONUSES, models.UserBonus, "find_user_bonuses", filters, sort, limit)

    def get_user_bonuses(
        self,
        *,
        user_id: str | None = None, assignment_id: str | None = None, private_comment: str | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.UserBonus]:
        """All matching bonuses, lazily (default page 300, max 300)."""
        filters = _given(locals())
        return self._pages(lists.USER_BONUSES, models.UserBonus, "get_user_bonuses", filters, batch_size)

    # ---- skills ---------------------------------------------------------------------------------------

    def create_skill(self, skill: models.Skill | Mapping) -> models.Skill:
        """Retried only after a 429: after a 5xx or a lost answer it may exist already (see ``core.call``)."""
        return self._send(models.Skill, "POST", f"{V1}/skills", core.as_body(skill, "skill"), idempotent=False)

    def get_skill(self, skill_id: str) -> models.Skill:
        return self._get(models.Skill, f"{V1}/skills/{_id(skill_id, 'skill_id')}")

    def update_skill(self, skill_id: str, skill: models.Skill | Mapping) -> models.Skill:
        return self._send(models.Skill, "PUT", f"{V1}/skills/{_id(skill_id, 'skill_id')}", core.as_body(skill, "skill"))

    def find_skills(
        self,
        *,
        name: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, modified_lt: datetime | str | None = None,
        modified_lte: datetime | str | None = None, modified_gt: datetime | str | None = None,
        modified_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of skills (``limit`` at most 100)."""
        filters = _given(locals())
        return self._find(more.SKILLS, models.Skill, "find_skills", filters, sort, limit)

    def get_skills(
        self,
        *,
        name: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, modified_lt: datetime | str | None = None,
        modified_lte: datetime | str | None = None, modified_gt: datetime | str | None = None,
        modified_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.Skill]:
        """All matching skills, lazily (default page 100, max 100)."""
        filters = _given(locals())
        return self._pages(more.SKILLS, models.Skill, "get_skills", filters, batch_size)

    # ---- user skills ----------------------------------------------------------------------------------

    def set_user_skill(
        self, *, skill_id: str, user_id: str, value: Decimal | int | float | str, reason: str | None = None
    ) -> models.UserSkill:
        """Set one performer's value of a skill (0..100, fractional allowed; an upsert, safe to repeat)."""
        try:
            amount = models.to_decimal(value)
        except (TypeError, ValueError):
            raise _bad("value", "a number from 0 to 100", value) from None
        if not 0 <= amount <= 100:
            raise _bad("value", "a number from 0 to 100", value)
        body: dict[str, Any] = {"skill_id": _id(skill_id, "skill_id"), "user_id": _id(user_id, "user_id"), "value": amount}
        if reason is not None:
            body["reason"] = reason
        return self._send(models.UserSkill, "PUT", f"{V1}/user-skills", body)

    def get_user_skill(self, user_skill_id: str) -> models.UserSkill:
        return self._get(models.UserSkill, f"{V1}/user-skills/{_id(user_skill_id, 'user_skill_id')}")

    def delete_user_skill(self, user_skill_id: str) -> None:
        """Remove a performer's skill value (the server answers 204)."""
        return self._delete(f"{V1}/user-skills/{_id(user_skill_id, 'user_skill_id')}")

    def find_user_skills(
        self,
        *,
        user_id: str | None = None, skill_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        modified_lt: datetime | str | None = None, modified_lte: datetime | str | None = None,
        modified_gt: datetime | str | None = None, modified_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of performers' skill values (``limit`` at most 1,000)."""
        filters = _given(locals())
        return self._find(more.USER_SKILLS, models.UserSkill, "find_user_skills", filters, sort, limit)

    def get_user_skills(
        self,
        *,
        user_id: str | None = None, skill_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        modified_lt: datetime | str | None = None, modified_lte: datetime | str | None = None,
        modified_gt: datetime | str | None = None, modified_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.UserSkill]:
        """All matching skill values, lazily (default page 300, max 1,000)."""
        filters = _given(locals())
        return self._pages(more.USER_SKILLS, models.UserSkill, "get_user_skills", filters, batch_size)

    # ---- user restrictions (bans) ---------------------------------------------------------------------

    def set_user_restriction(self, user_restriction: models.UserRestriction | Mapping) -> models.UserRestriction:
        """Ban a performer (an upsert): a ``SystemUserRestriction``, ``AllProjectsUserRestriction``,
        ``ProjectUserRestriction(project_id=...)`` or ``PoolUserRestriction(pool_id=...)``, each with ``user_id``
        and optionally ``private_comment`` and ``will_expire`` (None: until deleted). Returns the subclass of
        its scope."""
        body = core.as_body(user_restriction, "user_restriction")
        scope = body.get("scope")
        given = user_restriction.get("scope") if isinstance(user_restriction, Mapping) else user_restriction.scope
        # A scope given as an enum member passes even if this client does not list it (a newer scope).
        if scope not in ("SYSTEM", "ALL_PROJECTS", "PROJECT", "POOL") and not isinstance(given, enum.Enum):
            raise _bad("user_restriction scope", "one of SYSTEM, ALL_PROJECTS, PROJECT, POOL", scope)
        for needed_scope, key in (("PROJECT", "project_id"), ("POOL", "pool_id")):
            if scope == needed_scope and not body.get(key):
                raise _bad(f"user_restriction {key}", f"an id for a {needed_scope} restriction", body.get(key))
        if not body.get("user_id"):
            raise _bad("user_restriction user_id", "a performer id", body.get("user_id"))
        return self._send(models.UserRestriction, "PUT", f"{V1}/user-restrictions", body)

    def get_user_restriction(self, user_restriction_id: str) -> models.UserRestriction:
        return self._get(models.UserRestriction, f"{V1}/user-restrictions/{_id(user_restriction_id, 'user_restriction_id')}")

    def delete_user_restriction(self, user_restriction_id: str) -> None:
        """Lift a ban (the server answers 204)."""
        return self._delete(f"{V1}/user-restrictions/{_id(user_restriction_id, 'user_restriction_id')}")

    def find_user_restrictions(
        self,
        *,
        scope: Any = None, user_id: str | None = None, project_id: str | None = None,
        pool_id: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of bans (each the subclass of its scope; ``limit`` at most 500)."""
        filters = _given(locals())
        return self._find(more.USER_RESTRICTIONS, models.UserRestriction, "find_user_restrictions", filters, sort, limit)

    def get_user_restrictions(
        self,
        *,
        scope: Any = None, user_id: str | None = None, project_id: str | None = None,
        pool_id: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.UserRestriction]:
        """All matching bans, lazily (default page 300, max 500)."""
        filters = _given(locals())
        return self._pages(more.USER_RESTRICTIONS, models.UserRestriction, "get_user_restrictions", filters, batch_size)

    # ---- users ----------------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> models.User:
        """A performer's metadata: country, languages, adult_allowed, device and client attributes."""
        return self._get(models.User, f"{V1}/user-metadata/{_id(user_id, 'user_id')}")

    # ---- message threads ------------------------------------------------------------------------------

    def compose_message_thread(
        self,
        *,
        recipients_select_type: models.RecipientsSelectType | str,
        topic: Mapping[str, str],
        text: Mapping[str, str],
        answerable: bool = True,
        recipients_ids: Iterable[str] | None = None,
        recipients_filter: Mapping[str, Any] | None = None,
    ) -> models.MessageThread:
        """Start a thread: ``topic`` and ``text`` are ``{LANG: str}``; recipients are ``DIRECT`` (``recipients_ids``,
        at most 100), ``FILTER`` (``recipients_filter``, a pool-filter dict) or ``ALL``.

        Retried only after a 429: a repeated request would message the performers twice.
        """
        select = _value(recipients_select_type)
        _check_enum_names("recipients_select_type", select, models.RecipientsSelectType)
        body: dict[str, Any] = {
            "recipients_select_type": select, "topic": _lang_map(topic, "topic"), "text": _lang_map(text, "text"),
            "answerable": answerable,
        }
        if select == "DIRECT":
            ids = [_id(user, "recipients_ids item") for user in (recipients_ids or ())]
            if not 1 <= len(ids) <= 100:
                raise _bad("recipients_ids", "1 to 100 performer ids for DIRECT", list(recipients_ids or ()))
            body["recipients_ids"] = ids
        elif recipients_ids is not None:
            raise _bad("recipients_ids", "None unless recipients_select_type is DIRECT", recipients_ids)
        if select == "FILTER":
            if not isinstance(recipients_filter, Mapping):
                raise _bad("recipients_filter", "a filter dict for FILTER", recipients_filter)
            body["recipients_filter"] = dict(recipients_filter)
        elif recipients_filter is not None:
            raise _bad("recipients_filter", "None unless recipients_select_type is FILTER", recipients_filter)
        return self._send(models.MessageThread, "POST", f"{V1}/message-threads/compose", body, idempotent=False)

    def reply_message_thread(self, message_thread_id: str, reply: Mapping[str, Any]) -> models.MessageThread:
        """Reply in a thread: ``reply`` is ``{"text": {LANG: str}}`` (or just the ``{LANG: str}`` text).

        Retried only after a 429: a repeated request would send the reply twice.
        """
        text = reply.get("text") if isinstance(reply, Mapping) and "text" in reply else reply
        path = f"{V1}/message-threads/{_id(message_thread_id, 'message_thread_id')}/reply"
        return self._send(models.MessageThread, "POST", path, {"text": _lang_map(text, "reply text")}, idempotent=False)

    def _thread_folders(self, message_thread_id: str, folders: Any, action: str) -> models.MessageThread:
        if isinstance(folders, Mapping):
            folders = folders.get("folders")
        if isinstance(folders, str) or not isinstance(folders, Iterable):
            folders = [folders]
        names = [_value(folder) for folder in folders]
        if not names:
            raise _bad("folders", "at least one Folder", names)
        _check_enum_names("folders", names, models.Folder)
        path = f"{V1}/message-threads/{_id(message_thread_id, 'message_thread_id')}/{action}"
        return self._send(models.MessageThread, "POST", path, {"folders": names})

    def add_message_thread_to_folders(self, message_thread_id: str, folders: Any) -> models.MessageThread:
        """Put the thread in folders (a list of ``Folder`` or names, e.g. ``["IMPORTANT"]``)."""
        return self._thread_folders(message_thread_id, folders, "add-to-folders")

    def remove_message_thread_from_folders(self, message_thread_id: str, folders: Any) -> models.MessageThread:
        """Take the thread out of folders; ``["UNREAD"]`` marks it read."""
        return self._thread_folders(message_thread_id, folders, "remove-from-folders")

    def find_message_threads(
        self,
        *,
        folder: Any = None, folder_ne: Any = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of message threads. ``folder``/``folder_ne``: a Folder, its name, or a list (e.g. ``["INBOX", "UNREAD"]``).
        """
        filters = _given(locals())
        return self._find(more.MESSAGE_THREADS, models.MessageThread, "find_message_threads", filters, sort, limit)

    def get_message_threads(
        self,
        *,
        folder: Any = None, folder_ne: Any = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.MessageThread]:
        """All matching message threads, lazily (default page 300, max 300); ``folder="UNREAD"`` for the unread ones.
        """
        filters = _given(locals())
        return self._pages(more.MESSAGE_THREADS, models.MessageThread, "get_message_threads", filters, batch_size)

    # ---- webhook subscriptions ------------------------------------------------------------------------

    def upsert_webhook_subscriptions(
        self, subscriptions: Iterable[models.WebhookSubscription | Mapping]
    ) -> models.BatchCreateResult:
        """Create or update subscriptions: one ``PUT`` with a JSON array, as toloka-kit sends it.

        Returns ``BatchCreateResult``: ``items`` (``WebhookSubscription``) and ``validation_errors`` keyed by the
        position in ``subscriptions`` (str). An upsert: safe to repeat.
        """
        if isinstance(subscriptions, (str, bytes, Mapping)) or not isinstance(subscriptions, Iterable):
            raise _bad("subscriptions", "a list of WebhookSubscription objects or dicts", subscriptions)
        body = [core.as_body(subscription, "subscriptions item") for subscription in subscriptions]
        if not body:
            raise _bad("subscriptions", "at least one subscription", body)

        def plan() -> Plan:
            data = yield from call_json(self._new_retry_policy, "PUT", f"{V1}/webhook-subscriptions", body=body)
            return models.BatchCreateResult.from_json_dict(data or {}, item_class=models.WebhookSubscription)

        return self._run(plan())

    def get_webhook_subscription(self, webhook_subscription_id: str) -> models.WebhookSubscription:
        path = f"{V1}/webhook-subscriptions/{_id(webhook_subscription_id, 'webhook_subscription_id')}"
        return self._get(models.WebhookSubscription, path)

    def delete_webhook_subscription(self, webhook_subscription_id: str) -> None:
        return self._delete(f"{V1}/webhook-subscriptions/{_id(webhook_subscription_id, 'webhook_subscription_id')}")

    def test_webhook_subscription(self, webhook_subscription_id: str) -> models.WebhookTestResult:
        """Ask Toloka to send a ``TEST_EVENT`` to the subscription's URL now; returns how the receiver answered."""
        path = f"{V1}/webhook-subscriptions/{_id(webhook_subscription_id, 'webhook_subscription_id')}/test"
        return self._run(call_model(self._new_retry_policy, models.WebhookTestResult, "POST", path))

    def find_webhook_subscriptions(
        self,
        *,
        event_type: Any = None, pool_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of webhook subscriptions."""
        filters = _given(locals())
        return self._find(more.WEBHOOK_SUBSCRIPTIONS, models.WebhookSubscription, "find_webhook_subscriptions", filters, sort, limit)

    def get_webhook_subscriptions(
        self,
        *,
        event_type: Any = None, pool_id: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.WebhookSubscription]:
        """All matching webhook subscriptions, lazily, keyset-paged by id (default page 300, max 300)."""
        filters = _given(locals())
        return self._pages(more.WEBHOOK_SUBSCRIPTIONS, models.WebhookSubscription, "get_webhook_subscriptions", filters, batch_size)

    # ---- apps -----------------------------------------------------------------------------------------

    def find_app_projects(
        self,
        *,
        app_id: str | None = None, parent_app_project_id: str | None = None, status: Any = None,
        scope: str | None = None, requester_ids: Any = None, after_id: str | None = None,
        name: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, name_lt: str | None = None,
        name_lte: str | None = None, name_gt: str | None = None, name_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of App projects."""
        filters = _given(locals())
        return self._find(lists.APP_PROJECTS, models.AppProject, "find_app_projects", filters, sort, limit)

    def get_app_projects(
        self,
        *,
        app_id: str | None = None, parent_app_project_id: str | None = None, status: Any = None,
        scope: str | None = None, requester_ids: Any = None, after_id: str | None = None,
        name: str | None = None, id_lt: str | None = None, id_lte: str | None = None,
        id_gt: str | None = None, id_gte: str | None = None, name_lt: str | None = None,
        name_lte: str | None = None, name_gt: str | None = None, name_gte: str | None = None,
        created_lt: datetime | str | None = None, created_lte: datetime | str | None = None,
        created_gt: datetime | str | None = None, created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.AppProject]:
        """All matching App projects (default page 5,000, max 5,000)."""
        filters = _given(locals())
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
        self,
        app_project_id: str,
        *,
        status: Any = None, after_id: str | None = None, name: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        name_lt: str | None = None, name_lte: str | None = None, name_gt: str | None = None,
        name_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of an App project's batches."""
        filters = _given(locals())
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._find(lists.APP_BATCHES, models.AppBatch, "find_app_batches", filters, sort, limit, fields)

    def get_app_batches(
        self,
        app_project_id: str,
        *,
        status: Any = None, after_id: str | None = None, name: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        name_lt: str | None = None, name_lte: str | None = None, name_gt: str | None = None,
        name_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.AppBatch]:
        """All batches of an App project, lazily (default page 1,000, max 1,000)."""
        filters = _given(locals())
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
            raise TolokaArgumentError(f"items must hold at most 10000 items, got {len(item_list)}")
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
        self,
        app_project_id: str,
        *,
        batch_id: str | None = None, status: Any = None, after_id: str | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, finished_lt: datetime | str | None = None,
        finished_lte: datetime | str | None = None, finished_gt: datetime | str | None = None,
        finished_gte: datetime | str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of an App project's items."""
        filters = _given(locals())
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._find(lists.APP_ITEMS, models.AppItem, "find_app_items", filters, sort, limit, fields)

    def get_app_items(
        self,
        app_project_id: str,
        *,
        batch_id: str | None = None, status: Any = None, after_id: str | None = None,
        id_lt: str | None = None, id_lte: str | None = None, id_gt: str | None = None,
        id_gte: str | None = None, created_lt: datetime | str | None = None,
        created_lte: datetime | str | None = None, created_gt: datetime | str | None = None,
        created_gte: datetime | str | None = None, finished_lt: datetime | str | None = None,
        finished_lte: datetime | str | None = None, finished_gt: datetime | str | None = None,
        finished_gte: datetime | str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.AppItem]:
        """All matching items of an App project (default page 1,000, max 1,000)."""
        filters = _given(locals())
        fields = {"app_project_id": _id(app_project_id, "app_project_id")}
        return self._pages(lists.APP_ITEMS, models.AppItem, "get_app_items", filters, batch_size, fields)


    def find_apps(
        self,
        *,
        after_id: str | None = None, lang: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        sort: Any = None, limit: int | None = None,
    ) -> models.SearchResult:
        """One page of Apps (ready-made solutions); ``lang`` picks the language of names and descriptions.
        """
        filters = _given(locals())
        return self._find(more.APPS_LISTING, models.App, "find_apps", filters, sort, limit)

    def get_apps(
        self,
        *,
        after_id: str | None = None, lang: str | None = None, id_lt: str | None = None,
        id_lte: str | None = None, id_gt: str | None = None, id_gte: str | None = None,
        batch_size: int | None = None,
    ) -> Iterator[models.App]:
        """All Apps, lazily (default page 1,000, max 1,000)."""
        filters = _given(locals())
        return self._pages(more.APPS_LISTING, models.App, "get_apps", filters, batch_size)

    def get_app(self, app_id: str, lang: str | None = None) -> models.App:
        """One App (a ready-made solution); ``lang`` picks the language of its texts."""
        return self._get(models.App, f"{APPS}/apps/{_id(app_id, 'app_id')}", flags(lang=lang) or None)

    def _app_project_action(self, app_project_id: str, action: str) -> models.AppProject:
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}"

        def plan() -> Plan:
            yield from call(self._new_retry_policy, "POST", f"{path}/{action}")
            return (yield from call_model(self._new_retry_policy, models.AppProject, "GET", path))

        return self._run(plan())

    def archive_app_project(self, app_project_id: str) -> models.AppProject:
        """Archive an App project; returns it as it is right after."""
        return self._app_project_action(app_project_id, "archive")

    def unarchive_app_project(self, app_project_id: str) -> models.AppProject:
        return self._app_project_action(app_project_id, "unarchive")

    def create_app_item(
        self, app_project_id: str, app_item: models.AppItem | Mapping, *, force_new_original: bool | None = None
    ) -> models.AppItem:
        """Add one item (``batch_id`` and ``input_data``) to a batch.

        Retried only after a 429: a repeated request would add (and pay for) the item twice.
        """
        item = core.as_body(app_item, "app_item")
        if not item.get("batch_id") or not isinstance(item.get("input_data"), Mapping):
            raise _bad("app_item", "an AppItem or dict with batch_id and an input_data dict", app_item)
        body: dict[str, Any] = {"batch_id": item["batch_id"], "input_data": item["input_data"]}
        if force_new_original is not None:
            body["force_new_original"] = force_new_original
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/items"
        return self._send(models.AppItem, "POST", path, body, idempotent=False)

    def create_app_items(
        self,
        app_project_id: str,
        batch_id: str,
        items: Iterable[Mapping[str, Any]],
        *,
        force_new_original: bool | None = None,
        ignore_errors: bool | None = None,
    ) -> list[str]:
        """Add up to 10,000 items (each a dict of input fields) to a batch; returns the created item ids.

        Retried only after a 429: a repeated request would add (and pay for) the items twice.
        """
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise _bad("items", "a list of input-data dicts", items)
        item_list = [dict(item) for item in items]
        if not 1 <= len(item_list) <= 10_000:
            raise TolokaArgumentError(f"items must hold 1 to 10000 items, got {len(item_list)}")
        body: dict[str, Any] = {"batch_id": _id(batch_id, "batch_id"), "items": item_list}
        if force_new_original is not None:
            body["force_new_original"] = force_new_original
        if ignore_errors is not None:
            body["ignore_errors"] = ignore_errors
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/items/bulk"

        def plan() -> Plan:
            data = yield from call_json(self._new_retry_policy, "POST", path, body=body, idempotent=False)
            return [str(item_id) for item_id in data or ()]

        return self._run(plan())

    def patch_app_batch(
        self, app_project_id: str, batch_id: str, *, name: str | None = None, priority_order: Any = None
    ) -> models.AppBatch:
        """Rename a batch or change its ``priority_order`` (ONE..FIVE)."""
        body = {key: _value(value) for key, value in (("name", name), ("priority_order", priority_order)) if value is not None}
        if not body:
            raise TolokaArgumentError("patch_app_batch() needs name or priority_order, got neither")
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/batches/{_id(batch_id, 'batch_id')}"
        return self._send(models.AppBatch, "PATCH", path, body)

    def resume_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        """Resume a STOPPING or STOPPED batch; returns the batch as it is right after."""
        return self._app_batch_action(app_project_id, batch_id, "resume")

    # ---- the assignments table export -----------------------------------------------------------------

    def get_assignments_df(
        self,
        pool_id: str,
        *,
        status: Any = None,
        start_time_from: datetime | str | None = None,
        start_time_to: datetime | str | None = None,
        exclude_banned: bool | None = None,
        field: Any = None,
    ) -> Any:
        """The pool's results as a ``pandas.DataFrame``, as the web UI's download and toloka-kit give them: one
        row per task per assignment, columns ``INPUT:…``, ``OUTPUT:…``, ``GOLDEN:…``, ``HINT:…``, ``ASSIGNMENT:…``.

        ``status``: export statuses (default ``["APPROVED"]``; ACCEPTED is accepted for APPROVED);
        ``start_time_from`` / ``start_time_to``: by start time; ``exclude_banned``; ``field``: the ``ASSIGNMENT:``
        columns (default link, assignment_id, worker_id, status, started). Needs pandas, the
        ``toloka-airflow-provider[pandas]`` extra; ``iter_assignments_table`` reads the same export without it.
        """
        try:
            pandas = importlib.import_module("pandas")  # the optional [pandas] extra
        except ImportError:
            raise ImportError(
                "get_assignments_df() needs pandas: pip install 'toloka-airflow-provider[pandas]' "
                "(or read the same export without pandas with iter_assignments_table())"
            ) from None
        path = export.TSV_PATH.format(pool_id=_id(pool_id, "pool_id"))
        query = export.tsv_query(status, start_time_from, start_time_to, exclude_banned, field)

        def plan() -> Plan:
            response = yield from call(self._new_retry_policy, "GET", path, params=query)
            # Read as toloka-kit does (pandas infers the column types), from the bytes: no decoded copy.
            return pandas.read_csv(io.BytesIO(response.body), sep="\t", encoding="utf-8-sig")

        return self._run(plan())

    def iter_assignments_table(
        self,
        pool_id: str,
        *,
        status: Any = None,
        start_time_from: datetime | str | None = None,
        start_time_to: datetime | str | None = None,
        exclude_banned: bool | None = None,
        field: Any = None,
    ) -> Iterator[dict[str, str]]:
        """The export of ``get_assignments_df`` row by row, as dicts of strings keyed by column name, with no
        pandas. The body is streamed: rows are yielded as chunks arrive, and memory holds one chunk, not the
        file. Same arguments as ``get_assignments_df``; an async iterator on the async client."""
        path = export.TSV_PATH.format(pool_id=_id(pool_id, "pool_id"))
        query = export.tsv_query(status, start_time_from, start_time_to, exclude_banned, field)
        return self._iterate(export.table_plan(self._new_retry_policy, path, query))

    def archive_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        """Archive a finished batch; returns the batch as it is right after."""
        return self._app_batch_action(app_project_id, batch_id, "archive")

    def unarchive_app_batch(self, app_project_id: str, batch_id: str) -> models.AppBatch:
        return self._app_batch_action(app_project_id, batch_id, "unarchive")

    def start_sync_batch_processing(
        self, app_project_id: str, name: str, items: Iterable[Mapping[str, Any]]
    ) -> models.AppBatch:
        """Create a batch and label it synchronously (``POST …/batches/sync``): the answer holds the results.

        The docs show the batch wrapped as ``{"batch": {...}}`` while toloka-kit reads the body itself as the
        batch; both are read. Retried only after a 429: a repeated request would pay for the batch twice.
        """
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise _bad("items", "a list of input-data dicts", items)
        body = {"name": name, "items": [dict(item) for item in items]}
        path = f"{APPS}/app-projects/{_id(app_project_id, 'app_project_id')}/batches/sync"

        def plan() -> Plan:
            data = yield from call_json(self._new_retry_policy, "POST", path, body=body, idempotent=False)
            if isinstance(data, Mapping) and isinstance(data.get("batch"), Mapping) and "id" not in data:
                data = data["batch"]
            return models.AppBatch.from_json_dict(data)

        return self._run(plan())
