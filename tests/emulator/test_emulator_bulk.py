"""Tasks, task suites, user bonuses, assignments and aggregation over plain HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from emulator_http import Api

pytestmark = pytest.mark.integration

PROJECT = {
    "public_name": "Cats or dogs",
    "task_spec": {
        "input_spec": {"image": {"type": "url"}, "note": {"type": "string", "required": False}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["cat", "dog"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.02, balance="100")


@pytest.fixture
def api(emu):
    return Api(emu, scheme="OAuth")


@pytest.fixture
def pool(api):
    project = api.post("/projects", json=PROJECT).json()
    body = {
        "project_id": project["id"],
        "private_name": "pool",
        "reward_per_assignment": 0.05,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2030-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 2},
    }
    return api.post("/pools", json=body).json()


def task(pool, i, **extra):
    return {"pool_id": pool["id"], "input_values": {"image": f"https://example.com/{i}.jpg"}, **extra}


# ------------------------------------------------------------------------------------------------ sync


def test_sync_single_task_and_defaults(api, pool):
    response = api.post("/tasks", json=task(pool, 0, overlap=4, unknown_key="kept"))
    assert response.status_code == 201
    created = response.json()
    assert created["overlap"] == 4 and created["infinite_overlap"] is False and created["remaining_overlap"] == 4
    assert created["unknown_key"] == "kept"
    assert api.get(f"/tasks/{created['id']}").json() == created
    payload = api.post("/tasks", json=task(pool, 1)).json()["payload"]
    assert payload["overlap"]["code"] == "VALUE_REQUIRED"
    defaulted = api.post("/tasks", params={"allow_defaults": "true"}, json=task(pool, 1)).json()
    assert defaulted["overlap"] == 2


def test_input_values_are_checked_against_the_project_spec(api, pool):
    body = api.post("/tasks", json={"pool_id": pool["id"], "input_values": {"image": 5}, "overlap": 1}).json()
    assert body["code"] == "VALIDATION_ERROR" and body["payload"]["input_values.image"]["code"] == "URL_EXPECTED"
    body = api.post("/tasks", json={"pool_id": pool["id"], "input_values": {}, "overlap": 1}).json()
    assert body["payload"]["input_values.image"]["code"] == "VALUE_REQUIRED"
    body = api.post("/tasks", json={"pool_id": "404", "input_values": {}, "overlap": 1}).json()
    assert body["payload"]["pool_id"]["code"] == "ENTITY_DOES_NOT_EXIST"


def test_sync_array_all_or_nothing_and_skip_invalid(api, pool):
    batch = [task(pool, 0, overlap=1), {"pool_id": pool["id"], "overlap": 1}, task(pool, 2, overlap=1)]
    response = api.post("/tasks", json=batch)
    assert response.status_code == 400
    assert set(response.json()["payload"]) == {"1"}
    assert api.get("/tasks", params={"pool_id": pool["id"]}).json()["items"] == []

    response = api.post("/tasks", params={"skip_invalid_items": "true"}, json=batch)
    assert response.status_code == 201
    result = response.json()
    assert set(result["items"]) == {"0", "2"}
    assert result["validation_errors"]["1"]["input_values"]["code"] == "VALUE_REQUIRED"
    listed = api.get("/tasks", params={"pool_id": pool["id"], "sort": "id"}).json()["items"]
    assert [t["id"] for t in listed] == [result["items"]["0"]["id"], result["items"]["2"]["id"]]


def test_sync_mode_caps(api, pool):
    response = api.post("/tasks", json=[task(pool, i, overlap=1) for i in range(5001)])
    assert response.status_code == 400 and "body" in response.json()["payload"]
    bonuses = [{"user_id": "u", "amount": 0.01, "without_message": True} for _ in range(101)]
    assert api.post("/user-bonuses", json=bonuses).status_code == 400
    assert api.post("/tasks", json=[task(pool, i, overlap=1) for i in range(5000)]).status_code == 201


# ----------------------------------------------------------------------------------------------- async


def test_async_create_operation_log_echoes_inputs(api, pool):
    batch = [dict(task(pool, i, overlap=1), __item_idx=str(i)) for i in range(3)]
    batch.append({"pool_id": pool["id"], "overlap": 1, "__item_idx": "3"})
    params = {"async_mode": "true", "skip_invalid_items": "true", "operation_id": "op-1"}
    response = api.post("/tasks", params=params, json=batch)
    assert response.status_code == 202
    op = response.json()
    assert op["id"] == "op-1" and op["type"] == "TASK.BATCH_CREATE"
    assert op["parameters"] == {"skip_invalid_items": True, "allow_defaults": False, "open_pool": False}
    assert api.wait_operation("op-1")["details"]["success_count"] == 3
    log = api.get("/operations/op-1/log").json()
    assert [item["input"]["__item_idx"] for item in log] == ["0", "1", "2", "3"]
    assert [item["success"] for item in log] == [True, True, True, False]
    assert log[0]["type"] == "TASK_CREATE" and log[3]["type"] == "TASK_VALIDATE"
    assert "input_values" in log[3]["output"]
    ids = [item["output"]["task_id"] for item in log[:3]]
    fetched = api.get("/tasks", params={"pool_id": pool["id"], "id_gte": min(ids), "id_lte": max(ids), "sort": "id"}).json()
    assert [t["id"] for t in fetched["items"]] == ids
    assert "__item_idx" not in fetched["items"][0]

    again = api.post("/tasks", params=params, json=batch)
    assert again.status_code == 409 and again.json()["code"] == "OPERATION_ALREADY_EXISTS"
    assert len(api.get("/tasks", params={"pool_id": pool["id"]}).json()["items"]) == 3


def test_async_invalid_without_skip_fails_and_creates_nothing(api, pool):
    batch = [task(pool, 0, overlap=1), {"pool_id": pool["id"], "overlap": 1}]
    op = api.post("/tasks", params={"async_mode": "true"}, json=batch).json()
    done = api.wait_operation(op["id"])
    assert done["status"] == "FAIL" and done["details"]["success_count"] == 0
    assert api.get("/tasks", params={"pool_id": pool["id"]}).json()["items"] == []


def test_open_pool_after_upload(api, pool):
    op = api.post("/tasks", params={"async_mode": "true", "open_pool": "true", "allow_defaults": "true"}, json=[task(pool, 0)]).json()
    api.wait_operation(op["id"])
    log = api.get(f"/operations/{op['id']}/log").json()
    assert log[-1]["type"] == "POOL_OPEN" and log[-1]["success"] is True
    assert api.get(f"/pools/{pool['id']}").json()["status"] == "OPEN"


def test_task_patch_and_set_overlap_or_min(api, pool):
    created = api.post("/tasks", json=task(pool, 0, overlap=3)).json()
    patched = api.patch(f"/tasks/{created['id']}", json={"overlap": 5, "message_on_unknown_solution": "hm"}).json()
    assert patched["overlap"] == 5 and patched["message_on_unknown_solution"] == "hm"
    # Two assignments already used the task: set-overlap-or-min cannot go below that.
    with api.emulator.state.lock:
        api.emulator.state.tasks[created["id"]]["remaining_overlap"] = 3
    lowered = api.patch(f"/tasks/{created['id']}/set-overlap-or-min", json={"overlap": 1}).json()
    assert lowered["overlap"] == 2 and lowered["remaining_overlap"] == 0
    assert api.get("/tasks", params={"overlap": 2}).json()["items"][0]["id"] == created["id"]
    assert api.get("/tasks", params={"overlap_gt": 2}).json()["items"] == []


def test_task_suites(api, pool):
    suite = {"pool_id": pool["id"], "tasks": [{"input_values": {"image": "a"}}, {"input_values": {"image": "b"}}]}
    created = api.post("/task-suites", params={"allow_defaults": "true"}, json=suite).json()
    assert created["overlap"] == 3 and len({t["id"] for t in created["tasks"]}) == 2
    found = api.get("/task-suites", params={"task_id": created["tasks"][1]["id"]}).json()["items"]
    assert [s["id"] for s in found] == [created["id"]]
    bad = api.post("/task-suites", json={"pool_id": pool["id"], "tasks": [{}], "overlap": 1}).json()
    assert "tasks.0.input_values" in bad["payload"]
    op = api.post("/task-suites", params={"async_mode": "true", "allow_defaults": "true"}, json=[dict(suite, __item_idx="0")]).json()
    assert op["type"] == "TASK_SUITE.BATCH_CREATE"
    api.wait_operation(op["id"])
    assert "task_suite_id" in api.get(f"/operations/{op['id']}/log").json()[0]["output"]


def test_user_bonuses_charge_the_balance(api, pool):
    api.emulator.bulk_load_assignments(pool["id"], 3)  # bulk-worker-0..2: users the emulator knows
    bonus = {"user_id": "bulk-worker-1", "amount": 1.5, "public_title": {"EN": "Thanks"}, "public_message": {"EN": "Good work"}}
    created = api.post("/user-bonuses", json=bonus)
    assert created.status_code == 201
    assert api.get(f"/user-bonuses/{created.json()['id']}").json()["amount"] == 1.5
    result = api.post("/user-bonuses", params={"skip_invalid_items": "true"}, json=[dict(bonus, user_id="bulk-worker-2"), {"user_id": "bulk-worker-0"}]).json()
    assert set(result["items"]) == {"0"} and "amount" in result["validation_errors"]["1"]
    assert api.get("/requester").json()["balance"] == 97.0
    assert [b["user_id"] for b in api.get("/user-bonuses", params={"user_id": "bulk-worker-2"}).json()["items"]] == ["bulk-worker-2"]
    op = api.post("/user-bonuses", params={"async_mode": "true"}, json=[dict(bonus, __item_idx="0")]).json()
    assert op["type"] == "USER_BONUS.BATCH_CREATE" and op["parameters"] == {"skip_invalid_items": False}
    api.wait_operation(op["id"])
    assert api.get(f"/operations/{op['id']}/log").json()[0]["type"] == "USER_BONUS_PERSIST"


# ------------------------------------------------------------------------------------------ assignments


def test_assignment_transitions_and_balance(api, pool):
    loaded = api.emulator.bulk_load_assignments(pool["id"], 4)
    ids = [a["id"] for a in api.get("/assignments", params={"pool_id": pool["id"], "sort": "id"}).json()["items"]]
    assert len(ids) == 4 and ids[0] == loaded["first_id"] and ids[-1] == loaded["last_id"]
    one = api.get(f"/assignments/{ids[0]}").json()
    assert one["status"] == "SUBMITTED" and len(one["tasks"]) == 5 and len(one["solutions"]) == 5

    accepted = api.patch(f"/assignments/{ids[0]}", json={"status": "ACCEPTED", "public_comment": "ok"}).json()
    assert accepted["status"] == "ACCEPTED" and accepted["public_comment"] == "ok" and "accepted" in accepted
    again = api.patch(f"/assignments/{ids[0]}", json={"status": "ACCEPTED"})
    assert again.status_code == 409 and again.json()["code"] == "INAPPROPRIATE_STATUS"
    assert api.patch(f"/assignments/{ids[0]}", json={"status": "REJECTED", "public_comment": "no"}).status_code == 409
    assert api.patch(f"/assignments/{ids[1]}", json={"status": "REJECTED"}).status_code == 400  # comment required
    assert api.patch(f"/assignments/{ids[1]}", json={"status": "REJECTED", "public_comment": "bad"}).json()["status"] == "REJECTED"
    assert api.patch(f"/assignments/{ids[1]}", json={"status": "ACCEPTED"}).json()["status"] == "ACCEPTED"
    assert api.patch(f"/assignments/{ids[2]}", json={"status": "SUBMITTED"}).status_code == 400

    assert Decimal(str(api.get("/requester").json()["balance"])) == Decimal("100") - 2 * Decimal("0.05")
    counters = api.emulator.counters()
    assert counters["assignments_accepted"] == 2 and counters["assignments_rejected"] == 1
    assert counters["double_decisions"] == 0
    statuses = api.get("/assignments", params={"pool_id": pool["id"], "status": "ACCEPTED,REJECTED"}).json()["items"]
    assert [a["id"] for a in statuses] == ids[:2]
    assert api.get("/assignments", params={"task_id": one["tasks"][0]["id"]}).json()["items"][0]["id"] == ids[0]


def test_keyset_paging_over_assignments(api, pool):
    api.emulator.bulk_load_assignments(pool["id"], 250)
    api.emulator.bulk_load_assignments(pool["id"], 10, status="ACCEPTED")
    seen, last = [], None
    while True:
        params = {"pool_id": pool["id"], "status": "SUBMITTED", "sort": "id", "limit": 40}
        if last:
            params["id_gt"] = last
        page = api.get("/assignments", params=params).json()
        seen += [a["id"] for a in page["items"]]
        if not page["has_more"]:
            break
        last = page["items"][-1]["id"]
    assert len(seen) == 250 and seen == sorted(set(seen))
    newest_first = api.get("/assignments", params={"pool_id": pool["id"], "sort": "-id", "limit": 3}).json()["items"]
    assert [a["status"] for a in newest_first] == ["ACCEPTED"] * 3


def test_attachments(api, pool):
    state = api.emulator.state
    with state.lock:
        attachment = state.create(
            "attachments",
            {"name": "a.txt", "attachment_type": "ASSIGNMENT_ATTACHMENT", "media_type": "text/plain",
             "details": {"pool_id": pool["id"], "assignment_id": "x", "user_id": "w"}},
        )
        state.attachment_content[attachment["id"]] = b"hello"
    assert api.get("/attachments").status_code == 400
    assert [a["id"] for a in api.get("/attachments", params={"pool_id": pool["id"]}).json()["items"]] == [attachment["id"]]
    assert api.get(f"/attachments/{attachment['id']}").json()["name"] == "a.txt"
    download = api.get(f"/attachments/{attachment['id']}/download")
    assert download.content == b"hello" and download.headers["Content-Type"] == "text/plain"


def test_aggregation_by_pool_and_by_task(api, pool):
    api.emulator.bulk_load_assignments(pool["id"], 6)
    response = api.post("/aggregated-solutions/aggregate-by-pool", json={"type": "DAWID_SKENE", "pool_id": pool["id"], "fields": [{"name": "result"}]})
    assert response.status_code == 201
    op = api.wait_operation(response.json()["id"])
    assert op["type"] == "SOLUTION.AGGREGATE" and op["status"] == "SUCCESS"
    first = api.get(f"/aggregated-solutions/{op['id']}", params={"sort": "task_id", "limit": 4}).json()
    rest = api.get(f"/aggregated-solutions/{op['id']}", params={"sort": "task_id", "task_id_gt": first["items"][-1]["task_id"]}).json()
    results = first["items"] + rest["items"]
    assert first["has_more"] is True and rest["has_more"] is False
    assert len(results) == 10  # 6 assignments = 2 suites x 5 tasks, 3 answers each
    assert all(r["confidence"] == pytest.approx(1 / 3) for r in results)
    one = api.post(
        "/aggregated-solutions/aggregate-by-task",
        json={"type": "WEIGHTED_DYNAMIC_OVERLAP", "pool_id": pool["id"], "task_id": results[0]["task_id"], "fields": [{"name": "result"}]},
    )
    assert one.status_code == 201 and one.json()["task_id"] == results[0]["task_id"]
    bad = api.post("/aggregated-solutions/aggregate-by-pool", json={"type": "MAJORITY", "pool_id": pool["id"]}).json()
    assert set(bad["payload"]) == {"type", "fields"}
