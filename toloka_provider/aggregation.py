"""Local aggregation of crowd answers: majority vote, Wawa, one-coin and full Dawid–Skene.

No Airflow imports; pure Python, with an optional numpy backend (numpy is not a dependency of the provider:
the ``fast`` extra brings it). Every method takes the
answers as ``(task_id, worker_id, label)`` triples (labels are any hashable, usually a JSON string of the
answer) and returns an :class:`AggregationResult`: the label and its confidence per task, and each worker's
estimated quality (the probability that the worker answers correctly), so that a pipeline can write worker
quality beside the labels and act on it (ban, skill, bonus).

``golden`` (``{task_id: true_label}``) initialises worker quality from known answers: the golden tasks'
posteriors are fixed to their true labels in every step, so each worker's first estimate is their golden
accuracy rather than agreement with the majority, and their estimate keeps that anchor.

Backends (``backend=``, see :func:`resolve_backend`): ``"auto"`` runs on numpy when it is importable, else in
pure Python; both run the same steps in the same order and give the same labels, and confidences and
qualities equal to 1e-9 (``tests/aggregation/test_aggregation_backends.py``). Speed: all methods are linear in
the number of answers per iteration. Answers are turned into integer indices once; the pure-Python EM loops
gather per-answer values and prefix-sum them in C (``accumulate`` over ``map``), the numpy ones use
``bincount``. At 100,000 answers every method takes under 2 s on numpy; in pure Python majority and Wawa do,
one-coin is about 2–2.8 s and full Dawid–Skene about 6–8 s (``benchmarks/bench_aggregation.py`` measures it).
Ties (posteriors within ``_TIE``) break on the smallest label (``sorted`` order), so results are deterministic.
"""

from __future__ import annotations

import collections
import functools
import importlib
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
    by (task, worker, label) so that each task's answers are one contiguous run and the same answers in any
    order give bit-identical results. ``task``, ``worker`` and ``label`` are C arrays (numpy reads them
    without a copy)."""

    def __init__(self, answers: Iterable[tuple[Hashable, Hashable, Hashable]]) -> None:
        triples = answers if isinstance(answers, list) else list(answers)
        if not triples:
            raise ValueError("no answers to aggregate")
        # Checked in C first (set of types, then of lengths); the loop only runs to name the bad answer.
        if set(map(type, triples)) != {tuple} or set(map(len, triples)) != {3}:
            for triple in triples:
                if type(triple) is not tuple or len(triple) != 3:
                    raise ValueError(
                        f"each answer must be a (task_id, worker_id, label) tuple, got {triple!r:.100}"
                    )
        task_ids, worker_ids, label_ids = zip(*triples, strict=True)
        self.tasks = _sorted_ids(task_ids)
        self.workers = _sorted_ids(worker_ids)
        self.labels = _sorted_ids(label_ids)
        self.task_index = {t: i for i, t in enumerate(self.tasks)}
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        worker_index = {w: i for i, w in enumerate(self.workers)}
        workers, k = len(self.workers), len(self.labels)
        # The canonical order: one integer per answer, (task * workers + worker) * k + label, sorted (a sort of
        # plain ints, no key function), then split back into its three indices.
        codes = sorted(
            map(
                operator.add,
                map(
                    operator.mul,
                    map(
                        operator.add,
                        map(operator.mul, map(self.task_index.__getitem__, task_ids), itertools.repeat(workers)),
                        map(worker_index.__getitem__, worker_ids),
                    ),
                    itertools.repeat(k),
                ),
                map(self.label_index.__getitem__, label_ids),
            )
        )
        per_task = workers * k
        self.task = array("l", map(operator.floordiv, codes, itertools.repeat(per_task)))
        self.label = array("l", map(operator.mod, codes, itertools.repeat(k)))
        self.worker = array(
            "l",
            map(operator.mod, map(operator.floordiv, codes, itertools.repeat(k)), itertools.repeat(workers)),
        )
        # [starts[t], ends[t]) is task t's run of answers (every task has at least one).
        per = collections.Counter(self.task)
        self.ends = list(itertools.accumulate(map(per.__getitem__, range(len(self.tasks)))))
        self.starts = [0, *self.ends[:-1]]
        answered = collections.Counter(self.worker)
        self.worker_counts = list(map(answered.__getitem__, range(workers)))

    @property
    def classes(self) -> int:
        return len(self.labels)

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


def _sorted_ids(values: Iterable[Hashable]) -> list[Any]:
    distinct = set(values)
    if len(set(map(type, distinct))) == 1:  # one type (the usual case): plain order, no key function
        return sorted(distinct)
    return sorted(distinct, key=_sort_key)


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


# ---- backends --------------------------------------------------------------------------------------------

#: Values of every method's ``backend`` argument.
BACKENDS = ("auto", "python", "numpy")


@functools.cache
def _numpy_module() -> Any:
    # Any: numpy is optional (the ``fast`` extra), so it is imported by name and typed loosely.
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


def numpy_available() -> bool:
    """Whether the numpy backend can run (numpy importable: ``pip install 'toloka-airflow-provider[fast]'``)."""
    return _numpy_module() is not None


def resolve_backend(backend: str) -> str:
    """``"python"`` or ``"numpy"`` for a ``backend`` argument (``"auto"``: numpy when it is importable).

    Raises :class:`ValueError` for another value, or for ``"numpy"`` without numpy installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r:.100}")
    if backend == "auto":
        return "numpy" if numpy_available() else "python"
    if backend == "numpy" and not numpy_available():
        raise ValueError("backend 'numpy' needs numpy, which is not installed: pip install 'toloka-airflow-provider[fast]'")
    return backend


