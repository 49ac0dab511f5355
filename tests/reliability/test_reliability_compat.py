"""Forward compatibility: what Toloka adds tomorrow must not break us today, and must not be lost on update.

* Responses with fields the models do not know (top level and nested), enum values the client does not list
  (pool status and close reason, assignment status, operation type and status, app batch status) and extra
  keys in list envelopes parse, with the sync client (``responses``) and the async client (``respx``).
* Unknown fields survive an update round trip: ``get_pool`` -> ``update_pool`` and ``get_project`` ->
  ``update_project`` send back exactly the body that was received (asserted byte for byte as JSON), over both
  clients; and against the emulator, which stores unknown fields, they are still there after the update.
* Unknown enum values drive the operators' decisions safely: a pool in a status the provider does not know is
  "keep waiting", not a crash.
"""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
import responses
import respx
from rel_b_support import load_config, text_classification_setup

from toloka_provider.client import AsyncTolokaClient, TolokaClient, models

pytestmark = [pytest.mark.reliability]

BASE = "https://toloka.test"
TOKEN = "compat-token-0123456789"

# A pool as a newer Toloka might send it: every value in the wire form the client writes back unchanged.
POOL = {
    "id": "7",
    "project_id": "3",
    "private_name": "main pool",
    "may_contain_adult_content": False,
    "reward_per_assignment": 0.03,
    "assignment_max_duration_seconds": 600,
    "will_expire": "2030-01-02T03:04:05",
    "created": "2024-05-06T07:08:09.123456",
    "auto_accept_solutions": False,
    "auto_accept_period_day": 3,
    "defaults": {"default_overlap_for_new_tasks": 3, "future_default": {"x": 1}},
    "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0, "smart_mixing": True},
    "metadata": {"team": ["labeling"]},
    "status": "PAUSED_BY_MODERATION",
    "last_close_reason": "CARBON_BUDGET_EXCEEDED",
    "speed_quality_balance": {"type": "TOP_PERCENTAGE_BY_QUALITY", "percent": 80},
    "ai_assistance": {"enabled": True, "model": "next-gen", "thresholds": [0.5, 0.9]},
    "labels": ["a", "b"],
}

PROJECT = {
    "id": "3",
    "public_name": "Support tickets",
    "public_description": "Pick a topic",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True, "future_flag": 1}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["a", "b"]}},
        "view_spec": {"type": "tb", "config": "{}", "settings": {"new_setting": True}},
    },
    "assignments_issuing_type": "SEMANTIC_ROUTING",
    "status": "FROZEN",
    "created": "2024-05-06T07:08:09",
    "metadata": {"airflow_dag_id": ["d"]},
    "quality_score_v2": {"enabled": True},
}

ASSIGNMENT = {
    "id": "a1",
    "task_suite_id": "s1",
    "pool_id": "7",
    "user_id": "u1",
    "status": "DISPUTED",
    "reward": 0.03,
    "created": "2024-05-06T07:08:09",
    "submitted": "2024-05-06T07:09:09",
    "tasks": [{"id": "t1", "input_values": {"text": "x"}, "new_task_field": 1}],
    "solutions": [{"output_values": {"label": "a"}, "confidence_hint": 0.7}],
    "fraud_score": 0.01,
}

OPERATION = {
    "id": "op1",
    "type": "POOL.REBALANCE",
    "status": "PAUSED",
    "submitted": "2024-05-06T07:08:09",
    "parameters": {"pool_id": "7"},
    "details": {"new_detail": True},
    "priority": "HIGH",
}

ENVELOPE_EXTRAS = {"total_count": 1, "next_cursor": "abc", "took_ms": 3}


def _check_parsed(pool, project, assignments, operation) -> None:
    assert pool.status == "PAUSED_BY_MODERATION" and isinstance(pool.status, models.PoolStatus)
    assert pool.last_close_reason == "CARBON_BUDGET_EXCEEDED"
    assert pool.unknown_fields["ai_assistance"] == POOL["ai_assistance"]
    assert pool.unknown_fields["labels"] == ["a", "b"]
    assert str(pool.reward_per_assignment) == "0.03"
    assert project.status == "FROZEN" and project.assignments_issuing_type == "SEMANTIC_ROUTING"
    assert project.unknown_fields == {"quality_score_v2": {"enabled": True}}
    (assignment,) = assignments
    assert assignment.status == "DISPUTED" and assignment.unknown_fields == {"fraud_score": 0.01}
    assert operation.type == "POOL.REBALANCE" and operation.status == "PAUSED"
    assert operation.is_completed() is False  # an unknown status is not "done"


