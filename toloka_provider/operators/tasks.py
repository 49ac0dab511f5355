"""Operator that uploads tasks (golden ones included) to a pool in chunks, exactly once per task instance."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators._common import (
    RunIdentity,
    TolokaBaseOperator,
    TolokaInputError,
    describe_api_error,
    iter_jsonl,
    storage_path,
)

ERRORS_SAMPLE_SIZE = 5


def tasks_from_csv(path: str) -> Iterator[dict]:
    """Read tasks from a CSV file with a header row, in Toloka's upload-file vocabulary.

    ``INPUT:<field>`` columns become ``input_values``; non-empty ``GOLDEN:<field>`` columns make the task a
    golden one (``known_solutions: [{"output_values": {...}}]``); ``HINT:text`` becomes
    ``message_on_unknown_solution``; ``OVERLAP`` sets ``overlap``. CSV cells are strings; give typed values
    (numbers, booleans, nested objects) in a JSONL file instead.
    """
    text = storage_path(path).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if not any(column.startswith("INPUT:") for column in columns):
        raise TolokaInputError(f"Argument 'tasks_path': CSV file {path} has no INPUT:<field> column (header: {columns})")
    for row in reader:
        task: dict[str, Any] = {"input_values": {}}
        golden: dict[str, Any] = {}
        for column, value in row.items():
            if column is None or value is None:
                continue
            if column.startswith("INPUT:"):
                task["input_values"][column[6:]] = value
            elif column.startswith("GOLDEN:") and value != "":
                golden[column[7:]] = value
            elif column == "HINT:text" and value != "":
                task["message_on_unknown_solution"] = value
            elif column == "OVERLAP" and value != "":
                task["overlap"] = int(value)
        if golden:
            task["known_solutions"] = [{"output_values": golden, "correctness_weight": 1}]
        yield task


def _chunks(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class TolokaCreateTasksOperator(TolokaBaseOperator):
    """Create tasks in a pool, in chunks, each chunk as one async-mode request with a stable ``operation_id``.

    :param pool_id: the pool (templated); set on every task that has no ``pool_id``.
    :param tasks: a list of task dicts (``input_values``, optional ``known_solutions`` for golden tasks, ...)
        or a JSON string of such a list (templated).
    :param tasks_path: instead of ``tasks``, a JSONL file (one task per line) or a ``.csv`` file
        (see :func:`tasks_from_csv`), any ``ObjectStoragePath`` URL (templated). Read lazily, chunk by chunk.
    :param allow_defaults: tasks without ``overlap`` take the pool's default overlap.
    :param open_pool: open the pool after the last chunk is uploaded.
    :param skip_invalid_items: create the valid tasks and report the invalid ones instead of failing the chunk.
    :param chunk_size: tasks per request (default 5,000).

    Each chunk's ``operation_id`` is a uuid5 of dag id, run id, task id, map index and chunk index, so a retried
    task resumes or reuses its first try's operations (the client resumes on OPERATION_ALREADY_EXISTS) and
    creates nothing twice. XCom: ``{"pool_id", "created", "failed", "errors_sample": {task index: errors}}``.
    """

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (tasks is None) == (tasks_path is None):
            raise TolokaInputError("Give exactly one of 'tasks' (a list) and 'tasks_path' (a JSONL or CSV file)")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise TolokaInputError(f"'chunk_size' must be a positive int, got {chunk_size!r}")
        self.pool_id = pool_id
        self.tasks = tasks
        self.tasks_path = tasks_path
        self.allow_defaults = allow_defaults
        self.open_pool = open_pool
        self.skip_invalid_items = skip_invalid_items
        self.chunk_size = chunk_size

    def iter_tasks(self) -> Iterator[dict]:
        if self.tasks_path is not None:
            path = str(self.tasks_path)
            source: Iterable[dict] = (
                tasks_from_csv(path) if path.lower().endswith(".csv") else iter_jsonl(path, argument="tasks_path")
            )
        else:
            from toloka_provider.operators._common import load_json_config

            source = load_json_config(self.tasks, argument="tasks", expect=list)
        pool_id = str(self.pool_id)
        for index, task in enumerate(source):
            if not isinstance(task, dict):
                raise TolokaInputError(f"Task #{index} must be a JSON object, got {type(task).__name__}")
            given = task.setdefault("pool_id", pool_id)
            if str(given) != pool_id:
                raise TolokaInputError(f"Task #{index} has pool_id {given!r}, but the operator's pool_id is {pool_id!r}")
            yield task

    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        pool_id = str(self.pool_id)
        self.push_pool_url(context, pool_id)
        client = self.hook.get_conn()
        created = failed = 0
        errors_sample: dict[str, Any] = {}
        offset = 0
        chunks = _chunks(self.iter_tasks(), self.chunk_size)
        chunk = next(chunks, None)
        chunk_index = 0
        while chunk is not None:
            following = next(chunks, None)  # read ahead: only the last chunk may open the pool
            try:
                chunk_errors = self._create_chunk(
                    client,
                    chunk,
                    operation_id=identity.operation_id("tasks", pool_id, chunk_index),
                    open_pool=self.open_pool and following is None,
                    offset=offset,
                    created_before=created,
                )
            except Exception:
                # Say what is in the pool now: the user (or the retry) must know what the failed try left.
                self.log.error(
                    "Upload to pool %s stopped at chunk %d (tasks %d..%d): %d tasks were created before it, "
                    "%d failed validation; a retry of this task instance resends the same chunks under the same "
                    "operation ids and creates nothing twice",
                    pool_id, chunk_index, offset, offset + len(chunk) - 1, created, failed,
                )  # fmt: skip
                raise
            failed += len(chunk_errors)
            created += len(chunk) - len(chunk_errors)
            for index, errors in chunk_errors.items():
                if len(errors_sample) < ERRORS_SAMPLE_SIZE:
                    errors_sample[index] = errors
            offset += len(chunk)
            self.log.info(
                "Chunk %d: %d tasks sent; %d created, %d failed so far",
                chunk_index,
                len(chunk),
                created,
                failed,
            )
            chunk, chunk_index = following, chunk_index + 1
        if failed:
            self.log.warning("%d tasks were not created; first errors: %s", failed, errors_sample)
        return {"pool_id": pool_id, "created": created, "failed": failed, "errors_sample": errors_sample}

    def _create_chunk(
        self, client: Any, chunk: list[dict], *, operation_id: str, open_pool: bool, offset: int, created_before: int = 0
    ) -> dict[str, Any]:
        """Create one chunk; return its validation errors keyed by the task's index in the whole input."""
        try:
            result = client.create_tasks(
                chunk,
                async_mode=True,
                allow_defaults=self.allow_defaults,
                open_pool=open_pool,
                skip_invalid_items=self.skip_invalid_items,
                operation_id=operation_id,
            )
        except Exception as error:
            payload = getattr(error, "payload", None)
            if getattr(error, "code", None) != "VALIDATION_ERROR":
                raise
            if self.skip_invalid_items and isinstance(payload, dict):
                # Nothing in the chunk was valid: the client raises instead of returning an empty result.
                return {str(offset + int(k)): v for k, v in payload.items() if str(k).isdigit()} or {
                    str(offset): payload
                }
            # The payload is keyed by the position in the chunk; name the tasks by their index in the whole input.
            invalid = sorted(int(k) for k in payload if str(k).isdigit()) if isinstance(payload, dict) else []
            details = (
                "; ".join(
                    f"task #{offset + k}: {json.dumps(payload[str(k)], default=str)[:300]}"
                    for k in invalid[:ERRORS_SAMPLE_SIZE]
                )
                or describe_api_error(error)
            )
            more = f" (and {len(invalid) - ERRORS_SAMPLE_SIZE} more)" if len(invalid) > ERRORS_SAMPLE_SIZE else ""
            raise TolokaInputError(
                f"Toloka rejected tasks {offset}..{offset + len(chunk) - 1} of pool {self.pool_id} (one chunk; none "
                f"of it was created; {created_before} tasks of earlier chunks were). Fix the invalid tasks, or "
                f"pass skip_invalid_items=True to create the valid ones. {details}{more}"
            ) from error
        errors = getattr(result, "validation_errors", None) or {}
        return {str(offset + int(index)): problem for index, problem in errors.items()}
