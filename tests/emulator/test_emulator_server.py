"""The emulator's HTTP surface over plain requests: auth, error bodies, projects, pools, trainings, lists."""

from __future__ import annotations

import time

import pytest
import requests
from emulator_http import Api

pytestmark = pytest.mark.integration

PROJECT = {
    "public_name": "Cats or dogs",
    "task_spec": {
        "input_spec": {"image": {"type": "url"}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["cat", "dog"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


def pool_body(project_id: str, **extra) -> dict:
    body = {
        "project_id": project_id,
        "private_name": "pool",
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2030-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 1, "default_overlap_for_new_tasks": 1},
    }
    body.update(extra)
    return body


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.02)


@pytest.fixture
def api(emu):
    return Api(emu)


def make_pool(api: Api, **extra) -> dict:
    project = api.post("/projects", json=PROJECT).json()
    response = api.post("/pools", json=pool_body(project["id"], **extra))
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] and body["message"]
    return body


# ------------------------------------------------------------------------------------------------- auth


def test_requests_without_a_valid_token_get_401(emu):
    url = emu.url + "/api/v1/requester"
    assert_error(requests.get(url, timeout=5), 401, "AUTHENTICATION_ERROR")
    assert_error(requests.get(url, headers={"Authorization": "ApiKey wrong"}, timeout=5), 401, "AUTHENTICATION_ERROR")
    assert_error(requests.get(url, headers={"Authorization": f"Bearer {emu.token}"}, timeout=5), 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("scheme", ["ApiKey", "OAuth"])
def test_both_auth_schemes_are_accepted(emu, scheme):
    response = requests.get(emu.url + "/api/v1/requester", headers={"Authorization": f"{scheme} {emu.token}"}, timeout=5)
    assert response.status_code == 200
    assert response.json()["balance"] == 1000.0


def test_several_tokens(toloka_emulator_factory):
    emu = toloka_emulator_factory(tokens=["first", "second"], crowd=0)
    for token in ("first", "second"):
        assert requests.get(emu.url + "/api/v1/requester", headers={"Authorization": f"OAuth {token}"}, timeout=5).ok
    assert emu.token == "first"


def test_revoked_token_gets_401_and_a_granted_one_is_accepted(toloka_emulator_factory):
    emu = toloka_emulator_factory(tokens=["first", "second"], crowd=0)
    url = emu.url + "/api/v1/requester"
    emu.revoke_token("first")
    for scheme in ("ApiKey", "OAuth"):
        assert_error(requests.get(url, headers={"Authorization": f"{scheme} first"}, timeout=5), 401, "AUTHENTICATION_ERROR")
    assert requests.get(url, headers={"Authorization": "OAuth second"}, timeout=5).ok
    emu.grant_token("third")
    assert requests.get(url, headers={"Authorization": "ApiKey third"}, timeout=5).ok


def test_unknown_path_is_404_and_wrong_method_405(api):
    assert_error(api.get("/no-such-thing"), 404, "DOES_NOT_EXIST")
    assert_error(api.delete("/projects"), 405, "METHOD_NOT_ALLOWED")


def test_bad_json_is_400(api):
    response = api.post("/projects", data=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_keep_alive_serves_many_requests_on_one_connection(api):
    for _ in range(20):
        assert api.get("/requester").status_code == 200
    assert api.emulator.counters()["requests"]["GET /api/v1/requester 200"] == 20


# ---------------------------------------------------------------------------------------------- projects


def test_project_create_get_update_and_unknown_fields_echo(api):
    body = dict(PROJECT, metadata={"team": ["ml"]}, some_future_field={"x": 1})
    created = api.post("/projects", json=body)
    assert created.status_code == 201
    project = created.json()
    assert project["status"] == "ACTIVE"
    assert project["metadata"] == {"team": ["ml"]}
    assert project["some_future_field"] == {"x": 1}
    assert project["created"].count(".") == 1 and not project["created"].endswith("Z")
    assert api.get(f"/projects/{project['id']}").json() == project
    updated = api.put(f"/projects/{project['id']}", json=dict(project, public_name="Renamed", status="ARCHIVED")).json()
    assert updated["public_name"] == "Renamed"
    assert updated["status"] == "ACTIVE"  # read-only fields keep the server's value
    assert_error(api.get("/projects/999999999"), 404, "DOES_NOT_EXIST")


def test_project_validation_payload_is_keyed_by_field(api):
    body = assert_error(api.post("/projects", json={"public_name": 5}), 400, "VALIDATION_ERROR")
    assert set(body["payload"]) == {"public_name", "task_spec", "assignments_issuing_type"}
    assert body["payload"]["task_spec"]["code"] == "VALUE_REQUIRED"
    assert body["payload"]["public_name"]["code"] == "STRING_EXPECTED"


def test_project_archive_needs_archived_pools(api):
    pool = make_pool(api)
    project_id = pool["project_id"]
    assert_error(api.post(f"/projects/{project_id}/archive"), 409, "UNARCHIVED_POOLS_CONFLICT")
    assert api.post(f"/pools/{pool['id']}/archive").status_code == 202
    response = api.post(f"/projects/{project_id}/archive")
    assert response.status_code == 202
    op = api.wait_operation(response.json()["id"])
    assert op["type"] == "PROJECT.ARCHIVE" and op["status"] == "SUCCESS"
    assert op["parameters"] == {"project_id": project_id}
    assert api.get(f"/projects/{project_id}").json()["status"] == "ARCHIVED"
    assert api.post(f"/projects/{project_id}/archive").status_code == 204


# ------------------------------------------------------------------------------------------------ pools


def test_pool_validation(api):
    project = api.post("/projects", json=PROJECT).json()
    body = pool_body(project["id"], reward_per_assignment=0.001)
    del body["will_expire"]
    del body["private_name"]
    payload = assert_error(api.post("/pools", json=body), 400, "VALIDATION_ERROR")["payload"]
    assert set(payload) == {"reward_per_assignment", "will_expire", "private_name"}
    assert payload["reward_per_assignment"]["code"] == "VALUE_LESS_THAN_MIN"
    payload = assert_error(api.post("/pools", json=pool_body("12345")), 400, "VALIDATION_ERROR")["payload"]
    assert payload["project_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    payload = assert_error(api.post("/pools", json=pool_body(project["id"], defaults={})), 400, "VALIDATION_ERROR")["payload"]
    assert "defaults.default_overlap_for_new_task_suites" in payload


def test_pool_lifecycle_open_close_archive(api):
    pool = make_pool(api, metadata={"run": ["1"]})
    pool_id = pool["id"]
    assert pool["status"] == "CLOSED" and pool["metadata"] == {"run": ["1"]}
    assert_error(api.post(f"/pools/{pool_id}/open"), 409, "EMPTY_POOL")
    assert api.post("/tasks", params={"allow_defaults": "true"}, json={"pool_id": pool_id, "input_values": {"image": "u"}}).status_code == 201

    opened = api.post(f"/pools/{pool_id}/open")
    assert opened.status_code == 202
    op = opened.json()
    assert op["type"] == "POOL.OPEN" and op["status"] in ("PENDING", "RUNNING")
    assert api.wait_operation(op["id"])["status"] == "SUCCESS"
    assert api.get(f"/pools/{pool_id}").json()["status"] == "OPEN"
    assert api.post(f"/pools/{pool_id}/open").status_code == 204
    assert_error(api.post(f"/pools/{pool_id}/archive"), 409, "INAPPROPRIATE_STATUS")
    assert_error(api.put(f"/pools/{pool_id}", json=pool), 409, "INAPPROPRIATE_STATUS")

    closed = api.post(f"/pools/{pool_id}/close-for-update")
    assert closed.status_code == 202 and closed.json()["type"] == "POOL.CLOSE"
    assert api.get(f"/pools/{pool_id}").json()["last_close_reason"] == "FOR_UPDATE"
    updated = api.put(f"/pools/{pool_id}", json=dict(pool, private_name="renamed"))
    assert updated.status_code == 200 and updated.json()["private_name"] == "renamed"
    assert api.post(f"/pools/{pool_id}/open").status_code == 202
    assert api.post(f"/pools/{pool_id}/close").status_code == 202
    stored = api.get(f"/pools/{pool_id}").json()
    assert stored["status"] == "CLOSED" and stored["last_close_reason"] == "MANUAL"
    assert api.post(f"/pools/{pool_id}/close").status_code == 204

    assert api.post(f"/pools/{pool_id}/archive").status_code == 202
    assert api.post(f"/pools/{pool_id}/archive").status_code == 204
    assert_error(api.post(f"/pools/{pool_id}/open"), 409, "INAPPROPRIATE_STATUS")
    assert_error(api.patch(f"/pools/{pool_id}", json={"priority": 5}), 409, "INAPPROPRIATE_STATUS")


def test_operation_moves_pending_running_success(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=0, operation_delay=0.3)
    api = Api(emu)
    pool = make_pool(api)
    api.post("/tasks", params={"allow_defaults": "true"}, json={"pool_id": pool["id"], "input_values": {"image": "u"}})
    op = api.post(f"/pools/{pool['id']}/open").json()
    assert op["status"] == "PENDING" and op["progress"] == 0 and "finished" not in op
    seen = {op["status"]}
    deadline = time.monotonic() + 5
    while "SUCCESS" not in seen and time.monotonic() < deadline:
        seen.add(api.get(f"/operations/{op['id']}").json()["status"])
        time.sleep(0.01)
    assert seen == {"PENDING", "RUNNING", "SUCCESS"}
    final = api.get(f"/operations/{op['id']}").json()
    assert final["progress"] == 100 and final["finished"] >= final["started"] >= final["submitted"]


def test_pool_patch_priority_and_clone(api):
    pool = make_pool(api)
    assert api.patch(f"/pools/{pool['id']}", json={"priority": 42}).json()["priority"] == 42
    assert_error(api.patch(f"/pools/{pool['id']}", json={"priority": 101}), 400, "VALIDATION_ERROR")
    op = api.post(f"/pools/{pool['id']}/clone").json()
    done = api.wait_operation(op["id"])
    assert done["type"] == "POOL.CLONE" and done["parameters"] == {"pool_id": pool["id"]}
    clone = api.get(f"/pools/{done['details']['pool_id']}").json()
    assert clone["id"] > pool["id"] and clone["private_name"] == pool["private_name"] and clone["status"] == "CLOSED"


def test_trainings(api):
    project = api.post("/projects", json=PROJECT).json()
    payload = assert_error(api.post("/trainings", json={"project_id": project["id"]}), 400, "VALIDATION_ERROR")["payload"]
    assert set(payload) == {"private_name", "inherited_instructions", "training_tasks_in_task_suite_count"}
    training = api.post(
        "/trainings",
        json={"project_id": project["id"], "private_name": "t", "inherited_instructions": True, "training_tasks_in_task_suite_count": 2},
    ).json()
    assert training["status"] == "CLOSED"
    task = {"pool_id": training["id"], "input_values": {"image": "u"}, "overlap": 1}
    assert api.post("/tasks", json=task).status_code == 201
    op = api.post(f"/trainings/{training['id']}/open").json()
    assert op["type"] == "TRAINING.OPEN" and op["parameters"] == {"training_id": training["id"]}
    assert api.post(f"/trainings/{training['id']}/open").status_code == 204
    assert api.patch(f"/trainings/{training['id']}", json={"priority": 1}).status_code == 405
    clone = api.wait_operation(api.post(f"/trainings/{training['id']}/clone").json()["id"])
    assert "training_id" in clone["details"]


# ------------------------------------------------------------------------------------------------ lists


def test_list_filters_sort_limit(api):
    projects = [api.post("/projects", json=dict(PROJECT, private_comment=f"c{i % 2}")).json() for i in range(5)]
    ids = [p["id"] for p in projects]
    page = api.get("/projects", params={"limit": 2, "sort": "id"}).json()
    assert [p["id"] for p in page["items"]] == ids[:2] and page["has_more"] is True
    page = api.get("/projects", params={"id_gt": ids[1], "id_lte": ids[3]}).json()
    assert [p["id"] for p in page["items"]] == ids[2:4] and page["has_more"] is False
    page = api.get("/projects", params={"sort": "private_comment,-id"}).json()
    assert [p["id"] for p in page["items"]] == [ids[4], ids[2], ids[0], ids[3], ids[1]]
    created = projects[2]["created"]
    for stamp, as_stored in (
        (created, created),
        (created + "Z", created),
        (created[:19], created[:19] + ".000000"),
        (created[:22], created[:22] + "0000"),
    ):
        page = api.get("/projects", params={"created_gte": stamp, "sort": "id"}).json()
        assert [p["id"] for p in page["items"]] == [p["id"] for p in projects if p["created"] >= as_stored]
    assert api.get("/projects", params={"status": "ACTIVE,ARCHIVED"}).json()["items"] == projects
    assert api.get("/projects", params={"status": "ARCHIVED"}).json()["items"] == []


def test_list_limits(api):
    for _ in range(51):
        api.post("/projects", json=PROJECT)
    page = api.get("/projects").json()
    assert len(page["items"]) == 50 and page["has_more"] is True
    assert len(api.get("/projects", params={"limit": 300}).json()["items"]) == 51
    body = assert_error(api.get("/projects", params={"limit": 301}), 400, "VALIDATION_ERROR")
    assert "limit" in body["payload"]
    assert_error(api.get("/pools", params={"limit": 301}), 400, "VALIDATION_ERROR")
    assert_error(api.get("/attachments", params={"pool_id": "1", "limit": 101}), 400, "VALIDATION_ERROR")
    assert api.get("/assignments", params={"limit": 100_000}).status_code == 200
    assert_error(api.get("/assignments", params={"limit": 100_001}), 400, "VALIDATION_ERROR")
    assert_error(api.get("/projects", params={"sort": "nope"}), 400, "VALIDATION_ERROR")
    assert_error(api.get("/projects", params={"created_gt": "yesterday"}), 400, "VALIDATION_ERROR")


def test_requester_and_web_ui_pages(api):
    pool = make_pool(api)
    requester = api.get("/requester").json()
    assert set(requester) == {"id", "balance", "public_name", "company"}
    page = requests.get(f"{api.emulator.url}/requester/project/{pool['project_id']}/pool/{pool['id']}", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert pool["id"] in page.text
    page = requests.get(f"{api.emulator.url}/requester/project/{pool['project_id']}", timeout=5)
    assert page.status_code == 200 and "Cats or dogs" in page.text
