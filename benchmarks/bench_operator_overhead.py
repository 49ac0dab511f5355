"""Scenario 5: what our operators add over a bare ``@task`` doing the same client call; the demo DAG's wall time.

    python benchmarks/bench_operator_overhead.py    # full run, writes benchmarks/results/operator_overhead.{json,png}
    BENCH_QUICK=1 python benchmarks/bench_operator_overhead.py   # no demo run, fewer repetitions

Per-task overhead, in one process (Airflow imported, emulator in its own process), many repetitions of three
ways to fetch a small pool's SUBMITTED assignments (``ASSIGNMENTS`` of them, one page), alternating:

- ``client call``: ``client.get_assignments_raw(...)`` on a client made once (the call itself);
- ``bare @task``: what a ``@task`` body does on each run: ``TolokaHook().get_conn()`` (connection read from
  ``AIRFLOW_CONN_TOLOKA_DEFAULT``, a new client and connection) and the same call;
- ``operator``: ``TolokaGetAssignmentsOperator(...)`` built and ``execute(context)`` run (it builds the filters,
  pushes the pool link to XCom — a recording stand-in for the task instance — and makes the same call).

The operator's overhead is ``operator - bare @task`` (median of per-repetition differences is not meaningful
across separate calls, so medians of each are compared). The demo DAG (``make demo``'s runner) is run once, in
full mode only, and its wall time reported; it is informative and never fails the benchmark.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

ASSIGNMENTS = 20
VARIANTS = ("client call", "bare @task", "operator")


def child(url: str, pool_id: str, repetitions: int) -> dict:
    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps({"conn_type": "toloka", "password": common.TOKEN, "host": url})
    from toloka_provider.client import TolokaClient
    from toloka_provider.hooks.toloka import TolokaHook
    from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator

    # Outside a task runner, BaseOperator.execute logs a warning on every call; a real run does not.
    logging.getLogger("airflow.task.operators").setLevel(logging.ERROR)

    class RecordingTaskInstance:
        def xcom_push(self, key: str, value: object) -> None:
            self.last = (key, value)

    shared = TolokaClient(common.TOKEN, url=url)

    def client_call() -> int:
        return sum(len(page) for page in shared.get_assignments_raw(pool_id=pool_id, status=["SUBMITTED"]))

    def bare_task() -> int:
        client = TolokaHook().get_conn()
        try:
            return sum(len(page) for page in client.get_assignments_raw(pool_id=pool_id, status=["SUBMITTED"]))
        finally:
            client.close()

    def operator() -> int:
        task = TolokaGetAssignmentsOperator(task_id="fetch", pool_id=pool_id, use_data_interval=False)
        try:
            return len(task.execute({"ti": RecordingTaskInstance()}))
        finally:
            task.hook.get_conn().close()

    functions = {"client call": client_call, "bare @task": bare_task, "operator": operator}
    for function in functions.values():  # warm-up: first-call imports and caches
        assert function() == ASSIGNMENTS
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repetition in range(repetitions):
        for name in common.rotate(VARIANTS, repetition):
            started = time.perf_counter()
            functions[name]()
            seconds[name].append(time.perf_counter() - started)
    return {"seconds": seconds}


def run_demo(timeout: float = 420) -> dict:
    """Run ``make demo``'s runner once; report its wall time and exit status (never raises)."""
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [common.OUR_PYTHON, str(common.REPO_ROOT / "dags_examples" / "demo" / "run_demo.py")],
            cwd=common.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}"
        tail = completed.stdout[-1500:] + completed.stderr[-500:]
    except subprocess.TimeoutExpired:
        status, tail = f"timed out after {timeout:.0f} s", ""
    except Exception as error:  # the demo is informative only
        status, tail = f"could not run: {error}", ""
    return {"seconds": time.perf_counter() - started, "status": status, "tail": tail}


def run(repetitions: int | None = None, demo: bool | None = None) -> common.ScenarioResult:
    quick = common.quick()
    repetitions = repetitions or (20 if quick else 200)
    demo = (not quick) if demo is None else demo
    result = common.ScenarioResult("operator_overhead", "5. Per-task overhead: operator vs bare @task vs client call")
    with common.EmulatorProcess() as emulator:
        pool_id = emulator.pool_with_assignments(ASSIGNMENTS)
        measured = common.run_json(common.OUR_PYTHON, __file__, "child", emulator.url, pool_id, str(repetitions))
    seconds = measured["seconds"]
    ms = {name: 1000 * common.median(values) for name, values in seconds.items()}
    result.raw = {"repetitions": repetitions, "assignments": ASSIGNMENTS, "seconds": seconds, "median_ms": ms}
    result.rows = [
        common.Row(
            "5 overhead", "operator over bare @task (same client call)", f"{ms['operator'] - ms['bare @task']:+.2f} ms",
            detail=f"medians of {repetitions} repetitions: operator {ms['operator']:.2f} ms, bare @task "
            f"{ms['bare @task']:.2f} ms, client call alone {ms['client call']:.2f} ms ({ASSIGNMENTS} assignments, one page)",
        ),
        common.Row(
            "5 overhead", "operator over the client call alone", f"{ms['operator'] - ms['client call']:+.2f} ms",
            detail="includes the hook's connection read and a new client/connection per task, which a bare @task pays too",
        ),
    ]
    if demo:
        common.log("running the demo DAG once (make demo's runner)")
        outcome = run_demo()
        result.raw["demo"] = outcome
        result.rows.append(
            common.Row("5 demo", "demo DAG wall time (make demo runner, one run)", f"{outcome['seconds']:.0f} s", detail=f"status: {outcome['status']}")
        )
    result.chart = {"kind": "bars", "xlabel": "milliseconds per task (median)", "series": ms}
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
