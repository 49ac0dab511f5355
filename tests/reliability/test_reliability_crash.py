"""Crash and resume: an operator SIGKILLed part-way and run again ends exactly like an uninterrupted run.

Each scenario runs the operator in a subprocess (``rel_a_crash_runner.py``: the operator's ``execute(context)``
with a fixed dag id / run id / task id, as an Airflow worker would), waits until the emulator's counters show
that part of the work has landed, SIGKILLs the process, and runs the same task instance again (Airflow's
retry: next try number, same identity; in the test process, with a new operator, hook and client, so nothing
but the server's state carries over from the killed try). A twin emulator, set up the same way, runs the
operator once without interruption. The end states must be equal, as counted by the emulators: nothing twice, nothing
missing.

* ``TolokaCreateTasksOperator``: 360 tasks in chunks of 30 (12 operations); killed after at least 60 / 210
  tasks were created. Then: 360 tasks in the pool, each ticket once, and the retry reports 360 created.
* ``TolokaReviewAssignmentsOperator``: 120 submitted assignments, verdict by worker (every fifth worker
  rejected), 4 requests in flight; killed after at least 20 / 80 decisions. Then: every assignment decided
  once, as the verdict says, no double decision, the retry reports the decided ones as ``already_done``.

Emulator latency (30 ms a request) keeps the work slow enough to be caught part-way; the kill point is a count
of landed effects, not a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import rel_a_crash_runner
from rel_a_harness import CONFIGS, DATA, TOKEN, make_context, use_emulator_connection

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

RUNNER = Path(__file__).parent / "rel_a_crash_runner.py"
TASK_COUNT = 360
CHUNK_SIZE = 30
ASSIGNMENT_COUNT = 120
VERDICT = "rel_a_harness.verdict_by_worker"
LATENCY_MS = 30


def _start(kind: str, kwargs: dict, try_number: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), kind, json.dumps(kwargs), str(try_number)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the operator process ended (code {process.returncode}) before {what}:\n{output[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _retry_in_a_new_operator(kind: str, kwargs: dict, monkeypatch, emulator) -> dict:
    """Try 2 of the same task instance: a new operator, hook and client (nothing survives from try 1)."""
    use_emulator_connection(monkeypatch, emulator)
    operator = rel_a_crash_runner.build(kind, kwargs)
    return operator.execute(
        make_context(dag_id=rel_a_crash_runner.DAG_ID, run_id=rel_a_crash_runner.RUN_ID, task_id=operator.task_id,
                     try_number=2)
    )


def _env_for(emulator) -> dict:
    env = dict(os.environ)
    env["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps(
        {"conn_type": "toloka", "host": emulator.url, "password": emulator.token}
    )
    return env


def _kill_after(kind: str, kwargs: dict, env: dict, landed, threshold: int, total: int) -> int:
    """Start try 1, SIGKILL it once ``landed()`` reaches ``threshold``; return what had landed by then."""
    process = _start(kind, kwargs, 1, env)
    try:
        _wait_for(lambda: landed() >= threshold, f"{threshold} effects landed", process)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.1)  # let a request the process had already sent finish on the server
    at_kill = landed()
    assert threshold <= at_kill < total, f"not part-way: {at_kill} of {total}"
    return at_kill


# ------------------------------------------------------------------------------------------------ create tasks


def _make_pool(emulator) -> str:
    from toloka_provider.client import TolokaClient

    config = json.loads((CONFIGS / "text_classification_pool.json").read_text())
    config.pop("quality_control", None)
    with TolokaClient(token=emulator.token, url=emulator.url) as client:
        project = client.create_project(json.loads((CONFIGS / "text_classification_project.json").read_text()))
        config.update(project_id=project.id, will_expire="2099-01-01T00:00:00")
        return str(client.create_pool(config).id)


def _tasks_end_state(emulator, pool_id: str) -> dict:
    counters = emulator.counters()
    with emulator.state.lock:
        tickets = Counter(
            t["input_values"]["ticket_id"] for t in emulator.state.tasks.values() if str(t["pool_id"]) == pool_id
        )
    return {"created": counters["created"].get("task", 0), "tickets": tickets}


@pytest.mark.parametrize("kill_after", [60, 210])
def test_create_tasks_killed_part_way_then_retried_creates_each_task_once(
    toloka_emulator_factory, monkeypatch, kill_after
):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, latency_ms=LATENCY_MS, operation_delay=0.0)
    twin = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, operation_delay=0.0)
    pool_id, twin_pool_id = _make_pool(emulator), _make_pool(twin)
    kwargs = {"pool_id": pool_id, "tasks_path": str(DATA / "tasks.jsonl"), "chunk_size": CHUNK_SIZE,
              "allow_defaults": True}

    landed = lambda: emulator.counters()["created"].get("task", 0)  # noqa: E731
    at_kill = _kill_after("create_tasks", kwargs, _env_for(emulator), landed, kill_after, TASK_COUNT)
    retried = _retry_in_a_new_operator("create_tasks", kwargs, monkeypatch, emulator)

    use_emulator_connection(monkeypatch, twin)
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator

    uninterrupted = TolokaCreateTasksOperator(task_id="upload_tasks", **{**kwargs, "pool_id": twin_pool_id}).execute(
        make_context(task_id="upload_tasks")
    )

    assert retried == {**uninterrupted, "pool_id": pool_id}
    assert retried["created"] == TASK_COUNT and retried["failed"] == 0
    state, expected = _tasks_end_state(emulator, pool_id), _tasks_end_state(twin, twin_pool_id)
    assert state == expected
    assert state["created"] == TASK_COUNT and set(state["tickets"].values()) == {1}
    print(f"\ncreate_tasks: killed at {at_kill} of {TASK_COUNT} created; after the retry {state['created']}")


# ------------------------------------------------------------------------------------------------ review


def _review_setup(emulator, tmp_path: Path) -> tuple[str, Path]:
    pool_id = _make_pool(emulator)
    emulator.bulk_load_assignments(pool_id, ASSIGNMENT_COUNT, status="SUBMITTED")
    with emulator.state.lock:
        assignments = [a for a in emulator.state.assignments.values() if a["pool_id"] == pool_id]
    path = tmp_path / f"assignments-{pool_id}-{emulator.port}.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    return pool_id, path


def _review_end_state(emulator) -> dict:
    counters = emulator.counters()
    with emulator.state.lock:
        by_worker = Counter((a["user_id"], a["status"]) for a in emulator.state.assignments.values())
    successful_patches = sum(
        n for key, n in counters["requests"].items() if key.startswith("PATCH /api/v1/assignments/") and key.endswith(" 200")
    )
    return {
        "accepted": counters["assignments_accepted"],
        "rejected": counters["assignments_rejected"],
        "double_decisions": counters["double_decisions"],
        "successful_patches": successful_patches,
        "by_worker": by_worker,
    }


@pytest.mark.parametrize("kill_after", [20, 80])
def test_review_killed_part_way_then_retried_decides_each_assignment_once(
    toloka_emulator_factory, monkeypatch, tmp_path, kill_after
):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, latency_ms=LATENCY_MS, operation_delay=0.0)
    twin = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, operation_delay=0.0)
    _, path = _review_setup(emulator, tmp_path)
    _, twin_path = _review_setup(twin, tmp_path)
    kwargs = {"assignments_path": str(path), "verdict": VERDICT, "concurrency": 4}

    def landed() -> int:
        counters = emulator.counters()
        return counters["assignments_accepted"] + counters["assignments_rejected"]

    at_kill = _kill_after("review", kwargs, _env_for(emulator), landed, kill_after, ASSIGNMENT_COUNT)
    retried = _retry_in_a_new_operator("review", kwargs, monkeypatch, emulator)

    use_emulator_connection(monkeypatch, twin)
    from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator

    uninterrupted = TolokaReviewAssignmentsOperator(
        task_id="review_assignments", **{**kwargs, "assignments_path": str(twin_path)}
    ).execute(make_context(task_id="review_assignments"))

    state, expected = _review_end_state(emulator), _review_end_state(twin)
    assert state == expected
    assert state["double_decisions"] == 0
    assert state["accepted"] + state["rejected"] == state["successful_patches"] == ASSIGNMENT_COUNT
    assert uninterrupted["failed"] == retried["failed"] == 0
    # The retry re-sent the decisions its first try had made and counted them as done (409, same status).
    assert retried["already_done"] >= at_kill
    assert retried["accepted"] + retried["rejected"] + retried["already_done"] == ASSIGNMENT_COUNT
    assert (retried["accepted"] + retried["rejected"]) == ASSIGNMENT_COUNT - retried["already_done"]
    print(f"\nreview: killed at {at_kill} of {ASSIGNMENT_COUNT} decided; the retry: {retried}")
