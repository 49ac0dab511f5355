"""``/api/v1`` resources: projects, pools, trainings, assignments, attachments, operations, requester.

Tasks, task suites and user bonuses (bulk creation) live in ``bulk.py``; aggregated solutions in
``aggregation.py``. Stored objects keep the fields a client sent, unknown ones included, and gain the
read-only fields Toloka sets (``id``, ``created``, ``status``, ``owner`` ...).
"""

from __future__ import annotations

import copy
from typing import Any

from toloka_provider.emulator.errors import (
    ApiError,
    inappropriate_status,
    invalid_parameter,
    validation_error,
)
from toloka_provider.emulator.listing import ListSpec, list_page, list_page_wire
from toloka_provider.emulator.records import CompactAssignment
from toloka_provider.emulator.router import RawResponse, Request, Router
from toloka_provider.emulator.state import State
from toloka_provider.emulator.validation import check_pool, check_project, check_training

API = "/api/v1"

# Fields the server owns: a PUT cannot change them.
_READ_ONLY = {
    "projects": ("id", "status", "created", "owner"),
    "pools": ("id", "status", "created", "owner", "last_close_reason", "last_started", "last_stopped", "type"),
    "trainings": ("id", "status", "created", "owner", "last_close_reason", "last_started", "last_stopped"),
}

PROJECTS = ListSpec(
    "projects",
    exact={"status": "status", "owner": "owner.id"},
    ranges={"id": ("id", "str"), "created": ("created", "date")},
    sort_fields=("id", "created", "public_name", "private_comment"),
)
POOLS = ListSpec(
    "pools",
    exact={"status": "status", "project_id": "project_id", "type": "type"},
    ranges={"id": ("id", "str"), "created": ("created", "date"), "last_started": ("last_started", "date")},
    sort_fields=("id", "created", "last_started"),
)
TRAININGS = ListSpec(
    "trainings",
    exact={"status": "status", "project_id": "project_id"},
    ranges={"id": ("id", "str"), "created": ("created", "date"), "last_started": ("last_started", "date")},
    sort_fields=("id", "created", "last_started"),
)
_ASSIGNMENT_DATES = ("created", "submitted", "accepted", "rejected", "skipped", "expired")
ASSIGNMENTS = ListSpec(
    "assignments",
    exact={
        "status": "status",
        "pool_id": "pool_id",
        "task_suite_id": "task_suite_id",
        "user_id": "user_id",
    },
    ranges={"id": ("id", "str"), **{name: (name, "date") for name in _ASSIGNMENT_DATES}},
    sort_fields=("id", *_ASSIGNMENT_DATES),
    max_limit=100_000,
    pool_indexed=True,
    custom={"task_id": lambda task_id: _has_task(task_id)},
)


def _has_task(task_id: str):
    def has(obj: Any) -> bool:
        if type(obj) is CompactAssignment:  # bulk-loaded: a look in its suite's text, no task dicts made
            return obj.has_task(task_id)
        return any(task.get("id") == task_id for task in obj.get("tasks") or ())

    return has
ATTACHMENTS = ListSpec(
    "attachments",
    exact={
        "pool_id": "details.pool_id",
        "assignment_id": "details.assignment_id",
        "user_id": "details.user_id",
        "name": "name",
        "type": "attachment_type",
        "owner_id": "owner.id",
        "owner_company_id": "owner.company_id",
    },
    ranges={"id": ("id", "str"), "created": ("created", "date")},
    max_limit=100,
)
OPERATIONS = ListSpec(
    "operations",
    exact={"type": "type", "status": "status"},
    ranges={"id": ("id", "str"), "submitted": ("submitted", "date"), "finished": ("finished", "date")},
    sort_fields=("id", "submitted", "finished"),
)


def owner(state: State) -> dict:
    return {"id": state.requester_id, "myself": True, "company_id": "emulated-company"}


def require_object(request: Request) -> dict:
    if not isinstance(request.body, dict):
        raise validation_error({"body": {"code": "OBJECT_EXPECTED", "message": "the body must be a JSON object"}})
    return request.body


def _strip_read_only(kind: str, body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in _READ_ONLY[kind]}


# --------------------------------------------------------------------------------------------- projects


def create_project(request: Request) -> tuple:
    body = require_object(request)
    errors = check_project(body)
    if errors:
        raise validation_error(errors)
    state = request.state
    with state.lock:
        project = _strip_read_only("projects", body)
        project.update(status="ACTIVE", owner=owner(state))
        state.create("projects", project)
        return 201, dict(project)


def update_project(request: Request) -> tuple:
    body = require_object(request)
    state = request.state
    errors = check_project(body)
    if errors:
        raise validation_error(errors)
    with state.lock:
        current = state.get("projects", request.params["id"])
        updated = _strip_read_only("projects", body)
        updated.update({key: current[key] for key in _READ_ONLY["projects"] if key in current})
        state.objects["projects"][current["id"]] = updated
        return 200, dict(updated)


