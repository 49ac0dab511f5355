"""The TSV export of a pool's assignments, as the web UI downloads it and toloka-kit's ``get_assignments_df``
reads it: ``GET /api/new/requester/pools/{pool_id}/assignments.tsv`` (not in the public OpenAPI).

Query (toloka-kit's ``GetAssignmentsTsvParameters``)
    ``status``: comma list of ``ACTIVE, SUBMITTED, APPROVED, REJECTED, SKIPPED, EXPIRED`` (the export says
    ``APPROVED`` where the API says ACCEPTED; default: all). ``startTimeFrom`` / ``startTimeTo``: only
    assignments submitted (ACTIVE ones: started) in ``[from, to)``. ``excludeBanned=true``: drop the
    assignments of workers with a restriction in force that covers the pool. ``field``: comma list of the
    ``ASSIGNMENT:*`` columns wanted (default ``link, assignment_id, worker_id, status, started``, toloka-kit's
    default). ``addRowDelimiter=true``: an empty line after each assignment (the web UI's layout).

The table
    One row per task per assignment, assignments in id order, tasks in the order the worker saw them.
    Columns: ``INPUT:<field>`` (the project's ``input_spec`` order, then any other input key met),
    ``OUTPUT:<field>`` (``output_spec``), then, when the pool has golden tasks, ``GOLDEN:<field>`` (the first
    known solution) and ``HINT:text`` (``message_on_unknown_solution``), then the ``ASSIGNMENT:*`` columns in
    this order: link, assignment_id, task_id, task_suite_id, worker_id, status, started, submitted, accepted,
    rejected, skipped, expired, reward. Strings are written as they are, other values as JSON (``true``,
    ``3``, ``{"a": 1}``), missing values empty. A value holding a tab, a ``"``, CR, LF or another line boundary is wrapped in ``"``
with inner quotes doubled (RFC 4180 style); every other character, NUL included, is written as it is.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from toloka_provider.emulator import quality
from toloka_provider.emulator.errors import does_not_exist, invalid_parameter
from toloka_provider.emulator.router import RawResponse, Request, Router
from toloka_provider.emulator.state import State, normalize_datetime

__all__ = ["ASSIGNMENT_FIELDS", "EXPORT_PATH", "register"]

EXPORT_PATH = "/api/new/requester/pools/{pool_id}/assignments.tsv"
EXPORT_STATUSES = ("ACTIVE", "SUBMITTED", "APPROVED", "REJECTED", "SKIPPED", "EXPIRED")
ASSIGNMENT_FIELDS = (
    "link",
    "assignment_id",
    "task_id",
    "task_suite_id",
    "worker_id",
    "status",
    "started",
    "submitted",
    "accepted",
    "rejected",
    "skipped",
    "expired",
    "reward",
)
DEFAULT_FIELDS = ("link", "assignment_id", "worker_id", "status", "started")
_TO_EXPORT_STATUS = {"ACCEPTED": "APPROVED"}


# A field is quoted (wrapped in ``"``, inner ``"`` doubled) when it holds a tab, a quote or anything a reader
# might take for a line end: CR, LF and the other str.splitlines boundaries. Every other character as is.
_NEEDS_QUOTES = re.compile('[\t"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]')


def _tsv_line(fields: list[str]) -> str:
    """One row: fields joined by tabs, quoted as :data:`_NEEDS_QUOTES` says, ended by ``\n``."""
    return (
        "\t".join('"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text for text in fields)
        + "\n"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _comma_list(request: Request, name: str) -> list[str] | None:
    raw = request.arg(name)
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _date_arg(request: Request, name: str) -> str | None:
    raw = request.arg(name)
    if not raw:
        return None
    try:
        return normalize_datetime(raw)
    except ValueError:
        raise invalid_parameter(
            name, f"expected an ISO 8601 date-time, got {raw!r}", "INVALID_DATE_TIME_SYNTAX"
        ) from None


def export_assignments(request: Request) -> tuple:
    statuses = _comma_list(request, "status")
    if statuses is not None:
        unknown = [status for status in statuses if status not in EXPORT_STATUSES]
        if unknown:
            raise invalid_parameter(
                "status",
                f"unknown status {unknown[0]!r}; allowed: {', '.join(EXPORT_STATUSES)}",
                "UNKNOWN_ENUM_VALUE",
            )
    fields = _comma_list(request, "field")
    if fields is None:
        wanted = set(DEFAULT_FIELDS)
    else:
        names = [field.removeprefix("ASSIGNMENT:") for field in fields]
        unknown = [field for field, name in zip(fields, names, strict=True) if name not in ASSIGNMENT_FIELDS]
        if unknown:
            allowed = ", ".join(f"ASSIGNMENT:{name}" for name in ASSIGNMENT_FIELDS)
            raise invalid_parameter(
                "field", f"unknown field {unknown[0]!r}; allowed: {allowed}", "UNKNOWN_ENUM_VALUE"
            )
        wanted = set(names)
    assignment_columns = [name for name in ASSIGNMENT_FIELDS if name in wanted]
    start_from = _date_arg(request, "startTimeFrom")
    start_to = _date_arg(request, "startTimeTo")
    exclude_banned = request.flag("excludeBanned")
    row_delimiter = request.flag("addRowDelimiter")
    host = request.headers.get("Host", "127.0.0.1") if request.headers is not None else "127.0.0.1"
    state: State = request.state
    with state.lock:
        pool_id = request.params["pool_id"]
        pool = state.pools.get(pool_id) or state.trainings.get(pool_id)
        if pool is None:
            raise does_not_exist("pool", pool_id)
        project = state.projects.get(str(pool.get("project_id"))) or {}
        spec = project.get("task_spec") or {}
        now = state.now()
        selected = []
        for assignment_id in state.pool_index("assignments", pool_id):
            assignment = state.assignments.peek(assignment_id)  # read only: a compact one stays compact
            status = _TO_EXPORT_STATUS.get(assignment["status"], assignment["status"])
            if statuses is not None and status not in statuses:
                continue
            moment = assignment.get("submitted") or assignment.get("created")
            if (start_from and (not moment or moment < start_from)) or (
                start_to and (not moment or moment >= start_to)
            ):
                continue
            if exclude_banned and quality.active_restrictions(state, assignment.get("user_id"), now, pool):
                continue
            selected.append((assignment, status))
        input_fields = list((spec.get("input_spec") or {}).keys())
        output_fields = list((spec.get("output_spec") or {}).keys())
        golden = False
        for assignment, _ in selected:
            for task in assignment.get("tasks") or ():
                for key in task.get("input_values") or {}:
                    if key not in input_fields:
                        input_fields.append(key)
                golden = golden or bool(task.get("known_solutions"))
        if not golden:
            golden = any(
                state.tasks[task_id].get("known_solutions") for task_id in state.pool_index("tasks", pool_id)
            )
        for assignment, _ in selected:
            for solution in assignment.get("solutions") or ():
                for key in solution.get("output_values") or {}:
                    if key not in output_fields:
                        output_fields.append(key)
        header = [f"INPUT:{name}" for name in input_fields] + [f"OUTPUT:{name}" for name in output_fields]
        if golden:
            header += [f"GOLDEN:{name}" for name in output_fields] + ["HINT:text"]
        header += [f"ASSIGNMENT:{name}" for name in assignment_columns]
        buffer = io.StringIO()
        buffer.write(_tsv_line(header))
        for assignment, status in selected:
            solutions = assignment.get("solutions") or ()
            for position, task in enumerate(assignment.get("tasks") or ()):
                inputs = task.get("input_values") or {}
                outputs = solutions[position].get("output_values") or {} if position < len(solutions) else {}
                row = [_cell(inputs.get(name)) for name in input_fields]
                row += [_cell(outputs.get(name)) for name in output_fields]
                if golden:
                    known = task.get("known_solutions") or []
                    known_values = (known[0].get("output_values") or {}) if known else {}
                    row += [_cell(known_values.get(name)) for name in output_fields]
                    # Assignments carry a view of each task; the hint lives on the stored task.
                    stored = state.tasks.get(task.get("id")) or {}
                    row.append(
                        _cell(
                            task.get("message_on_unknown_solution")
                            or stored.get("message_on_unknown_solution")
                        )
                    )
                values = {
                    "link": f"http://{host}/task/{pool_id}/{assignment['id']}",
                    "assignment_id": assignment["id"],
                    "task_id": task.get("id"),
                    "task_suite_id": assignment.get("task_suite_id"),
                    "worker_id": assignment.get("user_id"),
                    "status": status,
                    "started": assignment.get("created"),
                    "submitted": assignment.get("submitted"),
                    "accepted": assignment.get("accepted"),
                    "rejected": assignment.get("rejected"),
                    "skipped": assignment.get("skipped"),
                    "expired": assignment.get("expired"),
                    "reward": assignment.get("reward"),
                }
                row += [_cell(values[name]) for name in assignment_columns]
                buffer.write(_tsv_line(row))
            if row_delimiter:
                buffer.write("\n")
    return 200, RawResponse(buffer.getvalue().encode(), "text/tab-separated-values; charset=utf-8")


def register(router: Router, state: State) -> None:
    router.add("GET", EXPORT_PATH, export_assignments)