def _script_sync(mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/api/v1/pools/7", json=POOL)
    mock.get(f"{BASE}/api/v1/projects/3", json=PROJECT)
    mock.get(f"{BASE}/api/v1/assignments", json={"items": [ASSIGNMENT], "has_more": False, **ENVELOPE_EXTRAS})
    mock.get(f"{BASE}/api/v1/operations/op1", json=OPERATION)
    mock.put(f"{BASE}/api/v1/pools/7", json=POOL)
    mock.put(f"{BASE}/api/v1/projects/3", json=PROJECT)


def _sent_bodies(calls) -> dict[str, dict]:
    return {f"{c.request.method} {c.request.url.split('?')[0][len(BASE):]}": json.loads(c.request.body)
            for c in calls if c.request.body}


def test_sync_client_parses_unknown_fields_enums_and_envelope_keys_and_sends_them_back():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        _script_sync(mock)
        client = TolokaClient(TOKEN, url=BASE, retries=0)
        pool, project = client.get_pool("7"), client.get_project("3")
        assignments = list(client.get_assignments(pool_id="7"))
        _check_parsed(pool, project, assignments, client.get_operation("op1"))
        client.update_pool(pool.id, pool)
        client.update_project(project.id, project)
        sent = _sent_bodies(mock.calls)

    # Exactly what came, field for field: nothing dropped, renamed or re-typed.
    assert sent["PUT /api/v1/pools/7"] == POOL
    assert sent["PUT /api/v1/projects/3"] == PROJECT


def test_async_client_parses_unknown_fields_enums_and_envelope_keys_and_sends_them_back():
    async def scenario(router: respx.MockRouter) -> tuple:
        async with AsyncTolokaClient(TOKEN, url=BASE, retries=0) as client:
            pool, project = await client.get_pool("7"), await client.get_project("3")
            assignments = [a async for a in client.get_assignments(pool_id="7")]
            _check_parsed(pool, project, assignments, await client.get_operation("op1"))
            await client.update_pool(pool.id, pool)
            await client.update_project(project.id, project)
        return pool, project

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.get("/api/v1/pools/7").respond(json=POOL)
        router.get("/api/v1/projects/3").respond(json=PROJECT)
        router.get("/api/v1/assignments").respond(
            json={"items": [ASSIGNMENT], "has_more": False, **ENVELOPE_EXTRAS}
        )
        router.get("/api/v1/operations/op1").respond(json=OPERATION)
        put_pool = router.put("/api/v1/pools/7").respond(json=POOL)
        put_project = router.put("/api/v1/projects/3").respond(json=PROJECT)
        asyncio.run(scenario(router))

    assert json.loads(put_pool.calls.last.request.content) == POOL
    assert json.loads(put_project.calls.last.request.content) == PROJECT


def test_raw_pages_and_apps_lists_tolerate_extra_envelope_keys_and_unknown_statuses():
    batch = {"id": "b1", "app_project_id": "ap1", "name": "n", "status": "HIBERNATING", "items_count": 2,
             "eta_minutes": 5}
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/api/v1/assignments",
                 json={"items": [ASSIGNMENT], "has_more": False, **ENVELOPE_EXTRAS})
        mock.get(f"{BASE}/api/app/v0/app-projects/ap1/batches",
                 json={"content": [batch], "has_more": False, "page_token": "x"})
        mock.get(f"{BASE}/api/app/v0/app-projects/ap1/batches/b1", json=batch)
        client = TolokaClient(TOKEN, url=BASE, retries=0)
        assert list(client.get_assignments_raw(pool_id="7")) == [[ASSIGNMENT]]
        (listed,) = list(client.get_app_batches("ap1"))
        fetched = client.get_app_batch("ap1", "b1")
    assert listed.status == fetched.status == "HIBERNATING"
    assert fetched.unknown_fields == {"eta_minutes": 5}
    assert fetched.to_json_dict() == batch


def test_a_status_newer_than_the_client_can_still_be_asked_for_with_the_enum():
    """Plain strings are checked (a typo fails); an enum instance of an unknown value is sent as is."""
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/api/v1/assignments", json={"items": [ASSIGNMENT], "has_more": False})
        client = TolokaClient(TOKEN, url=BASE, retries=0)
        page = client.find_assignments(pool_id="7", status=[models.AssignmentStatus("DISPUTED"), "SUBMITTED"])
        assert mock.calls[0].request.params["status"] == "DISPUTED,SUBMITTED"
    assert page.items[0].status == "DISPUTED"


def test_an_unknown_pool_status_makes_the_waiters_keep_waiting():
    """The sensor/trigger/operator rules treat a status they do not know as 'not finished yet', not a crash."""
    from toloka_provider.waiting import pool_outcome

    outcome = pool_outcome("7", models.PoolStatus("PAUSED_BY_MODERATION"), None, ("COMPLETED",))
    assert outcome.state not in ("success", "failure"), outcome


@pytest.mark.integration
def test_unknown_fields_survive_an_update_round_trip_through_the_emulator(toloka_emulator):
    client = TolokaClient(toloka_emulator.token, url=toloka_emulator.url)
    project_config = load_config("text_classification_project.json")
    project_config["quality_score_v2"] = {"enabled": True, "levels": [1, 2]}
    project = client.create_project(project_config)
    _, pool = text_classification_setup(client, ai_assistance={"enabled": True, "model": "next-gen"})
    assert pool.unknown_fields["ai_assistance"] == {"enabled": True, "model": "next-gen"}

    fetched = client.get_pool(pool.id)
    changed = copy.deepcopy(fetched.to_json_dict())
    changed["private_name"] = "renamed"
    client.update_pool(pool.id, changed)
    client.update_project(project.id, client.get_project(project.id))

    after = client.get_pool(pool.id)
    assert after.private_name == "renamed"
    assert after.unknown_fields["ai_assistance"] == {"enabled": True, "model": "next-gen"}
    assert client.get_project(project.id).unknown_fields["quality_score_v2"] == {"enabled": True, "levels": [1, 2]}

