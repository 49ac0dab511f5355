"""The peer's side of the benchmarks: toloka-kit 1.2.2 doing the same work, one measured pass per process.

Runs in ``benchmarks/.venv-tolokakit`` (made by ``_common.peer_python()``); imports toloka-kit only, never our
package. Prints one JSON line with the timings. Used exactly as toloka-kit's docs show, with its defaults
unless a scenario names an argument (``batch_size``).

    python _peer_tolokakit.py fetch  URL TOKEN POOL_ID BATCH_SIZE|default
    python _peer_tolokakit.py accept URL TOKEN POOL_ID COUNT
"""

from __future__ import annotations

import json
import sys
import time

from toloka.client import TolokaClient


def fetch(url: str, token: str, pool_id: str, batch_size: str) -> dict:
    client = TolokaClient(token, url=url)
    size = None if batch_size == "default" else int(batch_size)
    started = time.perf_counter()
    count = 0
    for assignment in client.get_assignments(pool_id=pool_id, status="SUBMITTED", batch_size=size):
        # Read what a consumer of labels reads (the same in every contender): inputs with their outputs.
        for task, solution in zip(assignment.tasks, assignment.solutions, strict=True):
            count += len(task.input_values) + len(solution.output_values)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "solutions": count}


def accept(url: str, token: str, pool_id: str, count: str) -> dict:
    client = TolokaClient(token, url=url)
    wanted = int(count)
    # Which assignments to accept is not part of the measurement: read their ids first (one page).
    ids = [a.id for a in client.find_assignments(pool_id=pool_id, status="SUBMITTED", sort="id", limit=wanted).items]
    started = time.perf_counter()
    for assignment_id in ids:
        client.accept_assignment(assignment_id, public_comment=None)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "accepted": len(ids)}


def main(argv: list[str]) -> None:
    command, *args = argv
    result = {"fetch": fetch, "accept": accept}[command](*args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
