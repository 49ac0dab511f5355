"""One bad pool never stops the simulated crowd for the others.

Non-finite numbers cannot come in over HTTP any more (see ``test_emulator_hostile.py``), so the bad values
are put straight into the store, as a user's test poking ``emulator.state`` (or a future endpoint that
forgets a check) would. The bad pool is logged with its traceback and closed ``BLOCKED``; the good pool is
worked to ``COMPLETED`` and the balance stays a finite number charged for the good pool only.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.crowd import Crowd
from toloka_provider.emulator.state import EmulatorOptions, State

pytestmark = pytest.mark.integration

OUTPUT_SPEC = {"label": {"type": "string", "required": True, "allowed_values": ["yes", "no"]}}


class Api:
    def __init__(self, emulator: TolokaEmulator) -> None:
        self.url = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"ApiKey {emulator.token}"

    def call(self, method: str, path: str, expected: int = 200, **kwargs):
        response = self.session.request(method, self.url + path, timeout=10, **kwargs)
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        )
        return response.json() if response.content else None

    def make_pool(self, reward: float = 0.01, tasks: int = 20) -> str:
        project = self.call(
            "POST",
            "/api/v1/projects",
            201,
            json={
                "public_name": "Yes or no",
                "task_spec": {"input_spec": {"text": {"type": "string"}}, "output_spec": OUTPUT_SPEC},
                "assignments_issuing_type": "AUTOMATED",
            },
        )
        pool = self.call(
            "POST",
            "/api/v1/pools",
            201,
            json={
                "project_id": project["id"],
                "private_name": "pool",
                "reward_per_assignment": reward,
                "assignment_max_duration_seconds": 600,
                "will_expire": "2099-01-01T00:00:00",
                "defaults": {"default_overlap_for_new_task_suites": 1, "default_overlap_for_new_tasks": 1},
            },
        )
        body = [
            {"pool_id": pool["id"], "input_values": {"text": f"t{i}"}, "overlap": 1} for i in range(tasks)
        ]
        self.call("POST", "/api/v1/tasks", 201, json=body)
        return pool["id"]

    def wait_closed(self, pool_id: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while (pool := self.call("GET", f"/api/v1/pools/{pool_id}"))["status"] == "OPEN":
            assert time.monotonic() < deadline, f"pool {pool_id} still OPEN after {timeout}s"
            time.sleep(0.02)
        return pool


@pytest.fixture
def emu():
    emulator = TolokaEmulator(seed=1, crowd=5, speed=5000.0, spammers=0.0).start()
    yield emulator
    emulator.stop()


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("reward_per_assignment", float("nan")),
        ("reward_per_assignment", "twelve"),
        ("reward_per_assignment", {"amount": 1}),
        ("mixer_config", "garbage"),
        ("auto_close_after_complete_delay_seconds", "soon"),
    ],
)
def test_a_broken_pool_is_closed_blocked_and_the_others_complete(emu, caplog, field, bad):
    api = Api(emu)
    api.call("POST", "/_emulator/crowd/pause")
    bad_pool, good_pool = api.make_pool(), api.make_pool()
    for pool_id in (bad_pool, good_pool):
        api.call("POST", f"/api/v1/pools/{pool_id}/open", 202)
    with emu.state.lock:
        emu.state.pools[bad_pool][field] = bad
    with caplog.at_level(logging.ERROR, logger="toloka_provider.emulator.crowd"):
        api.call("POST", "/_emulator/crowd/resume")
        good = api.wait_closed(good_pool)
        bad_view = api.wait_closed(bad_pool)
    assert (good["status"], good["last_close_reason"]) == ("CLOSED", "COMPLETED")
    assert (bad_view["status"], bad_view["last_close_reason"]) == ("CLOSED", "BLOCKED")
    failures = [r for r in caplog.records if r.exc_info and bad_pool in r.getMessage()]
    assert failures, caplog.text
    assert "closing it" in failures[0].getMessage()
    good_assignments = api.call("GET", "/api/v1/assignments", params={"pool_id": good_pool, "limit": 1000})[
        "items"
    ]
    assert len(good_assignments) == 20 and {a["status"] for a in good_assignments} == {"ACCEPTED"}
    balance = Decimal(str(api.call("GET", "/api/v1/requester")["balance"]))
    assert balance.is_finite()
    bad_accepted = [
        a for a in emu.state.assignments.values() if a["pool_id"] == bad_pool and a["status"] == "ACCEPTED"
    ]
    charged_bad = sum(
        Decimal(str(a["reward"])) for a in bad_accepted
    )  # only a field that broke after charging
    assert balance == Decimal("1000") - Decimal("0.01") * 20 - charged_bad
    # The crowd thread is still alive and works a pool opened afterwards.
    later = api.make_pool(tasks=3)
    api.call("POST", f"/api/v1/pools/{later}/open", 202)
    assert api.wait_closed(later)["last_close_reason"] == "COMPLETED"


def test_an_absurd_but_finite_reward_closes_only_its_pool(emu):
    api = Api(emu)
    api.call("POST", "/_emulator/crowd/pause")
    rich, normal = api.make_pool(reward=1e300), api.make_pool()
    for pool_id in (rich, normal):
        api.call("POST", f"/api/v1/pools/{pool_id}/open", 202)
    api.call("POST", "/_emulator/crowd/resume")
    assert api.wait_closed(rich)["last_close_reason"] == "NOT_ENOUGH_BALANCE"
    assert api.wait_closed(normal)["last_close_reason"] == "COMPLETED"
    assert api.call("GET", "/api/v1/requester")["balance"] == pytest.approx(1000 - 0.2)


@pytest.mark.parametrize("reward", [float("nan"), float("inf"), "abc"])
def test_a_reward_that_cannot_be_charged_fails_its_pool_at_submission_only(caplog, reward):
    # Driven tick by tick over the bare store: the assignment's own reward goes bad between issue and submit.
    state = State(EmulatorOptions(seed=2, crowd=3, spammers=0.0))
    crowd = Crowd(state)
    pools = []
    for _ in range(2):
        project = state.create("projects", {"public_name": "p", "task_spec": {"output_spec": OUTPUT_SPEC}})
        pool = state.create(
            "pools",
            {
                "project_id": project["id"],
                "reward_per_assignment": 0.5,
                "will_expire": "2099-01-01T00:00:00",
                "defaults": {"default_overlap_for_new_task_suites": 1},
                "status": "OPEN",
            },
        )
        state.create("tasks", {"pool_id": pool["id"], "input_values": {"text": "x"}, "overlap": 1})
        pools.append(pool["id"])
    assert crowd.run_once(budget=2) == 2
    bad_pool, good_pool = pools
    active = {a["pool_id"]: a for a in state.assignments.values()}
    active[bad_pool]["reward"] = reward
    with caplog.at_level(logging.ERROR, logger="toloka_provider.emulator.crowd"):
        crowd.run_once(budget=0)
    assert state.pools[bad_pool]["last_close_reason"] == "BLOCKED"
    assert active[good_pool]["status"] == "ACCEPTED"
    assert active[bad_pool]["status"] == "SUBMITTED"  # nothing changed by the charge that failed
    assert state.balance == Decimal("1000") - Decimal("0.5")
    assert any(r.exc_info and bad_pool in r.getMessage() for r in caplog.records)
    crowd.run_once(budget=0)  # and the next tick is clean
    assert state.pools[good_pool]["last_close_reason"] == "COMPLETED"
