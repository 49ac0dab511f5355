"""The peer's side of the aggregation benchmark: crowd-kit on the same answers, one JSON line out.

Runs in ``benchmarks/.venv-crowdkit`` (made by ``_common.crowdkit_python()``); imports crowd-kit, pandas and
numpy only, never our package. Reads the answers from a JSON file of ``[task, worker, label]`` triples and
prints, per method, the labels and the process CPU seconds the fit took.

    python _peer_crowdkit.py ANSWERS.json
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa

METHODS = {
    "majority": lambda: MajorityVote(),
    "wawa": lambda: Wawa(),
    "one_coin": lambda: OneCoinDawidSkene(n_iter=100, tol=1e-5),
    "dawid_skene": lambda: DawidSkene(n_iter=100, tol=1e-5),
}


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        triples = json.load(handle)
    frame = pd.DataFrame(triples, columns=["task", "worker", "label"])
    result = {}
    for name, make in METHODS.items():
        started = time.process_time()
        labels = make().fit_predict(frame)
        seconds = time.process_time() - started
        result[name] = {"seconds": seconds, "labels": {str(task): str(label) for task, label in labels.items()}}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
