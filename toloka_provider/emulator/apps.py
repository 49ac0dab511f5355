"""The Apps API of the emulator (``/api/app/v0``, toloka-api.md §12): apps, app projects, batches, items.

Routes (``register(router, state)``)::

    GET   /api/app/v0/apps                                   GET /api/app/v0/apps/{app_id}
    GET   /api/app/v0/app-projects                           POST /api/app/v0/app-projects
    GET   /api/app/v0/app-projects/{id}                      POST .../{id}/archive, .../{id}/unarchive
    GET   /api/app/v0/app-projects/{id}/batches              POST .../{id}/batches
    GET   /api/app/v0/app-projects/{id}/batches/{batch_id}   PATCH .../batches/{batch_id}
    POST  .../batches/{batch_id}/start | /stop | /resume | /archive | /unarchive
    POST  /api/app/v0/app-projects/{id}/batches/sync     (labelled before the answer)
    GET   /api/app/v0/app-projects/{id}/items                POST .../{id}/items, POST .../{id}/items/bulk
    GET   /api/app/v0/app-projects/{id}/items/{item_id}

What happens
    * Two built-in apps: ``text-classification`` (input ``text``, output ``category`` from the project's
      ``instruction_classes[].value``) and ``image-classification`` (input ``image_url``, same output).
    * An app project starts CREATING and is READY ``APP_PROJECT_SETUP_SECONDS`` (real time) later.
    * A batch is NEW with its items NEW. ``start`` (project READY) makes it PROCESSING; the crowd (``crowd.py``)
      then takes items one per unit of its speed: NEW -> PROCESSING on one tick, COMPLETED with
      ``output_data`` on the next; the batch is COMPLETED when all its items are. Each completed item
      charges ``item_price`` to the balance; when the balance cannot pay, the batch and its pending items
      become NO_MONEY. ``stop`` makes the batch STOPPED (unfinished items STOPPED), ``resume`` / ``start``
      again PROCESSING. ``archive`` (any batch but a PROCESSING one) makes it ARCHIVE, ``unarchive`` gives it
      back the status it had.
    * ``batches/sync`` creates a batch whose items are labelled before the answer (COMPLETED with
      ``output_data``, ``item_price`` charged each; NO_MONEY when the balance cannot pay). The answer is the
      OpenAPI's ``{"batch": ..., "items": [...]}`` with the batch's own fields also at the top level, because
      toloka-kit reads the whole body as the batch.
    * ``output_data`` is what a seeded worker of the crowd answers for the item's ``input_data`` (the truth
      file is matched on ``input_data``).

Wire details that follow toloka-api.md rather than the OpenAPI file: batches carry ``items_count`` (the
OpenAPI schema says ``item_count``); archived app projects are ``ARCHIVED`` (the OpenAPI enum of
``AppProject`` says ``ARCHIVE``). Lists are ``{"content": [...], "has_more": bool}``, keyset-paged with
``after_id`` or ``id_gt`` (default limit 100; maximum 5000 for app projects, 1000 otherwise).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from toloka_provider.emulator.books import AppsBook
from toloka_provider.emulator.errors import (
    ApiError,
    does_not_exist,
    field_error,
    inappropriate_status,
    invalid_parameter,
    validation_error,
)
from toloka_provider.emulator.listing import ListSpec, parse_sort
from toloka_provider.emulator.state import format_datetime, normalize_datetime
from toloka_provider.emulator.truth import hash_unit
from toloka_provider.emulator.workers import Answerer

__all__ = ["APP_PROJECT_SETUP_SECONDS", "BUILTIN_APPS", "register", "work_batches"]

PREFIX = "/api/app/v0"
APP_PROJECT_SETUP_SECONDS = 0.05
MAX_ITEMS_PER_REQUEST = 10_000


def _classification_app(app_id: str, name: str, input_field: str, input_type: str, price: float) -> dict:
    return {
        "id": app_id,
        "name": name,
        "image": f"https://example.com/apps/{app_id}.png",
        "description": f"{name}: the crowd picks one class per item from the classes you define.",
        "default_item_price": price,
        "examples": [],
        "constraints_description": "Up to 10,000 items per batch.",
        "param_spec": {
            "type": "object",
            "required": ["name", "default_language", "instruction_classes"],
            "properties": {
                "name": {"type": "string"},
                "default_language": {"type": "string"},
                "instruction_intro": {"type": "string"},
                "instruction_classes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["label", "value"],
                        "properties": {
                            "label": {"type": "string"},
                            "value": {"type": "string"},
                            "description": {"type": "string"},
                        },
                    },
                },
            },
        },
        "input_spec": {"id": {"type": "string", "required": False}, input_field: {"type": input_type, "required": True}},
        "output_spec": {"category": {"type": "string", "required": True}},
        "input_format_info": {"inputFields": [{"name": input_field, "type": input_type.upper()}]},
    }


BUILTIN_APPS: dict[str, dict] = {
    app["id"]: app
    for app in (
        _classification_app("image-classification", "Image classification", "image_url", "url", 0.05),
        _classification_app("text-classification", "Text classification", "text", "string", 0.03),
    )
}

_LIMIT_RE = re.compile(r"-?[0-9]{1,18}")
_APP_LIST_FIELDS = ("id", "name", "image", "description", "default_item_price", "examples")
_ITEM_STATUSES = ("NEW", "PROCESSING", "COMPLETED", "ERROR", "CANCELLED", "ARCHIVE", "NO_MONEY", "STOPPED")


def _book(state: Any) -> AppsBook:
    return state.apps_book


# ------------------------------------------------------------------------------------------- lists


def _text_in(field_name: str, wanted: set[str]) -> Callable[[dict], bool]:
    return lambda obj: str(obj.get(field_name)) in wanted


def _id_after(after_id: str) -> Callable[[dict], bool]:
    return lambda obj: obj["id"] > after_id


def _compares(field_name: str, bound: str, compare: Callable[[str, str], bool]) -> Callable[[dict], bool]:
    return lambda obj: obj.get(field_name) is not None and compare(str(obj.get(field_name)), bound)


def _text_of(field_name: str) -> Callable[[dict], str]:
    return lambda obj: str(obj.get(field_name) or "")


def _page(
    request: Any,
    objects: list[dict],
    *,
    exact: Mapping[str, str],
    ranges: Mapping[str, str],
    sort_fields: tuple[str, ...],
    max_limit: int,
    date_fields: tuple[str, ...] = (),
) -> tuple[int, dict]:
    """Filter, sort and cut one page; ``exact``/``ranges`` map query names to object fields."""
    limit_text = request.arg("limit")
    # Strict like the v1 listings: ASCII digits only (int() would also take " 5", "+5", "1_000", "٥").
    if limit_text in (None, ""):
        limit = 100
    elif _LIMIT_RE.fullmatch(limit_text):
        limit = int(limit_text)
    else:
        shown = limit_text if len(limit_text) <= 100 else limit_text[:100] + "..."
        raise invalid_parameter("limit", f"expected an integer, got {shown!r}", "INTEGER_EXPECTED")
    if not 1 <= limit <= max_limit:
        raise invalid_parameter("limit", f"must be between 1 and {max_limit}, got {limit}", "VALUE_OUT_OF_BOUNDS")
    checks: list[Callable[[dict], bool]] = []
    for name, field_name in exact.items():
        value = request.arg(name)
        if value is None:
            continue
        wanted = set(value.split(","))
        checks.append(_text_in(field_name, wanted))
    operators = {
        "_gt": lambda a, b: a > b,
        "_gte": lambda a, b: a >= b,
        "_lt": lambda a, b: a < b,
        "_lte": lambda a, b: a <= b,
    }
    after_id = request.arg("after_id")
    if after_id:
        checks.append(_id_after(after_id))
    for name, field_name in ranges.items():
        for suffix, compare in operators.items():
            value = request.arg(name + suffix)
            if value is None:
                continue
            if field_name in date_fields:
                try:
                    value = normalize_datetime(value)
                except ValueError as error:
                    raise invalid_parameter(name + suffix, str(error), "INVALID_DATE_TIME_SYNTAX") from None
            checks.append(_compares(field_name, value, compare))
    selected = [obj for obj in objects if all(check(obj) for check in checks)]
    # The v1 rules: an empty sort=, an empty key, an unknown field, --id or a field named twice is a 400.
    keys = parse_sort(request, ListSpec("apps", sort_fields=sort_fields)) or [("id", False)]
    if keys != [("id", False)]:
        if keys[-1][0] != "id":
            keys.append(("id", False))  # a total order, so that pages never overlap
        for field_name, descending in reversed(keys):
            selected.sort(key=_text_of(field_name), reverse=descending)
    else:
        selected.sort(key=lambda obj: obj["id"])
    return 200, {"content": selected[:limit], "has_more": len(selected) > limit}


# ------------------------------------------------------------------------------------------- views


def _app_project_view(state: Any, project: dict) -> dict:
    if project.get("status") == "CREATING":
        ready_at = _book(state).ready_at.get(project["id"], 0.0)
        if time.monotonic() >= ready_at:
            project["status"] = "READY"
    return project


def _batch_view(state: Any, batch: dict) -> dict:
    """Refresh the derived batch fields (counts, cost, status) from its items."""
    book = _book(state)
    per_state = dict.fromkeys(_ITEM_STATUSES, 0)
    items = state.app_items
    for item_id in book.items_by_batch.get(batch["id"], ()):
        per_state[items[item_id]["status"]] = per_state.get(items[item_id]["status"], 0) + 1
    total = sum(per_state.values())
    price = Decimal(str(batch.get("item_price") or 0))
    batch["items_count"] = total
    batch["items_processed_count"] = per_state["COMPLETED"]
    batch["items_per_state"] = per_state
    batch["cost"] = float(price * total)
    batch["cost_of_processed"] = float(price * per_state["COMPLETED"])
    batch["current_time"] = state.now_wire()
    if batch["status"] == "PROCESSING" and total and per_state["COMPLETED"] == total:
        batch["status"] = "COMPLETED"
        batch["finished_at"] = state.now_wire()
    return batch


def _project_or_404(state: Any, app_project_id: str) -> dict:
    project = state.app_projects.get(app_project_id)
    if project is None:
        raise does_not_exist("app_project", app_project_id)
    return _app_project_view(state, project)


def _batch_or_404(state: Any, app_project_id: str, batch_id: str) -> dict:
    _project_or_404(state, app_project_id)
    batch = state.app_batches.get(batch_id)
    if batch is None or batch.get("app_project_id") != app_project_id:
        raise does_not_exist("batch", batch_id)
    return batch


def _require_object_body(request: Any) -> dict:
    if not isinstance(request.body, dict):
        raise validation_error(
            {"body": field_error("OBJECT_EXPECTED", f"expected a JSON object, got {type(request.body).__name__}")}
        )
    return request.body


# ------------------------------------------------------------------------------------------- apps


def _list_apps(request: Any) -> tuple:
    views = [{key: app[key] for key in _APP_LIST_FIELDS} for app in BUILTIN_APPS.values()]
    return _page(request, views, exact={}, ranges={"id": "id", "name": "name"}, sort_fields=("id", "name"), max_limit=1000)


def _get_app(request: Any) -> tuple:
    app = BUILTIN_APPS.get(request.params["app_id"])
    if app is None:
        raise does_not_exist("app", request.params["app_id"])
    return 200, app


# ------------------------------------------------------------------------------------------- app projects


def _create_app_project(request: Any) -> tuple:
    state = request.state
    body = _require_object_body(request)
    errors = {}
    app = BUILTIN_APPS.get(str(body.get("app_id")))
    if app is None:
        errors["app_id"] = field_error(
            "ENTITY_DOES_NOT_EXIST", f"expected one of {sorted(BUILTIN_APPS)}, got {body.get('app_id')!r}"
        )
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        errors["name"] = field_error("VALUE_REQUIRED", "expected a non-empty string")
    parameters = body.get("parameters")
    if not isinstance(parameters, dict):
        errors["parameters"] = field_error("OBJECT_EXPECTED", "expected an object following the app's param_spec")
    else:
        classes = parameters.get("instruction_classes")
        if not isinstance(classes, list) or not classes or not all(
            isinstance(entry, dict) and entry.get("value") for entry in classes
        ):
            errors["parameters.instruction_classes"] = field_error(
                "VALUE_REQUIRED", "expected a non-empty list of {label, value} objects"
            )
    if errors or app is None:  # a None app is in errors already; the test tells the type checker
        raise validation_error(errors)
    with state.lock:
        project = {
            "app_id": app["id"],
            "name": body["name"],
            "parameters": parameters,
            "status": "CREATING",
            "item_price": app["default_item_price"],
            "errors": [],
            "read_only": False,
            "app": {"id": app["id"], "name": app["name"]},
        }
        if body.get("parent_app_project_id"):
            project["parent_app_project_id"] = str(body["parent_app_project_id"])
        state.create("app_projects", project)
        _book(state).ready_at[project["id"]] = time.monotonic() + APP_PROJECT_SETUP_SECONDS
        state.notify_changed()
        return 200, dict(project)


def _list_app_projects(request: Any) -> tuple:
    state = request.state
    with state.lock:
        projects = [_app_project_view(state, project) for project in state.app_projects.values()]
        return _page(
            request,
            projects,
            exact={"app_id": "app_id", "status": "status", "parent_app_project_id": "parent_app_project_id"},
            ranges={"id": "id", "name": "name", "created": "created"},
            sort_fields=("id", "name", "created"),
            max_limit=5000,
            date_fields=("created",),
        )


def _get_app_project(request: Any) -> tuple:
    with request.state.lock:
        return 200, _project_or_404(request.state, request.params["app_project_id"])


def _set_archived(archived: bool) -> Callable[[Any], tuple]:
    def handler(request: Any) -> tuple:
        with request.state.lock:
            project = _project_or_404(request.state, request.params["app_project_id"])
            project["status"] = "ARCHIVED" if archived else "READY"
            return 200, None

    return handler


# ------------------------------------------------------------------------------------------- items


def _validate_input(app: Mapping[str, Any], input_data: Any, where: str) -> dict:
    if not isinstance(input_data, dict):
        return {where: field_error("OBJECT_EXPECTED", f"expected an object, got {type(input_data).__name__}")}
    errors = {}
    for name, spec in app["input_spec"].items():
        if spec.get("required") and input_data.get(name) in (None, ""):
            errors[f"{where}.{name}"] = field_error("VALUE_REQUIRED", f"input field {name!r} is required")
    return errors


def _new_items(state: Any, project: dict, batch: dict | None, inputs: list, *, ignore_errors: bool) -> list[dict]:
    """Validate and store items (all or nothing unless ``ignore_errors``); returns the created items."""
    app = BUILTIN_APPS[project["app_id"]]
    if len(inputs) > MAX_ITEMS_PER_REQUEST:
        raise ApiError(413, "ENTITY_TOO_LARGE", f"at most {MAX_ITEMS_PER_REQUEST} items per request, got {len(inputs)}")
    errors: dict[str, Any] = {}
    valid = []
    for index, input_data in enumerate(inputs):
        problems = _validate_input(app, input_data, f"items.{index}")
        if problems:
            errors.update(problems)
        else:
            valid.append(input_data)
    if errors and not ignore_errors:
        raise validation_error(errors, "Some items are not valid")
    book = _book(state)
    created = []
    for input_data in valid:
        item = {"app_project_id": project["id"], "status": "NEW", "input_data": input_data}
        if batch is not None:
            item["batch_id"] = batch["id"]
        state.create("app_items", item)
        item["created_at"] = item.pop("created")
        if batch is not None:
            book.items_by_batch.setdefault(batch["id"], []).append(item["id"])
        book.items_by_project.setdefault(project["id"], []).append(item["id"])
        created.append(item)
    if batch is not None and created and batch["status"] == "COMPLETED":
        batch["status"] = "PROCESSING"
        batch.pop("finished_at", None)
    return created


def _item_body(request: Any) -> tuple[dict, dict | None]:
    state = request.state
    body = _require_object_body(request)
    project = _project_or_404(state, request.params["app_project_id"])
    batch = None
    if body.get("batch_id") is not None:
        batch = _batch_or_404(state, project["id"], str(body["batch_id"]))
    return project, batch


def _create_item(request: Any) -> tuple:
    state = request.state
    with state.lock:
        project, batch = _item_body(request)
        body = request.body
        if "input_data" not in body:
            raise validation_error({"input_data": field_error("VALUE_REQUIRED", "input_data is required")})
        problems = _validate_input(BUILTIN_APPS[project["app_id"]], body["input_data"], "input_data")
        if problems:
            raise validation_error(problems)
        item = _new_items(state, project, batch, [body["input_data"]], ignore_errors=False)[0]
        state.notify_changed()
        return 200, item


def _bulk_create_items(request: Any) -> tuple:
    state = request.state
    with state.lock:
        project, batch = _item_body(request)
        items = request.body.get("items")
        if not isinstance(items, list):
            raise validation_error({"items": field_error("ARRAY_EXPECTED", "expected an array of input_data objects")})
        created = _new_items(state, project, batch, items, ignore_errors=bool(request.body.get("ignore_errors")))
        state.notify_changed()
        return 200, [item["id"] for item in created]


def _list_items(request: Any) -> tuple:
    state = request.state
    with state.lock:
        project = _project_or_404(state, request.params["app_project_id"])
        book = _book(state)
        batch_id = request.arg("batch_id")
        ids = book.items_by_batch.get(batch_id, []) if batch_id else book.items_by_project.get(project["id"], [])
        items = [state.app_items[item_id] for item_id in ids]
        for name in ("status",):
            value = request.arg(name)
            if value is not None and not set(value.split(",")) <= set(_ITEM_STATUSES):
                raise invalid_parameter(name, f"expected statuses from {list(_ITEM_STATUSES)}, got {value!r}", "UNKNOWN_ENUM_VALUE")
        return _page(
            request,
            items,
            exact={"status": "status", "batch_id": "batch_id"},
            ranges={"id": "id", "created": "created_at", "finished": "finished_at"},
            sort_fields=("id", "created_at", "finished_at", "status", "created", "finished"),
            max_limit=1000,
            date_fields=("created_at", "finished_at"),
        )


def _get_item(request: Any) -> tuple:
    state = request.state
    with state.lock:
        _project_or_404(state, request.params["app_project_id"])
        item = state.app_items.get(request.params["item_id"])
        if item is None or item.get("app_project_id") != request.params["app_project_id"]:
            raise does_not_exist("item", request.params["item_id"])
        return 200, item


# ------------------------------------------------------------------------------------------- batches

_PRIORITIES = ("ONE", "TWO", "THREE", "FOUR", "FIVE")


def _create_batch(request: Any) -> tuple:
    state = request.state
    body = _require_object_body(request)
    with state.lock:
        project = _project_or_404(state, request.params["app_project_id"])
        if project["status"] == "ARCHIVED":
            raise inappropriate_status(f"app project {project['id']} is archived", ["READY", "CREATING"])
        errors = {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            errors["name"] = field_error("VALUE_REQUIRED", "expected a non-empty string")
        items = body.get("items", [])
        if not isinstance(items, list):
            errors["items"] = field_error("ARRAY_EXPECTED", "expected an array of input_data objects")
        priority = body.get("priority_order", "FIVE")
        if priority not in _PRIORITIES:
            errors["priority_order"] = field_error("UNKNOWN_ENUM_VALUE", f"expected one of {list(_PRIORITIES)}, got {priority!r}")
        if errors:
            raise validation_error(errors)
        batch_id = state.new_id("app_batches")
        batch = {
            "id": batch_id,
            "app_project_id": project["id"],
            "name": body["name"],
            "status": "NEW",
            "item_price": project.get("item_price"),
            "created_at": state.now_wire(),
            "read_only": False,
            "priority_order": priority,
        }
        # Items first: an invalid item rejects the whole batch before anything is stored.
        _new_items(state, project, batch, items, ignore_errors=bool(body.get("ignore_errors")))
        state.store("app_batches", batch)
        state.created["app_batch"] += 1
        state.notify_changed()
        return 200, _batch_view(state, batch)


def _list_batches(request: Any) -> tuple:
    state = request.state
    with state.lock:
        project = _project_or_404(state, request.params["app_project_id"])
        batches = [
            _batch_view(state, batch) for batch in state.app_batches.values() if batch["app_project_id"] == project["id"]
        ]
        return _page(
            request,
            batches,
            exact={"status": "status"},
            ranges={"id": "id", "name": "name", "created": "created_at"},
            sort_fields=("id", "name", "created_at", "status", "created"),
            max_limit=1000,
            date_fields=("created_at",),
        )


def _get_batch(request: Any) -> tuple:
    state = request.state
    with state.lock:
        batch = _batch_or_404(state, request.params["app_project_id"], request.params["batch_id"])
        return 200, _batch_view(state, batch)


def _patch_batch(request: Any) -> tuple:
    state = request.state
    body = _require_object_body(request)
    with state.lock:
        batch = _batch_or_404(state, request.params["app_project_id"], request.params["batch_id"])
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise invalid_parameter("name", "expected a non-empty string", "VALUE_REQUIRED")
            batch["name"] = body["name"]
        if "priority_order" in body:
            if body["priority_order"] not in _PRIORITIES:
                raise invalid_parameter("priority_order", f"expected one of {list(_PRIORITIES)}", "UNKNOWN_ENUM_VALUE")
            batch["priority_order"] = body["priority_order"]
        return 200, _batch_view(state, batch)


def _start_batch(request: Any) -> tuple:
    state = request.state
    with state.lock:
        project = _project_or_404(state, request.params["app_project_id"])
        batch = _batch_or_404(state, project["id"], request.params["batch_id"])
        if project["status"] != "READY":
            raise inappropriate_status(f"app project {project['id']} is {project['status']}", ["READY"])
        if batch["status"] in ("NEW", "STOPPED", "NO_MONEY"):
            batch["status"] = "PROCESSING"
            batch.setdefault("started_at", state.now_wire())
            items = state.app_items
            for item_id in _book(state).items_by_batch.get(batch["id"], ()):
                if items[item_id]["status"] in ("STOPPED", "NO_MONEY"):
                    items[item_id]["status"] = "NEW"
            _book(state).next_item[batch["id"]] = 0
            state.notify_changed()
        elif batch["status"] not in ("PROCESSING", "COMPLETED"):
            raise inappropriate_status(f"batch {batch['id']} is {batch['status']}", ["NEW", "STOPPED"])
        return 200, None


def _stop_batch(request: Any) -> tuple:
    state = request.state
    with state.lock:
        batch = _batch_or_404(state, request.params["app_project_id"], request.params["batch_id"])
        if batch["status"] == "PROCESSING":
            batch["status"] = "STOPPED"
            items = state.app_items
            book = _book(state)
            for item_id in book.items_by_batch.get(batch["id"], ()):
                if items[item_id]["status"] in ("NEW", "PROCESSING"):
                    items[item_id]["status"] = "STOPPED"
            book.in_progress.pop(batch["id"], None)
        elif batch["status"] not in ("STOPPED", "COMPLETED"):
            raise inappropriate_status(f"batch {batch['id']} is {batch['status']}", ["PROCESSING"])
        return 200, None


def _archive_batch(archived: bool) -> Callable[[Any], tuple]:
    def handler(request: Any) -> tuple:
        state = request.state
        with state.lock:
            batch = _batch_or_404(state, request.params["app_project_id"], request.params["batch_id"])
            book = _book(state)
            if archived and batch["status"] != "ARCHIVE":
                if batch["status"] in ("PROCESSING", "STOPPING", "LOADING"):
                    raise inappropriate_status(
                        f"batch {batch['id']} is {batch['status']}; stop it or let it finish before archiving",
                        ["NEW", "COMPLETED", "STOPPED", "NO_MONEY", "ERROR", "CANCELLED"],
                    )
                book.archived_from[batch["id"]] = batch["status"]
                batch["status"] = "ARCHIVE"
            elif not archived and batch["status"] == "ARCHIVE":
                batch["status"] = book.archived_from.pop(batch["id"], "COMPLETED")
            return 200, None

    return handler


def _sync_batch(request: Any) -> tuple:
    state = request.state
    body = _require_object_body(request)
    with state.lock:
        project = _project_or_404(state, request.params["app_project_id"])
        if project["status"] != "READY":
            raise inappropriate_status(f"app project {project['id']} is {project['status']}", ["READY"])
        errors = {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            errors["name"] = field_error("VALUE_REQUIRED", "expected a non-empty string")
        items = body.get("items")
        if not isinstance(items, list) or not items:
            errors["items"] = field_error("ARRAY_EXPECTED", "expected a non-empty array of input_data objects")
        if errors or not isinstance(items, list):  # a non-list is in errors already (for the type checker)
            raise validation_error(errors)
        now = state.now_wire()
        batch = {
            "id": state.new_id("app_batches"),
            "app_project_id": project["id"],
            "name": body["name"],
            "status": "PROCESSING",
            "item_price": project.get("item_price"),
            "created_at": now,
            "started_at": now,
            "read_only": False,
            "priority_order": "FIVE",
        }
        created = _new_items(state, project, batch, items, ignore_errors=False)
        state.store("app_batches", batch)
        state.created["app_batch"] += 1
        book = _book(state)
        if book.answerer is None:
            book.answerer = Answerer.for_options(state.options)
        price = Decimal(str(batch.get("item_price") or 0))
        for item in created:
            if state.balance < price:
                item["status"] = "NO_MONEY"
                batch["status"] = "NO_MONEY"
                continue
            item.update(status="COMPLETED", started_at=now, finished_at=now)
            item["output_data"] = _item_answer(book.answerer, project, item)
            state.charge(price)
        view = dict(_batch_view(state, batch))
        return 200, {**view, "batch": view, "items": [dict(item) for item in created]}


# ------------------------------------------------------------------------------------------- the crowd's part


def work_batches(state: Any, crowd: Any, units: int, now: datetime) -> int:
    """Called by the crowd each tick (lock held): finish the items started last tick, start up to ``units``
    new ones in PROCESSING batches (oldest batch first, then by priority). Returns the items started."""
    book = _book(state)
    stamp = format_datetime(now)
    items = state.app_items
    for batch_id, item_ids in list(book.in_progress.items()):
        batch = state.app_batches.get(batch_id)
        project = state.app_projects.get(batch["app_project_id"]) if batch else None
        for item_id in item_ids:
            item = items[item_id]
            if item["status"] != "PROCESSING":
                continue
            price = Decimal(str(batch.get("item_price") or 0))
            if state.balance < price:
                item["status"] = "NO_MONEY"
                batch["status"] = "NO_MONEY"
                continue
            item["output_data"] = _item_answer(crowd, project, item)
            item["status"] = "COMPLETED"
            item["finished_at"] = stamp
            state.charge(price)
        del book.in_progress[batch_id]
        if batch is not None:
            _batch_view(state, batch)
        state.notify_changed()
    started = 0
    if units <= 0:
        return 0
    processing = [batch for batch in state.app_batches.values() if batch.get("status") == "PROCESSING"]
    processing.sort(key=lambda batch: (_PRIORITIES.index(batch.get("priority_order", "FIVE")), batch["id"]))
    for batch in processing:
        ids = book.items_by_batch.get(batch["id"], [])
        position = book.next_item.get(batch["id"], 0)
        while position < len(ids) and started < units:
            item = items[ids[position]]
            position += 1
            if item["status"] != "NEW":
                continue
            item["status"] = "PROCESSING"
            item["started_at"] = stamp
            book.in_progress.setdefault(batch["id"], []).append(item["id"])
            started += 1
        book.next_item[batch["id"]] = position
        if started >= units:
            break
    return started


def _item_answer(crowd: Any, project: Mapping[str, Any] | None, item: Mapping[str, Any]) -> dict:
    classes = [entry.get("value") for entry in ((project or {}).get("parameters") or {}).get("instruction_classes") or ()]
    output_spec: dict[str, dict[str, Any]] = {
        "category": {"type": "string", "required": True, "allowed_values": classes or ["other"]}
    }
    workers = [worker for worker in crowd.workers if not worker.spammer] or crowd.workers
    if not workers:
        return {"category": output_spec["category"]["allowed_values"][0]}
    worker = workers[min(int(hash_unit(crowd.seed, "app-item", item["id"]) * len(workers)), len(workers) - 1)]
    task = {"id": item["id"], "input_values": item.get("input_data") or {}}
    return crowd.answer(worker, task, output_spec)


# ------------------------------------------------------------------------------------------- routes


def register(router: Any, state: Any) -> None:
    """Add the Apps API routes."""
    _book(state)
    add = router.add
    add("GET", f"{PREFIX}/apps", _list_apps)
    add("GET", f"{PREFIX}/apps/{{app_id}}", _get_app)
    add("GET", f"{PREFIX}/app-projects", _list_app_projects)
    add("POST", f"{PREFIX}/app-projects", _create_app_project)
    add("GET", f"{PREFIX}/app-projects/{{app_project_id}}", _get_app_project)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/archive", _set_archived(True))
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/unarchive", _set_archived(False))
    add("GET", f"{PREFIX}/app-projects/{{app_project_id}}/items", _list_items)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/items", _create_item)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/items/bulk", _bulk_create_items)
    add("GET", f"{PREFIX}/app-projects/{{app_project_id}}/items/{{item_id}}", _get_item)
    add("GET", f"{PREFIX}/app-projects/{{app_project_id}}/batches", _list_batches)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches", _create_batch)
    add("GET", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}", _get_batch)
    add("PATCH", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}", _patch_batch)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}/start", _start_batch)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}/resume", _start_batch)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}/stop", _stop_batch)
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}/archive", _archive_batch(True))
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/{{batch_id}}/unarchive", _archive_batch(False))
    add("POST", f"{PREFIX}/app-projects/{{app_project_id}}/batches/sync", _sync_batch)
