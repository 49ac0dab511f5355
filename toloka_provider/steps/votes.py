"""Answers read from assignments as votes for the local aggregation: each assignment once, one label key.

Pure functions over plain data (``{task_id: [(worker_id, label key), ...]}``); the operator reads the file
and writes the results. The methods themselves (majority vote, Wawa, one-coin and full Dawid–Skene, with
golden initialisation and per-worker quality) are in :mod:`toloka_provider.aggregation`.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from toloka_provider import aggregation
from toloka_provider.client.errors import TolokaArgumentError

#: Method names the local aggregation operator takes.
METHODS = tuple(aggregation.METHODS)


def label_key(output_values: dict, names: list[str]) -> str | None:
    """A hashable, JSON-reversible key of the answer's aggregated fields (None if a field is missing)."""
    if any(name not in output_values for name in names):
        return None
    return json.dumps([output_values[name] for name in names], sort_keys=True, ensure_ascii=False)


def _answers(votes: Mapping[str, list[tuple[str, str]]]) -> list[tuple[str, str, str]]:
    return [(task_id, worker, label) for task_id, task_votes in votes.items() for worker, label in task_votes]


def majority_vote(votes: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[str, float]]:
    """``{task_id: (label, confidence)}``: the most frequent label (ties: the smallest key), confidence = share."""
    return dict(aggregation.majority_vote(_answers(votes)).labels)


def dawid_skene(votes: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[str, float]]:
    """``{task_id: (label, posterior)}`` by Dawid–Skene (per-worker confusion matrices, EM from the majority)."""
    return dict(aggregation.dawid_skene(_answers(votes)).labels)


def aggregate_votes(
    votes: Mapping[str, list[tuple[str, str]]],
    method: str,
    *,
    golden: Mapping[str, str] | None = None,
    backend: str = "auto",
) -> aggregation.AggregationResult[str, str, str]:
    """Run ``method`` over the votes; ``golden`` (``{task_id: label key}``) initialises worker quality;
    ``backend``: see :data:`toloka_provider.aggregation.BACKENDS`."""
    return aggregation.aggregate(_answers(votes), method, golden=golden, backend=backend)


def collect_votes(
    assignments: Iterable[Mapping[str, Any]],
    names: list[str],
    *,
    statuses: Collection[str],
    include_golden: bool,
    golden_out: dict[str, str] | None = None,
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict], int]:
    """``(votes, input values by task, golden tasks skipped)`` from assignments in ``statuses``, each
    assignment counted once (see :func:`answered_once`).

    With ``golden_out`` (a dict to fill), answers to golden tasks are kept among the votes and their known
    labels go to ``golden_out``, so that worker quality can start from golden accuracy; the golden tasks
    still count as skipped (they are not written out) unless ``include_golden``.
    """
    votes: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    inputs: dict[str, dict] = {}
    golden_task_ids: set[str] = set()
    for assignment, answers in answered_once(assignments, names):
        if str(assignment.get("status")) not in statuses:
            continue
        worker = str(assignment.get("user_id"))
        for task, label in answers:
            task_id = str(task.get("id"))
            known = task.get("known_solutions")
            if known:
                if not include_golden:
                    golden_task_ids.add(task_id)
                if golden_out is not None:
                    truth = label_key((known[0] or {}).get("output_values") or {}, names)
                    if truth is not None:
                        golden_out[task_id] = truth
                elif not include_golden:
                    continue
            if label is None:
                continue
            votes[task_id].append((worker, label))
            inputs.setdefault(task_id, task.get("input_values") or {})
    return votes, inputs, len(golden_task_ids)


def answered_once(
    assignments: Iterable[Mapping[str, Any]], names: list[str]
) -> Iterator[tuple[Mapping[str, Any], list[tuple[Mapping[str, Any], str | None]]]]:
    """Each assignment once, with its answers ``[(task, label key or None)]``.

    An assignment listed again with the same worker, status and answers is skipped (it would vote twice); listed
    again with other ones, it raises ``TolokaArgumentError`` naming the assignment id (which copy is right is
    not for the aggregation to guess). Assignments without an id are taken as they come.
    """
    seen: dict[str, int] = {}
    for assignment in assignments:
        answers = [
            (task or {}, label_key((solution or {}).get("output_values") or {}, names))
            for task, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False)
        ]
        assignment_id = assignment.get("id")
        if assignment_id is not None:
            content = hash((
                str(assignment.get("user_id")), str(assignment.get("status")),
                tuple((str(task.get("id")), label) for task, label in answers),
            ))
            key = str(assignment_id)
            if key in seen:
                if seen[key] != content:
                    raise TolokaArgumentError(
                        f"assignment {key} is listed twice with a different worker, status or answers; expected "
                        f"each assignment once (which copy is right cannot be guessed)"
                    )
                continue
            seen[key] = content
        yield assignment, answers
