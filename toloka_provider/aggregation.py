"""Local aggregation of crowd answers: majority vote, Wawa, one-coin and full Dawid–Skene.

Pure Python (no numpy: it is not a dependency of the provider), no Airflow imports. Every method takes the
answers as ``(task_id, worker_id, label)`` triples (labels are any hashable, usually a JSON string of the
answer) and returns an :class:`AggregationResult`: the label and its confidence per task, and each worker's
estimated quality (the probability that the worker answers correctly), so that a pipeline can write worker
quality beside the labels and act on it (ban, skill, bonus).

``golden`` (``{task_id: true_label}``) initialises worker quality from known answers: the golden tasks'
posteriors are fixed to their true labels in every step, so each worker's first estimate is their golden
accuracy rather than agreement with the majority, and their estimate keeps that anchor.

Speed: all methods are linear in the number of answers per iteration. Answers are turned into integer
indices once; the EM loops gather per-answer vectors and let ``sum``/``zip`` (C loops) add them, which keeps
100,000 answers well under 2 s per method on one core (``benchmarks/bench_aggregation.py`` measures it).
Ties break on the smallest label (``sorted`` order), so results are deterministic.
"""

from __future__ import annotations

import itertools
import math
import operator
from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

__all__ = [
    "METHODS",
    "AggregationResult",
    "aggregate",
    "dawid_skene",
    "majority_vote",
    "one_coin_dawid_skene",
    "wawa",
]

# The caller's own task, worker and label ids: a result is keyed by the same types as its answers.
TaskT = TypeVar("TaskT", bound=Hashable)
WorkerT = TypeVar("WorkerT", bound=Hashable)
LabelT = TypeVar("LabelT", bound=Hashable)

# Keeps every probability away from 0 and 1, so logs stay finite and no worker is "never wrong".
_EPSILON = 1e-6


@attrs.frozen
class AggregationResult(Generic[TaskT, WorkerT, LabelT]):
    """``labels``: ``{task_id: (label, confidence)}``; ``worker_quality``: ``{worker_id: accuracy estimate}``;
    ``iterations``: EM iterations run (0 for the voting methods)."""

    labels: dict[TaskT, tuple[LabelT, float]]
    worker_quality: dict[WorkerT, float]
    iterations: int = 0


class _Encoded:
    """Answers as integer indices (tasks, workers and labels numbered once, in sorted order), stored sorted
    by task so that each task's answers are one contiguous run."""

    def __init__(self, answers: Iterable[tuple[Hashable, Hashable, Hashable]]) -> None:
        triples = answers if isinstance(answers, list) else list(answers)
        if not triples:
            raise ValueError("no answers to aggregate")
        for triple in triples:
            if type(triple) is not tuple or len(triple) != 3:
                raise ValueError(f"each answer must be a (task_id, worker_id, label) tuple, got {triple!r:.100}")
        task_ids, worker_ids, label_ids = zip(*triples, strict=True)
        self.tasks = sorted(set(task_ids), key=_sort_key)
        self.workers = sorted(set(worker_ids), key=_sort_key)
        self.labels = sorted(set(label_ids), key=_sort_key)
        self.task_index = {t: i for i, t in enumerate(self.tasks)}
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        worker_index = {w: i for i, w in enumerate(self.workers)}
        task = list(map(self.task_index.__getitem__, task_ids))
        worker = list(map(worker_index.__getitem__, worker_ids))
        label = list(map(self.label_index.__getitem__, label_ids))
        # A canonical order (task, worker, label): the same answers in any order give bit-identical results.
        order = sorted(range(len(task)), key=lambda i: (task[i], worker[i], label[i]))
        self.task = [task[i] for i in order]
        self.worker = [worker[i] for i in order]
        self.label = [label[i] for i in order]
        # [starts[t], ends[t]) is task t's run of answers.
        sizes = [0] * len(self.tasks)
        for t in self.task:
            sizes[t] += 1
        self.ends = list(itertools.accumulate(sizes))
        self.starts = [end - size for end, size in zip(self.ends, sizes, strict=True)]
        self.by_worker: list[list[int]] = [[] for _ in self.workers]
        for position, w in enumerate(self.worker):
            self.by_worker[w].append(position)

    @property
    def classes(self) -> int:
        return len(self.labels)

    def by_task(self, t: int) -> range:
        return range(self.starts[t], self.ends[t])

    def golden_rows(self, golden: Mapping[TaskT, Hashable] | None) -> dict[int, int]:
        """``{task index: label index}`` for the golden tasks that have answers."""
        if not golden:
            return {}
        rows = {}
        for task_id, label in golden.items():
            t = self.task_index.get(task_id)
            if t is None:
                continue
            if label not in self.label_index:
                raise ValueError(f"golden label {label!r:.100} of task {task_id!r} is not among the answers' labels")
            rows[t] = self.label_index[label]
        return rows


