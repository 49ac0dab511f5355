"""Operators that aggregate workers' answers: on the Toloka server, or locally (majority vote, Dawid-Skene)."""

from __future__ import annotations

import collections
import csv
import io
import json
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException

from toloka_provider.operators._common import (
    TolokaBaseOperator,
    TolokaInputError,
    as_json_dict,
    atomic_jsonl_writer,
    default_deferrable,
    dump_json_line,
    iter_jsonl,
    storage_path,
)
from toloka_provider.triggers.operation import TolokaOperationTrigger


def _field_names(fields: Sequence[str] | str) -> list[str]:
    names = [fields] if isinstance(fields, str) else list(fields)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TolokaInputError(f"'fields' must be a non-empty list of output field names, got {fields!r}")
    return names


class TolokaAggregateSolutionsOperator(TolokaBaseOperator):
    """Aggregate a pool's answers on the Toloka server and write the results to a JSONL file.

    :param pool_id: the pool (templated).
    :param fields: output field names to aggregate (templated).
    :param type: ``DAWID_SKENE`` (default) or ``WEIGHTED_DYNAMIC_OVERLAP`` (needs ``answer_weight_skill_id``).
    :param output: where to write the results (templated; no scheme = local file): one
        ``{"pool_id", "task_id", "confidence", "output_values"}`` object per line.
    :param deferrable: wait for the aggregation operation in the triggerer (``TolokaOperationTrigger``);
        defaults to ``[operators] default_deferrable``.

    A retried try starts a new aggregation (it creates nothing billable; Toloka's aggregation quota is 5 a
    minute). XCom: ``{"pool_id", "operation_id", "count", "path"}``.
    """

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
        self.poll_interval = poll_interval
        self.timeout = timeout

    def execute(self, context: Any) -> dict:
        names = _field_names(self.fields)
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
                    poll_interval=self.poll_interval,
                    deadline=time.time() + self.timeout,
                ),
                method_name="execute_complete",
            )
        operation = client.wait_operation(operation, timeout=self.timeout, poll_interval=self.poll_interval)
        operation.raise_on_fail()
        return self._write_results(client, str(operation.id))

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
        return {"pool_id": str(self.pool_id), "operation_id": operation_id, "count": count, "path": str(path)}


# ==============================================================================================================
# Local aggregation


def _label_key(output_values: dict, names: list[str]) -> str | None:
    """A hashable, JSON-reversible key of the answer's aggregated fields (None if a field is missing)."""
    if any(name not in output_values for name in names):
        return None
    return json.dumps([output_values[name] for name in names], sort_keys=True, ensure_ascii=False)


def majority_vote(votes: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[str, float]]:
    """``{task_id: (label, confidence)}``: the most frequent label (ties: the smallest key), confidence = share."""
    result = {}
    for task_id, task_votes in votes.items():
        counts = collections.Counter(label for _, label in task_votes)
        best = max(counts.items(), key=lambda item: (item[1], [-ord(c) for c in item[0]]))
        result[task_id] = (best[0], best[1] / len(task_votes))
    return result


def dawid_skene(
    votes: dict[str, list[tuple[str, str]]], *, max_iterations: int = 50, tolerance: float = 1e-6
) -> dict[str, tuple[str, float]]:
    """Dawid-Skene EM: per-worker confusion matrices, started from the majority vote.

    ``votes``: ``{task_id: [(worker_id, label), ...]}``. Returns ``{task_id: (label, posterior)}``.
    Pure Python; additive smoothing keeps probabilities off zero; stops after ``max_iterations``.
    """
    labels = sorted({label for task_votes in votes.values() for _, label in task_votes})
    workers = sorted({worker for task_votes in votes.values() for worker, _ in task_votes})
    smoothing = 0.01
    posteriors: dict[str, dict[str, float]] = {}
    for task_id, task_votes in votes.items():  # initial E-step: vote shares
        counts = collections.Counter(label for _, label in task_votes)
        posteriors[task_id] = {label: counts[label] / len(task_votes) for label in labels}
    for _ in range(max_iterations):
        # M-step: class priors and each worker's confusion matrix P(answer | true label).
        priors = {label: smoothing for label in labels}
        confusion = {w: {t: {a: smoothing for a in labels} for t in labels} for w in workers}
        for task_id, task_votes in votes.items():
            for true_label, weight in posteriors[task_id].items():
                priors[true_label] += weight
                for worker, answer in task_votes:
                    confusion[worker][true_label][answer] += weight
        prior_total = sum(priors.values())
        log_priors = {label: math.log(value / prior_total) for label, value in priors.items()}
        log_confusion = {}
        for worker, rows in confusion.items():
            log_confusion[worker] = {}
            for true_label, row in rows.items():
                row_total = sum(row.values())
                log_confusion[worker][true_label] = {a: math.log(v / row_total) for a, v in row.items()}
        # E-step: posterior over the true label of each task.
        change = 0.0
        for task_id, task_votes in votes.items():
            scores = {
                label: log_priors[label] + sum(log_confusion[w][label][a] for w, a in task_votes) for label in labels
            }
            top = max(scores.values())
            weights = {label: math.exp(score - top) for label, score in scores.items()}
            total = sum(weights.values())
            new = {label: weight / total for label, weight in weights.items()}
            change = max(change, *(abs(new[label] - posteriors[task_id][label]) for label in labels))
            posteriors[task_id] = new
        if change < tolerance:
            break
    result = {}
    for task_id, distribution in posteriors.items():
        label = max(labels, key=lambda candidate: (distribution[candidate], [-ord(c) for c in candidate]))
        result[task_id] = (label, distribution[label])
    return result


