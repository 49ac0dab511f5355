"""Crowd simulation over the bare store (no HTTP): overlap, golden accuracy, close reasons, reproducibility.

The crowd is driven tick by tick with ``run_once(budget=...)`` instead of its thread, so every count below
is exact for the fixed seed.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from toloka_provider.emulator.crowd import Crowd, make_workers
from toloka_provider.emulator.errors import ApiError
from toloka_provider.emulator.state import EmulatorOptions, State, format_datetime
from toloka_provider.emulator.truth import load_truth, pseudo_truth, wrong_value

OUTPUT_SPEC = {
    "label": {"type": "string", "required": True, "allowed_values": ["cat", "dog", "bird"]},
    "sure": {"type": "boolean", "required": True},
    "score": {"type": "integer", "min_value": 1, "max_value": 5},
}


def make_pool(
    state: State,
    *,
    real: int = 30,
    golden: int = 6,
    overlap: int = 3,
    reward: str = "0.02",
    auto_accept: bool = False,
    will_expire: str = "2099-01-01T00:00:00",
    open_pool: bool = True,
    **pool_fields,
) -> dict:
    project = state.create(
        "projects",
        {"public_name": "Animals", "task_spec": {"input_spec": {"image": {"type": "url"}}, "output_spec": OUTPUT_SPEC}},
    )
    pool = state.create(
        "pools",
        {
            "project_id": project["id"],
            "private_name": "pool",
            "reward_per_assignment": float(reward),
            "will_expire": will_expire,
            "defaults": {"default_overlap_for_new_task_suites": overlap},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
            "auto_accept_solutions": auto_accept,
            "status": "CLOSED",
            **pool_fields,
        },
    )
    for index in range(real):
        state.create("tasks", {"pool_id": pool["id"], "input_values": {"image": f"https://img/{index}"}, "overlap": overlap})
    for index in range(golden):
        state.create(
            "tasks",
            {
                "pool_id": pool["id"],
                "input_values": {"image": f"https://golden/{index}"},
                "known_solutions": [{"output_values": {"label": "dog", "sure": True, "score": 3}, "correctness_weight": 1}],
                "infinite_overlap": True,
            },
        )
    if open_pool:
        state.set_pool_status("pools", pool["id"], "OPEN")
    return pool


def drive(crowd: Crowd, pool: dict, *, budget: int = 7, max_ticks: int = 500) -> int:
    for tick in range(max_ticks):
        crowd.run_once(budget=budget)
        if pool["status"] != "OPEN":
            return tick
    raise AssertionError(f"pool {pool['id']} still open after {max_ticks} ticks")


def new_state(**options) -> State:
    defaults = {"seed": 7, "crowd": 20, "accuracy": (0.6, 0.9), "spammers": 0.1, "balance": Decimal("1000")}
    defaults.update(options)
    return State(EmulatorOptions(**defaults))


def answers_table(state: State) -> list[tuple]:
    return sorted(
        (a["user_id"], t["input_values"]["image"], json.dumps(s["output_values"], sort_keys=True))
        for a in state.assignments.values()
        for t, s in zip(a["tasks"], a["solutions"], strict=True)
    )


def test_workers_are_fixed_by_seed():
    workers = make_workers(3, 10, (0.5, 0.9), 0.2)
    assert workers == make_workers(3, 10, (0.5, 0.9), 0.2)
    assert workers != make_workers(4, 10, (0.5, 0.9), 0.2)
    assert sum(worker.spammer for worker in workers) == 2
    assert all(0.5 <= worker.accuracy <= 0.9 for worker in workers)
    assert len({worker.user_id for worker in workers}) == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "crowd must be >= 0"),
        ({"accuracy": (0.9, 0.5)}, "accuracy must be"),
        ({"spammers": 1.5}, "spammers must be"),
    ],
)
def test_bad_crowd_options_are_named(kwargs, message):
    arguments = {"seed": 0, "count": 5, "accuracy": (0.5, 0.9), "spammers": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_workers(**arguments)


def test_pool_with_golden_tasks_completes_with_exact_overlap():
    state = new_state()
    pool = make_pool(state, real=30, golden=6, overlap=3)
    crowd = Crowd(state)
    drive(crowd, pool)

    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "COMPLETED")
    per_task = Counter()
    for assignment in state.assignments.values():
        assert assignment["status"] == "SUBMITTED"
        assert assignment["reward"] == 0.02
        task_ids = [task["id"] for task in assignment["tasks"]]
        assert len(task_ids) == len(set(task_ids))
        assert len(assignment["solutions"]) == len(task_ids)
        for solution in assignment["solutions"]:
            assert set(solution["output_values"]) == set(OUTPUT_SPEC)
            assert solution["output_values"]["label"] in ("cat", "dog", "bird")
            assert isinstance(solution["output_values"]["sure"], bool)
            assert 1 <= solution["output_values"]["score"] <= 5
        per_task.update(task_ids)
    real_ids = [task_id for task_id in state.pool_index("tasks", pool["id"]) if not state.tasks[task_id].get("known_solutions")]
    assert {per_task[task_id] for task_id in real_ids} == {3}
    assert all(state.tasks[task_id]["remaining_overlap"] == 0 for task_id in real_ids)
    # A worker never does the same task twice.
    pairs = Counter((a["user_id"], t["id"]) for a in state.assignments.values() for t in a["tasks"])
    assert max(pairs.values()) == 1
    # Every suite carries a golden task while one is left for the worker.
    assert sum(1 for a in state.assignments.values() if any(t.get("known_solutions") for t in a["tasks"])) > 0


def test_golden_accuracy_matches_worker_accuracy():
    state = new_state(seed=11, crowd=10, accuracy=(0.7, 0.7), spammers=0.0)
    pool = make_pool(state, real=400, golden=60, overlap=1)
    drive(Crowd(state), pool, budget=50)
    golden_answers = [
        solution["output_values"]["label"] == "dog"
        for assignment in state.assignments.values()
        for task, solution in zip(assignment["tasks"], assignment["solutions"], strict=True)
        if task.get("known_solutions")
    ]
    # Fixed seed: the exact counts never change; the rate is the configured accuracy within sampling noise.
    assert len(golden_answers) == 100
    correct = sum(golden_answers)
    assert correct == 76  # draws keyed on (seed, pool, n) and the input values (the determinism change)
    assert 0.6 <= correct / len(golden_answers) <= 0.8


def test_spammers_answer_at_random():
    state = new_state(seed=5, crowd=10, accuracy=(1.0, 1.0), spammers=1.0)
    pool = make_pool(state, real=200, golden=0, overlap=1)
    drive(Crowd(state), pool, budget=50)
    labels = Counter(s["output_values"]["label"] for a in state.assignments.values() for s in a["solutions"])
    assert set(labels) == {"cat", "dog", "bird"}
    assert min(labels.values()) > 40


def test_same_seed_same_answers_whatever_the_tick_sizes():
    first, second, third = new_state(), new_state(), new_state(seed=8)
    for state, budget in ((first, 3), (second, 11), (third, 3)):
        pool = make_pool(state)
        drive(Crowd(state), pool, budget=budget)
    assert answers_table(first) == answers_table(second)
    assert answers_table(first) != answers_table(third)


def test_not_enough_balance_closes_the_pool():
    # 30 real tasks * overlap 3 / 4 per suite = 23 assignments at 0.10 would cost 2.30; the balance is 1.00.
    state = new_state(balance=Decimal("1.00"))
    pool = make_pool(state, reward="0.10")
    drive(Crowd(state), pool)
    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "NOT_ENOUGH_BALANCE")
    assert len(state.assignments) == 10  # 10 * 0.10 undecided rewards use up the balance exactly
    assert state.balance == Decimal("1.00")  # nothing accepted yet, nothing charged


def test_pool_expires_when_the_clock_passes_will_expire():
    state = new_state()
    pool = make_pool(state, will_expire=format_datetime(state.now() + timedelta(minutes=30)))
    crowd = Crowd(state)
    crowd.pause()
    crowd.run_once()
    assert pool["status"] == "OPEN"
    state.advance_clock(3600)
    crowd.run_once()
    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "EXPIRED")


def test_auto_accept_after_the_review_period_charges_once():
    state = new_state(balance=Decimal("10"))
    pool = make_pool(state, real=8, golden=0, overlap=1, reward="0.50", auto_accept_period_day=2)
    crowd = Crowd(state)
    drive(crowd, pool)
    submitted = [a for a in state.assignments.values() if a["status"] == "SUBMITTED"]
    assert len(submitted) == 2
    # The requester rejects one; the other is left for the automatic decision.
    state.decide_assignment(submitted[0]["id"], "REJECTED", "wrong")
    state.advance_clock(86400 * 2 - 60)
    crowd.run_once()
    assert submitted[1]["status"] == "SUBMITTED"
    state.advance_clock(120)
    crowd.run_once()
    assert submitted[1]["status"] == "ACCEPTED"
    assert submitted[0]["status"] == "REJECTED"
    assert state.balance == Decimal("9.50")
    assert state.double_decisions == 0


def test_auto_accept_waits_when_the_money_was_spent_elsewhere():
    """Bonuses spent what the crowd's submitted work would be paid with: the automatic acceptance leaves those
    assignments SUBMITTED (the balance never goes negative), fails nothing, and pays once money is there."""
    state = new_state(balance=Decimal("10"))
    pool = make_pool(state, real=8, golden=0, overlap=1, reward="0.50", auto_accept_period_day=2)
    crowd = Crowd(state)
    drive(crowd, pool)
    submitted = [a for a in state.assignments.values() if a["status"] == "SUBMITTED"]
    assert len(submitted) == 2
    state.charge(Decimal("9.75"), "Bonuses")
    with pytest.raises(ApiError) as refused:
        state.charge(Decimal("0.50"), "One more bonus")
    assert (refused.value.status, refused.value.code) == (409, "NOT_ENOUGH_BALANCE")
    state.advance_clock(86400 * 2 + 60)
    crowd.run_once()
    assert [a["status"] for a in submitted] == ["SUBMITTED", "SUBMITTED"]
    assert state.balance == Decimal("0.25") and state.assignments_accepted == 0
    assert pool.get("last_close_reason") != "BLOCKED"
    state.balance += Decimal("1")  # money comes in
    crowd.run_once()
    assert [a["status"] for a in submitted] == ["ACCEPTED", "ACCEPTED"]
    assert state.balance == Decimal("0.25") and state.double_decisions == 0


def test_auto_accept_solutions_true_accepts_on_submit():
    state = new_state(balance=Decimal("10"))
    pool = make_pool(state, real=8, golden=0, overlap=1, reward="0.25", auto_accept=True)
    drive(Crowd(state), pool)
    assert {a["status"] for a in state.assignments.values()} == {"ACCEPTED"}
    assert state.balance == Decimal("9.50")


def test_completion_waits_for_the_auto_close_delay():
    state = new_state()
    pool = make_pool(state, real=4, golden=0, overlap=1, auto_close_after_complete_delay_seconds=600)
    crowd = Crowd(state)
    for _ in range(5):
        crowd.run_once(budget=5)
    assert pool["status"] == "OPEN"
    state.advance_clock(601)
    crowd.run_once(budget=5)
    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "COMPLETED")


def test_paused_crowd_takes_nothing():
    state = new_state()
    pool = make_pool(state)
    crowd = Crowd(state)
    crowd.pause()
    crowd.run_once(budget=50)
    assert len(state.assignments) == 0
    crowd.resume()
    crowd.run_once(budget=5)
    assert [a["status"] for a in state.assignments.values()] == ["ACTIVE"] * 5
    assert all("solutions" not in a for a in state.assignments.values())
    assert pool["status"] == "OPEN"


def test_truth_file_answers(tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    lines = [
        {"input_values": {"image": f"https://img/{index}"}, "output_values": {"label": "bird", "sure": False, "score": 2}}
        for index in range(30)
    ]
    truth_path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    state = new_state(truth=str(truth_path), accuracy=(1.0, 1.0), spammers=0.0)
    pool = make_pool(state, golden=0)
    drive(Crowd(state), pool)
    values = {json.dumps(s["output_values"], sort_keys=True) for a in state.assignments.values() for s in a["solutions"]}
    assert values == {json.dumps({"label": "bird", "score": 2, "sure": False}, sort_keys=True)}


def test_truth_csv_and_errors(tmp_path):
    csv_path = tmp_path / "truth.csv"
    csv_path.write_text("INPUT:image,n,OUTPUT:label,OUTPUT:score\nhttps://a,3,cat,4\n")
    table = load_truth(csv_path)
    assert table.lookup({"image": "https://a", "n": 3}) == {"label": "cat", "score": "4"}
    assert table.correct_value({"image": "https://a", "n": 3}, "score", {"type": "integer"}) == 4
    bad = tmp_path / "bad.csv"
    bad.write_text("image,label\nx,y\n")
    with pytest.raises(ValueError, match=r"OUTPUT:<field>"):
        load_truth(bad)
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"input_values": {}}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_truth(bad_jsonl)


def test_pseudo_truth_and_wrong_values_fit_the_spec():
    for spec in OUTPUT_SPEC.values():
        correct = pseudo_truth({"image": "x"}, "f", spec)
        assert correct == pseudo_truth({"image": "x"}, "f", spec)
        assert wrong_value(correct, spec, "a") != correct
    assert isinstance(pseudo_truth({}, "tags", {"type": "array_string", "max_size": 2}), list)