class _Segments:
    """Sums of a per-answer value over runs of answers (a task's, a worker's...), in C loops:
    gather in run order, prefix-sum with ``accumulate``, subtract at the run bounds."""

    def __init__(self, order: list[int] | None, starts: list[int], ends: list[int]) -> None:
        self.order = order
        self.starts = starts
        self.ends = ends

    @classmethod
    def grouped(cls, keys: Sequence[int], count: int) -> _Segments:
        """Runs of the answers that share a key (0 <= key < count), e.g. a worker index."""
        order = sorted(range(len(keys)), key=keys.__getitem__)
        sizes = [0] * count
        for key in keys:
            sizes[key] += 1
        ends = list(itertools.accumulate(sizes))
        return cls(order, [end - size for end, size in zip(ends, sizes, strict=True)], ends)

    def arrange(self, per_answer: Sequence[int]) -> array:
        """A per-answer index list put in run order, once, for :meth:`sums` (a C array: gathers through it
        touch no Python int objects)."""
        return array("l", per_answer if self.order is None else map(per_answer.__getitem__, self.order))

    def sums(self, table: Sequence[Any], keys: Sequence[int], zero: Any = 0.0) -> list[Any]:
        """Per run, the sum of ``table[key]`` over its answers (``keys`` in run order: see :meth:`arrange`).

        One fused pass (gather + prefix sum), then one subtraction per run. ``table`` is best a C array of
        doubles: a gather in another order than the table's then reads contiguous memory, not scattered
        float objects (about 3x faster at 100,000 answers).
        """
        prefix = list(itertools.accumulate(map(table.__getitem__, keys), initial=zero))
        get = prefix.__getitem__
        return list(map(operator.sub, map(get, self.ends), map(get, self.starts)))


def _sort_key(value: Any) -> tuple[str, Any]:
    # Mixed types (ints and strs) still sort: by type name first.
    return (type(value).__name__, value)


def _vote_posteriors(data: _Encoded, weights: list[float] | None = None) -> list[list[float]]:
    """Per task, the (weighted) share of votes for each label."""
    k = data.classes
    rows = [[0.0] * k for _ in data.tasks]
    for t, w, label in zip(data.task, data.worker, data.label, strict=True):
        rows[t][label] += 1.0 if weights is None else weights[w]
    for row in rows:
        total = sum(row)
        if total > 0:
            for i in range(k):
                row[i] /= total
        else:  # every voter had weight 0: fall back to uniform
            row[:] = [1.0 / k] * k
    return rows


def _clamp(rows: list[list[float]], golden: dict[int, int], k: int) -> None:
    for t, label in golden.items():
        row = [0.0] * k
        row[label] = 1.0
        rows[t] = row


def _agreement(data: _Encoded, rows: list[list[float]]) -> list[float]:
    """Each worker's expected accuracy against the posteriors: the mean posterior of the labels they gave."""
    quality = []
    for positions in data.by_worker:
        total = sum(rows[data.task[p]][data.label[p]] for p in positions)
        quality.append(total / len(positions))
    return quality


def _result(
    data: _Encoded, rows: list[list[float]], quality: list[float], iterations: int
) -> AggregationResult[Any, Any, Any]:
    # Any: ``_Encoded`` keeps the caller's ids as plain hashables; each public method's signature says
    # that they come back as the types they went in as.
    labels = {}
    for t, row in enumerate(rows):
        best = max(range(len(row)), key=lambda i: (row[i], -i))
        labels[data.tasks[t]] = (data.labels[best], row[best])
    return AggregationResult(labels, dict(zip(data.workers, quality, strict=True)), iterations)


def majority_vote(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]], *, golden: Mapping[TaskT, LabelT] | None = None
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """The most frequent label per task (confidence = its share); quality = agreement with the result.

    With ``golden``, golden tasks take their known label, and quality counts them too.
    """
    data = _Encoded(answers)
    rows = _vote_posteriors(data)
    _clamp(rows, data.golden_rows(golden), data.classes)
    return _result(data, rows, _agreement(data, _hard(rows)), 0)


