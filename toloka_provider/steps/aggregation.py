"""Local aggregation of workers' answers: majority vote and Dawid-Skene, over answers read from assignments.

Pure functions over plain data (``{task_id: [(worker_id, label key), ...]}``); the operator reads the file
and writes the results.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any


def label_key(output_values: dict, names: list[str]) -> str | None:
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
        log_confusion: dict[str, dict[str, dict[str, float]]] = {}
        for worker, rows in confusion.items():
            log_confusion[worker] = {}
            for true_label, row in rows.items():
                row_total = sum(row.values())
                log_confusion[worker][true_label] = {a: math.log(v / row_total) for a, v in row.items()}
        # E-step: posterior over the true label of each task.
        change = 0.0
        for task_id, task_votes in votes.items():
            scores = {
                label: log_priors[label] + sum(log_confusion[w][label][a] for w, a in task_votes)
                for label in labels
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


def collect_votes(
    assignments: Iterable[Mapping[str, Any]],
    names: list[str],
    *,
    statuses: Collection[str],
    include_golden: bool,
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict], int]:
    """``(votes, input values by task, golden tasks skipped)`` from assignments in ``statuses``."""
    votes: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    inputs: dict[str, dict] = {}
    golden_task_ids: set[str] = set()
    for assignment in assignments:
        if str(assignment.get("status")) not in statuses:
            continue
        worker = str(assignment.get("user_id"))
        tasks = assignment.get("tasks") or []
        solutions = assignment.get("solutions") or []
        for task, solution in zip(tasks, solutions, strict=False):
            task_id = str(task.get("id"))
            if task.get("known_solutions") and not include_golden:
                golden_task_ids.add(task_id)
                continue
            label = label_key((solution or {}).get("output_values") or {}, names)
            if label is None:
                continue
            votes[task_id].append((worker, label))
            inputs.setdefault(task_id, task.get("input_values") or {})
    return votes, inputs, len(golden_task_ids)


METHODS = {"majority": majority_vote, "dawid_skene": dawid_skene}
