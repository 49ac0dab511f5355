"""The crowd's outcomes are a function of the seed and of the API calls, not of timing.

Who takes which assignment, which tasks it holds and what the worker answers must not move with the machine's
load, the crowd's speed, the pauses between API calls, how the work falls into ticks, or the order in which
two independent uploads ran (Airflow's ``dag.test()`` runs ready tasks in set order, so ``upload_tasks`` and
``upload_golden`` of one DAG swap places between runs). Over the bare store the crowd is driven tick by tick;
over HTTP its own thread runs at two speeds, with and without random pauses and a busy thread beside it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from decimal import Decimal

import pytest
import requests

from toloka_provider.emulator.crowd import Crowd
from toloka_provider.emulator.state import EmulatorOptions, State

OUTPUT_SPEC = {
    "label": {"type": "string", "required": True, "allowed_values": ["cat", "dog", "bird", "fish"]}
}
GOLDEN_ANSWER = [{"output_values": {"label": "dog"}, "correctness_weight": 1}]


def _state(**options) -> State:
    defaults = {"seed": 7, "crowd": 12, "accuracy": (0.55, 0.95), "spammers": 0.2, "balance": Decimal("1000")}
    return State(EmulatorOptions(**{**defaults, **options}))


def _pool(state: State, *, real: int = 40, golden: int = 6, golden_first: bool = False) -> dict:
    project = state.create(
        "projects",
        {
            "public_name": "Animals",
            "task_spec": {"input_spec": {"image": {"type": "url"}}, "output_spec": OUTPUT_SPEC},
        },
    )
    pool = state.create(
        "pools",
        {
            "project_id": project["id"],
            "private_name": "pool",
            "reward_per_assignment": 0.02,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_tasks": 3},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
            "auto_accept_solutions": False,
            "status": "CLOSED",
        },
    )
    reals = [
        {"pool_id": pool["id"], "input_values": {"image": f"https://img/{i}"}, "overlap": 3}
        for i in range(real)
    ]
    goldens = [
        {
            "pool_id": pool["id"],
            "input_values": {"image": f"https://golden/{i}"},
            "known_solutions": GOLDEN_ANSWER,
            "infinite_overlap": True,
        }
        for i in range(golden)
    ]
    for task in (goldens + reals) if golden_first else (reals + goldens):
        state.create("tasks", task)
    state.set_pool_status("pools", pool["id"], "OPEN")
    return pool


def _drive(crowd: Crowd, pool: dict, budgets: list[int]) -> None:
    for tick in range(2000):
        crowd.run_once(budget=budgets[tick % len(budgets)])
        if pool["status"] != "OPEN":
            return
    raise AssertionError(f"pool {pool['id']} still open")


def _by_assignment(state: State) -> list[tuple]:
    """Each assignment in creation order: worker, the input values it held (in order) and the answers."""
    return [
        (
            a["user_id"],
            tuple(t["input_values"]["image"] for t in a["tasks"]),
            tuple(json.dumps(s["output_values"], sort_keys=True) for s in a["solutions"]),
        )
        for a in sorted(state.assignments.values(), key=lambda a: a["id"])
    ]


def test_how_the_work_falls_into_ticks_changes_nothing():
    outcomes = []
    # One assignment per tick; everything at once; ticks that use up their budget exactly, with or without an
    # empty tick after them (a tick that finds nobody to give work to must draw nothing); uneven ticks.
    for budgets in ([1], [1000], [5], [5, 0], [3, 0, 7, 0, 0, 2]):
        state = _state()
        pool = _pool(state)
        crowd = Crowd(state)
        _drive(crowd, pool, budgets)
        # A second round in the same pool: copies of every third task, reopened (the draws go on from there).
        for index in range(0, 40, 3):
            state.create(
                "tasks",
                {"pool_id": pool["id"], "input_values": {"image": f"https://img/{index}"}, "overlap": 2},
            )
        state.set_pool_status("pools", pool["id"], "OPEN")
        _drive(crowd, pool, budgets)
        assert pool["last_close_reason"] == "COMPLETED"
        outcomes.append(_by_assignment(state))
    assert len(outcomes[0]) == 30 + 8  # 40 tasks x 3 / 4 per page; 14 copies x 2 (the last pages not full)
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])


def test_the_order_of_two_uploads_changes_no_answer():
    outcomes = []
    for golden_first in (False, True):
        state = _state()
        pool = _pool(state, golden_first=golden_first)
        _drive(Crowd(state), pool, [5])
        outcomes.append(_by_assignment(state))
    # The task ids differ (the other upload took the first numbers); who did what and what they answered do not.
    assert outcomes[0] == outcomes[1]


def test_another_seed_is_another_crowd():
    outcomes = []
    for seed in (7, 8):
        state = _state(seed=seed)
        pool = _pool(state)
        _drive(Crowd(state), pool, [5])
        outcomes.append(_by_assignment(state))
    assert outcomes[0] != outcomes[1]


def test_the_same_inputs_asked_again_get_a_fresh_draw():
    # One worker who is right half the time, asked the same picture 40 times (copies of one task): the answers are
    # drawn per asking, not fixed by the picture.
    state = _state(crowd=1, accuracy=(0.5, 0.5), spammers=0.0)
    pool = _pool(state, real=0, golden=0)
    for _ in range(40):
        state.create(
            "tasks", {"pool_id": pool["id"], "input_values": {"image": "https://img/same"}, "overlap": 1}
        )
    _drive(Crowd(state), pool, [50])
    labels = [answer for _, _, answers in _by_assignment(state) for answer in answers]
    assert len(labels) == 40
    assert 2 <= len(set(labels)) <= 4


# ----------------------------------------------------------------------------------------------- over HTTP
class _Api:
    def __init__(self, emulator, pause: float, rng: random.Random) -> None:
        self.base = emulator.url + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"OAuth {emulator.token}"
        self.pause = pause
        self.rng = rng

    def __call__(self, method: str, path: str, expected: int = 200, **kwargs):
        if self.pause:
            time.sleep(self.rng.random() * self.pause)
        response = self.session.request(method, self.base + path, timeout=30, **kwargs)
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        )
        return response.json() if response.content else None

    def run_pool(self, pool_id: str) -> None:
        self("POST", f"/pools/{pool_id}/open", 202)
        deadline = time.monotonic() + 60
        while self("GET", f"/pools/{pool_id}")["status"] == "OPEN":
            assert time.monotonic() < deadline, f"pool {pool_id} still open after 60 s"
            time.sleep(0.01 + self.rng.random() * self.pause)


def _scenario(factory, *, speed: float, pause: float, busy: bool) -> list[tuple]:
    """A pass, a ban, a relabel round of copies, a skill-filtered pool: what every worker did, in order."""
    emulator = factory(
        tokens=("det-token",), seed=11, crowd=15, accuracy=(0.55, 0.95), spammers=0.2, speed=speed
    )
    api = _Api(emulator, pause, random.Random(f"pauses:{speed}:{pause}"))
    stop = threading.Event()
    burner = None
    if busy:  # a busy thread beside the crowd's: its ticks come late and uneven, as on a loaded machine

        def burn() -> None:
            while not stop.is_set():
                sum(i * i for i in range(5000))

        burner = threading.Thread(target=burn, daemon=True)
        burner.start()
    try:
        project = api(
            "POST",
            "/projects",
            201,
            json={
                "public_name": "Animals",
                "task_spec": {"input_spec": {"image": {"type": "url"}}, "output_spec": OUTPUT_SPEC},
                "assignments_issuing_type": "AUTOMATED",
            },
        )["id"]
        pool_body = {
            "project_id": project,
            "private_name": "main",
            "reward_per_assignment": 0.02,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_tasks": 3, "default_overlap_for_new_task_suites": 3},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
            "auto_accept_solutions": False,
        }
        pool = api("POST", "/pools", 201, json=pool_body)["id"]
        api(
            "POST",
            "/tasks",
            201,
            json=[
                {"pool_id": pool, "input_values": {"image": f"https://img/{i}"}, "overlap": 3}
                for i in range(48)
            ],
        )
        api(
            "POST",
            "/tasks",
            201,
            json=[
                {
                    "pool_id": pool,
                    "input_values": {"image": f"https://golden/{i}"},
                    "known_solutions": GOLDEN_ANSWER,
                    "infinite_overlap": True,
                }
                for i in range(6)
            ],
        )
        api.run_pool(pool)
        first = api("GET", "/assignments", params={"pool_id": pool, "limit": 1000})["items"]
        banned = sorted({a["user_id"] for a in first})[0]
        api(
            "PUT",
            "/user-restrictions",
            200,
            json={"scope": "PROJECT", "project_id": project, "user_id": banned},
        )
        api(
            "POST",
            "/tasks",
            201,
            json=[
                {"pool_id": pool, "input_values": {"image": f"https://img/{i}"}, "overlap": 2}
                for i in range(0, 48, 3)
            ],
        )
        api.run_pool(pool)
        skill = api("POST", "/skills", 201, json={"name": "good"})["id"]
        workers = sorted({a["user_id"] for a in first} - {banned})
        for user in workers[::2]:
            api("PUT", "/user-skills", 200, json={"skill_id": skill, "user_id": user, "value": 90})
        skilled_pool = api(
            "POST",
            "/pools",
            201,
            json={
                **pool_body,
                "private_name": "skilled",
                "mixer_config": {"real_tasks_count": 2, "golden_tasks_count": 0, "training_tasks_count": 0},
                "filter": {"and": [{"category": "skill", "key": skill, "operator": "GTE", "value": 80}]},
            },
        )["id"]
        api(
            "POST",
            "/tasks",
            201,
            json=[
                {"pool_id": skilled_pool, "input_values": {"image": f"https://img/{i}"}, "overlap": 1}
                for i in range(10)
            ],
        )
        api.run_pool(skilled_pool)
        items = [
            a
            for p in (pool, skilled_pool)
            for a in api("GET", "/assignments", params={"pool_id": p, "limit": 1000})["items"]
        ]
    finally:
        stop.set()
        if burner is not None:
            burner.join(5)
        emulator.stop()
    assert {a["user_id"] for a in items if a["pool_id"] == skilled_pool} <= set(workers[::2])
    assert banned not in {a["user_id"] for a in items[len(first) :]}
    return [
        (
            a["id"],
            a["pool_id"],
            a["user_id"],
            a["task_suite_id"],
            tuple(t["id"] for t in a["tasks"]),
            tuple(json.dumps(s["output_values"], sort_keys=True) for s in a["solutions"]),
        )
        for a in items
    ]


@pytest.mark.integration
def test_same_calls_same_crowd_at_any_speed_with_or_without_pauses(toloka_emulator_factory):
    quick = _scenario(toloka_emulator_factory, speed=5000.0, pause=0.0, busy=False)
    again = _scenario(toloka_emulator_factory, speed=5000.0, pause=0.0, busy=False)
    slow = _scenario(toloka_emulator_factory, speed=400.0, pause=0.03, busy=True)
    assert len(quick) == 36 + 8 + 5  # 48 tasks x 3 / 4 per page; 16 copies x 2 / 4; 10 skilled tasks / 2
    assert quick == again
    assert quick == slow
