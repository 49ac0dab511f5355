"""The snippet files the docs include (docs/snippets/) run against the emulator, and the plugin example runs.

Each snippet file keeps its examples between ``--8<-- [start:name]`` / ``[end:name]`` markers; the pages include
those sections, and these tests run the functions around them and check what they did.
"""

from __future__ import annotations

import client_tour  # docs/snippets is on pytest's pythonpath (pyproject.toml)
import emulator_tour
import pytest

from toloka_provider.client import RetryPolicy, TolokaClient

pytestmark = pytest.mark.integration

PROJECT = {
    "public_name": "Docs",
    "public_description": "The docs' snippets",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True}},
        "output_spec": {"label": {"type": "string", "required": True}},
        "view_spec": {"type": "tb", "config": "{}"},
    },
    "assignments_issuing_type": "AUTOMATED",
}
POOL = {
    "private_name": "Docs pool",
    "may_contain_adult_content": False,
    "reward_per_assignment": 0.01,
    "assignment_max_duration_seconds": 60,
    "will_expire": "2030-01-01T00:00:00",
    "defaults": {"default_overlap_for_new_task_suites": 1, "default_overlap_for_new_tasks": 1},
    "mixer_config": {"real_tasks_count": 1, "golden_tasks_count": 0, "training_tasks_count": 0},
}


def test_client_tour_pages_through_every_assignment(toloka_emulator_factory, capsys):
    emu = toloka_emulator_factory(seed=1, crowd=5)
    with TolokaClient(emu.token, url=emu.url) as client:
        pool = client.create_pool({**POOL, "project_id": client.create_project(PROJECT).id})
    emu.bulk_load_assignments(pool.id, 30)

    result = client_tour.run(emu.token, emu.url, pool.id)

    assert result == {"first_page": 30, "every": 30, "raw": 30, "status": "CLOSED", "async": result["async"]}
    assert result["async"] >= 1  # distinct workers among the 30 assignments
    assert capsys.readouterr().out == "30 False\n"


def test_emulator_tour_creates_and_loads():
    counters = emulator_tour.tour(PROJECT, POOL)
    assert counters["created"] == {"project": 1, "pool": 1, "assignment": 1000}


# --8<-- [start:plugin]
def test_reading_a_pool_survives_server_errors(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=10, speed=500, seed=7)
    client = TolokaClient(emu.token, url=emu.url, retries=RetryPolicy(total=20, backoff_factor=0.01))
    pool = client.create_pool({**POOL, "project_id": client.create_project(PROJECT).id})
    emu.set_faults("503=0.5", paths=["/api/v1/pools/"], methods=["GET"])  # every other read of a pool: 503

    for _ in range(10):
        assert client.get_pool(pool.id).id == pool.id  # the client retries until it gets through

    requests = emu.counters()["requests"]  # by "METHOD /template STATUS"
    assert requests["GET /api/v1/pools/{id} 200"] == 10 and requests["GET /api/v1/pools/{id} fault:503"] > 0
    client.close()
# --8<-- [end:plugin]
