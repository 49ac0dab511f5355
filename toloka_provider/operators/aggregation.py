"""Operators that aggregate workers' answers: on the Toloka server, or locally (majority, Wawa, Dawid–Skene).

The local methods live in ``toloka_provider.steps.votes``; here are the arguments and the files.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException

from toloka_provider import lineage
from toloka_provider.aggregation import BACKENDS, resolve_backend
from toloka_provider.arguments import checked_assignment, non_empty_names, positive_seconds
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.files import (
    atomic_jsonl_writer,
    dump_json_line,
    iter_jsonl_numbered,
    storage_path,
)
from toloka_provider.operators.base import TolokaBaseOperator, default_deferrable, maps_toloka_errors
from toloka_provider.steps.values import as_json_dict
from toloka_provider.steps.votes import (
    METHODS,
    aggregate_votes,
    collect_votes,
    dawid_skene,
    majority_vote,
)

__all__ = [
    "TolokaAggregateLocallyOperator",
    "TolokaAggregateSolutionsOperator",
    "dawid_skene",
    "majority_vote",
]
from toloka_provider.triggers.operation import TolokaOperationTrigger


class TolokaAggregateSolutionsOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Aggregate a pool's answers on the Toloka server and write the results to a JSONL file.

    :param pool_id: the pool (templated).
    :param fields: output field names to aggregate (templated).
    :param type: ``DAWID_SKENE`` (default) or ``WEIGHTED_DYNAMIC_OVERLAP`` (needs ``answer_weight_skill_id``).
    :param output: where to write the results (templated; no scheme = local file): one
        ``{"pool_id", "task_id", "confidence", "output_values"}`` object per line.
    :param poll_interval: seconds between checks of the operation (> 0).
    :param timeout: seconds to wait for the operation at most (> 0), in either mode.
    :param deferrable: wait for the aggregation operation in the triggerer (``TolokaOperationTrigger``);
        defaults to ``[operators] default_deferrable``.

    A retried try starts a new aggregation (it creates nothing billable; Toloka's aggregation quota is 5 a
    minute). XCom: ``{"pool_id", "operation_id", "count", "path"}``.
    """

    lineage_kind = lineage.AGGREGATE_IN_TOLOKA

    template_fields = ("pool_id", "fields", "output_path", "answer_weight_skill_id", "toloka_conn_id")
    ui_color = "#e4f0f0"

    def __init__(
        self,
        *,
        pool_id: str,
        fields: Sequence[str],
        output: str,
        type: str = "DAWID_SKENE",  # Toloka's own name for it
        answer_weight_skill_id: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.fields = fields
        self.output_path = output
        self.type = type
        self.answer_weight_skill_id = answer_weight_skill_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        # Checked here: a bad value must not surface after the aggregation was started.
        self.poll_interval = positive_seconds(poll_interval, "poll_interval")
        self.timeout = positive_seconds(timeout, "timeout")

    @maps_toloka_errors
    def execute(self, context: Any) -> dict:
        names = non_empty_names(self.fields, "fields")
        client = self.hook.get_conn()
        operation = client.aggregate_solutions_by_pool(
            type=self.type,
            pool_id=str(self.pool_id),
            fields=[{"name": name} for name in names],
            answer_weight_skill_id=self.answer_weight_skill_id,
        )
        self.log.info("Aggregation operation %s started for pool %s", operation.id, self.pool_id)
        if self.deferrable and not operation.is_completed():
            self.defer(
                trigger=TolokaOperationTrigger(
                    operation_id=str(operation.id),
                    toloka_conn_id=self.toloka_conn_id,
                    policy={"interval": self.poll_interval, "deadline": time.time() + self.timeout},
                ),
                method_name="execute_complete",
            )
        operation = client.wait_operation(operation, timeout=self.timeout, poll_interval=self.poll_interval)
        operation.raise_on_fail()
        return self._write_results(client, str(operation.id))

    @maps_toloka_errors
    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict:
        if event.get("status") != "success":
            raise AirflowException(
                f"Aggregating pool {self.pool_id} ended with {event.get('status')}: {event.get('message')}"
            )
        return self._write_results(self.hook.get_conn(), str(event["operation_id"]))

    def _write_results(self, client: Any, operation_id: str) -> dict:
        path = storage_path(self.output_path)
        count = 0
        with atomic_jsonl_writer(path) as handle:
            for solution in client.get_aggregated_solutions(operation_id):
                handle.write(dump_json_line(as_json_dict(solution)))
                count += 1
                if count % 10000 == 0:
                    self.log.info("Written %d aggregated solutions", count)
        self.log.info("Wrote %d aggregated solutions to %s", count, path)
        self._lineage_result = {"pool_id": str(self.pool_id), "operation_id": operation_id, "count": count, "path": str(path)}
        return {"pool_id": str(self.pool_id), "operation_id": operation_id, "count": count, "path": str(path)}


# ==============================================================================================================
# Local aggregation


class TolokaAggregateLocallyOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Aggregate answers from an assignments JSONL file (e.g. from :class:`TolokaGetAssignmentsOperator`).

    :param assignments_path: the JSONL file (templated).
    :param fields: output field names to aggregate together (templated).
    :param method: ``"majority"`` (confidence = share of votes for the winner), ``"wawa"`` (a majority vote
        weighted by each worker's agreement with the majority), ``"one_coin"`` (Dawid–Skene with one accuracy
        per worker: the better fit when wrong answers are spread evenly) or ``"dawid_skene"`` (a confusion
        matrix per worker); the last three give confidence = posterior probability. See
        :mod:`toloka_provider.aggregation`; accuracy matches crowd-kit's implementations (README).
    :param output: JSONL file to write (templated): one object per task with ``task_id``, ``input_values``,
        ``output_values``, ``confidence``, ``votes``.
    :param csv_output: optionally also a CSV file (``task_id``, ``INPUT:*``, ``OUTPUT:*``, ``CONFIDENCE``, ``VOTES``).
    :param include_golden: also aggregate golden tasks (those with known_solutions); default False (skip them).
    :param golden_init: start each worker's quality from their golden answers (golden tasks' answers are
        used as evidence with their known labels fixed); the golden tasks are still not written unless
        ``include_golden``. Default False.
    :param worker_quality_output: optionally a JSONL file (templated) with each worker's estimated quality
        beside the labels: ``{"user_id", "quality", "answers"}`` (quality = estimated probability of a right
        answer), sorted by user id.
    :param statuses: which assignment statuses count (default SUBMITTED and ACCEPTED: rejected work does not vote).
    :param backend: ``"auto"`` (default: numpy when it is installed, the ``fast`` extra), ``"python"`` or
        ``"numpy"``; both give the same labels and qualities, numpy is several times faster on large pools.

    Needs no connection. XCom: ``{"path", "count", "method", "skipped_golden", "csv_path",
    "worker_quality_path"}``.
    """

    lineage_kind = lineage.AGGREGATE_LOCALLY

    template_fields = ("assignments_path", "fields", "output_path", "csv_output", "method", "worker_quality_output")
    ui_color = "#e4f0f0"

    def __init__(
        self,
        *,
        assignments_path: str,
        fields: Sequence[str],
        output: str,
        method: str = "majority",
        csv_output: str | None = None,
        include_golden: bool = False,
        golden_init: bool = False,
        worker_quality_output: str | None = None,
        statuses: Sequence[str] = ("SUBMITTED", "ACCEPTED"),
        backend: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if backend not in BACKENDS:
            raise TolokaInputError(f"'backend' must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r:.100}")
        self.backend = backend
        self.assignments_path = assignments_path
        self.fields = fields
        self.output_path = output
        self.method = method
        self.csv_output = csv_output
        self.include_golden = include_golden
        if not isinstance(golden_init, bool):
            raise TolokaInputError(f"'golden_init' must be True or False, got {golden_init!r}")
        self.golden_init = golden_init
        self.worker_quality_output = worker_quality_output
        self.statuses = non_empty_names(statuses, "statuses", what="assignment statuses")

    def collect_votes(
        self, assignments: Iterable[dict], names: list[str], golden_out: dict[str, str] | None = None
    ) -> tuple[dict, dict, int]:
        return collect_votes(
            assignments, names, statuses=self.statuses, include_golden=self.include_golden, golden_out=golden_out
        )

    @maps_toloka_errors
    def execute(self, context: Any) -> dict:
        names = non_empty_names(self.fields, "fields")
        if self.method not in METHODS:
            raise TolokaInputError(f"'method' must be one of {', '.join(map(repr, METHODS))}, got {self.method!r}")
        try:  # here, not in __init__: numpy must be on the worker that runs the task, not the DAG parser
            resolve_backend(self.backend)
        except ValueError as error:
            raise TolokaInputError(f"Argument 'backend': {error}") from None
        golden: dict[str, str] | None = {} if self.golden_init else None
        votes, inputs, skipped_golden = self.collect_votes(
            (
                checked_assignment(item, f"Argument 'assignments_path': file {self.assignments_path} line {line}")
                for line, item in iter_jsonl_numbered(self.assignments_path, argument="assignments_path")
            ),
            names,
            golden,
        )
        self.log.info("%d tasks to aggregate (%d golden tasks skipped)", len(votes), skipped_golden)
        fitted = aggregate_votes(votes, self.method, golden=golden, backend=self.backend) if votes else None
        results = dict(fitted.labels) if fitted is not None else {}
        rows = []
        for task_id in sorted(results):
            if task_id not in inputs or (golden and task_id in golden and not self.include_golden):
                continue
            label, confidence = results[task_id]
            values = dict(zip(names, json.loads(label), strict=True))
            rows.append(
                {
                    "task_id": task_id,
                    "input_values": inputs[task_id],
                    "output_values": values,
                    "confidence": round(confidence, 6),
                    "votes": len(votes[task_id]),
                }
            )
        path = storage_path(self.output_path)
        with atomic_jsonl_writer(path) as handle:
            handle.write("".join(dump_json_line(row) for row in rows))
        summary = {
            "path": str(path),
            "count": len(rows),
            "method": self.method,
            "skipped_golden": skipped_golden,
            "csv_path": None,
            "worker_quality_path": None,
        }
        if self.csv_output:
            summary["csv_path"] = self._write_csv(rows, names)
        if self.worker_quality_output:
            summary["worker_quality_path"] = self._write_worker_quality(fitted, votes)
        self.log.info("Wrote %d aggregated tasks to %s", len(rows), path)
        self._lineage_result = summary
        return summary

    def _write_worker_quality(self, fitted: Any, votes: dict[str, list[tuple[str, str]]]) -> str:
        assert self.worker_quality_output is not None
        answers: dict[str, int] = {}
        for task_votes in votes.values():
            for worker, _ in task_votes:
                answers[worker] = answers.get(worker, 0) + 1
        quality = fitted.worker_quality if fitted is not None else {}
        path = storage_path(self.worker_quality_output)
        with atomic_jsonl_writer(path, argument="worker_quality_output") as handle:
            handle.write("".join(
                dump_json_line({"user_id": worker, "quality": round(quality[worker], 6), "answers": answers[worker]})
                for worker in sorted(quality)
            ))
        self.log.info("Wrote the estimated quality of %d workers to %s", len(quality), path)
        return str(path)

    def _write_csv(self, rows: list[dict], names: list[str]) -> str:
        assert self.csv_output is not None  # execute() writes a CSV only when one was asked for
        input_names = sorted({name for row in rows for name in row["input_values"]})
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["task_id", *(f"INPUT:{n}" for n in input_names), *(f"OUTPUT:{n}" for n in names),
                         "CONFIDENCE", "VOTES"])
        for row in rows:

            def cell(value: Any) -> Any:
                return value if isinstance(value, (str, int, float)) or value is None else json.dumps(value)

            writer.writerow([
                row["task_id"],
                *(cell(row["input_values"].get(n)) for n in input_names),
                *(cell(row["output_values"][n]) for n in names),
                row["confidence"],
                row["votes"],
            ])
        path = storage_path(self.csv_output)
        with atomic_jsonl_writer(path, argument="csv_output") as handle:
            handle.write(buffer.getvalue())
        return str(path)
