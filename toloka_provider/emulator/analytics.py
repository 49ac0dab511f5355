"""``POST /api/staging/analytics-2`` (toloka-api.md §11): pool metrics as an ANALYTICS operation.

The body is a JSON array (1 to 10 items) of ``{"subject": "POOL", "subject_id": "<pool id>", "name": "<metric>"}``.
The answer is 202 with an Operation of type ``ANALYTICS`` (``parameters.value`` = the request items) that
goes PENDING -> RUNNING -> SUCCESS like every emulator operation; its ``details.value`` is a list of
``{"request": <item>, "result": <value>, "finished": <date>}``. The values are computed when the request
arrives (the operation only delays showing them).

Metrics and what the emulator counts (assignments of the pool, by their current status):

* ``completion_percentage`` -> ``{"type": "NORMAL", "value": int 0..100, "infinite": bool, "approximate": false}``:
  the share of the real tasks' overlap slots filled by submitted (SUBMITTED/ACCEPTED/REJECTED) assignments;
  100 for a pool closed COMPLETED; ``infinite`` when some task has ``infinite_overlap``.
* ``submitted_assignments_count`` (status SUBMITTED), ``approved_assignments_count`` (ACCEPTED),
  ``rejected_assignments_count``, ``skipped_assignments_count``; ``real_tasks_count`` (tasks without
  ``known_solutions``); ``spent_budget`` (sum of accepted rewards, a number); ``unique_workers_count``,
  ``unique_submitters_count``; ``avg_submit_assignment_millis``; ``active_workers_by_filter_count`` (the
  size of the simulated crowd); ``estimated_assignments_count`` (overlap slots / real tasks per suite).
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from typing import Any

from toloka_provider.emulator.errors import does_not_exist, field_error, validation_error
from toloka_provider.emulator.state import parse_datetime

__all__ = ["METRICS", "compute_metric", "register"]

MAX_REQUESTS = 10
_SUBMITTED_LIKE = ("SUBMITTED", "ACCEPTED", "REJECTED")


def _assignments(state: Any, pool_id: str) -> list[dict]:
    peek = state.assignments.peek  # read only: compact (bulk-loaded) ones stay compact
    return [peek(assignment_id) for assignment_id in state.pool_index("assignments", pool_id)]


def _tasks(state: Any, pool_id: str) -> list[dict]:
    objects = state.tasks
    return [objects[task_id] for task_id in state.pool_index("tasks", pool_id)]


def _task_overlap(task: dict, pool: dict) -> int | None:
    if task.get("infinite_overlap"):
        return None
    overlap = task.get("overlap")
    if overlap is None:
        defaults = pool.get("defaults") or {}
        overlap = defaults.get("default_overlap_for_new_tasks") or defaults.get("default_overlap_for_new_task_suites") or 1
    return int(overlap)


def _completion(state: Any, pool: dict) -> dict:
    tasks = [task for task in _tasks(state, pool["id"]) if not task.get("known_solutions")]
    infinite = any(task.get("infinite_overlap") for task in tasks)
    if pool.get("status") == "CLOSED" and pool.get("last_close_reason") == "COMPLETED":
        return {"type": "NORMAL", "value": 100, "infinite": infinite, "approximate": False}
    done_per_task: Counter[str] = Counter()
    for assignment in _assignments(state, pool["id"]):
        if assignment.get("status") in _SUBMITTED_LIKE:
            for task in assignment.get("tasks") or ():
                done_per_task[task.get("id")] += 1
    total = filled = 0
    for task in tasks:
        overlap = _task_overlap(task, pool)
        if overlap is None:
            continue
        total += overlap
        filled += min(done_per_task[task["id"]], overlap)
    value = int(100 * filled / total) if total else 0
    return {"type": "NORMAL", "value": value, "infinite": infinite, "approximate": False}


def _count_status(status: str):
    def metric(state: Any, pool: dict) -> int:
        return sum(1 for assignment in _assignments(state, pool["id"]) if assignment.get("status") == status)

    return metric


def _real_tasks(state: Any, pool: dict) -> int:
    return sum(1 for task in _tasks(state, pool["id"]) if not task.get("known_solutions"))


def _spent_budget(state: Any, pool: dict) -> float:
    total = sum(
        (Decimal(str(a.get("reward") or 0)) for a in _assignments(state, pool["id"]) if a.get("status") == "ACCEPTED"),
        Decimal(0),
    )
    return float(total)


def _unique_workers(state: Any, pool: dict) -> int:
    return len({assignment.get("user_id") for assignment in _assignments(state, pool["id"])})


def _unique_submitters(state: Any, pool: dict) -> int:
    return len(
        {a.get("user_id") for a in _assignments(state, pool["id"]) if a.get("status") in _SUBMITTED_LIKE}
    )


def _avg_submit_millis(state: Any, pool: dict) -> int:
    durations = []
    for assignment in _assignments(state, pool["id"]):
        if assignment.get("submitted") and assignment.get("created"):
            delta = parse_datetime(assignment["submitted"]) - parse_datetime(assignment["created"])
            durations.append(delta.total_seconds() * 1000)
    return int(sum(durations) / len(durations)) if durations else 0


def _active_workers(state: Any, pool: dict) -> int:
    return int(getattr(state.options, "crowd", 0))


def _estimated_assignments(state: Any, pool: dict) -> int:
    slots = sum(
        _task_overlap(task, pool) or 0 for task in _tasks(state, pool["id"]) if not task.get("known_solutions")
    )
    per_suite = int((pool.get("mixer_config") or {}).get("real_tasks_count") or 1) or 1
    return math.ceil(slots / per_suite)


METRICS = {
    "completion_percentage": _completion,
    "submitted_assignments_count": _count_status("SUBMITTED"),
    "approved_assignments_count": _count_status("ACCEPTED"),
    "rejected_assignments_count": _count_status("REJECTED"),
    "skipped_assignments_count": _count_status("SKIPPED"),
    "real_tasks_count": _real_tasks,
    "spent_budget": _spent_budget,
    "unique_workers_count": _unique_workers,
    "unique_submitters_count": _unique_submitters,
    "avg_submit_assignment_millis": _avg_submit_millis,
    "active_workers_by_filter_count": _active_workers,
    "estimated_assignments_count": _estimated_assignments,
}


def compute_metric(state: Any, pool: dict, name: str) -> Any:
    """The value of one metric for ``pool`` (the caller holds ``state.lock``)."""
    return METRICS[name](state, pool)


def _validate(body: Any) -> list[dict]:
    if not isinstance(body, list):
        raise validation_error(
            {"body": field_error("ARRAY_EXPECTED", f"expected a JSON array of requests, got {type(body).__name__}")}
        )
    if not 1 <= len(body) <= MAX_REQUESTS:
        raise validation_error(
            {"body": field_error("ARRAY_SIZE_OUT_OF_BOUNDS", f"expected 1 to {MAX_REQUESTS} requests, got {len(body)}")}
        )
    errors = {}
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            errors[f"{index}"] = field_error("OBJECT_EXPECTED", "expected an object {subject, subject_id, name}")
            continue
        if item.get("subject") != "POOL":
            errors[f"{index}.subject"] = field_error("VALUE_NOT_ALLOWED", f"expected 'POOL', got {item.get('subject')!r}")
        if not item.get("subject_id"):
            errors[f"{index}.subject_id"] = field_error("VALUE_REQUIRED", "subject_id (the pool id) is required")
        if item.get("name") not in METRICS:
            errors[f"{index}.name"] = field_error(
                "UNKNOWN_ENUM_VALUE", f"expected one of {sorted(METRICS)}, got {item.get('name')!r}"
            )
    if errors:
        raise validation_error(errors, "Invalid analytics request")
    return body


def handle_analytics(request: Any) -> tuple:
    state = request.state
    requests_ = _validate(request.body)
    with state.lock:
        finished = state.now_wire()
        results = []
        for item in requests_:
            pool = state.pools.get(str(item["subject_id"]))
            if pool is None:
                raise does_not_exist("pool", str(item["subject_id"]))
            results.append({"request": item, "result": compute_metric(state, pool, item["name"]), "finished": finished})
        operation = state.create_operation("ANALYTICS", {"value": requests_}, details={"value": results})
    return 202, operation


def register(router: Any, state: Any) -> None:
    router.add("POST", "/api/staging/analytics-2", handle_analytics)
