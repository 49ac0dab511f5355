"""Faults end to end: ``text_classification`` runs to success through injected faults, and does everything once.

The example DAG runs with ``dag.test()`` against the in-process emulator (as in ``tests/e2e``) while the emulator
injects, per API request:

* ``FULL_FAULTS``: 10% 5xx (4% 500, 3% 502 with an HTML body, 3% 503), 5% 429 with ``Retry-After: 1``,
  2% dropped connections, 1% "effect applied, response lost", and 50 ms latency on every request;
* ``POLLING_FAULTS``: 30% faults (8% 500, 6% 502, 6% 503, 4% 429, 6% drop) on ``GET /api/v1/pools/{id}``
  only: the pool trigger's polling (and the few other reads of the pool); the crowd works 5x faster and the
  DAG polls every 0.3 s, so that the waits are short and made of many polls.

Afterwards the emulator's state must be exactly that of a run without faults: one project, one training, one
pool; as many tasks as the files held (dataset + golden + training + the relabel rounds' copies), each ticket
in the pool exactly once per round it was asked in; every fetched assignment decided exactly once (one
successful PATCH each, no double decision), none left undecided.

The connection has ``retries: 8`` in its extras: with 18% of requests failing, a call fails its 4 default
attempts with probability 0.18**4 = 1e-3, and the run makes about 600 requests, so a task would fail (and
wait 30 s for its Airflow retry) in one run out of two; 9 attempts make that 2e-7 per call. Sleeps are real
(``Retry-After`` is honoured as sent, backoff from 0.5 s).

At 1% "lost" the three creates without an idempotency key (project, training, pool) are rarely hit in one
run, and lost upload and review answers only a few times; two deterministic tests lose them on purpose:
``test_lost_create_answers_create_one_object_each`` fails the first create of each operator (its answer lost
after the effect, or a 500 before it): still exactly one object each; and
``test_lost_answers_of_uploads_and_decisions_do_nothing_twice`` loses the first answer of every upload chunk
and every accept/reject: nothing created or decided twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from rel_a_harness import (
    CONFIGS,
    DATA,
    TOKEN,
    decided_assignments,
    load_example_dag,
    make_context,
    point_airflow_at,
    requests_by_outcome,
    use_emulator_connection,
)

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

# 10% 5xx (some 502 HTML), 5% 429 with Retry-After, 2% drop, 1% lost.
FULL_FAULTS = {"500": 0.04, "502": 0.03, "503": 0.03, "429": 0.05, "drop": 0.02, "lost": 0.01}
# The trigger's polling only: GET /api/v1/pools/<id> (the list is /api/v1/pools, without the slash).
POLLING_FAULTS = {"500": 0.08, "502": 0.06, "503": 0.06, "429": 0.04, "drop": 0.06}
POLLING_PATHS = ["/api/v1/pools/"]
CROWD = {"crowd": 30, "accuracy": (0.55, 0.95), "spammers": 0.1, "speed": 200.0, "seed": 11}


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def _run_text_classification(emulator, monkeypatch, tmp_path, poll_interval: float = 1.0) -> tuple[dict, Path, float]:
    point_airflow_at(monkeypatch, emulator, tmp_path, extras={"retries": 8}, poll_interval=poll_interval)
    dag = load_example_dag("text_classification")
    started = time.monotonic()
    run = dag.test()
    elapsed = time.monotonic() - started
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    durations = sorted(
        ((ti.end_date - ti.start_date).total_seconds(), ti.task_id) for ti in run.get_task_instances()
        if ti.start_date and ti.end_date
    )
    print("\nslowest tasks:", [(task_id, round(seconds, 1)) for seconds, task_id in durations[-6:]])
    (run_folder,) = [p.parent for p in (tmp_path / "text_classification").glob("*/run_summary.json")]
    return tries, run_folder, elapsed


def _assert_everything_done_once(emulator, run_folder: Path) -> dict:
    counters = emulator.counters()
    summary = json.loads((run_folder / "run_summary.json").read_text())
    created = counters["created"]
    assert created.get("project") == 1
    assert created.get("training") == 1
    assert created.get("pool") == 1
    assert counters["objects"]["projects"] == 1 and counters["objects"]["pools"] == 1

    # Tasks: the dataset, the golden and training tasks, and one copy per disputed ticket per round, exactly.
    rounds = sorted(run_folder.glob("relabel_round_*.jsonl"))
    round_copies = sum(_count_lines(path) for path in rounds)
    dataset = {name: _count_lines(DATA / f"{name}.jsonl") for name in ("tasks", "golden", "training")}
    assert summary["uploads"] == {"tasks": dataset["tasks"], "golden": dataset["golden"], "training": dataset["training"]}
    assert created.get("task") == sum(dataset.values()) + round_copies
    pool_id = str(summary["pool_id"])
    with emulator.state.lock:
        pool_tasks = [t for t in emulator.state.tasks.values() if str(t.get("pool_id")) == pool_id]
    per_ticket = Counter(
        t["input_values"]["ticket_id"] for t in pool_tasks if not t.get("known_solutions")
    )
    asked_again = Counter(
        json.loads(line)["input_values"]["ticket_id"]
        for path in rounds
        for line in path.read_text().splitlines()
        if line.strip()
    )
    expected = Counter({json.loads(line)["input_values"]["ticket_id"]: 1 for line in (DATA / "tasks.jsonl").read_text().splitlines() if line.strip()})
    expected.update(asked_again)
    assert per_ticket == expected

    # Assignments: every fetched one decided exactly once, none left SUBMITTED, no double decision.
    fetched_ids = {json.loads(line)["id"] for line in (run_folder / "assignments.jsonl").read_text().splitlines() if line.strip()}
    assert len(fetched_ids) == summary["assignments"]["count"]
    with emulator.state.lock:
        decided = {a["id"] for a in emulator.state.assignments.values() if a["status"] in ("ACCEPTED", "REJECTED")}
    assert decided == fetched_ids
    assert decided_assignments(emulator)["SUBMITTED"] == 0
    assert counters["double_decisions"] == 0
    assert counters["assignments_accepted"] + counters["assignments_rejected"] == len(fetched_ids)
    successful_patches = sum(
        count for key, count in counters["requests"].items() if key.startswith("PATCH /api/v1/assignments/") and key.endswith(" 200")
    )
    assert successful_patches == len(fetched_ids)
    review = summary["review"]
    assert review["failed"] == 0
    assert review["accepted"] + review["rejected"] + review["already_done"] == len(fetched_ids)
    return counters


def test_text_classification_through_faults_on_every_request(
    airflow_db, toloka_emulator_factory, monkeypatch, tmp_path
):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), faults=FULL_FAULTS, latency_ms=50, **CROWD)

    tries, run_folder, elapsed = _run_text_classification(emulator, monkeypatch, tmp_path)

    counters = _assert_everything_done_once(emulator, run_folder)
    injected = counters["faults_injected"]
    outcomes = requests_by_outcome(counters)
    # The faults really happened, of every kind.
    assert set(injected) == set(FULL_FAULTS), injected
    print(
        f"\nfull faults: {sum(outcomes.values())} requests, injected {injected}, "
        f"task tries {dict(t for t in tries.items() if t[1] > 1)}, {elapsed:.1f} s"
    )


def test_text_classification_through_faults_on_pool_polling(
    airflow_db, toloka_emulator_factory, monkeypatch, tmp_path
):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), **{**CROWD, "speed": 1000.0})
    emulator.set_faults(POLLING_FAULTS, paths=POLLING_PATHS, methods=["GET"])

    _tries, run_folder, elapsed = _run_text_classification(emulator, monkeypatch, tmp_path, poll_interval=0.3)

    counters = _assert_everything_done_once(emulator, run_folder)
    injected = counters["faults_injected"]
    polled = {k: v for k, v in counters["requests"].items() if k.startswith("GET /api/v1/pools/{")}
    faulted_elsewhere = {
        k: v for k, v in counters["requests"].items() if "fault:" in k and not k.startswith("GET /api/v1/pools/{")
    }
    assert faulted_elsewhere == {}
    assert sum(injected.values()) > 0
    print(f"\npolling faults: pool reads {polled}, injected {injected}, {elapsed:.1f} s")


@pytest.mark.parametrize("fault", ["lost", "500"])
def test_lost_create_answers_create_one_object_each(toloka_emulator_factory, monkeypatch, fault):
    """Project, training and pool creates whose first attempt fails ambiguously leave exactly one object each.

    ``lost``: the emulator creates the object, then drops the connection; the operator must find it (by its
    metadata tag) instead of creating a second one. ``500``: the fault comes before any effect; the operator
    must look, find nothing, and create it. The client does not repeat these POSTs itself (no idempotency key).
    """
    from toloka_provider.operators.pool import TolokaCreatePoolOperator
    from toloka_provider.operators.project import TolokaCreateProjectOperator
    from toloka_provider.operators.training import TolokaCreateTrainingOperator

    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0)
    use_emulator_connection(monkeypatch, emulator)
    creates = ["/api/v1/projects", "/api/v1/trainings", "/api/v1/pools"]

    def fail_first_create_per_path(operator, execute):
        """Run ``execute`` with the first create request failing with ``fault``, and only the first."""
        emulator.set_faults({fault: 1.0}, paths=creates, methods=["POST"])
        injected_before = emulator.counters()["faults_injected"].get(fault, 0)
        original = emulator.faults.pick

        def pick_once(method, path):
            kind = original(method, path)
            if kind is not None:
                emulator.clear_faults()  # only the first create of this operator fails
            return kind

        monkeypatch.setattr(emulator.faults, "pick", pick_once)
        try:
            return execute(make_context(task_id=operator.task_id))
        finally:
            monkeypatch.setattr(emulator.faults, "pick", original)
            assert emulator.counters()["faults_injected"].get(fault, 0) == injected_before + 1

    project = TolokaCreateProjectOperator(task_id="project", project=str(CONFIGS / "text_classification_project.json"))
    project_id = fail_first_create_per_path(project, project.execute)
    training = TolokaCreateTrainingOperator(
        task_id="training", training=str(CONFIGS / "text_classification_training.json"), project_id=project_id
    )
    training_id = fail_first_create_per_path(training, training.execute)
    pool = TolokaCreatePoolOperator(
        task_id="pool", pool_config=str(CONFIGS / "text_classification_pool.json"), project_id=project_id,
        training_id=training_id, expires_in=timedelta(days=1),
    )
    pool_id = fail_first_create_per_path(pool, pool.execute)

    counters = emulator.counters()
    assert counters["created"] == {"project": 1, "training": 1, "pool": 1}
    with emulator.state.lock:
        assert list(emulator.state.projects) == [project_id]
        assert list(emulator.state.trainings) == [training_id]
        assert list(emulator.state.pools) == [pool_id]
    # A retry of each task instance (Airflow's) finds the same objects and creates nothing.
    assert project.execute(make_context(task_id="project")) == project_id
    assert training.execute(make_context(task_id="training")) == training_id
    assert pool.execute(make_context(task_id="pool")) == pool_id
    assert emulator.counters()["created"] == {"project": 1, "training": 1, "pool": 1}


def test_lost_answers_of_uploads_and_decisions_do_nothing_twice(toloka_emulator_factory, monkeypatch, tmp_path):
    """Every upload chunk and every accept/reject is applied by the emulator and its first answer lost.

    The client repeats each request: an upload chunk meets OPERATION_ALREADY_EXISTS and resumes its operation;
    a decision meets 409 and the operator reads the assignment back and counts it as done (``already_done``:
    the operator cannot tell whether its own lost request or an earlier try made it). Deterministic: the first
    request of each chunk and of each decision is lost, every repetition answered.
    """
    from toloka_provider.client import TolokaClient
    from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator

    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, operation_delay=0.0)
    use_emulator_connection(monkeypatch, emulator)
    lost_decisions: set[str] = set()
    upload_posts: list[str] = []  # "lost" / "answered", in order

    def lose_first_answers(method, path):
        if method == "POST" and path == "/api/v1/tasks":
            # Every chunk is one POST, and its retry the next one: lose the 1st, 3rd, 5th ... (each chunk's first).
            upload_posts.append("lost" if len(upload_posts) % 2 == 0 else "answered")
            return "lost" if upload_posts[-1] == "lost" else None
        if method == "PATCH" and path.startswith("/api/v1/assignments/") and path not in lost_decisions:
            lost_decisions.add(path)
            return "lost"
        return None

    with TolokaClient(token=emulator.token, url=emulator.url) as client:
        project = client.create_project(json.loads((CONFIGS / "text_classification_project.json").read_text()))
        config = json.loads((CONFIGS / "text_classification_pool.json").read_text())
        config.pop("quality_control")
        config.update(project_id=project.id, will_expire="2099-01-01T00:00:00")
        pool_id = str(client.create_pool(config).id)
    monkeypatch.setattr(emulator.faults, "pick", lose_first_answers)

    uploaded = TolokaCreateTasksOperator(
        task_id="upload", pool_id=pool_id, tasks_path=str(DATA / "tasks.jsonl"), chunk_size=120, allow_defaults=True
    ).execute(make_context(task_id="upload"))

    dataset = _count_lines(DATA / "tasks.jsonl")
    assert uploaded == {"pool_id": pool_id, "created": dataset, "failed": 0, "errors_sample": {}}
    assert emulator.counters()["created"]["task"] == dataset
    with emulator.state.lock:
        tickets = Counter(t["input_values"]["ticket_id"] for t in emulator.state.tasks.values())
    assert len(tickets) == dataset and set(tickets.values()) == {1}

    emulator.bulk_load_assignments(pool_id, 16, status="SUBMITTED")
    with emulator.state.lock:
        assignments = [dict(a) for a in emulator.state.assignments.values()]
    path = tmp_path / "assignments.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    reviewed = TolokaReviewAssignmentsOperator(
        task_id="review", assignments_path=str(path), verdict="rel_a_harness.verdict_by_worker"
    ).execute(make_context(task_id="review"))

    counters = emulator.counters()
    assert upload_posts == ["lost", "answered"] * 3  # 3 chunks of 120, each sent twice
    assert len(lost_decisions) == 16
    assert counters["double_decisions"] == 0
    assert counters["assignments_accepted"] + counters["assignments_rejected"] == 16
    assert reviewed["failed"] == 0
    assert reviewed["accepted"] + reviewed["rejected"] + reviewed["already_done"] == 16
    with emulator.state.lock:
        statuses = {a["id"]: a["status"] for a in emulator.state.assignments.values()}
    from rel_a_harness import verdict_by_worker

    expected = {a["id"]: "ACCEPTED" if verdict_by_worker(a) == "accept" else "REJECTED" for a in assignments}
    assert statuses == expected


@pytest.mark.parametrize("fault", ["lost", "500"])
def test_lost_app_batch_create_answer_creates_one_batch(toloka_emulator_factory, monkeypatch, fault):
    """An App batch whose create answer is lost (or 500) exists once: a second batch would be paid twice."""
    from toloka_provider.client import TolokaClient
    from toloka_provider.operators.app import TolokaCreateAppBatchOperator

    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, operation_delay=0.0)
    use_emulator_connection(monkeypatch, emulator)
    with TolokaClient(token=emulator.token, url=emulator.url) as client:
        app_project = client.create_app_project({
            "app_id": "text-classification", "name": "tickets",
            "parameters": {"instruction_classes": [{"label": "Billing", "value": "billing"}]},
        })
    batches_path = f"/api/app/v0/app-projects/{app_project.id}/batches"
    failed: list[str] = []
    original_pick = emulator.faults.pick

    def fail_first_create(method, path):
        if method == "POST" and path == batches_path and not failed:
            failed.append(path)
            return fault
        return original_pick(method, path)

    monkeypatch.setattr(emulator.faults, "pick", fail_first_create)
    operator = TolokaCreateAppBatchOperator(
        task_id="batch", app_project_id=app_project.id, items=[{"text": f"ticket {n}"} for n in range(5)]
    )
    batch_id = operator.execute(make_context(task_id="batch"))
    assert operator.execute(make_context(task_id="batch")) == batch_id  # Airflow's retry finds it too

    assert failed == [batches_path]
    with TolokaClient(token=emulator.token, url=emulator.url) as client:
        batches = list(client.get_app_batches(app_project.id))
    assert [str(batch.id) for batch in batches] == [batch_id]
    assert batches[0].items_count == 5


@pytest.mark.parametrize("kind", ["pool", "training"])
def test_a_lost_clone_answer_is_not_repeated(toloka_emulator_factory, kind):
    """A clone whose answer is lost raises (naming the request) instead of being sent again: one clone, not two."""
    from toloka_provider.client import TolokaClient, TransportError

    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=0, operation_delay=0.0)
    with emulator.state.lock:
        source = emulator.state.create(f"{kind}s", {"project_id": "1", "private_name": "source", "status": "CLOSED"})["id"]
    emulator.set_faults({"lost": 1.0}, paths=[f"/api/v1/{kind}s/{source}/clone"], methods=["POST"])
    with TolokaClient(token=emulator.token, url=emulator.url) as client, pytest.raises(TransportError) as caught:
        getattr(client, f"clone_{kind}")(source)

    assert str(caught.value).startswith(f"POST /api/v1/{kind}s/{source}/clone failed: ")
    assert caught.value.attempts == 1
    assert emulator.counters()["objects"][f"{kind}s"] == 2  # the source and exactly one clone
