"""Scenario ``aggregation``: our local aggregation against crowd-kit on the same seeded crowd.

Accuracy: for each seed, the synthetic crowd of issue 15 (2,000 tasks, 4 classes, 50 workers with accuracy
0.5–0.95, 10% spammers, symmetric noise, overlap 3) is aggregated by each method, ours and crowd-kit's
(``benchmarks/.venv-crowdkit``, never a dependency of the package), and scored against the true labels.
Target: ours within 0.5 points of crowd-kit for every method (median over seeds). The recorded crowd-kit
figures are what ``tests/aggregation/test_aggregation_accuracy.py`` checks ours against in ``make test``.

Speed: 100,000 answers (33,334 tasks x 3, 500 workers), CPU seconds of each fit (``time.process_time``,
so a busy machine inflates it less than wall time), our two backends (``backend="python"`` and
``backend="numpy"``, the ``fast`` extra; skipped with a row saying so when numpy is not importable here) and
crowd-kit's, in rotating order per round. Target: each method <= 2 s at 100k answers (issue 15), one row per
method and backend, with every round's value and crowd-kit's beside. Accuracy is scored on the pure-Python
backend; the numpy backend's labels are checked equal to it on every seed (a row says so).

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


def _backends() -> list[str]:
    return ["python", "numpy"] if aggregation.numpy_available() else ["python"]


def _ours(answers: list, backend: str = "python") -> dict:
    result = {}
    for name, method in aggregation.METHODS.items():
        started = time.process_time()
        fitted = method(answers, backend=backend)
        seconds = time.process_time() - started
        result[name] = {"seconds": seconds, "labels": {task: label for task, (label, _) in fitted.labels.items()},
                        "iterations": fitted.iterations}
    return result


def run() -> common.ScenarioResult:
    quick = common.quick()
    python = crowdkit_python()
    result = common.ScenarioResult("aggregation", "6. Local aggregation vs crowd-kit: accuracy on a seeded crowd, CPU at 100k answers")
    seeds = SEEDS[:1] if quick else SEEDS
    backends = _backends()
    figures: dict = {"accuracy": {}, "golden_init": {}, "speed": {}, "backends": backends, "numpy_same_labels": {}}
    for seed in seeds:
        answers, truth, _ = make_crowd(seed=seed)
        theirs = _crowdkit(python, answers)
        ours = _ours(answers)
        figures["accuracy"][str(seed)] = {
            name: {"crowdkit": accuracy(theirs[name]["labels"], truth), "ours": accuracy(ours[name]["labels"], truth)}
            for name in METHODS
        }
        if "numpy" in backends:
            fast = _ours(answers, "numpy")
            figures["numpy_same_labels"][str(seed)] = {
                name: fast[name]["labels"] == ours[name]["labels"] and fast[name]["iterations"] == ours[name]["iterations"]
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
    contenders = [*backends, "crowdkit"]
    speed: dict = {name: {contender: [] for contender in contenders} for name in METHODS}
    iterations: dict = {}
    for index in range(rounds):
        for contender in common.rotate(contenders, index):
            measured = _crowdkit(python, answers) if contender == "crowdkit" else _ours(answers, contender)
            for name in METHODS:
                speed[name][contender].append(measured[name]["seconds"])
                if contender != "crowdkit":
                    iterations.setdefault(name, {})[contender] = measured[name]["iterations"]
            common.log(f"round {index + 1} {contender}: " + ", ".join(
                f"{name} {measured[name]['seconds']:.2f} s" for name in METHODS
            ))
    figures["speed"] = {"answers": len(answers), "rounds": speed, "iterations": iterations}
    result.raw = figures
    for name in METHODS:
        diffs = [(row[name]["ours"] - row[name]["crowdkit"]) * 100 for row in figures["accuracy"].values()]
        worst = max(diffs, key=abs)
        per_seed = ", ".join(
            f"seed {seed}: {row[name]['ours']:.4f} vs {row[name]['crowdkit']:.4f}" for seed, row in figures["accuracy"].items()
        )
        if "numpy" in backends:
            same = all(row[name] for row in figures["numpy_same_labels"].values())
            per_seed += f"; numpy backend: {'same labels and iterations' if same else 'LABELS DIFFER'} on every seed"
        result.rows.append(common.Row(
            "6 aggregation", f"{name}: accuracy ours − crowd-kit (points, worst seed)", f"{worst:+.2f}",
            ">= -0.5", worst >= -0.5, per_seed,
        ))
    target = "<= 2 s @100k answers"
    for name in METHODS:
        theirs_s = speed[name]["crowdkit"]
        for backend in ("python", "numpy"):
            metric = f"{name}: CPU s at {len(answers):,} answers, ours ({backend} backend)"
            if backend not in backends:
                result.rows.append(common.Row(
                    "6 aggregation", metric, "not run", target, None,
                    "numpy is not importable here (pip install 'toloka-airflow-provider[fast]')",
                ))
                continue
            ours_s = speed[name][backend]
            em = iterations[name][backend]
            result.rows.append(common.Row(
                "6 aggregation", metric, f"{common.median(ours_s):.2f} s", target,
                # Only a run at the size of the target is judged (a quick run: no verdict).
                common.median(ours_s) <= 2.0 if len(answers) >= 100_000 else None,
                f"ours {common.fmt_rounds(ours_s, ' s')}{f' ({em} EM iterations)' if em else ''}; "
                f"crowd-kit {common.fmt_rounds(theirs_s, ' s')}; "
                f"crowd-kit/ours {common.fmt_ratio(common.ratio_rounds(theirs_s, ours_s))}",
            ))
    return result


if __name__ == "__main__":
    outcome = run()
    outcome.save()
    for row in outcome.rows:
        print(row)
