"""Aggregated solutions: ``aggregate-by-pool`` (an Operation), ``aggregate-by-task``, and the result list.

The emulator aggregates by majority vote over the SUBMITTED and ACCEPTED assignments (for either requested
type, DAWID_SKENE or WEIGHTED_DYNAMIC_OVERLAP): for each task, the most frequent combination of the
requested output fields wins (ties go to the answer seen first), and ``confidence`` is its share of votes.
Results are stored under the operation id, sorted by task id, and listed with ``task_id_*`` keyset paging.
"""

from __future__ import annotations

import json
from typing import Any

from toloka_provider.emulator.api_v1 import API, require_object
from toloka_provider.emulator.errors import ApiError, invalid_parameter, validation_error
from toloka_provider.emulator.listing import ListSpec, list_page
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State

AGGREGATION_TYPES = ("DAWID_SKENE", "WEIGHTED_DYNAMIC_OVERLAP")

RESULTS = ListSpec(
    "aggregations",
    ranges={"task_id": ("task_id", "str")},
    sort_fields=("task_id",),
    id_field="task_id",
)


def _check_request(body: dict, need_task: bool) -> list[str]:
    errors = {}
    if body.get("type") not in AGGREGATION_TYPES:
        errors["type"] = {"code": "UNKNOWN_ENUM_VALUE", "message": f"type must be one of {', '.join(AGGREGATION_TYPES)}"}
    if not body.get("pool_id"):
        errors["pool_id"] = {"code": "VALUE_REQUIRED", "message": "pool_id is required"}
    if need_task and not body.get("task_id"):
        errors["task_id"] = {"code": "VALUE_REQUIRED", "message": "task_id is required"}
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, dict) and f.get("name") for f in fields):
        errors["fields"] = {"code": "VALUE_REQUIRED", "message": "fields must be a non-empty list of {name}"}
    if errors or not isinstance(fields, list):  # a non-list is in errors already (for the type checker)
        raise validation_error(errors)
    return [f["name"] for f in fields]


def aggregate(state: State, pool_id: str, fields: list[str], task_id: str | None = None) -> list[dict]:
    """Majority vote per task (the caller holds the lock). Sorted by task id."""
    votes: dict[str, dict[str, list]] = {}
    for assignment_id in state.pool_index("assignments", pool_id):
        assignment = state.assignments.peek(assignment_id)  # read only: a compact one stays compact
        if assignment.get("status") not in ("SUBMITTED", "ACCEPTED"):
            continue
        for task, solution in zip(assignment.get("tasks") or (), assignment.get("solutions") or (), strict=False):
            if task_id is not None and task.get("id") != task_id:
                continue
            output = (solution or {}).get("output_values") or {}
            answer = {name: output.get(name) for name in fields}
            key = json.dumps(answer, sort_keys=True)
            per_task = votes.setdefault(task["id"], {})
            entry = per_task.setdefault(key, [0, answer])
            entry[0] += 1
    results = []
    for tid in sorted(votes):
        counts = votes[tid]
        total = sum(count for count, _ in counts.values())
        best_count, best_answer = max(counts.values(), key=lambda entry: entry[0])
        results.append({"pool_id": pool_id, "task_id": tid, "confidence": best_count / total, "output_values": best_answer})
    return results


def aggregate_by_pool(request: Request) -> tuple:
    body = require_object(request)
    fields = _check_request(body, need_task=False)
    state = request.state
    pool_id = str(body["pool_id"])
    with state.lock:
        state.get("pools", pool_id)
        results = aggregate(state, pool_id, fields)
        op = state.create_operation("SOLUTION.AGGREGATE", {"pool_id": pool_id})
        state.aggregations[op["id"]] = results
        return 201, op


def aggregate_by_task(request: Request) -> tuple:
    body = require_object(request)
    fields = _check_request(body, need_task=True)
    state = request.state
    pool_id = str(body["pool_id"])
    with state.lock:
        state.get("pools", pool_id)
        results = aggregate(state, pool_id, fields, task_id=str(body["task_id"]))
    if not results:
        raise ApiError(404, "DOES_NOT_EXIST", f"task {body['task_id']} has no submitted or accepted answers in pool {pool_id}")
    return 201, results[0]


def list_results(request: Request) -> tuple:
    state = request.state
    op_id = request.params["operation_id"]
    with state.lock:
        view = state.operation_view(op_id)
        if view.get("type") != "SOLUTION.AGGREGATE":
            raise invalid_parameter("operation_id", f"operation {op_id} is not an aggregation")
        if view["status"] != "SUCCESS":
            raise ApiError(409, "INAPPROPRIATE_STATUS", f"aggregation {op_id} is {view['status']}, not finished")
        results: Any = state.aggregations.get(op_id, [])
    return list_page(request, RESULTS, source=results)


def register(router: Router, state: State) -> None:
    router.add("POST", f"{API}/aggregated-solutions/aggregate-by-pool", aggregate_by_pool)
    router.add("POST", f"{API}/aggregated-solutions/aggregate-by-task", aggregate_by_task)
    router.add("GET", f"{API}/aggregated-solutions/{{operation_id}}", list_results)