# ---- shared steps (pure Python) --------------------------------------------------------------------------

# Posteriors closer than this count as tied (they differ by rounding only), so a tie goes to the smallest
# label whatever the order of the floating-point sums, and both backends pick the same label.
_TIE = 1e-12


def _argmax(columns: Sequence[Sequence[float]]) -> list[int]:
    """Per task, the smallest label index whose posterior is within ``_TIE`` of the task's largest."""
    top = list(map(max, *columns)) if len(columns) > 1 else list(columns[0])
    floor = [value - _TIE for value in top]
    best = [0] * len(top)
    for i in reversed(range(len(columns))):
        best = [i if v >= f else b for v, f, b in zip(columns[i], floor, best, strict=True)]
    return best


def _cells(data: _Encoded) -> array:
    """Each answer's (task, label) cell in a task-major table of ``tasks * classes``."""
    k = data.classes
    return array("l", map(operator.add, map(operator.mul, data.task, itertools.repeat(k)), data.label))


def _vote_columns(data: _Encoded, weights: list[float] | None = None) -> list[list[float]]:
    """Per label, over tasks, the (weighted) share of the task's votes for it."""
    k, tasks = data.classes, len(data.tasks)
    table = [0.0] * (tasks * k)
    if weights is None:
        for cell, count in collections.Counter(_cells(data)).items():
            table[cell] = float(count)
    else:  # in answer order, as the numpy backend adds them
        for cell, w in zip(_cells(data), data.worker, strict=True):
            table[cell] += weights[w]
    columns = [table[i::k] for i in range(k)]
    totals = columns[0]
    for column in columns[1:]:
        totals = list(map(operator.add, totals, column))
    uniform = 1.0 / k
    # A task whose voters all weigh 0 gets uniform shares.
    return [
        [value / total if total > 0 else uniform for value, total in zip(column, totals, strict=True)]
        for column in columns
    ]


def _clamp(columns: Sequence[Any], golden: dict[int, int]) -> None:
    """Golden tasks' posteriors: 1 for the known label, 0 for the others."""
    for t, label in golden.items():
        for i, column in enumerate(columns):
            column[t] = 1.0 if i == label else 0.0