def archive_project(request: Request) -> tuple:
    state = request.state
    with state.lock:
        project = state.get("projects", request.params["id"])
        if project.get("status") == "ARCHIVED":
            return 204, None
        live = [
            pool["id"]
            for kind in ("pools", "trainings")
            for pool in state.objects[kind].values()
            if pool.get("project_id") == project["id"] and pool.get("status") != "ARCHIVED"
        ]
        if live:
            raise ApiError(
                409,
                "UNARCHIVED_POOLS_CONFLICT",
                f"Project {project['id']} has pools or trainings that are not archived: {', '.join(live[:10])}",
            )
        project["status"] = "ARCHIVED"
        return 202, state.create_operation("PROJECT.ARCHIVE", {"project_id": project["id"]})


# ------------------------------------------------------------------------------------ pools, trainings


def _make_create_pool(kind: str):
    check = check_pool if kind == "pools" else check_training

    def create(request: Request) -> tuple:
        body = require_object(request)
        state = request.state
        with state.lock:
            errors = check(body, state)
            if errors:
                raise validation_error(errors)
            pool = _strip_read_only(kind, body)
            pool.update(status="CLOSED", owner=owner(state))
            if kind == "pools":
                pool["type"] = "REGULAR"
                pool.setdefault("priority", 0)
            state.create(kind, pool)
            return 201, dict(pool)

    return create


def _make_update_pool(kind: str):
    check = check_pool if kind == "pools" else check_training

    def update(request: Request) -> tuple:
        body = require_object(request)
        state = request.state
        with state.lock:
            current = state.get(kind, request.params["id"])
            if current.get("status") == "OPEN":
                raise inappropriate_status(
                    f"{kind[:-1].capitalize()} {current['id']} is open; close it for update first", ["CLOSED"]
                )
            if current.get("status") == "ARCHIVED":
                raise inappropriate_status(f"{kind[:-1].capitalize()} {current['id']} is archived", ["CLOSED"])
            errors = check(body, state)
            if errors:
                raise validation_error(errors)
            updated = _strip_read_only(kind, body)
            updated.update({key: current[key] for key in _READ_ONLY[kind] if key in current})
            state.objects[kind][current["id"]] = updated
            return 200, dict(updated)

    return update


def patch_pool(request: Request) -> tuple:
    body = require_object(request)
    priority = body.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
        raise invalid_parameter("priority", f"must be an integer 0..100, got {priority!r}")
    state = request.state
    with state.lock:
        pool = state.get("pools", request.params["id"])
        if pool.get("status") == "ARCHIVED":
            raise inappropriate_status(f"Pool {pool['id']} is archived", ["OPEN", "CLOSED"])
        pool["priority"] = priority
        return 200, dict(pool)


def _has_work(state: State, kind: str, pool_id: str) -> bool:
    return bool(state.pool_index("tasks", pool_id) or state.pool_index("task_suites", pool_id))


def open_pool_now(state: State, kind: str, pool_id: str) -> tuple[int, Any]:
    """Open a pool or training: (204, None) when already open, (202, operation) when opened; ApiError 409
    when archived or empty. Shared with ``open_pool=true`` on task creation."""
    op_prefix = "POOL" if kind == "pools" else "TRAINING"
    param = "pool_id" if kind == "pools" else "training_id"
    with state.lock:
        pool = state.get(kind, pool_id)
        status = pool.get("status")
        if status == "OPEN":
            return 204, None
        if status == "ARCHIVED":
            raise inappropriate_status(f"{op_prefix.capitalize()} {pool_id} is archived and cannot be opened", ["CLOSED"])
        if not _has_work(state, kind, pool_id):
            raise ApiError(409, "EMPTY_POOL", f"{op_prefix.capitalize()} {pool_id} has no tasks; add tasks before opening it")
        state.set_pool_status(kind, pool_id, "OPEN")
        return 202, state.create_operation(f"{op_prefix}.OPEN", {param: pool_id})


def _make_action(kind: str, action: str):
    op_prefix = "POOL" if kind == "pools" else "TRAINING"
    param = "pool_id" if kind == "pools" else "training_id"
    noun = op_prefix.capitalize()

    def handle(request: Request) -> tuple:
        state = request.state
        pool_id = request.params["id"]
        with state.lock:
            pool = state.get(kind, pool_id)
            status = pool.get("status")
            if action == "open":
                return open_pool_now(state, kind, pool_id)
            if action in ("close", "close-for-update"):
                if status == "CLOSED":
                    return 204, None
                if status == "ARCHIVED":
                    raise inappropriate_status(f"{noun} {pool_id} is archived", ["OPEN"])
                reason = "MANUAL" if action == "close" else "FOR_UPDATE"
                state.set_pool_status(kind, pool_id, "CLOSED", reason)
                return 202, state.create_operation(f"{op_prefix}.CLOSE", {param: pool_id})
            if action == "archive":
                if status == "ARCHIVED":
                    return 204, None
                if status == "OPEN":
                    raise inappropriate_status(f"{noun} {pool_id} is open; close it before archiving", ["CLOSED"])
                state.set_pool_status(kind, pool_id, "ARCHIVED")
                return 202, state.create_operation(f"{op_prefix}.ARCHIVE", {param: pool_id})
            # clone: same settings, a new closed pool without tasks
            clone = {key: copy.deepcopy(value) for key, value in pool.items() if key not in _READ_ONLY[kind]}
            clone.update(status="CLOSED", owner=owner(state))
            if kind == "pools":
                clone["type"] = "REGULAR"
            state.create(kind, clone)
            return 202, state.create_operation(
                f"{op_prefix}.CLONE", {param: pool_id}, details={param: clone["id"]}
            )

    return handle


