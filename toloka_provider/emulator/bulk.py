"""Tasks, task suites and user bonuses: single and bulk creation (sync and async), reads, patches.

``POST /tasks`` (and ``/task-suites``, ``/user-bonuses``) takes one object or an array:

* sync (``async_mode`` false): one object -> 201 + the object, or 400 VALIDATION_ERROR; an array (at most
  5,000 tasks / suites or 100 bonuses) -> 201 ``{items: {"0": ..}, validation_errors: {"1": ..}}``; with
  ``skip_invalid_items=false`` one invalid item rejects the whole array (400, payload keyed by position).
* async (``async_mode=true``): 202 + an Operation (``TASK.BATCH_CREATE`` ...). Its log echoes each input
  object as sent (unknown keys such as ``__item_idx`` included) with ``output`` = ``{task_id}`` or the
  field errors. ``operation_id`` becomes the operation's id; reusing it is 409 OPERATION_ALREADY_EXISTS,
  and nothing is created the second time.
* ``allow_defaults`` fills a missing overlap from the pool's ``defaults``; ``open_pool`` opens the pool
  after the upload (a ``POOL_OPEN`` log item in async mode).

Tasks inside task suites get task ids but are not stored in ``state.tasks``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from toloka_provider.emulator.api_v1 import API, open_pool_now, require_object
from toloka_provider.emulator.errors import ApiError, invalid_parameter, not_enough_balance, validation_error
from toloka_provider.emulator.listing import ListSpec, list_page
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State
from toloka_provider.emulator.validation import check_task, check_task_suite, check_user_bonus
from toloka_provider.emulator.workers import is_known_user, unknown_user_error

SYNC_MAX = {"tasks": 5000, "task_suites": 5000, "user_bonuses": 100}
ASYNC_MAX = 100_000

_RO = {
    "tasks": ("id", "created", "remaining_overlap", "origin_task_id"),
    "task_suites": ("id", "created", "remaining_overlap", "automerged"),
    "user_bonuses": ("id", "created"),
}
_OP_TYPE = {"tasks": "TASK.BATCH_CREATE", "task_suites": "TASK_SUITE.BATCH_CREATE", "user_bonuses": "USER_BONUS.BATCH_CREATE"}
_LOG_OK = {"tasks": "TASK_CREATE", "task_suites": "TASK_SUITE_CREATE", "user_bonuses": "USER_BONUS_PERSIST"}
_LOG_BAD = {"tasks": "TASK_VALIDATE", "task_suites": "TASK_SUITE_VALIDATE", "user_bonuses": "USER_BONUS_VALIDATE"}
_OUTPUT_KEY = {"tasks": "task_id", "task_suites": "task_suite_id", "user_bonuses": "user_bonus_id"}

TASKS = ListSpec(
    "tasks",
    exact={"pool_id": "pool_id", "overlap": "overlap"},
    int_fields=("overlap",),
    ranges={"id": ("id", "str"), "created": ("created", "date"), "overlap": ("overlap", "int")},
    pool_indexed=True,
)
TASK_SUITES = ListSpec(
    "task_suites",
    exact={"pool_id": "pool_id", "overlap": "overlap"},
    int_fields=("overlap",),
    ranges={"id": ("id", "str"), "created": ("created", "date"), "overlap": ("overlap", "int")},
    pool_indexed=True,
    custom={"task_id": lambda task_id: lambda suite: any(t.get("id") == task_id for t in suite.get("tasks") or ())},
)
USER_BONUSES = ListSpec(
    "user_bonuses",
    exact={"user_id": "user_id", "assignment_id": "assignment_id", "private_comment": "private_comment"},
    ranges={"id": ("id", "str"), "created": ("created", "date")},
)


def _validate(kind: str, item: Any, state: State, allow_defaults: bool) -> dict:
    if kind == "tasks":
        return check_task(item, state, allow_defaults)
    if kind == "task_suites":
        return check_task_suite(item, state, allow_defaults)
    errors = check_user_bonus(item)
    if "user_id" not in errors and not is_known_user(state, item["user_id"]):
        errors["user_id"] = unknown_user_error(item["user_id"])
    return errors


def _default_overlap(state: State, pool_id: str, kind: str) -> int:
    pool = state.pools.get(pool_id) or state.trainings.get(pool_id) or {}
    defaults = pool.get("defaults") or {}
    if kind == "tasks":
        return int(defaults.get("default_overlap_for_new_tasks") or defaults.get("default_overlap_for_new_task_suites") or 1)
    return int(defaults.get("default_overlap_for_new_task_suites") or 1)


def _store(kind: str, item: dict, state: State) -> dict:
    """Create one valid item (the caller holds the lock)."""
    obj = {key: value for key, value in item.items() if not key.startswith("__") and key not in _RO[kind]}
    if kind == "user_bonuses":
        state.charge(obj["amount"], f"A bonus to {obj.get('user_id')}")  # first: a refused charge creates nothing
        state.create(kind, obj)
        return obj
    obj["pool_id"] = str(obj["pool_id"])
    if obj.get("infinite_overlap") is True:
        obj.pop("overlap", None)
    else:
        if obj.get("overlap") is None:
            obj["overlap"] = _default_overlap(state, obj["pool_id"], kind)
        obj["infinite_overlap"] = False
        obj["remaining_overlap"] = obj["overlap"]
    if kind == "task_suites":
        obj["tasks"] = [dict(task, id=state.new_id("tasks")) for task in obj["tasks"]]
    state.create(kind, obj)
    state.notify_changed()
    return obj


def _make_create(kind: str):
    def create(request: Request) -> tuple:
        body = request.body
        single = isinstance(body, dict)
        if not single and not isinstance(body, list):
            raise validation_error({"body": {"code": "JSON_EXPECTED", "message": "expected an object or an array"}})
        items: list = [body] if single else body
        async_mode = request.flag("async_mode")
        allow_defaults = request.flag("allow_defaults")
        open_pool = request.flag("open_pool") and kind != "user_bonuses"
        skip_invalid = request.flag("skip_invalid_items")
        operation_id = request.arg("operation_id")
        limit = ASYNC_MAX if async_mode else SYNC_MAX[kind]
        if len(items) > limit:
            mode = "async" if async_mode else "sync"
            raise invalid_parameter("body", f"at most {limit} items per request in {mode} mode, got {len(items)}", "ARRAY_SIZE_GREATER_THAN_MAX")
        state = request.state
        with state.lock:
            if operation_id and operation_id in state.operations:
                raise ApiError(409, "OPERATION_ALREADY_EXISTS", f"Operation with id {operation_id} already exists")
            errors = {str(index): err for index, item in enumerate(items) if (err := _validate(kind, item, state, allow_defaults))}
            if kind == "user_bonuses" and (skip_invalid or not errors):
                # All or nothing: bonuses the balance cannot cover are refused before any is created.
                creating = [item for index, item in enumerate(items) if str(index) not in errors]
                total = sum((Decimal(str(item["amount"])) for item in creating), Decimal(0))
                if total > state.balance:
                    what = "This bonus" if single else f"{len(creating)} bonuses"
                    raise not_enough_balance(total, state.balance, what)
            if async_mode:
                return _create_async(kind, items, errors, state, operation_id, allow_defaults, open_pool, skip_invalid)
            if single:
                if errors:
                    raise validation_error(errors["0"])
                obj = _store(kind, body, state)
                if open_pool:
                    _open_quietly(state, obj["pool_id"])
                return 201, dict(obj)
            if errors and not skip_invalid:
                raise validation_error(errors, f"{len(errors)} of {len(items)} items are invalid")
            created = {str(index): dict(_store(kind, item, state)) for index, item in enumerate(items) if str(index) not in errors}
            if open_pool:
                for pool_id in {obj["pool_id"] for obj in created.values()}:
                    _open_quietly(state, pool_id)
            return 201, {"items": created, "validation_errors": errors}

    return create


def _pool_kind(state: State, pool_id: str) -> str:
    return "pools" if pool_id in state.pools else "trainings"


def _open_quietly(state: State, pool_id: str) -> dict:
    """Open after upload; returns a POOL_OPEN log item."""
    try:
        _status, op = open_pool_now(state, _pool_kind(state, pool_id), pool_id)
    except ApiError as error:
        return {"type": "POOL_OPEN", "success": False, "input": {"pool_id": pool_id}, "output": {"code": error.code, "message": error.message}}
    output = {"pool_id": pool_id}
    if op:
        output["operation_id"] = op["id"]
    return {"type": "POOL_OPEN", "success": True, "input": {"pool_id": pool_id}, "output": output}


def _create_async(kind, items, errors, state, operation_id, allow_defaults, open_pool, skip_invalid) -> tuple:
    log: list[dict] = []
    create_valid = skip_invalid or not errors
    success = 0
    pools: list[str] = []
    for index, item in enumerate(items):
        key = str(index)
        if key in errors:
            log.append({"type": _LOG_BAD[kind], "success": False, "input": item, "output": errors[key]})
            continue
        if not create_valid:
            continue
        obj = _store(kind, item, state)
        success += 1
        if kind != "user_bonuses" and obj["pool_id"] not in pools:
            pools.append(obj["pool_id"])
        log.append({"type": _LOG_OK[kind], "success": True, "input": item, "output": {_OUTPUT_KEY[kind]: obj["id"]}})
    if open_pool and success:
        log.extend(_open_quietly(state, pool_id) for pool_id in pools)
    parameters: dict[str, Any] = {"skip_invalid_items": skip_invalid}
    if kind != "user_bonuses":
        parameters.update(allow_defaults=allow_defaults, open_pool=open_pool)
    details = {
        "total_count": len(items),
        "valid_count": len(items) - len(errors),
        "not_valid_count": len(errors),
        "success_count": success,
        "failed_count": len(items) - success,
    }
    status = "SUCCESS" if create_valid else "FAIL"
    op = state.create_operation(_OP_TYPE[kind], parameters, status=status, details=details, operation_id=operation_id, log=log)
    return 202, op


def _patch_overlap(obj: dict, overlap: Any, infinite: Any, at_least_used: bool) -> None:
    if infinite is True:
        obj["infinite_overlap"] = True
        obj.pop("overlap", None)
        obj.pop("remaining_overlap", None)
        return
    if overlap is None:
        return
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= 30000:
        raise invalid_parameter("overlap", f"must be an integer 0..30000, got {overlap!r}")
    used = (obj.get("overlap") or 0) - (obj.get("remaining_overlap") or 0) if not obj.get("infinite_overlap") else 0
    if at_least_used:
        overlap = max(overlap, used)
    obj["overlap"] = overlap
    obj["infinite_overlap"] = False
    obj["remaining_overlap"] = max(overlap - used, 0)


def _make_patch(kind: str, set_overlap_or_min: bool):
    editable = {
        "tasks": ("baseline_solutions", "known_solutions", "message_on_unknown_solution"),
        "task_suites": ("issuing_order_override",),
    }[kind]

    def patch(request: Request) -> tuple:
        body = require_object(request)
        state = request.state
        with state.lock:
            obj = state.get(kind, request.params["id"])
            _patch_overlap(obj, body.get("overlap"), body.get("infinite_overlap"), set_overlap_or_min)
            if not set_overlap_or_min:
                for key in editable:
                    if key in body:
                        obj[key] = body[key]
            if request.flag("open_pool"):
                _open_quietly(state, obj["pool_id"])
            state.notify_changed()
            return 200, dict(obj)

    return patch


def _list(spec: ListSpec):
    def handle(request: Request) -> tuple:
        return list_page(request, spec)

    return handle


def _get(kind: str):
    def handle(request: Request) -> tuple:
        state = request.state
        with state.lock:
            return 200, dict(state.get(kind, request.params["id"]))

    return handle


def register(router: Router, state: State) -> None:
    for kind, path, spec in (("tasks", "tasks", TASKS), ("task_suites", "task-suites", TASK_SUITES)):
        router.add("GET", f"{API}/{path}", _list(spec))
        router.add("POST", f"{API}/{path}", _make_create(kind))
        router.add("GET", f"{API}/{path}/{{id}}", _get(kind))
        router.add("PATCH", f"{API}/{path}/{{id}}", _make_patch(kind, False))
        router.add("PATCH", f"{API}/{path}/{{id}}/set-overlap-or-min", _make_patch(kind, True))
    router.add("GET", f"{API}/user-bonuses", lambda request: list_page(request, USER_BONUSES))
    router.add("POST", f"{API}/user-bonuses", _make_create("user_bonuses"))
    router.add("GET", f"{API}/user-bonuses/{{id}}", _get("user_bonuses"))
