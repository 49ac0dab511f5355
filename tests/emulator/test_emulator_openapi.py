"""Every endpoint the emulator serves answers in the shape of Toloka's published OpenAPI schemas.

The schemas are read from ``<repo>/../shared/toloka-openapi`` (``v1/fullApi.yaml`` for ``/api/v1``,
``apps/openapi.yaml`` for ``/api/app/v0``); they are not copied into this repository. Without that folder
the tests skip and say so. Relative ``$ref``s (``#/components/...`` and ``./parts/...yaml#/...``) resolve
through a ``referencing`` registry holding every YAML file of the spec; OpenAPI 3.0 ``nullable: true``
becomes a JSON-schema ``null`` type.

One scenario drives every route (projects, pools, trainings, tasks, suites, the crowd's assignments,
attachments, operations and logs, aggregation, bonuses, requester, analytics, the Apps API) with
``requests``; each JSON answer is validated against the schema of its path, method and status, and a
second test checks that no registered ``/api`` route was left out of the scenario.

Where the spec and toloka-api.md disagree, the emulator follows toloka-api.md (what toloka-kit and the
Java SDK depend on). Known deviations, checked by ``DEVIATIONS`` below (a new one fails the test):

* ``POST /tasks``, ``/task-suites``, ``/user-bonuses`` with ``async_mode=true`` answer **202** with an
  Operation (the Java SDK requires 202; the spec lists only 201).
* Action endpoints answer **204** with no body when the pool/training is already in the target state
  (toloka-api.md §3.2; the spec lists only 202).
* ``POST /api/staging/analytics-2`` is not in the public spec (toloka-api.md §11); its Operation is
  validated against ``OperationViewV1``.
* Apps: batches carry ``items_count`` (toloka-kit and the example responses) where the ``Batch`` schema says
  ``item_count``; archived app projects are ``ARCHIVED`` (the ``AppProject`` enum says ``ARCHIVE``; the list
  item enum and toloka-kit say ``ARCHIVED``). The ``AppProject`` status enum is widened to accept it.
* Apps start/stop/resume/archive/unarchive answer 200 with an empty body, as documented; nothing to validate.
* ``GET /operations/{id}/log`` is a bare JSON array of log items (toloka-api.md §4.3); the spec's
  ``OperationLog`` is one object. Validated as an array of those objects.
* ``GET /apps`` and ``GET /app-projects/{id}/items`` answer ``{"content": [...], "has_more": ...}`` (toloka-api.md
  §2 and the example responses); the spec declares an array of such pages.
* ``App.examples`` is a JSON array, as in the example response ``app-id.yaml``; the ``AppResult`` schema
  says object.
* ``PUT /webhook-subscriptions`` also takes a JSON array (what toloka-kit sends) and then answers 200 with the
  batch result ``{items, validation_errors}`` (toloka-api.md §3.15); validated against the documented 200
  schema, which that shape satisfies.
* ``GET /api/new/requester/pools/{pool_id}/assignments.tsv`` (the TSV export behind toloka-kit's
  ``get_assignments_df``) is not in the public spec and answers TSV, not JSON: exercised, not validated.
* ``POST /api/staging/projects/{id}/check`` is not in the public spec either; its ``{differenceLevel}`` answer
  is validated against a small schema written from toloka-api.md §1.
* ``POST /app-projects/{id}/batches/sync`` answers the spec's ``{batch, items}`` and repeats the batch's fields at
  the top level, because toloka-kit reads the whole body as the batch (toloka-api.md §12.1).
* Spec artefacts, corrected while loading: ``oneOf`` alternatives that overlap (a single task matches both
  ``TaskViewV1`` and the batch result, since OpenAPI objects allow extra keys) are read as ``anyOf``, and the
  placeholder key ``<ID>`` that the spec lists as required in free-form maps (``task_spec.input_spec``) is
  dropped.
"""

from __future__ import annotations

import copy
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_ROOT = REPO_ROOT.parent / "shared" / "toloka-openapi"

