"""Apps API over HTTP: an app project becomes READY, a batch goes NEW -> PROCESSING -> COMPLETED."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration

APP = "/api/app/v0"
CLASSES = [{"label": "Delivery", "value": "delivery"}, {"label": "Billing", "value": "billing"}]


@pytest.fixture
def api():
    with TolokaEmulator(seed=4, crowd=10, speed=2000.0, balance=Decimal("10")) as emulator:
        session = requests.Session()
        session.headers["Authorization"] = f"ApiKey {emulator.token}"

        def call(method, path, expected=200, **kwargs):
            response = session.request(method, emulator.url + APP + path, timeout=10, **kwargs)
            assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text[:400]}"
            return response.json() if response.content else None

        yield call


def wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
    return result


def test_batch_lifecycle_to_completed(api):
    apps = api("GET", "/apps")
    assert {app["id"] for app in apps["content"]} >= {"text-classification"}
    assert apps["has_more"] is False
    project = api(
        "POST",
        "/app-projects",
        json={"app_id": "text-classification", "name": "Tickets", "parameters": {"name": "Tickets", "default_language": "en", "instruction_classes": CLASSES}},
    )
    assert project["status"] == "CREATING"
    wait_for(lambda: api("GET", f"/app-projects/{project['id']}")["status"] == "READY")

    batch = api("POST", f"/app-projects/{project['id']}/batches", json={"name": "b1", "items": [{"text": f"ticket {i}"} for i in range(20)]})
    assert (batch["status"], batch["items_count"], batch["items_processed_count"]) == ("NEW", 20, 0)
    extra = api("POST", f"/app-projects/{project['id']}/items/bulk", json={"batch_id": batch["id"], "items": [{"text": "late"}]})
    assert len(extra) == 1
    api("POST", f"/app-projects/{project['id']}/batches/{batch['id']}/start")
    done = wait_for(
        lambda: (b := api("GET", f"/app-projects/{project['id']}/batches/{batch['id']}"))["status"] == "COMPLETED" and b
    )
    assert (done["items_count"], done["items_processed_count"]) == (21, 21)
    assert done["items_per_state"]["COMPLETED"] == 21

    items = api("GET", f"/app-projects/{project['id']}/items", params={"batch_id": batch["id"], "limit": 10})
    assert len(items["content"]) == 10 and items["has_more"] is True
    rest = api("GET", f"/app-projects/{project['id']}/items", params={"batch_id": batch["id"], "after_id": items["content"][-1]["id"]})
    all_items = items["content"] + rest["content"]
    assert len({item["id"] for item in all_items}) == 21
    assert {item["status"] for item in all_items} == {"COMPLETED"}
    assert {item["output_data"]["category"] for item in all_items} <= {"delivery", "billing"}
    one = api("GET", f"/app-projects/{project['id']}/items/{all_items[0]['id']}")
    assert one == all_items[0]

    patched = api("PATCH", f"/app-projects/{project['id']}/batches/{batch['id']}", json={"priority_order": "ONE"})
    assert patched["priority_order"] == "ONE"
    listed = api("GET", f"/app-projects/{project['id']}/batches")
    assert [b["id"] for b in listed["content"]] == [batch["id"]]


def test_stop_and_errors(api):
    project = api("POST", "/app-projects", json={"app_id": "text-classification", "name": "T", "parameters": {"instruction_classes": CLASSES}})
    bad = api("POST", "/app-projects", 400, json={"app_id": "nope", "name": "", "parameters": {}})
    assert bad["code"] == "VALIDATION_ERROR" and set(bad["payload"]) == {"app_id", "name", "parameters.instruction_classes"}
    wait_for(lambda: api("GET", f"/app-projects/{project['id']}")["status"] == "READY")
    invalid = api("POST", f"/app-projects/{project['id']}/batches", 400, json={"name": "b", "items": [{"text": "ok"}, {"other": 1}]})
    assert set(invalid["payload"]) == {"items.1.text"}
    assert api("GET", f"/app-projects/{project['id']}/batches")["content"] == []
    batch = api("POST", f"/app-projects/{project['id']}/batches", json={"name": "b", "items": [{"text": "x"}]})
    api("POST", f"/app-projects/{project['id']}/batches/{batch['id']}/stop", 409)
    assert api("GET", f"/app-projects/{project['id']}/batches/nope", 404)["code"] == "DOES_NOT_EXIST"
    assert api("GET", "/app-projects", 400, params={"limit": 5001})["code"] == "VALIDATION_ERROR"
