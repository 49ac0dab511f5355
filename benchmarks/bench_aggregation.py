"""Scenario ``aggregation``: our local aggregation against crowd-kit on the same seeded crowd.

Accuracy: for each seed, the synthetic crowd of issue 15 (2,000 tasks, 4 classes, 50 workers with accuracy
0.5–0.95, 10% spammers, symmetric noise, overlap 3) is aggregated by each method, ours and crowd-kit's
(``benchmarks/.venv-crowdkit``, never a dependency of the package), and scored against the true labels.
Target: ours within 0.5 points of crowd-kit for every method (median over seeds). The recorded crowd-kit
figures are what ``tests/aggregation/test_aggregation_accuracy.py`` checks ours against in ``make test``.

Speed: 100,000 answers (33,334 tasks x 3, 500 workers), CPU seconds of each fit (``time.process_time``,
so a busy machine inflates it less than wall time), ours and crowd-kit's in alternating rounds.
Target: each of ours <= 2 s.

    .venv/bin/python benchmarks/run_all.py aggregation
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import _common as common

sys.path.insert(0, str(common.REPO_ROOT / "tests" / "aggregation"))

from synthetic_crowd import accuracy, make_crowd

from toloka_provider import aggregation

CROWDKIT_VENV = common.BENCH_DIR / ".venv-crowdkit"
# scikit-learn<1.6: crowd-kit 1.4.2's Wawa calls sklearn's check_is_fitted, which from 1.6 on needs
# __sklearn_tags__ that crowd-kit's classes do not define (AttributeError on predict).
CROWDKIT_REQUIREMENTS = ("crowd-kit==1.4.2", "scikit-learn<1.6")
SEEDS = (7, 11, 23)
METHODS = tuple(aggregation.METHODS)


def crowdkit_python() -> Path:
    return common._ensure_venv(CROWDKIT_VENV, CROWDKIT_REQUIREMENTS, "import crowdkit.aggregation")


def _crowdkit(python: Path, answers: list) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(answers, handle)
        handle.flush()
        return common.run_json(python, common.BENCH_DIR / "_peer_crowdkit.py", handle.name, timeout=1800)


def _ours(answers: list) -> dict:
    result = {}
    for name, method in aggregation.METHODS.items():
        started = time.process_time()
        fitted = method(answers)
        seconds = time.process_time() - started
        result[name] = {"seconds": seconds, "labels": {task: label for task, (label, _) in fitted.labels.items()},
                        "iterations": fitted.iterations}
    return result


def run() -> common.ScenarioResult:
    quick = common.quick()
    python = crowdkit_python()
    result = common.ScenarioResult("aggregation", "6. Local aggregation vs crowd-kit: accuracy on a seeded crowd, CPU at 100k answers")
    seeds = SEEDS[:1] if quick else SEEDS
    figures: dict = {"accuracy": {}, "golden_init": {}, "speed": {}}
    for seed in seeds:
        answers, truth, _ = make_crowd(seed=seed)
        theirs = _crowdkit(python, answers)
        ours = _ours(answers)
        figures["accuracy"][str(seed)] = {
            name: {"crowdkit": accuracy(theirs[name]["labels"], truth), "ours": accuracy(ours[name]["labels"], truth)}
            for name in METHODS
        }
        # Golden initialisation (ours only; crowd-kit has no such option): 10% of tasks known, scored on the rest.
        answers_g, truth_g, golden = make_crowd(seed=seed, golden_share=0.1)
        figures["golden_init"][str(seed)] = {
            name: accuracy({t: lab for t, (lab, _) in method(answers_g, golden=golden).labels.items()}, truth_g, skip=golden)
            for name, method in aggregation.METHODS.items()
        }
        common.log(f"seed {seed}: " + ", ".join(
            f"{name} ours {row['ours']:.4f} crowd-kit {row['crowdkit']:.4f}" for name, row in figures["accuracy"][str(seed)].items()
        ))
    size = dict(tasks=3_334, workers=100) if quick else dict(tasks=33_334, workers=500)
    answers, _, _ = make_crowd(seed=1, **size)
    rounds = 1 if quick else 3
    speed = {name: {"ours": [], "crowdkit": []} for name in METHODS}
    for index in range(rounds):
        for contender in common.rotate(["ours", "crowdkit"], index):
            measured = _ours(answers) if contender == "ours" else _crowdkit(python, answers)
            for name in METHODS:
                speed[name][contender].append(measured[name]["seconds"])
    figures["speed"] = {"answers": len(answers), "rounds": speed}
    result.raw = figures
    for name in METHODS:
        diffs = [(row[name]["ours"] - row[name]["crowdkit"]) * 100 for row in figures["accuracy"].values()]
        worst = max(diffs, key=abs)
        per_seed = ", ".join(
            f"seed {seed}: {row[name]['ours']:.4f} vs {row[name]['crowdkit']:.4f}" for seed, row in figures["accuracy"].items()
        )
        result.rows.append(common.Row(
            "6 aggregation", f"{name}: accuracy ours − crowd-kit (points, worst seed)", f"{worst:+.2f}",
            ">= -0.5", worst >= -0.5, per_seed,
        ))
    for name in METHODS:
        ours_s = speed[name]["ours"]
        theirs_s = speed[name]["crowdkit"]
        result.rows.append(common.Row(
            "6 aggregation", f"{name}: CPU s at {len(answers):,} answers (ours)", f"{common.median(ours_s):.2f} s",
            "<= 2 s", common.median(ours_s) <= 2.0,
            f"ours {common.fmt_rounds(ours_s, ' s')}; crowd-kit {common.fmt_rounds(theirs_s, ' s')}; "
            f"crowd-kit/ours {common.fmt_ratio(common.ratio_rounds(theirs_s, ours_s))}",
        ))
    return result


if __name__ == "__main__":
    outcome = run()
    outcome.save()
    for row in outcome.rows:
        print(row)
