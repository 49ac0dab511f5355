"""Seeded synthetic crowd answers for the aggregation tests and ``benchmarks/bench_aggregation.py``.

The setting of issue 15: tasks with a uniformly drawn true class, workers with accuracies drawn uniformly in
[0.5, 0.95], a share of spammers who answer uniformly at random, and symmetric noise (a wrong answer is any
other class, equally likely). Each task is answered by ``overlap`` distinct workers. Deterministic for a seed
on every Python version (``random.Random`` with explicit draws only).
"""

from __future__ import annotations

import random


def make_crowd(
    *,
    tasks: int = 2_000,
    classes: int = 4,
    workers: int = 50,
    spammer_share: float = 0.1,
    overlap: int = 3,
    accuracy: tuple[float, float] = (0.5, 0.95),
    golden_share: float = 0.0,
    seed: int = 7,
) -> tuple[list[tuple[str, str, str]], dict[str, str], dict[str, str]]:
    """``(answers, truth, golden)``: ``(task, worker, label)`` triples, every task's true label, and the
    golden subset (the first ``golden_share`` of tasks) whose labels a pipeline would know."""
    rng = random.Random(seed)
    labels = [f"c{i}" for i in range(classes)]
    worker_ids = [f"w{i:03d}" for i in range(workers)]
    spammers = set(rng.sample(worker_ids, round(workers * spammer_share)))
    skill = {w: rng.uniform(*accuracy) for w in worker_ids}
    truth: dict[str, str] = {}
    answers: list[tuple[str, str, str]] = []
    for index in range(tasks):
        task = f"t{index:06d}"
        true = labels[rng.randrange(classes)]
        truth[task] = true
        for worker in rng.sample(worker_ids, overlap):
            if worker in spammers:
                label = labels[rng.randrange(classes)]
            elif rng.random() < skill[worker]:
                label = true
            else:
                label = rng.choice([other for other in labels if other != true])
            answers.append((task, worker, label))
    golden_count = round(tasks * golden_share)
    golden = {task: truth[task] for task in list(truth)[:golden_count]}
    return answers, truth, golden


def accuracy(labels: dict, truth: dict[str, str], *, skip: dict | None = None) -> float:
    """Share of tasks (not in ``skip``) whose aggregated label is the true one."""
    tasks = [task for task in truth if not skip or task not in skip]
    right = sum(1 for task in tasks if labels[task] == truth[task])
    return right / len(tasks)
