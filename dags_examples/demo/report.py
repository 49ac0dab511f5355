"""Score a labeling run against the bundled truth: the numbers the demo prints and the e2e tests assert.

Pure functions over the files a ``text_classification`` run writes (``assignments.jsonl``, ``labels.jsonl``)
and the dataset's ``truth.jsonl``; no Airflow, no network. Both ``run_demo.py`` and ``tests/e2e`` use them,
so the demo report and the test thresholds measure the same thing.

A task is identified by its input values (the same key the emulator uses to look up the truth), so golden
tasks, which are not in the truth file, are left out of every accuracy figure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUTH_FILE = Path(__file__).resolve().parents[1] / "data" / "support_tickets" / "truth.jsonl"


def input_key(input_values: Mapping[str, Any]) -> tuple:
    """A hashable key for a task's input values (order-insensitive)."""
    return tuple(sorted((str(name), str(value)) for name, value in input_values.items()))


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)


def load_truth(path: str | Path = TRUTH_FILE, field_name: str = "label") -> dict[tuple, Any]:
    """``{input key: true value of field_name}`` from a truth JSONL file."""
    return {input_key(row["input_values"]): row["output_values"][field_name] for row in iter_jsonl(path)}


@dataclass
class WorkerAccuracy:
    """Accuracy of single answers against the truth: per worker, and pooled over all answers."""

    per_worker: dict[str, float] = field(default_factory=dict)
    answers: int = 0
    correct: int = 0

    @property
    def mean_worker_accuracy(self) -> float:
        """The accuracy of a worker picked at random (mean over workers of each worker's accuracy)."""
        return sum(self.per_worker.values()) / len(self.per_worker) if self.per_worker else 0.0

    @property
    def answer_accuracy(self) -> float:
        """The accuracy of an answer picked at random."""
        return self.correct / self.answers if self.answers else 0.0


def worker_accuracy(
    assignments: Iterable[Mapping[str, Any]], truth: Mapping[tuple, Any], field_name: str = "label"
) -> WorkerAccuracy:
    """Score every worker's answers on tasks with a known truth (golden tasks have none and are skipped)."""
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # user_id -> [correct, answers]
    result = WorkerAccuracy()
    for assignment in assignments:
        for task, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False):
            expected = truth.get(input_key(task.get("input_values") or {}))
            if expected is None:
                continue
            hit = int((solution.get("output_values") or {}).get(field_name) == expected)
            counts = seen[str(assignment.get("user_id"))]
            counts[0] += hit
            counts[1] += 1
            result.correct += hit
            result.answers += 1
    result.per_worker = {user: correct / answers for user, (correct, answers) in seen.items()}
    return result


@dataclass
class LabelAccuracy:
    labeled: int
    scored: int
    correct: int
    missing: int  # truth rows with no label in the output

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else 0.0


def label_accuracy(labels: Iterable[Mapping[str, Any]], truth: Mapping[tuple, Any]) -> LabelAccuracy:
    """Score aggregated labels (``{"input_values": ..., "label": ...}`` rows) against the truth."""
    labeled = scored = correct = 0
    found: set[tuple] = set()
    for row in labels:
        labeled += 1
        key = input_key(row.get("input_values") or {})
        if key not in truth:
            continue
        found.add(key)
        scored += 1
        correct += int(row.get("label") == truth[key])
    return LabelAccuracy(labeled=labeled, scored=scored, correct=correct, missing=len(set(truth) - found))


#: The figures of a recorded ``text_classification_qc`` run on the demo's crowd and seed, beside the plain run's:
#: ``make demo`` prints them next to its own run; ``tests/e2e/test_e2e_quality_demo.py`` re-measures both and fails
#: when they are stale (re-record with ``TOLOKA_QC_RECORD=1`` on that test).
RECORDED_QC_FILE = Path(__file__).resolve().parent / "quality_control_recorded.json"


def load_recorded_comparison(path: str | Path = RECORDED_QC_FILE) -> dict | None:
    """The recorded with/without quality-control figures, or None when there is no readable record."""
    try:
        recorded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and "with_qc" in recorded and "crowd" in recorded else None


def quality_control_line(
    accuracy: float, spent: Any, crowd: Mapping[str, Any], recorded: Mapping[str, Any] | None
) -> str:
    """The demo's comparison: this run (without QC) and the recorded QC run, when it is for the same crowd."""
    without = f"without QC {accuracy:.3f} for ${spent} (this run)"
    if recorded is None or dict(recorded["crowd"]) != dict(crowd):
        return f"{without}; with QC: no recorded run for this crowd and seed"
    with_qc = recorded["with_qc"]
    return (
        f"{without}; with QC {with_qc['accuracy']:.3f} for ${with_qc['spent']}, {with_qc['banned']} banned "
        f"(recorded run of {with_qc['dag_id']} on the same crowd, seed {crowd.get('seed')}, {recorded['recorded']})"
    )
