"""An in-memory stand-in for ``TolokaClient`` and a minimal task context, shared by the ``test_op_*`` files.

The fake keeps just enough server state (objects, statuses, operations by id) to check what operators
send and what a second try of the same task instance does. Emulator-backed tests check the real wire.
Imported by the other test files with ``load_fakes()``; the one test here checks the fake itself.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from toloka_provider.client.errors import ConflictStateApiError, DoesNotExistApiError, ValidationApiError


class Obj(SimpleNamespace):
    def to_json_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


class FakeToloka:
    """Records every call as ``(method, args, kwargs)`` in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.ids = itertools.count(1)
        self.projects: dict[str, Obj] = {}
        self.pools: dict[str, Obj] = {}
        self.trainings: dict[str, Obj] = {}
        self.tasks: list[dict] = []
        self.operations: dict[str, Any] = {}
        self.assignments: dict[str, dict] = {}
        self.assignment_pages: list[list[dict]] = []
        self.batches: dict[str, Obj] = {}
        self.items: list[dict] = []
        self.aggregated: list[Obj] = []
        self.fail_patch: dict[str, Exception] = {}

    def _log(self, method: str, /, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def _new(self, store: dict, config: dict, **extra: Any) -> Obj:
        obj = Obj(**{**config, **extra, "id": str(next(self.ids))})
        store[obj.id] = obj
        return obj

    # projects, pools, trainings
    def get_projects(self, **filters):
        self._log("get_projects", **filters)
        return iter([p for p in self.projects.values() if p.status == filters.get("status", p.status)])

    def create_project(self, config):
        self._log("create_project", config)
        if "public_name" not in config:
            raise ValidationApiError(400, "VALIDATION_ERROR", "Validation failed", "r1",
                                     {"public_name": {"code": "VALUE_REQUIRED", "message": "required"}},
                                     "POST", "/api/v1/projects")
        return self._new(self.projects, config, status="ACTIVE")

    def get_pools(self, **filters):
        self._log("get_pools", **filters)
        return iter([p for p in self.pools.values() if p.project_id == filters.get("project_id")])

    def create_pool(self, config):
        self._log("create_pool", config)
        return self._new(self.pools, config, status="CLOSED", last_close_reason=None)

    def get_trainings(self, **filters):
        self._log("get_trainings", **filters)
        return iter([p for p in self.trainings.values() if p.project_id == filters.get("project_id")])

    def create_training(self, config):
        self._log("create_training", config)
        return self._new(self.trainings, config, status="CLOSED", last_close_reason=None)

    def _change(self, store: dict, object_id: str, status: str, allowed_from: tuple[str, ...]) -> Obj:
        obj = store[object_id]
        if obj.status not in allowed_from and obj.status != status:
            raise ConflictStateApiError(409, "CONFLICT_STATE", f"cannot go {obj.status}->{status}", "r", None,
                                        "POST", f"/x/{object_id}")
        obj.status = status
        return obj

    def get_pool(self, pool_id):
        self._log("get_pool", pool_id)
        return _existing(self.pools, "pool", pool_id)

    # The waits (toloka_provider.waiting) are plans that the client runs (run_plan); the fake answers the
    # pool reads from its state (logged as get_pool, like the method).
    @staticmethod
    def new_retry_policy():
        from toloka_provider.client.retry import RetryPolicy

        return RetryPolicy(total=0)

    def run_plan(self, plan, *, sleep=None, clock=None):
        import time

        from toloka_provider.client.protocol import Now, Sleep

        sent = None
        while True:
            try:
                effect = plan.send(sent)
            except StopIteration as stop:
                return stop.value
            if type(effect) is Sleep:
                sent = (sleep or time.sleep)(effect.seconds)
            elif type(effect) is Now:
                sent = (clock or time.monotonic)()
            else:
                sent = self._perform(effect)

    def _perform(self, effect):
        import json
        import re

        from toloka_provider.client.protocol import Request, Response

        found = re.fullmatch(r"/api/v1/pools/([^/]+)", effect.path) if type(effect) is Request else None
        if found is None or effect.method != "GET":
            raise AssertionError(f"the fake client does not serve {effect!r}")
        return Response(200, json.dumps(self.get_pool(found.group(1)).to_json_dict()).encode())

    def open_pool(self, pool_id):
        self._log("open_pool", pool_id)
        return self._change(self.pools, pool_id, "OPEN", ("CLOSED",))

    def close_pool(self, pool_id):
        self._log("close_pool", pool_id)
        return self._change(self.pools, pool_id, "CLOSED", ("OPEN",))

    def archive_pool(self, pool_id):
        self._log("archive_pool", pool_id)
        return self._change(self.pools, pool_id, "ARCHIVED", ("CLOSED",))

    def get_training(self, training_id):
        self._log("get_training", training_id)
        return _existing(self.trainings, "training", training_id)

    def open_training(self, training_id):
        self._log("open_training", training_id)
        return self._change(self.trainings, training_id, "OPEN", ("CLOSED",))

    def close_training(self, training_id):
        self._log("close_training", training_id)
        return self._change(self.trainings, training_id, "CLOSED", ("OPEN",))

    def archive_training(self, training_id):
        self._log("archive_training", training_id)
        return self._change(self.trainings, training_id, "ARCHIVED", ("CLOSED",))

    # tasks: an operation id seen before resumes that operation (as the real client does)
    def create_tasks(self, tasks, **kwargs):
        tasks = list(tasks)
        self._log("create_tasks", tasks, **kwargs)
        operation_id = kwargs["operation_id"]
        if operation_id in self.operations:
            return self.operations[operation_id]
        items, errors = {}, {}
        for index, task in enumerate(tasks):
            if "input_values" not in task:
                errors[str(index)] = {"input_values": {"code": "VALUE_REQUIRED", "message": "required"}}
            else:
                items[str(index)] = Obj(**task, id=f"t{len(self.tasks)}")
                self.tasks.append(task)
        if errors and not kwargs["skip_invalid_items"]:
            for _ in items:
                self.tasks.pop()
            raise ValidationApiError(400, "VALIDATION_ERROR", "invalid", "r", errors, "POST", "/api/v1/tasks")
        if errors and not items:
            raise ValidationApiError(400, "VALIDATION_ERROR", "invalid", "r", errors, "POST", "/api/v1/tasks")
        result = Obj(items=items, validation_errors=errors)
        self.operations[operation_id] = result
        if kwargs.get("open_pool"):
            self.pools[tasks[0]["pool_id"]].status = "OPEN"
        return result

    # assignments
    def get_assignments_raw(self, *, batch_size=None, **filters):
        self._log("get_assignments_raw", batch_size=batch_size, **filters)
        return iter(self.assignment_pages)

    def get_assignment(self, assignment_id):
        self._log("get_assignment", assignment_id)
        return Obj(**self.assignments[assignment_id])

    def _patch(self, assignment_id, status, comment):
        if assignment_id in self.fail_patch:
            raise self.fail_patch[assignment_id]
        current = self.assignments[assignment_id]
        if current["status"] != "SUBMITTED" and not (current["status"] == "REJECTED" and status == "ACCEPTED"):
            raise ConflictStateApiError(409, "CONFLICT_STATE", "already decided", "r", None, "PATCH", "/a")
        current["status"] = status
        current["public_comment"] = comment
        return Obj(**current)

    def accept_assignment(self, assignment_id, public_comment=None):
        self._log("accept_assignment", assignment_id, public_comment=public_comment)
        return self._patch(assignment_id, "ACCEPTED", public_comment)

    def reject_assignment(self, assignment_id, public_comment):
        self._log("reject_assignment", assignment_id, public_comment=public_comment)
        return self._patch(assignment_id, "REJECTED", public_comment)

    # aggregation
    def aggregate_solutions_by_pool(self, **kwargs):
        self._log("aggregate_solutions_by_pool", **kwargs)
        return FakeOperation("op-agg", "RUNNING")

    def wait_operation(self, operation, timeout=600.0, poll_interval=1.0):
        self._log("wait_operation", operation.id, timeout=timeout, poll_interval=poll_interval)
        return FakeOperation(operation.id, "SUCCESS")

    def get_aggregated_solutions(self, operation_id, batch_size=None):
        self._log("get_aggregated_solutions", operation_id)
        return iter(self.aggregated)

    # apps
    def get_app_batches(self, app_project_id, **filters):
        self._log("get_app_batches", app_project_id, **filters)
        return iter([b for b in self.batches.values() if b.app_project_id == app_project_id])

    def create_app_batch(self, app_project_id, name, items, priority_order=None):
        self._log("create_app_batch", app_project_id, name=name, items=list(items), priority_order=priority_order)
        return self._new(self.batches, {"app_project_id": app_project_id, "name": name}, status="NEW",
                         items_count=len(items))

    def start_app_batch(self, app_project_id, batch_id):
        self._log("start_app_batch", app_project_id, batch_id)
        batch = self.batches[batch_id]
        if batch.status != "NEW":
            raise ConflictStateApiError(409, "CONFLICT_STATE", "started", "r", None, "POST", "/b")
        batch.status = "PROCESSING"

    def get_app_batch(self, app_project_id, batch_id):
        self._log("get_app_batch", app_project_id, batch_id)
        return self.batches[batch_id]

    def get_app_items(self, app_project_id, **filters):
        self._log("get_app_items", app_project_id, **filters)
        return iter([Obj(**i) for i in self.items if all(i.get(k) == v for k, v in filters.items())])


def _existing(store: dict, kind: str, object_id: str) -> Obj:
    """The object, or the 404 the real client raises."""
    if object_id not in store:
        raise DoesNotExistApiError(404, "DOES_NOT_EXIST", f"{kind} {object_id!r} does not exist", "r", None,
                                   "GET", f"/api/v1/{kind}s/{object_id}")
    return store[object_id]


class FakeOperation(Obj):
    def __init__(self, op_id: str, status: str) -> None:
        super().__init__(id=op_id, status=status)

    def is_completed(self) -> bool:
        return self.status in ("SUCCESS", "FAIL")

    def raise_on_fail(self) -> None:
        if self.status == "FAIL":
            raise RuntimeError("operation failed")


class FakeTI:
    def __init__(self, dag_id="dag", run_id="run-1", task_id="task", map_index=-1):
        self.dag_id, self.run_id, self.task_id, self.map_index = dag_id, run_id, task_id, map_index
        self.try_number = 1
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def make_context(**ti_kwargs: Any) -> dict:
    ti = FakeTI(**ti_kwargs)
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=ti.run_id), "data_interval_start": None,
            "data_interval_end": None}


def install(monkeypatch: pytest.MonkeyPatch, fake: FakeToloka | None = None) -> FakeToloka:
    """Make every TolokaHook return ``fake`` and a fixed web UI URL."""
    from toloka_provider.hooks.toloka import TolokaHook

    fake = fake or FakeToloka()
    monkeypatch.setattr(TolokaHook, "get_conn", lambda self: fake)
    monkeypatch.setattr(
        TolokaHook,
        "web_ui_url",
        lambda self, project_id=None, pool_id=None: f"https://ui/{project_id or ''}/{pool_id or ''}",
    )
    return fake


def test_fake_resumes_a_known_operation_id():
    fake = FakeToloka()
    first = fake.create_tasks([{"pool_id": "1", "input_values": {}}], operation_id="x", skip_invalid_items=False)
    second = fake.create_tasks([{"pool_id": "1", "input_values": {}}], operation_id="x", skip_invalid_items=False)
    assert first is second and len(fake.tasks) == 1