def _hard(rows: list[list[float]]) -> list[list[float]]:
    hard = []
    for row in rows:
        best = max(range(len(row)), key=lambda i: (row[i], -i))
        one = [0.0] * len(row)
        one[best] = 1.0
        hard.append(one)
    return hard


def wawa(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]], *, golden: Mapping[TaskT, LabelT] | None = None
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Worker agreement with aggregate: each worker's weight is their agreement with the majority vote
    (with ``golden``: with the known labels where there are any), then a weighted majority vote."""
    data = _Encoded(answers)
    golden_rows = data.golden_rows(golden)
    reference = _hard(_vote_posteriors(data))
    _clamp(reference, golden_rows, data.classes)
    weights = _agreement(data, reference)
    if golden_rows:
        # A worker with golden answers is weighted by their golden accuracy alone.
        for w, positions in enumerate(data.by_worker):
            seen = [p for p in positions if data.task[p] in golden_rows]
            if seen:
                weights[w] = sum(golden_rows[data.task[p]] == data.label[p] for p in seen) / len(seen)
    rows = _vote_posteriors(data, weights)
    _clamp(rows, golden_rows, data.classes)
    return _result(data, rows, weights, 0)


def _start_columns(data: _Encoded, golden_rows: dict[int, int]) -> list[array]:
    """Initial posteriors from the vote shares, as one array over tasks per label."""
    rows = _vote_posteriors(data)
    _clamp(rows, golden_rows, data.classes)
    return [array("d", column) for column in zip(*rows, strict=True)]


def _normalise(scores: list[list[float]], golden_rows: dict[int, int]) -> tuple[list[array], float]:
    """Per-label log scores over tasks -> posteriors (same layout) and the log-likelihood of the answers."""
    top = list(map(max, *scores)) if len(scores) > 1 else list(scores[0])
    exps = [list(map(math.exp, map(operator.sub, column, top))) for column in scores]
    totals = list(map(sum, zip(*exps, strict=True)))
    log_likelihood = math.fsum(top) + math.fsum(map(math.log, totals))
    posteriors = [array("d", map(operator.truediv, column, totals)) for column in exps]
    for t, label in golden_rows.items():  # known answers stay fixed
        for i, column in enumerate(posteriors):
            column[t] = 1.0 if i == label else 0.0
    return posteriors, log_likelihood


def _columns_to_rows(columns: Sequence[Sequence[float]]) -> list[list[float]]:
    return [list(row) for row in zip(*columns, strict=True)]


def one_coin_dawid_skene(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-5,
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Dawid–Skene with one parameter per worker: right with probability ``p``, otherwise any other label
    equally likely. EM from the majority vote, until the log-likelihood per answer gains less than
    ``tolerance``; quality = ``p``."""
    data = _Encoded(answers)
    k, tasks, n, workers = data.classes, len(data.tasks), len(data.task), len(data.workers)
    golden_rows = data.golden_rows(golden)
    by_task = _Segments(None, data.starts, data.ends)
    # Each answer's (task, label) cell in the flat task-major posterior table.
    cell = array("l", [t * k + label for t, label in zip(data.task, data.label, strict=True)])
    workers_of = array("l", data.worker)
    by_worker = _Segments.grouped(data.worker, workers)
    cell_by_worker = by_worker.arrange(cell)
    by_cell = _Segments.grouped(cell, tasks * k)
    worker_by_cell = by_cell.arrange(data.worker)
    counts = [len(positions) for positions in data.by_worker]
    posteriors = _start_columns(data, golden_rows)
    flat = array("d", bytes(8 * tasks * k))
    previous = -math.inf
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        # M-step: skill = expected share of a worker's answers that are right (P(true = their label)).
        for i, column in enumerate(posteriors):
            flat[i::k] = column
        right = by_worker.sums(flat, cell_by_worker)
        skills = [min(max(r / m, _EPSILON), 1 - _EPSILON) for r, m in zip(right, counts, strict=True)]
        priors = [max(math.fsum(column) / tasks, _EPSILON) for column in posteriors]
        log_wrong = [math.log((1 - p) / (k - 1)) if k > 1 else 0.0 for p in skills]
        bonus = [math.log(p) - wrong for p, wrong in zip(skills, log_wrong, strict=True)]
        # E-step: every answer adds log_wrong to all labels of its task and log(p) - log_wrong to its own.
        base = by_task.sums(log_wrong, workers_of)
        own = by_cell.sums(bonus, worker_by_cell)
        scores = []
        for i in range(k):
            prior = math.log(priors[i])
            scores.append(list(map(prior.__add__, map(operator.add, base, own[i::k]))))
        posteriors, log_likelihood = _normalise(scores, golden_rows)
        if log_likelihood - previous < tolerance * n:
            break
        previous = log_likelihood
    for i, column in enumerate(posteriors):
        flat[i::k] = column
    quality = [r / m for r, m in zip(by_worker.sums(flat, cell_by_worker), counts, strict=True)]
    return _result(data, _columns_to_rows(posteriors), quality, iterations)