# ----------------------------------------------------------------------------------------- assignments


def patch_assignment(request: Request) -> tuple:
    body = require_object(request)
    status = body.get("status")
    if status not in ("ACCEPTED", "REJECTED"):
        raise invalid_parameter("status", f"must be ACCEPTED or REJECTED, got {status!r}", "UNKNOWN_ENUM_VALUE")
    comment = body.get("public_comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2048):
        raise invalid_parameter("public_comment", "must be a string of at most 2048 characters")
    if status == "REJECTED" and not comment:
        raise invalid_parameter("public_comment", "is required to reject an assignment", "VALUE_REQUIRED")
    state = request.state
    with state.lock:
        assignment = state.decide_assignment(request.params["id"], status, comment)
        return 200, dict(assignment)


# ----------------------------------------------------------------------------------------- attachments


def download_attachment(request: Request) -> tuple:
    state = request.state
    with state.lock:
        attachment = state.get("attachments", request.params["id"])
        content = state.attachment_content.get(attachment["id"], b"")
    return 200, RawResponse(content, attachment.get("media_type") or "application/octet-stream")


def list_attachments(request: Request) -> tuple:
    if not request.arg("pool_id") and not request.arg("assignment_id"):
        raise invalid_parameter("pool_id", "pool_id or assignment_id is required", "VALUE_REQUIRED")
    return list_page(request, ATTACHMENTS)


# ----------------------------------------------------------------------------------------- operations


def list_operations(request: Request) -> tuple:
    state = request.state
    with state.lock:
        views = [state.operation_view(op_id) for op_id in list(state.operations)]
    return list_page(request, OPERATIONS, source=views)


def get_operation(request: Request) -> tuple:
    state = request.state
    with state.lock:
        return 200, dict(state.operation_view(request.params["id"]))


def get_operation_log(request: Request) -> tuple:
    state = request.state
    with state.lock:
        view = state.operation_view(request.params["id"])
        if view["status"] in ("PENDING", "RUNNING"):
            return 200, []
        return 200, list(state.operation_logs.get(view["id"], []))


# ------------------------------------------------------------------------------------------- requester


def get_requester(request: Request) -> tuple:
    state = request.state
    with state.lock:
        return 200, {
            "id": state.requester_id,
            "balance": float(state.balance),
            "public_name": {"EN": "Emulated requester"},
            "company": {"id": "emulated-company", "superintendent_id": state.requester_id},
        }


# --------------------------------------------------------------------------------------------- helpers


def _get(kind: str):
    def handle(request: Request) -> tuple:
        state = request.state
        with state.lock:
            return 200, dict(state.get(kind, request.params["id"]))

    return handle


def _list(spec: ListSpec):
    return lambda request: list_page(request, spec)


def register(router: Router, state: State) -> None:
    router.add("GET", f"{API}/projects", _list(PROJECTS))
    router.add("POST", f"{API}/projects", create_project)
    router.add("GET", f"{API}/projects/{{id}}", _get("projects"))
    router.add("PUT", f"{API}/projects/{{id}}", update_project)
    router.add("POST", f"{API}/projects/{{id}}/archive", archive_project)

    for kind, spec in (("pools", POOLS), ("trainings", TRAININGS)):
        router.add("GET", f"{API}/{kind}", _list(spec))
        router.add("POST", f"{API}/{kind}", _make_create_pool(kind))
        router.add("GET", f"{API}/{kind}/{{id}}", _get(kind))
        router.add("PUT", f"{API}/{kind}/{{id}}", _make_update_pool(kind))
        for action in ("open", "close", "close-for-update", "archive", "clone"):
            router.add("POST", f"{API}/{kind}/{{id}}/{action}", _make_action(kind, action))
    router.add("PATCH", f"{API}/pools/{{id}}", patch_pool)

    router.add("GET", f"{API}/assignments", lambda request: list_page_wire(request, ASSIGNMENTS))
    router.add("GET", f"{API}/assignments/{{id}}", _get("assignments"))
    router.add("PATCH", f"{API}/assignments/{{id}}", patch_assignment)

    router.add("GET", f"{API}/attachments", list_attachments)
    router.add("GET", f"{API}/attachments/{{id}}", _get("attachments"))
    router.add("GET", f"{API}/attachments/{{id}}/download", download_attachment)

    router.add("GET", f"{API}/operations", list_operations)
    router.add("GET", f"{API}/operations/{{id}}", get_operation)
    router.add("GET", f"{API}/operations/{{id}}/log", get_operation_log)

    router.add("GET", f"{API}/requester", get_requester)