def _agreement(data: _Encoded, best: list[int]) -> list[float]:
    """Each worker's share of answers equal to the task's label in ``best``."""
    agree = collections.Counter(
        itertools.compress(data.worker, map(operator.eq, map(best.__getitem__, data.task), data.label))
    )
    return [agree[w] / count for w, count in enumerate(data.worker_counts)]


def _result(
    data: _Encoded, columns: Sequence[Sequence[float]], quality: Sequence[float], iterations: int
) -> AggregationResult[Any, Any, Any]:
    # Any: ``_Encoded`` keeps the caller's ids as plain hashables; each public method's signature says
    # that they come back as the types they went in as.
    best = _argmax(columns)
    confidence = [columns[b][t] for t, b in enumerate(best)]
    labels = dict(zip(data.tasks, zip(map(data.labels.__getitem__, best), confidence, strict=True), strict=True))
    return AggregationResult(labels, dict(zip(data.workers, quality, strict=True)), iterations)


def _golden_accuracy(data: _Encoded, golden_rows: dict[int, int]) -> dict[int, float]:
    """``{worker index: share of right answers}`` over the golden tasks, for workers who answered one."""
    seen: collections.Counter[int] = collections.Counter()
    right: collections.Counter[int] = collections.Counter()
    for t, w, label in zip(data.task, data.worker, data.label, strict=True):
        known = golden_rows.get(t)
        if known is not None:
            seen[w] += 1
            right[w] += known == label
    return {w: right[w] / count for w, count in seen.items()}


# ---- the methods -----------------------------------------------------------------------------------------