def _pairs(columns: Sequence[Sequence[float]]) -> list[list[complex]]:
    """Columns packed two by two into complex numbers (the real part one column, the imaginary the next).

    Complex addition adds both parts in one C operation, so a gather-and-sum pass over pairs does the work
    of two passes over single columns: the EM steps below run half as many passes over the answers.
    """
    packed = []
    for first in range(0, len(columns), 2):
        if first + 1 < len(columns):
            packed.append(list(map(complex, columns[first], columns[first + 1])))
        else:
            packed.append(list(map(complex, columns[first])))
    return packed


def _unpair(sums: list[list[complex]], k: int) -> list[list[float]]:
    columns: list[list[float]] = []
    for pair in sums:
        columns.append([value.real for value in pair])
        if len(columns) < k:
            columns.append([value.imag for value in pair])
    return columns


def dawid_skene(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-5,
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Full Dawid–Skene: a confusion matrix ``P(answer | true label)`` per worker, EM from the majority vote,
    until the log-likelihood per answer gains less than ``tolerance``.

    Quality = the worker's probability of a right answer under the estimated class priors.
    """
    data = _Encoded(answers)
    k, tasks, n, workers = data.classes, len(data.tasks), len(data.task), len(data.workers)
    golden_rows = data.golden_rows(golden)
    by_task = _Segments(None, data.starts, data.ends)
    # Each answer's (worker, label) cell: the M-step sums posteriors over each cell's answers.
    cell = array("l", [w * k + label for w, label in zip(data.worker, data.label, strict=True)])
    by_cell = _Segments.grouped(cell, workers * k)
    task_by_cell = by_cell.arrange(data.task)
    posteriors: list[Sequence[float]] = list(_start_columns(data, golden_rows))
    uniform = math.log(1.0 / k)
    priors = [1.0 / k] * k
    # log_confusion[true][w * k + answer] = log P(answer | true) for worker w.
    log_confusion = [[uniform] * (workers * k) for _ in range(k)]
    previous = -math.inf
    iterations = 0
    log = math.log
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        # M-step: counts[true][cell] = sum of P(true) over the cell's answers; rows normalised per worker.
        counts = _unpair([by_cell.sums(pair, task_by_cell, 0j) for pair in _pairs(posteriors)], k)
        priors = [max(math.fsum(column) / tasks, _EPSILON) for column in posteriors]
        for true in range(k):
            row = counts[true]
            out = log_confusion[true]
            for w in range(workers):
                base = w * k
                values = row[base:base + k]
                total = sum(values)
                out[base:base + k] = [log(max(v / total, _EPSILON)) for v in values] if total > 0 else [uniform] * k
        # E-step: a task's log score for `true` is its log prior plus its answers' log P(answer | true).
        totals = _unpair([by_task.sums(pair, cell, 0j) for pair in _pairs(log_confusion)], k)
        scores = [list(map(log(priors[true]).__add__, totals[true])) for true in range(k)]
        columns, log_likelihood = _normalise(scores, golden_rows)
        posteriors = list(columns)
        if log_likelihood - previous < tolerance * n:
            break
        previous = log_likelihood
    # Quality: P(right answer) under the priors = sum over true labels of prior * P(answer = true | true).
    total_prior = sum(priors)
    quality = [
        sum(priors[true] * math.exp(log_confusion[true][w * k + true]) for true in range(k)) / total_prior
        for w in range(workers)
    ]
    return _result(data, _columns_to_rows(posteriors), quality, iterations)


#: Method names as the local aggregation operator takes them.
METHODS = {
    "majority": majority_vote,
    "wawa": wawa,
    "one_coin": one_coin_dawid_skene,
    "dawid_skene": dawid_skene,
}


def aggregate(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    method: str = "dawid_skene",
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Run the named method (one of :data:`METHODS`)."""
    try:
        run = METHODS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}") from None
    return run(answers, golden=golden)