if not (SPEC_ROOT / "v1" / "fullApi.yaml").is_file():
    pytest.skip(
        f"Toloka OpenAPI files not found at {SPEC_ROOT} (expected ../shared/toloka-openapi from the repo root); "
        "skipping the OpenAPI validation of the emulator",
        allow_module_level=True,
    )

import yaml  # noqa: E402
from jsonschema import Draft4Validator  # noqa: E402
from referencing import Registry, Resource  # noqa: E402
from referencing.jsonschema import DRAFT4  # noqa: E402

from toloka_provider.emulator import TolokaEmulator  # noqa: E402

# (method, route template, status) that answer differently from the spec on purpose (see the docstring).
DEVIATIONS = {
    ("POST", "/api/v1/tasks", 202),
    ("POST", "/api/v1/task-suites", 202),
    ("POST", "/api/v1/user-bonuses", 202),
    ("POST", "/api/v1/pools/{id}/open", 204),
    ("POST", "/api/v1/pools/{id}/close", 204),
    ("POST", "/api/v1/trainings/{id}/open", 204),
    ("POST", "/api/v1/trainings/{id}/close", 204),
    ("POST", "/api/v1/trainings/{id}/close-for-update", 204),
    ("POST", "/api/v1/pools/{id}/close-for-update", 204),
}
NOT_IN_SPEC = {"/api/staging/analytics-2": ("fullApi.yaml", "/operations/{}", "get")}
# Routes outside the public spec whose answers are not JSON: exercised by the scenario, not validated.
NOT_JSON_NOT_IN_SPEC = {"/api/new/requester/pools/{pool_id}/assignments.tsv"}
# Routes outside the public spec that answer JSON, with the shape toloka-api.md gives them.
INLINE_SCHEMAS = {
    "/api/staging/projects/{id}/check": {
        "type": "object",
        "required": ["differenceLevel"],
        "properties": {"differenceLevel": {"enum": ["EQUAL", "NON_BREAKING_CHANGE", "BREAKING_CHANGE"]}},
    }
}
ERROR_BODY_SCHEMA = {
    "type": "object",
    "required": ["request_id", "code", "message"],
    "properties": {"request_id": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
}


# ----------------------------------------------------------------------------------------------- the spec


def _openapi_to_jsonschema(node: Any) -> Any:
    """``nullable: true`` -> a null type; everything else unchanged (other OpenAPI keywords are ignored)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
    if result.pop("nullable", False):
        if isinstance(result.get("type"), str):
            result["type"] = [result["type"], "null"]
        elif "$ref" in result or "oneOf" in result or "allOf" in result:
            result = {"anyOf": [{"type": "null"}, {key: value for key, value in result.items()}]}
    return result


class Spec:
    def __init__(self, root: Path) -> None:
        self.root = root
        resources = []
        self.documents: dict[str, dict] = {}
        for path in sorted(root.rglob("*.yaml")):
            if "code-samples" in path.parts:
                continue
            document = _openapi_to_jsonschema(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
            self.documents[path.as_uri()] = document
            resources.append((path.as_uri(), Resource(contents=document, specification=DRAFT4)))
        self.registry = Registry().with_resources(resources)
        self._patch_known_deviations()

    def _patch_known_deviations(self) -> None:
        """Correct the spec where it contradicts toloka-api.md and the example responses (see DEVIATIONS)."""
        for document in self.documents.values():
            _loosen(document)
        apps = self.documents[(self.root / "apps" / "openapi.yaml").as_uri()]
        schemas = apps["components"]["schemas"]
        status = schemas["AppProject"]["properties"]["status"]
        status["enum"] = sorted(set(status["enum"]) | {"ARCHIVED"})
        schemas["AppResult"]["properties"]["examples"] = {"type": "array"}
        for path in ("/apps", "/app-projects/{app_project_id}/items"):
            response = apps["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
            response["schema"] = response["schema"]["items"]
        v1_parts = self.documents[(self.root / "v1" / "parts" / "api" / "additional.yaml").as_uri()]
        schemas = v1_parts["components"]["schemas"]
        schemas["OperationLogItem"] = schemas["OperationLog"]
        schemas["OperationLog"] = {"type": "array", "items": {"$ref": "#/components/schemas/OperationLogItem"}}
        self.registry = Registry().with_resources(
            (uri, Resource(contents=document, specification=DRAFT4)) for uri, document in self.documents.items()
        )

    def operation(self, file_name: str, path: str, method: str) -> tuple[str, dict] | None:
        uri = next(uri for uri in self.documents if uri.endswith("/" + file_name))
        for template, item in self.documents[uri]["paths"].items():
            if _shape(template) == path and method in item:
                return uri, item[method]
        return None

    def validator(self, uri: str, schema: dict) -> Draft4Validator:
        return Draft4Validator(_absolute_refs(schema, uri), registry=self.registry)


def _absolute_refs(node: Any, base_uri: str) -> Any:
    """Make the ``$ref``s of a schema taken out of its document absolute, so that they resolve from anywhere."""
    if isinstance(node, list):
        return [_absolute_refs(item, base_uri) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _absolute_refs(value, base_uri) for key, value in node.items()}
    if isinstance(result.get("$ref"), str):
        result["$ref"] = urljoin(base_uri, result["$ref"])
    return result


def _loosen(node: Any) -> None:
    """``oneOf`` -> ``anyOf`` (OpenAPI objects allow extra properties, so a single object often matches two
    alternatives, e.g. ``TaskViewV1`` and the batch result); drop placeholder names such as ``<ID>`` from
    ``required`` lists (the spec marks the example key of a free-form map as required)."""
    if isinstance(node, list):
        for item in node:
            _loosen(item)
        return
    if not isinstance(node, dict):
        return
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if isinstance(node.get("required"), list):
        node["required"] = [name for name in node["required"] if not str(name).startswith("<")]
        if not node["required"]:
            del node["required"]
    for value in node.values():
        _loosen(value)


def _shape(template: str) -> str:
    """A path with every ``{param}`` replaced by ``{}``, so that differently named params match."""
    parts = template.split("/")
    return "/".join("{}" if part.startswith("{") else part for part in parts)


def _spec_location(route_template: str) -> tuple[str, str]:
    if route_template.startswith("/api/v1/"):
        return "fullApi.yaml", _shape(route_template[len("/api/v1") :])
    if route_template.startswith("/api/app/v0/"):
        return "openapi.yaml", _shape(route_template[len("/api/app/v0") :])
    raise KeyError(route_template)


# ----------------------------------------------------------------------------------------------- the scenario


class Recorder:
    """Calls the emulator and records (method, route template, status, body) of every answer."""

    def __init__(self, emulator: TolokaEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"OAuth {emulator.token}"
        self.calls: list[tuple[str, str, int, Any]] = []

    def __call__(self, method: str, path: str, expected: int | tuple = 200, **kwargs) -> Any:
        response = self.session.request(method, self.emulator.url + path, timeout=10, **kwargs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text[:300]}"
        route, _ = self.emulator.router.resolve(method, path.split("?")[0])
        content_type = response.headers.get("Content-Type", "")
        body = response.json() if response.content and content_type.startswith("application/json") else None
        self.calls.append((method, route.template, response.status_code, body))
        return body

    def wait_operation(self, operation_id: str) -> dict:
        deadline = time.monotonic() + 10
        while (operation := self("GET", f"/api/v1/operations/{operation_id}"))["status"] not in ("SUCCESS", "FAIL"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return operation


def run_scenario(call: Recorder, emulator: TolokaEmulator, receiver_url: str) -> None:
    v1 = "/api/v1"
    project_body = {
        "public_name": "Sentiment",
        "public_description": "Label the sentiment",
        "public_instructions": "Read and choose",
        "task_spec": {
            "input_spec": {"text": {"type": "string", "required": True}},
            "output_spec": {"label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}},
        },
        "assignments_issuing_type": "AUTOMATED",
    }
    project = call("POST", f"{v1}/projects", 201, json=project_body)
    call("GET", f"{v1}/projects/{project['id']}")
    call("GET", f"{v1}/projects", params={"limit": 5})
    call("POST", f"/api/staging/projects/{project['id']}/check", json={**project_body, "public_name": "Renamed"})
    call("PUT", f"{v1}/projects/{project['id']}", json={**project_body, "public_name": "Sentiment 2"})

    training = call(
        "POST",
        f"{v1}/trainings",
        201,
        json={
            "project_id": project["id"],
            "private_name": "training",
            "inherited_instructions": True,
            "training_tasks_in_task_suite_count": 2,
            "task_suites_required_to_pass": 1,
            "assignment_max_duration_seconds": 600,
            "may_contain_adult_content": False,
        },
    )
    call("GET", f"{v1}/trainings/{training['id']}")
    call(
        "POST",
        f"{v1}/tasks",
        201,
        json=[
            {"pool_id": training["id"], "input_values": {"text": f"train {i}"}, "infinite_overlap": True,
             "known_solutions": [{"output_values": {"label": "pos"}, "correctness_weight": 1}],
             "message_on_unknown_solution": "It is positive"}
            for i in range(2)
        ],
    )
    call("GET", f"{v1}/trainings", params={"project_id": project["id"]})
    call("POST", f"{v1}/trainings/{training['id']}/open", 202)
    call("POST", f"{v1}/trainings/{training['id']}/open", 204)
    call("POST", f"{v1}/trainings/{training['id']}/close", 202)
    call("POST", f"{v1}/trainings/{training['id']}/close", 204)
    call("PUT", f"{v1}/trainings/{training['id']}", json={**{k: v for k, v in training.items() if k not in ("id", "status", "created")}, "private_name": "training 2"})
    call("POST", f"{v1}/trainings/{training['id']}/close-for-update", (202, 204))
    clone = call("POST", f"{v1}/trainings/{training['id']}/clone", 202)
    call.wait_operation(clone["id"])
    call("POST", f"{v1}/trainings/{training['id']}/archive", 202)

    pool_body = {
        "project_id": project["id"],
        "private_name": "pool",
        "may_contain_adult_content": False,
        "reward_per_assignment": 0.05,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": False,
        "auto_accept_period_day": 7,
        "defaults": {"default_overlap_for_new_task_suites": 2, "default_overlap_for_new_tasks": 2},
        "mixer_config": {"real_tasks_count": 3, "golden_tasks_count": 1, "training_tasks_count": 0},
    }
    pool = call("POST", f"{v1}/pools", 201, json=pool_body)
    call("GET", f"{v1}/pools/{pool['id']}")
    call("GET", f"{v1}/pools", params={"project_id": project["id"], "sort": "-id"})
    call("PATCH", f"{v1}/pools/{pool['id']}", json={"priority": 10})
    call("PUT", f"{v1}/pools/{pool['id']}", json={**pool_body, "private_name": "pool 2"})

    tasks = [{"pool_id": pool["id"], "input_values": {"text": f"text {i}"}, "overlap": 2} for i in range(12)]
    golden = [
        {"pool_id": pool["id"], "input_values": {"text": f"golden {i}"}, "infinite_overlap": True,
         "known_solutions": [{"output_values": {"label": "pos"}, "correctness_weight": 1}]}
        for i in range(3)
    ]
    created = call("POST", f"{v1}/tasks", 201, json=tasks[:6] + golden)
    single = call("POST", f"{v1}/tasks", 201, json=tasks[6])
    operation = call("POST", f"{v1}/tasks", (201, 202), params={"async_mode": "true", "operation_id": "6f1c7d4e-0000-4000-8000-000000000001"}, json=tasks[7:])
    call.wait_operation(operation["id"])
    call("GET", f"{v1}/operations/{operation['id']}/log")
    call("GET", f"{v1}/tasks/{single['id']}")
    call("GET", f"{v1}/tasks", params={"pool_id": pool["id"], "limit": 5})
    call("PATCH", f"{v1}/tasks/{created['items']['0']['id']}", json={"overlap": 2, "infinite_overlap": False})
    call("PATCH", f"{v1}/tasks/{created['items']['1']['id']}/set-overlap-or-min", json={"overlap": 2})

    suite_pool = call("POST", f"{v1}/pools", 201, json={**pool_body, "private_name": "suites"})
    suite_body = {"pool_id": suite_pool["id"], "overlap": 1, "tasks": [{"input_values": {"text": "in a suite"}}]}
    suites = call("POST", f"{v1}/task-suites", 201, json=[suite_body, suite_body])
    call("POST", f"{v1}/task-suites", 201, json=suite_body)
    suite_operation = call("POST", f"{v1}/task-suites", (201, 202), params={"async_mode": "true"}, json=[suite_body])
    call.wait_operation(suite_operation["id"])
    suite_id = suites["items"]["0"]["id"]
    call("GET", f"{v1}/task-suites/{suite_id}")
    call("GET", f"{v1}/task-suites", params={"pool_id": suite_pool["id"]})
    call("PATCH", f"{v1}/task-suites/{suite_id}", json={"overlap": 1, "infinite_overlap": False})
    call("PATCH", f"{v1}/task-suites/{suite_id}/set-overlap-or-min", json={"overlap": 1})

    call("POST", f"{v1}/pools/{pool['id']}/open", 202)
    call("POST", f"{v1}/pools/{pool['id']}/open", (202, 204))
    deadline = time.monotonic() + 20
    while call("GET", f"{v1}/pools/{pool['id']}")["status"] == "OPEN":
        assert time.monotonic() < deadline, "the crowd did not complete the pool"
        time.sleep(0.02)
    assignments = call("GET", f"{v1}/assignments", params={"pool_id": pool["id"], "status": "SUBMITTED", "limit": 1000})["items"]
    assert assignments
    call("GET", f"{v1}/assignments/{assignments[0]['id']}")
    call("PATCH", f"{v1}/assignments/{assignments[0]['id']}", json={"status": "ACCEPTED", "public_comment": "ok"})
    call("PATCH", f"{v1}/assignments/{assignments[1]['id']}", json={"status": "REJECTED", "public_comment": "no"})
    call("PATCH", f"{v1}/assignments/{assignments[1]['id']}", 409, json={"status": "REJECTED", "public_comment": "no"})

    with emulator.state.lock:
        attachment = emulator.state.create(
            "attachments",
            {
                "name": "photo.png",
                "attachment_type": "ASSIGNMENT_ATTACHMENT",
                "media_type": "image/png",
                "details": {"user_id": assignments[0]["user_id"], "assignment_id": assignments[0]["id"], "pool_id": pool["id"]},
                "pool_id": pool["id"],
                "owner": {"id": emulator.state.requester_id, "myself": True},
            },
        )
        emulator.state.attachment_content[attachment["id"]] = b"\x89PNG..."
    call("GET", f"{v1}/attachments", params={"pool_id": pool["id"]})
    call("GET", f"{v1}/attachments/{attachment['id']}")
    call("GET", f"{v1}/attachments/{attachment['id']}/download")

    aggregation = call("POST", f"{v1}/aggregated-solutions/aggregate-by-pool", (201, 202), json={"type": "DAWID_SKENE", "pool_id": pool["id"], "fields": [{"name": "label"}]})
    call.wait_operation(aggregation["id"])
    call("GET", f"{v1}/aggregated-solutions/{aggregation['id']}", params={"limit": 5})
    call("POST", f"{v1}/aggregated-solutions/aggregate-by-task", (200, 201), json={"type": "WEIGHTED_DYNAMIC_OVERLAP", "pool_id": pool["id"], "task_id": created["items"]["0"]["id"], "answer_weight_skill_id": "1", "fields": [{"name": "label"}]})

    analytics = call("POST", "/api/staging/analytics-2", (201, 202), json=[{"subject": "POOL", "subject_id": pool["id"], "name": name} for name in ("completion_percentage", "submitted_assignments_count", "spent_budget")])
    call.wait_operation(analytics["id"])
    call("GET", f"{v1}/operations", params={"limit": 10})

    bonus = {"user_id": assignments[0]["user_id"], "amount": 0.5, "public_title": {"EN": "Thanks"}, "public_message": {"EN": "Good work"}, "assignment_id": assignments[0]["id"]}
    bonuses = call("POST", f"{v1}/user-bonuses", 201, json=[bonus])
    call("POST", f"{v1}/user-bonuses", 201, json={**bonus, "amount": 0.25})
    bonus_operation = call("POST", f"{v1}/user-bonuses", (201, 202), params={"async_mode": "true"}, json=[{**bonus, "amount": 0.75}])
    call.wait_operation(bonus_operation["id"])
    call("GET", f"{v1}/user-bonuses/{bonuses['items']['0']['id']}")
    call("GET", f"{v1}/user-bonuses", params={"user_id": bonus["user_id"]})
    call("GET", f"{v1}/requester")

    run_quality_scenario(call, project, pool, assignments, receiver_url)

    call("POST", f"{v1}/pools/{pool['id']}/close", (202, 204))
    call("POST", f"{v1}/pools/{suite_pool['id']}/open", 202)
    call("POST", f"{v1}/pools/{suite_pool['id']}/close-for-update", (202, 204))
    call("POST", f"{v1}/pools/{suite_pool['id']}/close", (202, 204))
    clone = call("POST", f"{v1}/pools/{pool['id']}/clone", 202)
    call.wait_operation(clone["id"])
    call("POST", f"{v1}/pools/{pool['id']}/archive", 202)
    call("POST", f"{v1}/projects/{project['id']}/archive", (202, 409))
    call("GET", f"{v1}/pools/does-not-exist", 404)

    app = "/api/app/v0"
    call("GET", f"{app}/apps")
    call("GET", f"{app}/apps/text-classification")
    app_project = call("POST", f"{app}/app-projects", json={"app_id": "text-classification", "name": "T", "parameters": {"name": "T", "default_language": "en", "instruction_classes": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]}})
    deadline = time.monotonic() + 5
    while call("GET", f"{app}/app-projects/{app_project['id']}")["status"] != "READY":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    call("GET", f"{app}/app-projects", params={"limit": 10})
    batch = call("POST", f"{app}/app-projects/{app_project['id']}/batches", json={"name": "b", "items": [{"text": f"t{i}"} for i in range(5)]})
    call("POST", f"{app}/app-projects/{app_project['id']}/items", json={"batch_id": batch["id"], "input_data": {"text": "one more"}})
    call("POST", f"{app}/app-projects/{app_project['id']}/items/bulk", json={"batch_id": batch["id"], "items": [{"text": "bulk"}]})
    call("PATCH", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}", json={"name": "renamed"})
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}/start")
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}/stop", (200, 409))
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}/resume")
    deadline = time.monotonic() + 10
    while call("GET", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}")["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    call("GET", f"{app}/app-projects/{app_project['id']}/batches")
    items = call("GET", f"{app}/app-projects/{app_project['id']}/items", params={"batch_id": batch["id"]})
    call("GET", f"{app}/app-projects/{app_project['id']}/items/{items['content'][0]['id']}")
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}/archive")
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/{batch['id']}/unarchive")
    call("POST", f"{app}/app-projects/{app_project['id']}/batches/sync", json={"name": "now", "items": [{"text": "sync 1"}, {"text": "sync 2"}]})
    call("POST", f"{app}/app-projects/{app_project['id']}/archive")
    call("POST", f"{app}/app-projects/{app_project['id']}/unarchive")
    call("GET", f"{app}/app-projects/nope", 404)


def run_quality_scenario(call: Recorder, project: dict, pool: dict, assignments: list, receiver_url: str) -> None:
    """Skills, user skills, restrictions, user metadata, message threads, webhooks, the TSV export."""
    v1 = "/api/v1"
    worker = assignments[0]["user_id"]
    skill = call("POST", f"{v1}/skills", 201, json={"name": "accuracy", "public_name": {"EN": "Accuracy"}, "hidden": True})
    call("GET", f"{v1}/skills/{skill['id']}")
    call("PUT", f"{v1}/skills/{skill['id']}", json={"name": "accuracy 2", "private_comment": "from golden tasks"})
    call("GET", f"{v1}/skills", params={"name": "accuracy 2", "sort": "-created"})
    user_skill = call("PUT", f"{v1}/user-skills", json={"skill_id": skill["id"], "user_id": worker, "value": 87.5, "reason": "golden"})
    call("GET", f"{v1}/user-skills/{user_skill['id']}")
    call("GET", f"{v1}/user-skills", params={"user_id": worker})
    call("DELETE", f"{v1}/user-skills/{user_skill['id']}", 204)
    call("GET", f"{v1}/user-skills/{user_skill['id']}", 404)
    restrictions = [
        call("PUT", f"{v1}/user-restrictions", json={"scope": "SYSTEM", "user_id": worker, "private_comment": "spam"}),
        call("PUT", f"{v1}/user-restrictions", json={"scope": "ALL_PROJECTS", "user_id": worker, "will_expire": "2099-01-01T00:00:00"}),
        call("PUT", f"{v1}/user-restrictions", json={"scope": "PROJECT", "user_id": worker, "project_id": project["id"]}),
        call("PUT", f"{v1}/user-restrictions", json={"scope": "POOL", "user_id": worker, "pool_id": pool["id"]}),
    ]
    call("PUT", f"{v1}/user-restrictions", 400, json={"scope": "POOL", "user_id": worker})
    call("GET", f"{v1}/user-restrictions/{restrictions[3]['id']}")
    call("GET", f"{v1}/user-restrictions", params={"user_id": worker, "scope": "POOL"})
    for restriction in restrictions:
        call("DELETE", f"{v1}/user-restrictions/{restriction['id']}", 204)
    call("GET", f"{v1}/user-metadata/{worker}")
    call("GET", f"{v1}/user-metadata/nobody", 404)

    thread = call("POST", f"{v1}/message-threads/compose", 201, json={"topic": {"EN": "Hello"}, "text": {"EN": "Thanks"}, "answerable": True, "recipients_select_type": "DIRECT", "recipients_ids": [worker]})
    call("POST", f"{v1}/message-threads/compose", 201, json={"topic": {"EN": "All"}, "text": {"EN": "News"}, "answerable": False, "recipients_select_type": "ALL"})
    call("POST", f"{v1}/message-threads/compose", 201, json={"topic": {"EN": "Some"}, "text": {"EN": "News"}, "answerable": False, "recipients_select_type": "FILTER", "recipients_filter": {"and": [{"category": "profile", "key": "languages", "operator": "IN", "value": "EN"}]}})
    call("POST", f"{v1}/message-threads/{thread['id']}/reply", 201, json={"text": {"EN": "One more thing"}})
    call("POST", f"{v1}/message-threads/{thread['id']}/add-to-folders", 201, json={"folders": ["IMPORTANT", "UNREAD"]})
    call("POST", f"{v1}/message-threads/{thread['id']}/remove-from-folders", 201, json={"folders": ["UNREAD"]})
    call("GET", f"{v1}/message-threads", params={"folder": "OUTBOX,IMPORTANT", "folder_ne": "UNREAD", "sort": "id"})

    subscription = call("PUT", f"{v1}/webhook-subscriptions", json={"webhook_url": receiver_url, "event_type": "POOL_CLOSED", "pool_id": pool["id"], "secret_key": "s3cret"})
    call("PUT", f"{v1}/webhook-subscriptions", json=[{"webhook_url": receiver_url, "event_type": "ASSIGNMENT_SUBMITTED", "pool_id": pool["id"]}])
    call("PUT", f"{v1}/webhook-subscriptions", 400, json={"webhook_url": "http://example.com/hook", "event_type": "POOL_CLOSED", "pool_id": pool["id"]})
    call("GET", f"{v1}/webhook-subscriptions/{subscription['id']}")
    call("GET", f"{v1}/webhook-subscriptions", params={"pool_id": pool["id"], "event_type": "POOL_CLOSED"})
    call("POST", f"{v1}/webhook-subscriptions/{subscription['id']}/test", 201)
    extra = call("PUT", f"{v1}/webhook-subscriptions", json={"webhook_url": receiver_url, "event_type": "ASSIGNMENT_APPROVED", "pool_id": pool["id"]})
    call("DELETE", f"{v1}/webhook-subscriptions/{extra['id']}", 204)
    call("DELETE", f"{v1}/webhook-subscriptions/{extra['id']}", 404)

    call("GET", f"/api/new/requester/pools/{pool['id']}/assignments.tsv", params={"status": "SUBMITTED,APPROVED,REJECTED", "addRowDelimiter": "false"})


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


# ----------------------------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def recorded():
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with TolokaEmulator(seed=1, crowd=10, speed=5000.0) as emulator:
            call = Recorder(emulator)
            run_scenario(call, emulator, f"http://127.0.0.1:{receiver.server_address[1]}/hook")
            _templates, methods = _served(emulator)
            yield call.calls, methods
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)


def _served(emulator: TolokaEmulator) -> tuple[set, dict]:
    templates = {template for template in emulator.router.templates if template.startswith("/api/")}
    methods: dict[str, set] = {}
    for template in templates:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            found = emulator.router.resolve(method, template)
            if found is not None and found[0].template == template:
                methods.setdefault(template, set()).add(method)
    return templates, methods


@pytest.fixture(scope="module")
def spec():
    return Spec(SPEC_ROOT)


def _schema_for(spec: Spec, method: str, template: str, status: int) -> tuple[str, dict] | str | None:
    if template in NOT_IN_SPEC:
        file_name, path, spec_method = NOT_IN_SPEC[template]
        uri, operation = spec.operation(file_name, path, spec_method)
        status = 200
    else:
        file_name, path = _spec_location(template)
        found = spec.operation(file_name, path, method.lower())
        if found is None:
            return "no such operation in the spec"
        uri, operation = found
    response = (operation.get("responses") or {}).get(str(status))
    if response is None:
        return f"status {status} not documented (documented: {sorted(operation.get('responses') or {})})"
    schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
    return (uri, schema) if schema else None


def _describe(error) -> str:
    """The deepest cause of a validation error (oneOf/anyOf errors hide it in their context)."""
    causes = sorted(error.context or (), key=lambda e: -len(e.absolute_path))
    if causes:
        cause = causes[0]
        return f"{error.validator}: {'/'.join(map(str, cause.absolute_path))}: {cause.message[:200]}"
    return f"{error.validator}: {error.message[-250:]}"


def test_every_answer_matches_the_openapi_schema(recorded, spec):
    calls, _ = recorded
    problems = []
    validated = 0
    for method, template, status, body in calls:
        if status >= 400:
            errors = list(Draft4Validator(ERROR_BODY_SCHEMA).iter_errors(body))
            problems += [f"{method} {template} {status}: error body {error.message}" for error in errors]
            continue
        if template in NOT_JSON_NOT_IN_SPEC:
            continue
        if template in INLINE_SCHEMAS:
            for error in Draft4Validator(INLINE_SCHEMAS[template]).iter_errors(body):
                problems.append(f"{method} {template} {status}: {error.message}")
            continue
        found = _schema_for(spec, method, template, status)
        if isinstance(found, str):
            if (method, template, status) not in DEVIATIONS:
                problems.append(f"{method} {template} {status}: {found}")
            continue
        if found is None:
            continue
        uri, schema = found
        if status == 204:
            continue
        validator = spec.validator(uri, copy.deepcopy(schema))
        for error in validator.iter_errors(body):
            location = "/".join(map(str, error.absolute_path)) or "(root)"
            problems.append(f"{method} {template} {status}: at {location}: {_describe(error)}")
        validated += 1
    assert not problems, "\n".join(problems)
    assert validated > 60


def test_the_scenario_covers_every_api_route(recorded):
    calls, methods = recorded
    exercised = {(method, template) for method, template, _, _ in calls}
    served = {(method, template) for template, verbs in methods.items() for method in verbs}
    assert sorted(served - exercised) == []