class TolokaAggregateLocallyOperator(TolokaBaseOperator):
    """Aggregate answers from an assignments JSONL file (e.g. from :class:`TolokaGetAssignmentsOperator`).

    :param assignments_path: the JSONL file (templated).
    :param fields: output field names to aggregate together (templated).
    :param method: ``"majority"`` (confidence = share of votes for the winner) or ``"dawid_skene"``
        (confidence = posterior probability; EM over per-worker confusion matrices, at most 50 iterations).
    :param output: JSONL file to write (templated): one object per task with ``task_id``, ``input_values``,
        ``output_values``, ``confidence``, ``votes``.
    :param csv_output: optionally also a CSV file (``task_id``, ``INPUT:*``, ``OUTPUT:*``, ``CONFIDENCE``, ``VOTES``).
    :param include_golden: also aggregate golden tasks (those with known_solutions); default False (skip them).
    :param statuses: which assignment statuses count (default SUBMITTED and ACCEPTED: rejected work does not vote).

    Needs no connection. XCom: ``{"path", "count", "method", "skipped_golden", "csv_path"}``.
    """

    template_fields = ("assignments_path", "fields", "output_path", "csv_output", "method")
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
        statuses: Sequence[str] = ("SUBMITTED", "ACCEPTED"),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assignments_path = assignments_path
        self.fields = fields
        self.output_path = output
        self.method = method
        self.csv_output = csv_output
        self.include_golden = include_golden
        self.statuses = statuses

    def collect_votes(self, assignments: Iterable[dict], names: list[str]) -> tuple[dict, dict, int]:
        votes: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
        inputs: dict[str, dict] = {}
        golden_task_ids: set[str] = set()
        for assignment in assignments:
            if str(assignment.get("status")) not in self.statuses:
                continue
            worker = str(assignment.get("user_id"))
            tasks = assignment.get("tasks") or []
            solutions = assignment.get("solutions") or []
            for task, solution in zip(tasks, solutions, strict=False):
                task_id = str(task.get("id"))
                if task.get("known_solutions") and not self.include_golden:
                    golden_task_ids.add(task_id)
                    continue
                label = _label_key((solution or {}).get("output_values") or {}, names)
                if label is None:
                    continue
                votes[task_id].append((worker, label))
                inputs.setdefault(task_id, task.get("input_values") or {})
        return votes, inputs, len(golden_task_ids)

    def execute(self, context: Any) -> dict:
        names = _field_names(self.fields)
        if self.method not in ("majority", "dawid_skene"):
            raise TolokaInputError(f"'method' must be 'majority' or 'dawid_skene', got {self.method!r}")
        votes, inputs, skipped_golden = self.collect_votes(
            iter_jsonl(self.assignments_path, argument="assignments_path"), names
        )
        self.log.info("%d tasks to aggregate (%d golden tasks skipped)", len(votes), skipped_golden)
        results = majority_vote(votes) if self.method == "majority" else dawid_skene(votes)
        rows = []
        for task_id in sorted(results):
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
        }
        if self.csv_output:
            summary["csv_path"] = self._write_csv(rows, names)
        self.log.info("Wrote %d aggregated tasks to %s", len(rows), path)
        return summary

    def _write_csv(self, rows: list[dict], names: list[str]) -> str:
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
