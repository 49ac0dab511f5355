"""Shared test helpers for the quality / messages / webhooks / export tests: a pool the crowd can work,
waits with generous deadlines, and the checked call ``call(api, method, path, expected, ...)``."""

from __future__ import annotations

import time
from typing import Any

from emulator_http import Api

OUTPUT_SPEC = {"label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}}


def call(api: Api, method: str, path: str, expected: int = 200, **kwargs) -> Any:
    """``/api/v1`` request that must answer ``expected``; returns the parsed JSON (None when empty)."""
    response = getattr(api, method.lower())(path, **kwargs)
    assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def control(api: Api, method: str, path: str, expected: int = 200, **kwargs) -> Any:
    response = api.session.request(method, api.emulator.url + path, timeout=10, **kwargs)
    assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def workers(api: Api) -> list[str]:
    return [worker["user_id"] for worker in control(api, "GET", "/_emulator/workers")["items"]]


def make_project(api: Api) -> str:
    project = call(
        api,
        "POST",
        "/projects",
        201,
        json={
            "public_name": "Sentiment",
            "task_spec": {"input_spec": {"text": {"type": "string"}}, "output_spec": OUTPUT_SPEC},
            "assignments_issuing_type": "AUTOMATED",
        },
    )
    return project["id"]


def make_pool(
    api: Api,
    project_id: str | None = None,
    *,
    real: int = 10,
    golden: int = 0,
    overlap: int = 2,
    open_pool: bool = True,
    **fields,
) -> str:
    """A pool of ``real`` tasks (plus ``golden`` ones with a known answer ``pos``), one task per suite."""
    project_id = project_id or make_project(api)
    body = {
        "project_id": project_id,
        "private_name": "pool",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "defaults": {
            "default_overlap_for_new_task_suites": overlap,
            "default_overlap_for_new_tasks": overlap,
        },
        "mixer_config": {
            "real_tasks_count": 1,
            "golden_tasks_count": 1 if golden else 0,
            "training_tasks_count": 0,
        },
        "auto_accept_solutions": False,
        **fields,
    }
    pool = call(api, "POST", "/pools", 201, json=body)
    tasks = [
        {"pool_id": pool["id"], "input_values": {"text": f"text {i}"}, "overlap": overlap}
        for i in range(real)
    ]
    tasks += [
        {
            "pool_id": pool["id"],
            "input_values": {"text": f"golden {i}"},
            "known_solutions": [{"output_values": {"label": "pos"}, "correctness_weight": 1}],
            "message_on_unknown_solution": "It is positive",
            "infinite_overlap": True,
        }
        for i in range(golden)
    ]
    call(api, "POST", "/tasks", 201, json=tasks)
    if open_pool:
        call(api, "POST", f"/pools/{pool['id']}/open", 202)
    return pool["id"]


def wait_for(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.02)
    return result


def wait_closed(api: Api, pool_id: str, timeout: float = 20.0) -> dict:
    return wait_for(
        lambda: (pool := call(api, "GET", f"/pools/{pool_id}"))["status"] != "OPEN" and pool,
        timeout,
        f"pool {pool_id} closed",
    )


def assignments(api: Api, pool_id: str) -> list[dict]:
    return call(api, "GET", "/assignments", params={"pool_id": pool_id, "limit": 100000})["items"]


def wait_settled(
    api: Api, pool_id: str, expected: int, hold: float = 0.3, timeout: float = 20.0
) -> list[dict]:
    """Wait until the pool holds ``expected`` assignments, none ACTIVE; then check for ``hold`` seconds that the
    crowd adds no more (nobody left who may work). Returns the assignments."""
    current = wait_for(
        lambda: (
            len(found := assignments(api, pool_id)) >= expected
            and not any(a["status"] == "ACTIVE" for a in found)
            and found
        ),
        timeout,
        f"{expected} assignments in pool {pool_id}",
    )
    time.sleep(hold)
    again = assignments(api, pool_id)
    assert len(current) == len(again) == expected, (
        f"expected {expected} assignments, got {len(current)} then {len(again)}"
    )
    return again
