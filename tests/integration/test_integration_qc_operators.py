"""Issue #15, acceptance 1: the quality-control operators against the emulator and its simulated crowd.

An exam pool of golden tasks measures every worker; the test writes the per-worker statistics JSONL from it
(the format the review step writes, see ``toloka_provider/operators/quality.py``), then:

* ``TolokaRestrictWorkersOperator`` bans the weak workers in the project: they get no work in the next pool.
* ``TolokaSetUserSkillsOperator`` sets golden accuracy × 100 as a skill: a pool filtered on it is answered only by
  the skilled workers.
* ``TolokaCreateBonusesOperator`` run twice (a retry) charges the requester balance exactly once.

Waits poll with generous deadlines; the crowd runs fast.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pytest

from toloka_provider.client import TolokaClient
from toloka_provider.operators.quality import (
    TolokaCreateBonusesOperator,
    TolokaRestrictWorkersOperator,
    TolokaSetUserSkillsOperator,
)

pytestmark = pytest.mark.integration

LABELS = ["pos", "neg", "neu"]
PROJECT = {
    "public_name": "Sentiment",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True}},
        "output_spec": {"label": {"type": "string", "required": True, "allowed_values": LABELS}},
    },
    "assignments_issuing_type": "AUTOMATED",
}
CROWD = 8


def make_context(run_id: str = "run-1") -> dict:
    """A minimal task context: the run identity and an XCom sink."""
    ti = SimpleNamespace(dag_id="qc", run_id=run_id, task_id="task", map_index=-1, xcom_push=lambda **_: None)
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=run_id)}


def _wait(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.05)
    return result


def _pool(client, project_id: str, *, overlap: int, golden: bool = False, **fields) -> str:
    body = {
        "project_id": project_id, "private_name": "pool", "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600, "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": False,
        "defaults": {"default_overlap_for_new_task_suites": overlap, "default_overlap_for_new_tasks": overlap},
        "mixer_config": {"real_tasks_count": 0 if golden else 1, "golden_tasks_count": 1 if golden else 0,
                         "training_tasks_count": 0},
        **fields,
    }
    return client.create_pool(body).id


def _run_pool(client, pool_id: str, count: int, overlap: int, golden: bool = False) -> list:
    tasks = []
    for i in range(count):
        task = {"pool_id": pool_id, "input_values": {"text": f"text {i}"}, "overlap": overlap}
        if golden:
            task["known_solutions"] = [{"output_values": {"label": LABELS[i % 3]}, "correctness_weight": 1}]
        tasks.append(task)
    assert not client.create_tasks(tasks).validation_errors
    client.open_pool(pool_id)
    _wait(lambda: client.get_pool(pool_id).status.value != "OPEN", what=f"pool {pool_id} closed")
    return list(client.get_assignments(pool_id=pool_id))


def _write_statistics(assignments, path) -> dict[str, float]:
    """The per-worker statistics JSONL of an exam pool; returns each worker's golden accuracy."""
    seen, right, seconds = defaultdict(int), defaultdict(int), defaultdict(list)
    for assignment in assignments:
        for task, solution in zip(assignment.tasks, assignment.solutions, strict=True):
            seen[assignment.user_id] += 1
            right[assignment.user_id] += solution.output_values == task.known_solutions[0]["output_values"]
        seconds[assignment.user_id].append((assignment.submitted - assignment.created).total_seconds())
    with open(path, "w", encoding="utf-8") as handle:
        for user in sorted(seen):
            handle.write(json.dumps({
                "user_id": user, "assignments": len(seconds[user]), "golden_seen": seen[user],
                "golden_correct": right[user], "golden_accuracy": right[user] / seen[user],
                "accepted": 0, "rejected": 0, "median_seconds": statistics.median(seconds[user]),
            }) + "\n")
    return {user: right[user] / seen[user] for user in seen}


@pytest.fixture
def world(toloka_emulator_factory, monkeypatch, tmp_path):
    emulator = toloka_emulator_factory(seed=11, crowd=CROWD, speed=3000.0, accuracy=(0.35, 0.97), spammers=0.25,
                                       operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    client = TolokaClient(emulator.token, url=emulator.url, retries=2, timeout=10)
    project_id = client.create_project(PROJECT).id
    exam = _pool(client, project_id, overlap=CROWD, golden=True)
    accuracy = _write_statistics(_run_pool(client, exam, 30, overlap=CROWD, golden=True), tmp_path / "stats.jsonl")
    assert len(accuracy) == CROWD
    return emulator, client, project_id, str(tmp_path / "stats.jsonl"), accuracy


def test_banned_workers_stop_getting_work(world):
    _emulator, client, project_id, stats, accuracy = world
    weak = {user for user, value in accuracy.items() if value < 0.6}
    assert 1 <= len(weak) < CROWD, accuracy
    operator = TolokaRestrictWorkersOperator(task_id="ban", statistics_path=stats, scope="PROJECT",
                                             project_id=project_id, accuracy_below=0.6, min_golden=10)
    result = operator.execute(make_context())
    assert {b["user_id"] for b in result["banned"]} == weak
    assert operator.execute(make_context())["already_restricted"] == len(weak)  # a retry bans nobody twice

    work = _pool(client, project_id, overlap=CROWD)
    answered = {a.user_id for a in _run_pool(client, work, 5, overlap=CROWD - len(weak))}
    assert answered == set(accuracy) - weak


def test_skilled_routing_changes_who_answers(world):
    _emulator, client, project_id, stats, accuracy = world
    result = TolokaSetUserSkillsOperator(task_id="skill", skill_name="exam accuracy", statistics_path=stats,
                                         min_answers=10).execute(make_context())
    good = {user for user, value in accuracy.items() if value * 100 >= 70}
    assert 2 <= len(good) < CROWD, accuracy
    skill_filter = {"and": [{"or": [{"category": "skill", "key": result["skill_id"], "operator": "GTE", "value": 70}]}]}
    work = _pool(client, project_id, overlap=2, filter=skill_filter)
    answered = {a.user_id for a in _run_pool(client, work, 20, overlap=2)}
    assert answered == good


def test_bonuses_are_charged_once(world):
    _emulator, client, _project_id, stats, accuracy = world
    before = client.get_requester().balance
    operator = TolokaCreateBonusesOperator(task_id="bonus", statistics_path=stats, top_n=3, amount="0.30",
                                           max_total="0.90", min_golden=10)
    first = operator.execute(make_context())
    assert first["created"] == 3 and first["total"] == "0.90"
    after_first = client.get_requester().balance
    second = operator.execute(make_context())
    assert second["created"] == 0 and second["already_paid"] == 3 and second["paid_total"] == "0.90"
    assert before - after_first == Decimal("0.90") and client.get_requester().balance == after_first
    paid = {b.user_id for b in client.get_user_bonuses()}
    top = sorted(accuracy, key=lambda user: (-accuracy[user], user))[:3]
    assert len(list(client.get_user_bonuses())) == 3 and paid == set(top)
