"""Operator that uploads tasks (golden ones included) to a pool in chunks, exactly once per task instance.

The input (a list, a JSONL file or a CSV file) is validated whole before the first chunk is sent: a mistake on
line 90,000 must not leave 85,000 tasks in the pool. Errors name the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from toloka_provider import lineage, metrics
from toloka_provider.arguments import load_json_config, positive_int
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.files import iter_jsonl_numbered, iter_text_lines
from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.operators.pool import (
    budget_argument,
    check_spend_cap,
    draw_on_run_budget,
    spend_arguments,
)
from toloka_provider.operators.status import change_status
from toloka_provider.run_identity import RunIdentity
from toloka_provider.steps import budget
from toloka_provider.steps.uploads import ERRORS_SAMPLE_SIZE, upload_tasks

__all__ = ["ERRORS_SAMPLE_SIZE", "TolokaCreateTasksOperator", "tasks_from_csv"]

CSV_PREFIXES = ("INPUT:", "GOLDEN:", "HINT:", "OVERLAP")


def _overlap(value: Any, where: str) -> int:
    """A task's ``overlap`` in JSON: a whole number >= 1 (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TolokaInputError(f"{where}: overlap must be a whole number >= 1, got {value!r}")
    return value


def _overlap_cell(text: str, where: str) -> int:
    """An ``OVERLAP`` CSV cell: the digits of a whole number >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise TolokaInputError(f"{where}: OVERLAP must be a whole number >= 1, got {text!r}")
    return int(text)


def tasks_from_csv(path: str, *, argument: str = "tasks_path") -> Iterator[dict]:
    """Read tasks from a CSV file with a header row, in Toloka's upload-file vocabulary.

    ``INPUT:<field>`` columns become ``input_values``; non-empty ``GOLDEN:<field>`` columns make the task a
    golden one (``known_solutions: [{"output_values": {...}}]``); ``HINT:text`` becomes
    ``message_on_unknown_solution``; ``OVERLAP`` sets ``overlap`` (a whole number). CSV cells are strings;
    give typed values (numbers, booleans, nested objects) in a JSONL file instead. UTF-8 with or without a
    byte order mark. The header must name each column once and each row must have as many cells as the header;
    a mistake names the file, the line and the column.
    """
    for _, task in _csv_tasks_numbered(path, argument=argument):
        yield task


def _csv_tasks_numbered(path: str, *, argument: str) -> Iterator[tuple[int, dict]]:
    lines = (text + "\n" for _, text in iter_text_lines(path, argument=argument))
    reader = csv.reader(lines)
    prefix = f"Argument {argument!r}: CSV file {path}"
    try:
        columns = next(reader, None) or []
    except csv.Error as error:
        raise TolokaInputError(f"{prefix} line 1: {error}") from None
    seen: dict[str, int] = {}
    for number, column in enumerate(columns, start=1):
        if column in seen:
            raise TolokaInputError(
                f"{prefix} line 1, column {number}: header {column!r} repeats column {seen[column]}"
            )
        seen[column] = number
    if not any(column.startswith("INPUT:") for column in columns):
        raise TolokaInputError(f"{prefix} has no INPUT:<field> column (header: {columns})")
    while True:
        try:
            row = next(reader, None)
        except csv.Error as error:
            raise TolokaInputError(f"{prefix} line {reader.line_num}: {error}") from None
        if row is None:
            return
        if not row:
            continue  # a blank line
        if len(row) != len(columns):
            raise TolokaInputError(
                f"{prefix} line {reader.line_num}: {len(row)} cells, but the header has {len(columns)} columns"
            )
        task: dict[str, Any] = {"input_values": {}}
        golden: dict[str, Any] = {}
        for number, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            if column.startswith("INPUT:"):
                task["input_values"][column[6:]] = value
            elif column.startswith("GOLDEN:") and value != "":
                golden[column[7:]] = value
            elif column == "HINT:text" and value != "":
                task["message_on_unknown_solution"] = value
            elif column == "OVERLAP" and value != "":
                task["overlap"] = _overlap_cell(value, f"{prefix} line {reader.line_num}, column {number}")
        if golden:
            task["known_solutions"] = [{"output_values": golden, "correctness_weight": 1}]
        yield reader.line_num, task


class TolokaCreateTasksOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Create tasks in a pool, in chunks, each chunk as one async-mode request with a stable ``operation_id``.

    :param pool_id: the pool (templated); set on every task that has no ``pool_id``.
    :param tasks: a list of task dicts (``input_values``, optional ``known_solutions`` for golden tasks, ...)
        or a JSON string of such a list (templated).
    :param tasks_path: instead of ``tasks``, a JSONL file (one task per line) or a ``.csv`` file
        (see :func:`tasks_from_csv`), any ``ObjectStoragePath`` URL (templated). Read twice, streaming: once
        to validate all of it, once to upload chunk by chunk.
    :param allow_defaults: tasks without ``overlap`` take the pool's default overlap.
    :param open_pool: open the pool after the last chunk is uploaded.
    :param skip_invalid_items: create the valid tasks and report the invalid ones instead of failing the chunk.
    :param chunk_size: tasks per request (default 5,000).
    :param max_spend: with ``open_pool``: a cap in USD; the pool is opened after the upload only when its
        estimated cost is within the cap (see ``TolokaOpenPoolOperator``). ``fee_rate``: Toloka's fee in it.
    :param run_budget: with ``open_pool``: the DAG run's budget in USD (or the DAG param
        ``toloka_run_budget``, which applies with ``open_pool`` even when this argument is not given); the pool
        is opened after the upload only when the run's commitment plus its estimate fits the budget (see
        ``TolokaOpenPoolOperator``). Without ``open_pool`` nothing here spends, so the argument is refused.

    Each chunk's ``operation_id`` is a uuid5 of dag id, run id, task id, map index and chunk index, so a retried
    task resumes or reuses its first try's operations (the client resumes on OPERATION_ALREADY_EXISTS) and
    creates nothing twice. XCom: ``{"pool_id", "created", "failed", "errors_sample": {task index: errors}}``.
    """

    lineage_kind = lineage.UPLOAD

    template_fields = ("pool_id", "tasks", "tasks_path", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#fff4d8"

    def __init__(
        self,
        *,
        pool_id: str,
        tasks: list[dict] | str | None = None,
        tasks_path: str | None = None,
        allow_defaults: bool = False,
        open_pool: bool = False,
        skip_invalid_items: bool = False,
        chunk_size: int = 5000,
        max_spend: Decimal | str | int | float | None = None,
        fee_rate: Decimal | str | int | float = 0,
        run_budget: Decimal | str | int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_spend, self.fee_rate = spend_arguments(max_spend, fee_rate)
        self.run_budget = budget_argument(run_budget)
        if self.run_budget is not None and not open_pool:
            raise TolokaInputError(
                f"Argument 'run_budget' ({self.run_budget} USD) needs open_pool=True: uploading tasks spends "
                "nothing, opening the pool does (give the budget to the operator that opens it)"
            )
        if (tasks is None) == (tasks_path is None):
            raise TolokaInputError("Give exactly one of 'tasks' (a list) and 'tasks_path' (a JSONL or CSV file)")
        self.pool_id = pool_id
        self.tasks = tasks
        self.tasks_path = tasks_path
        self.allow_defaults = allow_defaults
        self.open_pool = open_pool
        self.skip_invalid_items = skip_invalid_items
        self.chunk_size = positive_int(chunk_size, "chunk_size")

    def _numbered_source(self) -> Iterator[tuple[str, Any]]:
        """``(how to name the task in an error, the task as given)``: "Task #i", plus the file and line."""
        if self.tasks_path is None:
            for index, task in enumerate(load_json_config(self.tasks, argument="tasks", expect=list)):
                yield f"Task #{index}", task
            return
        path = str(self.tasks_path)
        numbered = (
            _csv_tasks_numbered(path, argument="tasks_path")
            if path.lower().endswith(".csv")
            else iter_jsonl_numbered(path, argument="tasks_path")
        )
        for index, (line, task) in enumerate(numbered):
            yield f"Argument 'tasks_path': file {path} line {line}: task #{index}", task

    def iter_tasks(self) -> Iterator[dict]:
        """The tasks, each checked (an object, the operator's pool, a whole-number overlap), ``pool_id`` set."""
        pool_id = str(self.pool_id)
        for where, task in self._numbered_source():
            if not isinstance(task, dict):
                raise TolokaInputError(f"{where} must be a JSON object, got {type(task).__name__}")
            given = task.setdefault("pool_id", pool_id)
            if str(given) != pool_id:
                raise TolokaInputError(f"{where} has pool_id {given!r}, but the operator's pool_id is {pool_id!r}")
            if "input_values" in task and not isinstance(task["input_values"], dict):
                raise TolokaInputError(
                    f"{where}: 'input_values' must be a JSON object, got {type(task['input_values']).__name__}"
                )
            if "overlap" in task:
                _overlap(task["overlap"], where)
            yield task

    def validate_all(self) -> int:
        """Read the whole input once and check every task; return how many there are. Sends nothing."""
        count = sum(1 for _ in self.iter_tasks())
        self.log.info("Checked %d tasks for pool %s", count, self.pool_id)
        return count

    @maps_toloka_errors
    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        pool_id = str(self.pool_id)
        try:
            budgeted = self.open_pool and budget.budget_from(self.run_budget, context.get("params")) is not None
        except ValueError as error:
            raise TolokaInputError(str(error)) from None
        # With a cap or a run budget the pool is opened below, after its estimate (it needs the tasks).
        checked_open = self.open_pool and (self.max_spend is not None or budgeted)
        self.validate_all()
        # The pool read gives the link and says, naming 'pool_id', when the pool does not exist.
        self.read_pool_for_link(context, pool_id)
        summary = upload_tasks(
            self.hook.get_conn(),
            self.iter_tasks(),
            pool_id=pool_id,
            chunk_size=self.chunk_size,
            operation_id=lambda chunk_index: identity.operation_id("tasks", pool_id, chunk_index),
            open_pool=self.open_pool and not checked_open,
            allow_defaults=self.allow_defaults,
            skip_invalid_items=self.skip_invalid_items,
            log=self.log,
        )
        self._lineage_result = {"pool_id": pool_id, "created": summary.created, "failed": summary.failed}
        metrics.tasks_uploaded(summary.created, pool_id=pool_id)
        if checked_open:
            self._spend_estimate = check_spend_cap(self, pool_id)
            if budgeted:
                draw_on_run_budget(self, context, pool_id)
            change_status(self, "pool", "open", pool_id)
        return {
            "pool_id": pool_id,
            "created": summary.created,
            "failed": summary.failed,
            "errors_sample": summary.errors_sample,
        }