def majority_vote(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
    backend: str = "auto",
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """The most frequent label per task (confidence = its share); quality = agreement with the result.

    With ``golden``, golden tasks take their known label, and quality counts them too.
    """
    use = resolve_backend(backend)
    data = _Encoded(answers)
    golden_rows = data.golden_rows(golden)
    if use == "numpy":
        return _numpy_majority(data, golden_rows)
    columns = _vote_columns(data)
    _clamp(columns, golden_rows)
    return _result(data, columns, _agreement(data, _argmax(columns)), 0)


def wawa(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
    backend: str = "auto",
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Worker agreement with aggregate: each worker's weight is their agreement with the majority vote
    (with ``golden``: with the known labels where there are any), then a weighted majority vote."""
    use = resolve_backend(backend)
    data = _Encoded(answers)
    golden_rows = data.golden_rows(golden)
    if use == "numpy":
        return _numpy_wawa(data, golden_rows)
    reference = _argmax(_vote_columns(data))
    for t, label in golden_rows.items():
        reference[t] = label
    weights = _agreement(data, reference)
    # A worker with golden answers is weighted by their golden accuracy alone.
    for w, share in _golden_accuracy(data, golden_rows).items():
        weights[w] = share
    columns = _vote_columns(data, weights)
    _clamp(columns, golden_rows)
    return _result(data, columns, weights, 0)


def _start_columns(data: _Encoded, golden_rows: dict[int, int]) -> list[array]:
    """Initial posteriors from the vote shares, as one array over tasks per label."""
    columns = [array("d", column) for column in _vote_columns(data)]
    _clamp(columns, golden_rows)
    return columns


def _normalise(scores: list[list[float]], golden_rows: dict[int, int]) -> tuple[list[array], float]:
    """Per-label log scores over tasks -> posteriors (same layout) and the log-likelihood of the answers."""
    top = list(map(max, *scores)) if len(scores) > 1 else list(scores[0])
    exps = [list(map(math.exp, map(operator.sub, column, top))) for column in scores]
    totals = exps[0]
    for column in exps[1:]:
        totals = list(map(operator.add, totals, column))
    log_likelihood = math.fsum(top) + math.fsum(map(math.log, totals))
    posteriors = [array("d", map(operator.truediv, column, totals)) for column in exps]
    _clamp(posteriors, golden_rows)  # known answers stay fixed
    return posteriors, log_likelihood


def one_coin_dawid_skene(
    answers: Iterable[tuple[TaskT, WorkerT, LabelT]],
    *,
    golden: Mapping[TaskT, LabelT] | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-5,
    backend: str = "auto",
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Dawid–Skene with one parameter per worker: right with probability ``p``, otherwise any other label
    equally likely. EM from the majority vote, until the log-likelihood per answer gains less than
    ``tolerance``; quality = ``p``."""
    use = resolve_backend(backend)
    data = _Encoded(answers)
    golden_rows = data.golden_rows(golden)
    if use == "numpy":
        return _numpy_one_coin(data, golden_rows, max_iterations, tolerance)
    k, tasks, n, workers = data.classes, len(data.tasks), len(data.task), len(data.workers)
    cell = _cells(data)
    by_worker = _Segments.grouped(data.worker, workers)
    cell_by_worker = by_worker.arrange(cell)
    by_cell = _Segments.grouped(cell, tasks * k)
    worker_by_cell = by_cell.arrange(data.worker)
    counts = data.worker_counts
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
        bonus = array("d", [math.log(p) - wrong for p, wrong in zip(skills, log_wrong, strict=True)])
        # E-step: every answer adds log_wrong to all labels of its task and log(p) - log_wrong to its own.
        # The first part is the same for every label of a task, so it cancels in the posteriors: only the
        # log-likelihood needs it, and there it sums to sum(answers * log_wrong) over workers. One pass over
        # the answers per iteration is left: the bonus summed per (task, label) cell.
        own = by_cell.sums(bonus, worker_by_cell)
        scores = [list(map(math.log(priors[i]).__add__, own[i::k])) for i in range(k)]
        posteriors, log_likelihood = _normalise(scores, golden_rows)
        log_likelihood += math.fsum(map(operator.mul, counts, log_wrong))
        if log_likelihood - previous < tolerance * n:
            break
        previous = log_likelihood
    for i, column in enumerate(posteriors):
        flat[i::k] = column
    quality = [r / m for r, m in zip(by_worker.sums(flat, cell_by_worker), counts, strict=True)]
    return _result(data, posteriors, quality, iterations)


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
    backend: str = "auto",
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Full Dawid–Skene: a confusion matrix ``P(answer | true label)`` per worker, EM from the majority vote,
    until the log-likelihood per answer gains less than ``tolerance``.

    Quality = the worker's probability of a right answer under the estimated class priors.
    """
    use = resolve_backend(backend)
    data = _Encoded(answers)
    golden_rows = data.golden_rows(golden)
    if use == "numpy":
        return _numpy_dawid_skene(data, golden_rows, max_iterations, tolerance)
    k, tasks, n, workers = data.classes, len(data.tasks), len(data.task), len(data.workers)
    by_task = _Segments(None, data.starts, data.ends)
    # Each answer's (worker, label) cell: the M-step sums posteriors over each cell's answers.
    cell = array("l", map(operator.add, map(operator.mul, data.worker, itertools.repeat(k)), data.label))
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
    return _result(data, posteriors, quality, iterations)


# ---- the numpy backend -----------------------------------------------------------------------------------
# The same steps as above, in the same order, on arrays: sums by ``bincount`` (which adds in answer order)
# instead of prefix sums, so the results equal the pure-Python ones up to rounding (tested to 1e-9, and the
# same labels: ``_TIE``). Each function takes the already encoded answers.


class _Arrays:
    """The encoded answers as numpy index arrays."""

    def __init__(self, np: Any, data: _Encoded) -> None:
        self.k, self.tasks, self.n, self.workers = data.classes, len(data.tasks), len(data.task), len(data.workers)
        self.task = np.asarray(data.task, dtype=np.intp)
        self.worker = np.asarray(data.worker, dtype=np.intp)
        self.label = np.asarray(data.label, dtype=np.intp)
        self.cell = self.task * self.k + self.label  # (task, label) in a task-major table
        self.counts = np.asarray(data.worker_counts, dtype=float)

    def sequential_sum(self, table: Any) -> Any:
        # Row sums added left to right, as the pure-Python backend adds its columns.
        total = table[:, 0].copy()
        for i in range(1, table.shape[1]):
            total += table[:, i]
        return total


def _numpy_clamp(np: Any, table: Any, golden_rows: dict[int, int]) -> None:
    if golden_rows:
        rows = np.fromiter(golden_rows, dtype=np.intp, count=len(golden_rows))
        table[rows] = 0.0
        table[rows, np.fromiter(golden_rows.values(), dtype=np.intp, count=len(golden_rows))] = 1.0


def _numpy_argmax(np: Any, table: Any) -> Any:
    floor = table.max(axis=1) - _TIE
    return np.argmax(table >= floor[:, None], axis=1)


def _numpy_votes(np: Any, a: _Arrays, weights: Any = None) -> Any:
    table = np.bincount(a.cell, weights=None if weights is None else weights[a.worker], minlength=a.tasks * a.k)
    table = table.astype(float).reshape(a.tasks, a.k)
    totals = a.sequential_sum(table)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = table / totals[:, None]
    shares[totals <= 0] = 1.0 / a.k
    return shares


def _numpy_agreement(np: Any, a: _Arrays, best: Any) -> Any:
    agree = (best[a.task] == a.label).astype(float)
    return np.bincount(a.worker, weights=agree, minlength=a.workers) / a.counts


def _numpy_result(
    np: Any, data: _Encoded, table: Any, quality: Any, iterations: int
) -> AggregationResult[Any, Any, Any]:
    best = _numpy_argmax(np, table)
    confidence = table[np.arange(table.shape[0]), best].tolist()
    labels = dict(
        zip(data.tasks, zip(map(data.labels.__getitem__, best.tolist()), confidence, strict=True), strict=True)
    )
    return AggregationResult(labels, dict(zip(data.workers, np.asarray(quality).tolist(), strict=True)), iterations)


def _numpy_majority(data: _Encoded, golden_rows: dict[int, int]) -> AggregationResult[Any, Any, Any]:
    np = _numpy_module()
    a = _Arrays(np, data)
    shares = _numpy_votes(np, a)
    _numpy_clamp(np, shares, golden_rows)
    return _numpy_result(np, data, shares, _numpy_agreement(np, a, _numpy_argmax(np, shares)), 0)


def _numpy_wawa(data: _Encoded, golden_rows: dict[int, int]) -> AggregationResult[Any, Any, Any]:
    np = _numpy_module()
    a = _Arrays(np, data)
    best = _numpy_argmax(np, _numpy_votes(np, a))
    for t, label in golden_rows.items():
        best[t] = label
    weights = _numpy_agreement(np, a, best)
    for w, share in _golden_accuracy(data, golden_rows).items():
        weights[w] = share
    shares = _numpy_votes(np, a, weights)
    _numpy_clamp(np, shares, golden_rows)
    return _numpy_result(np, data, shares, weights, 0)


def _numpy_start(np: Any, a: _Arrays, golden_rows: dict[int, int]) -> Any:
    posteriors = _numpy_votes(np, a)
    _numpy_clamp(np, posteriors, golden_rows)
    return posteriors


def _numpy_normalise(np: Any, a: _Arrays, scores: Any, golden_rows: dict[int, int]) -> tuple[Any, float]:
    top = scores.max(axis=1)
    exps = np.exp(scores - top[:, None])
    totals = a.sequential_sum(exps)
    log_likelihood = math.fsum(top.tolist()) + math.fsum(np.log(totals).tolist())
    posteriors = exps / totals[:, None]
    _numpy_clamp(np, posteriors, golden_rows)
    return posteriors, log_likelihood


def _numpy_priors(np: Any, a: _Arrays, posteriors: Any) -> Any:
    return np.maximum(np.array([math.fsum(column) for column in posteriors.T.tolist()]) / a.tasks, _EPSILON)


def _numpy_one_coin(
    data: _Encoded, golden_rows: dict[int, int], max_iterations: int, tolerance: float
) -> AggregationResult[Any, Any, Any]:
    np = _numpy_module()
    a = _Arrays(np, data)
    k = a.k
    posteriors = _numpy_start(np, a, golden_rows)
    previous = -math.inf
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        right = np.bincount(a.worker, weights=posteriors.ravel()[a.cell], minlength=a.workers)
        skills = np.minimum(np.maximum(right / a.counts, _EPSILON), 1 - _EPSILON)
        priors = _numpy_priors(np, a, posteriors)
        log_wrong = np.log((1 - skills) / (k - 1)) if k > 1 else np.zeros(a.workers)
        bonus = np.log(skills) - log_wrong
        # As above: the per-task log_wrong term cancels in the posteriors and is added to the likelihood.
        own = np.bincount(a.cell, weights=bonus[a.worker], minlength=a.tasks * k).reshape(a.tasks, k)
        posteriors, log_likelihood = _numpy_normalise(np, a, np.log(priors)[None, :] + own, golden_rows)
        log_likelihood += math.fsum((a.counts * log_wrong).tolist())
        if log_likelihood - previous < tolerance * a.n:
            break
        previous = log_likelihood
    quality = np.bincount(a.worker, weights=posteriors.ravel()[a.cell], minlength=a.workers) / a.counts
    return _numpy_result(np, data, posteriors, quality, iterations)


def _numpy_dawid_skene(
    data: _Encoded, golden_rows: dict[int, int], max_iterations: int, tolerance: float
) -> AggregationResult[Any, Any, Any]:
    np = _numpy_module()
    a = _Arrays(np, data)
    k, workers = a.k, a.workers
    answer_cell = a.worker * k + a.label  # (worker, label)
    posteriors = _numpy_start(np, a, golden_rows)
    uniform = math.log(1.0 / k)
    priors = np.full(k, 1.0 / k)
    # log_confusion[w, answer, true] = log P(answer | true) for worker w.
    log_confusion = np.full((workers, k, k), uniform)
    previous = -math.inf
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        counts = np.empty((workers * k, k))
        for true in range(k):
            counts[:, true] = np.bincount(answer_cell, weights=posteriors[a.task, true], minlength=workers * k)
        counts = counts.reshape(workers, k, k)
        priors = _numpy_priors(np, a, posteriors)
        totals = counts[:, 0, :].copy()
        for answer in range(1, k):
            totals += counts[:, answer, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_confusion = np.log(np.maximum(counts / totals[:, None, :], _EPSILON))
        log_confusion = np.where((totals > 0)[:, None, :], log_confusion, uniform)
        per_answer = log_confusion.reshape(workers * k, k)[answer_cell]
        scores = np.empty((a.tasks, k))
        for true in range(k):
            scores[:, true] = np.bincount(a.task, weights=per_answer[:, true], minlength=a.tasks)
        scores += np.log(priors)[None, :]
        posteriors, log_likelihood = _numpy_normalise(np, a, scores, golden_rows)
        if log_likelihood - previous < tolerance * a.n:
            break
        previous = log_likelihood
    diagonal = np.exp(log_confusion[:, np.arange(k), np.arange(k)])  # [w, true]
    quality = (diagonal * priors[None, :]).sum(axis=1) / priors.sum()
    return _numpy_result(np, data, posteriors, quality, iterations)


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
    backend: str = "auto",
) -> AggregationResult[TaskT, WorkerT, LabelT]:
    """Run the named method (one of :data:`METHODS`) on the ``backend`` (one of :data:`BACKENDS`)."""
    try:
        run = METHODS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}") from None
    return run(answers, golden=golden, backend=backend)
