"""The simulated crowd seen over HTTP (``requests``, not our client) against the in-process emulator.

Waits poll the emulator with short sleeps and a bounded deadline; the crowd runs fast (``speed`` high)
so each test finishes in well under a second of crowd time.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.state import format_datetime, parse_datetime

pytestmark = pytest.mark.integration

OUTPUT_SPEC = {"label": {"type": "string", "required": True, "allowed_values": ["positive", "negative", "neutral"]}}


class Api:
    def __init__(self, emulator: TolokaEmulator) -> None:
        self.url = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"OAuth {emulator.token}"

    def call(self, method: str, path: str, expected: int = 200, **kwargs):
        response = self.session.request(method, self.url + path, timeout=10, **kwargs)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None

    def wait_pool_closed(self, pool_id: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            pool = self.call("GET", f"/api/v1/pools/{pool_id}")
            if pool["status"] != "OPEN":
                return pool
            assert time.monotonic() < deadline, f"pool {pool_id} still OPEN after {timeout}s"
            time.sleep(0.02)

    def all_assignments(self, pool_id: str) -> list[dict]:
        return self.call("GET", "/api/v1/assignments", params={"pool_id": pool_id, "limit": 100000})["items"]

    def emulator_now(self):
        return parse_datetime(self.call("GET", "/_emulator/health")["now"])

    def make_pool(self, *, real=100, golden=10, overlap=3, reward=0.01, open_pool=True, **pool_fields) -> str:
        project = self.call(
            "POST",
            "/api/v1/projects",
            201,
            json={
                "public_name": "Sentiment",
                "public_description": "Label the sentiment",
                "task_spec": {"input_spec": {"text": {"type": "string"}}, "output_spec": OUTPUT_SPEC},
                "assignments_issuing_type": "AUTOMATED",
            },
        )
        body = {
            "project_id": project["id"],
            "private_name": "sentiment pool",
            "reward_per_assignment": reward,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_task_suites": overlap, "default_overlap_for_new_tasks": overlap},
            "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
            "auto_accept_solutions": False,
            **pool_fields,
        }
        pool = self.call("POST", "/api/v1/pools", 201, json=body)
        tasks = [{"pool_id": pool["id"], "input_values": {"text": f"review {i}"}, "overlap": overlap} for i in range(real)]
        tasks += [
            {
                "pool_id": pool["id"],
                "input_values": {"text": f"golden {i}"},
                "known_solutions": [{"output_values": {"label": "positive"}, "correctness_weight": 1}],
                "infinite_overlap": True,
            }
            for i in range(golden)
        ]
        self.call("POST", "/api/v1/tasks", 201, json=tasks)
        if open_pool:
            self.call("POST", f"/api/v1/pools/{pool['id']}/open", 202)
        return pool["id"]


@pytest.fixture
def emulator_factory():
    started = []

    def start(**options) -> TolokaEmulator:
        defaults = {"seed": 3, "crowd": 15, "speed": 5000.0, "accuracy": (0.6, 0.9), "spammers": 0.1}
        defaults.update(options)
        emulator = TolokaEmulator(**defaults).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def test_pool_completes_with_every_task_at_its_overlap(emulator_factory):
    api = Api(emulator_factory())
    pool_id = api.make_pool(real=100, golden=10, overlap=3)
    pool = api.wait_pool_closed(pool_id)
    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "COMPLETED")

    assignments = api.all_assignments(pool_id)
    assert {a["status"] for a in assignments} == {"SUBMITTED"}
    per_task = Counter(t["input_values"]["text"] for a in assignments for t in a["tasks"])
    assert {per_task[f"review {i}"] for i in range(100)} == {3}
    assert all(len(a["solutions"]) == len(a["tasks"]) for a in assignments)
    assert all(set(s["output_values"]) == {"label"} for a in assignments for s in a["solutions"])
    assert {a["reward"] for a in assignments} == {0.01}
    tasks = api.call("GET", "/api/v1/tasks", params={"pool_id": pool_id, "limit": 300})["items"]
    assert {t["remaining_overlap"] for t in tasks if not t.get("known_solutions")} == {0}

    completion = api.call(
        "POST",
        "/api/staging/analytics-2",
        202,
        json=[
            {"subject": "POOL", "subject_id": pool_id, "name": "completion_percentage"},
            {"subject": "POOL", "subject_id": pool_id, "name": "submitted_assignments_count"},
            {"subject": "POOL", "subject_id": pool_id, "name": "real_tasks_count"},
        ],
    )
    assert completion["type"] == "ANALYTICS"
    deadline = time.monotonic() + 5
    while (operation := api.call("GET", f"/api/v1/operations/{completion['id']}"))["status"] != "SUCCESS":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    results = [entry["result"] for entry in operation["details"]["value"]]
    assert results == [
        {"type": "NORMAL", "value": 100, "infinite": False, "approximate": False},
        len(assignments),
        100,
    ]


def test_same_seed_gives_the_same_answers(emulator_factory):
    tables = []
    for seed in (21, 21, 22):
        api = Api(emulator_factory(seed=seed))
        pool_id = api.make_pool(real=40, golden=5, overlap=2)
        api.wait_pool_closed(pool_id)
        tables.append(
            sorted(
                (a["user_id"], t["input_values"]["text"], s["output_values"]["label"])
                for a in api.all_assignments(pool_id)
                for t, s in zip(a["tasks"], a["solutions"], strict=True)
            )
        )
    assert tables[0] == tables[1]
    assert tables[0] != tables[2]


def test_not_enough_balance(emulator_factory):
    api = Api(emulator_factory(balance=Decimal("0.50")))
    pool_id = api.make_pool(real=40, golden=0, overlap=1, reward=0.1)
    pool = api.wait_pool_closed(pool_id)
    assert pool["last_close_reason"] == "NOT_ENOUGH_BALANCE"
    # Five undecided assignments at 0.10 hold the whole balance; nothing has been charged yet.
    assert len(api.all_assignments(pool_id)) == 5
    assert api.call("GET", "/api/v1/requester")["balance"] == 0.5


def test_pool_expires_when_the_clock_is_advanced(emulator_factory):
    api = Api(emulator_factory())
    api.call("POST", "/_emulator/crowd/pause")
    will_expire = format_datetime(api.emulator_now() + timedelta(hours=1))
    pool_id = api.make_pool(real=10, golden=0, overlap=1, will_expire=will_expire)
    assert api.call("GET", f"/api/v1/pools/{pool_id}")["status"] == "OPEN"
    api.call("POST", "/_emulator/clock/advance", json={"seconds": 7200})
    pool = api.wait_pool_closed(pool_id)
    assert (pool["status"], pool["last_close_reason"]) == ("CLOSED", "EXPIRED")
    assert api.all_assignments(pool_id) == []


def test_auto_accept_after_the_review_period(emulator_factory):
    emulator = emulator_factory(balance=Decimal("100"))
    api = Api(emulator)
    pool_id = api.make_pool(real=20, golden=0, overlap=1, reward=0.5, auto_accept_period_day=1)
    api.wait_pool_closed(pool_id)
    assignments = api.all_assignments(pool_id)
    assert len(assignments) == 5 and {a["status"] for a in assignments} == {"SUBMITTED"}
    api.call("PATCH", f"/api/v1/assignments/{assignments[0]['id']}", json={"status": "ACCEPTED", "public_comment": "ok"})
    api.call("POST", "/_emulator/clock/advance", json={"seconds": 86400 + 60})
    deadline = time.monotonic() + 10
    while {a["status"] for a in api.all_assignments(pool_id)} != {"ACCEPTED"}:
        assert time.monotonic() < deadline, "assignments not auto-accepted"
        time.sleep(0.02)
    assert api.call("GET", "/api/v1/requester")["balance"] == 97.5
    counters = api.call("GET", "/_emulator/counters")
    assert counters["double_decisions"] == 0
    assert counters["assignments_accepted"] == 5
