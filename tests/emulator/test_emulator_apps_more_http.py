"""Apps additions over HTTP (``requests``): archiving and unarchiving a batch, the synchronous batch; and the
project-update check (``POST /api/staging/projects/{id}/check``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from emulator_pools import wait_for

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration

CLASSES = [{"label": "Delivery", "value": "delivery"}, {"label": "Billing", "value": "billing"}]
PROJECT = {
    "public_name": "Sentiment",
    "task_spec": {
        "input_spec": {"text": {"type": "string"}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["pos", "neg"]}},
        "view_spec": {"markup": "<p>{{text}}</p>"},
    },
    "assignments_issuing_type": "AUTOMATED",
}


@pytest.fixture
def emulator():
    with TolokaEmulator(seed=4, crowd=5, speed=2000.0, balance=Decimal("10")) as emulator:
        yield emulator


@pytest.fixture
def call(emulator):
    session = requests.Session()
    session.headers["Authorization"] = f"ApiKey {emulator.token}"

    def call(method, path, expected=200, **kwargs):
        response = session.request(method, emulator.url + path, timeout=10, **kwargs)
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} {response.text[:400]}"
        )
        return response.json() if response.content else None

    return call


@pytest.fixture
def app_project(call):
    project = call(
        "POST",
        "/api/app/v0/app-projects",
        json={
            "app_id": "text-classification",
            "name": "T",
            "parameters": {"name": "T", "default_language": "en", "instruction_classes": CLASSES},
        },
    )
    wait_for(
        lambda: call("GET", f"/api/app/v0/app-projects/{project['id']}")["status"] == "READY", 5, "READY"
    )
    return project["id"]


def test_sync_batch_is_labelled_before_the_answer(emulator, call, app_project):
    balance = emulator.state.balance
    answer = call(
        "POST",
        f"/api/app/v0/app-projects/{app_project}/batches/sync",
        json={"name": "now", "items": [{"text": "late parcel"}, {"text": "double charge"}]},
    )
    batch, items = answer["batch"], answer["items"]
    assert {k: answer[k] for k in batch} == batch  # toloka-kit reads the body itself as the batch
    assert (batch["status"], batch["items_count"], batch["items_processed_count"], batch["name"]) == (
        "COMPLETED",
        2,
        2,
        "now",
    )
    assert [item["input_data"]["text"] for item in items] == ["late parcel", "double charge"]
    assert all(
        item["status"] == "COMPLETED" and item["output_data"]["category"] in ("delivery", "billing")
        for item in items
    )
    assert all(item["batch_id"] == batch["id"] for item in items)
    assert emulator.state.balance == balance - 2 * Decimal("0.03")
    assert (
        call("GET", f"/api/app/v0/app-projects/{app_project}/batches/{batch['id']}")["status"] == "COMPLETED"
    )
    error = call(
        "POST", f"/api/app/v0/app-projects/{app_project}/batches/sync", 400, json={"name": "", "items": []}
    )
    assert set(error["payload"]) == {"name", "items"}
    error = call(
        "POST",
        f"/api/app/v0/app-projects/{app_project}/batches/sync",
        400,
        json={"name": "x", "items": [{"other": 1}]},
    )
    assert error["payload"]["items.0.text"]["code"] == "VALUE_REQUIRED"


def test_archive_and_unarchive_a_batch(call, app_project, emulator):
    base = f"/api/app/v0/app-projects/{app_project}/batches"
    batch = call("POST", base, json={"name": "b", "items": [{"text": "one"}]})
    assert call("POST", f"{base}/{batch['id']}/archive") is None
    assert call("GET", f"{base}/{batch['id']}")["status"] == "ARCHIVE"
    assert call("POST", f"{base}/{batch['id']}/archive") is None  # already archived: nothing changes
    assert call("POST", f"{base}/{batch['id']}/unarchive") is None
    assert call("GET", f"{base}/{batch['id']}")["status"] == "NEW"
    # The crowd is paused so that the batch stays PROCESSING while archiving is refused (not a race).
    emulator.pause_crowd()
    call("POST", f"{base}/{batch['id']}/start")
    assert call("GET", f"{base}/{batch['id']}")["status"] == "PROCESSING"
    assert call("POST", f"{base}/{batch['id']}/archive", 409)["code"] == "INAPPROPRIATE_STATUS"
    emulator.resume_crowd()
    wait_for(lambda: call("GET", f"{base}/{batch['id']}")["status"] == "COMPLETED", 10, "COMPLETED")
    call("POST", f"{base}/{batch['id']}/archive")
    call("POST", f"{base}/{batch['id']}/unarchive")
    assert call("GET", f"{base}/{batch['id']}")["status"] == "COMPLETED"
    assert call("POST", f"{base}/nope/archive", 404)["code"] == "DOES_NOT_EXIST"


def test_project_update_check(call):
    project = call("POST", "/api/v1/projects", 201, json=PROJECT)
    path = f"/api/staging/projects/{project['id']}/check"
    assert call("POST", path, json=project) == {"differenceLevel": "EQUAL"}
    assert call("POST", path, json=PROJECT) == {"differenceLevel": "EQUAL"}
    assert call("POST", path, json={**PROJECT, "public_description": "new"}) == {
        "differenceLevel": "NON_BREAKING_CHANGE"
    }
    view_change = {
        **PROJECT,
        "task_spec": {**PROJECT["task_spec"], "view_spec": {"markup": "<b>{{text}}</b>"}},
    }
    assert call("POST", path, json=view_change) == {"differenceLevel": "NON_BREAKING_CHANGE"}
    output_change = {
        **PROJECT,
        "task_spec": {**PROJECT["task_spec"], "output_spec": {"label": {"type": "string"}}},
    }
    assert call("POST", path, json=output_change) == {"differenceLevel": "BREAKING_CHANGE"}
    assert call("GET", f"/api/v1/projects/{project['id']}") == project  # nothing was changed
    assert (
        call("POST", "/api/staging/projects/100009999/check", 404, json=PROJECT)["code"] == "DOES_NOT_EXIST"
    )
    assert call("POST", path, 400, json={"public_name": ""})["code"] == "VALIDATION_ERROR"
