"""One case per public client method: the exact method, path, query and body sent, and the parsed result.

Every case runs twice, over ``TolokaClient`` (HTTP mocked with ``responses``) and over ``AsyncTolokaClient``
(HTTP mocked with an ``httpx.MockTransport``), from the same case table.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import models

V1 = "/api/v1"
APPS = "/api/app/v0"
ANY = object()  # matches any value (random operation ids)

PROJECT = {"id": "11", "public_name": "Cats", "status": "ACTIVE", "created": "2024-01-01T10:00:00.123"}
POOL = {"id": "21", "project_id": "11", "private_name": "p", "status": "OPEN", "reward_per_assignment": 0.05}
TRAINING = {"id": "31", "project_id": "11", "private_name": "t", "status": "CLOSED"}
TASK = {"id": "t1", "pool_id": "21", "input_values": {"url": "a"}, "overlap": 3}
SUITE = {"id": "s1", "pool_id": "21", "tasks": [{"input_values": {"url": "a"}}]}
ASSIGNMENT = {"id": "a1", "pool_id": "21", "status": "SUBMITTED", "reward": 0.01, "solutions": [{"output_values": {"l": "cat"}}]}
ATTACHMENT = {"id": "f1", "name": "x.png", "attachment_type": "ASSIGNMENT_ATTACHMENT", "details": {"pool_id": "21"}}
BONUS = {"id": "b1", "user_id": "u1", "amount": 1.5, "public_title": {"EN": "thanks"}}
REQUESTER = {"id": "r1", "balance": 100.25, "public_name": {"EN": "Me"}}
AGG = {"pool_id": "21", "task_id": "t1", "confidence": 0.9, "output_values": {"l": "cat"}}
APP_PROJECT = {"id": "ap1", "app_id": "app", "name": "n", "status": "READY"}
APP_BATCH = {"id": "ab1", "app_project_id": "ap1", "name": "b", "status": "NEW", "items_count": 2}
APP_ITEM = {"id": "ai1", "app_project_id": "ap1", "batch_id": "ab1", "status": "COMPLETED"}


def op(op_id: str, status: str = "SUCCESS", type_: str = "POOL.OPEN", **extra: Any) -> dict:
    return {"id": op_id, "type": type_, "status": status, "submitted": "2024-01-01T00:00:00", **extra}


def page(*items: dict, has_more: bool = False, key: str = "items") -> dict:
    return {key: list(items), "has_more": has_more}


class Case:
    def __init__(self, method: str, args: tuple, kwargs: dict, exchanges: list, check: Callable[[Any], Any]):
        self.method, self.args, self.kwargs, self.exchanges, self.check = method, args, kwargs, exchanges, check
        self.id = method


def x(method: str, path: str, query: dict | None = None, body: Any = None, status: int = 200, reply: Any = None):
    """One expected request and the reply to it."""
    return (method, path, query or {}, body), (status, reply)


def is_model(cls: type, **fields: Any) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert isinstance(result, cls), result
        for name, value in fields.items():
            assert getattr(result, name) == value, (name, getattr(result, name))

    return check


def ids(*expected: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        items = result.items if isinstance(result, models.SearchResult) else result
        assert [item.id for item in items] == list(expected)

    return check


def action_cases(kind: str, model: type, obj: dict, object_id: str, op_prefix: str) -> list[Case]:
    base = f"{V1}/{kind}s/{object_id}"
    cases = []
    for method, action in (("open_{}", "open"), ("close_{}", "close"), ("close_{}_for_update", "close-for-update"), ("archive_{}", "archive")):
        cases.append(
            Case(
                method.format(kind),
                (object_id,),
                {},
                [
                    x("POST", f"{base}/{action}", status=202, reply=op("op-" + action, "RUNNING", f"{op_prefix}.{action.upper()}")),
                    x("GET", f"{V1}/operations/op-{action}", reply=op("op-" + action, "SUCCESS")),
                    x("GET", base, reply=obj),
                ],
                is_model(model, id=object_id),
            )
        )
    cases.append(
        Case(
            f"clone_{kind}",
            (object_id,),
            {},
            [
                x("POST", f"{base}/clone", status=202, reply=op("op-c", "SUCCESS", f"{op_prefix}.CLONE", details={f"{kind}_id": "99"})),
                x("GET", f"{V1}/{kind}s/99", reply={**obj, "id": "99"}),
            ],
            is_model(model, id="99"),
        )
    )
    return cases


def crud_cases(kind: str, plural_path: str, model: type, obj: dict, object_id: str) -> list[Case]:
    body = {key: value for key, value in obj.items() if key not in ("id", "status", "created")}
    return [
        Case(f"create_{kind}", (body,), {}, [x("POST", f"{V1}/{plural_path}", body=body, status=201, reply=obj)], is_model(model, id=object_id)),
        Case(f"get_{kind}", (object_id,), {}, [x("GET", f"{V1}/{plural_path}/{object_id}", reply=obj)], is_model(model, id=object_id)),
        Case(f"update_{kind}", (object_id, body), {}, [x("PUT", f"{V1}/{plural_path}/{object_id}", body=body, reply=obj)], is_model(model, id=object_id)),
    ]


def list_cases(name: str, path: str, obj: dict, filters: dict, query: dict, envelope: str = "items", default_limit: str = "300", args: tuple = ()) -> list[Case]:
    second = {**obj, "id": obj["id"] + "z"}
    return [
        Case(
            f"find_{name}",
            args,
            {**filters, "sort": "-id", "limit": 7},
            [x("GET", path, {**query, "sort": "-id", "limit": "7"}, reply=page(obj, has_more=True, key=envelope))],
            lambda result: (ids(obj["id"])(result), result.has_more is True),
        ),
        Case(
            f"get_{name}",
            args,
            filters,
            [
                x("GET", path, {**query, "sort": "id", "limit": default_limit}, reply=page(obj, has_more=True, key=envelope)),
                x("GET", path, {**query, "sort": "id", "limit": default_limit, "id_gt": obj["id"]}, reply=page(second, key=envelope)),
            ],
            ids(obj["id"], second["id"]),
        ),
    ]


def batch_async_cases(kind: str, plural: str, path: str, obj: dict, created_key: str, log_type: str, fetch_path: str, fetch_query: dict, extra_query: dict) -> list[Case]:
    body_in = {key: value for key, value in obj.items() if key != "id"}
    log = [
        {"type": log_type, "success": True, "input": {**body_in, "__item_idx": "0"}, "output": {created_key: obj["id"]}},
        {"type": log_type.replace("CREATE", "VALIDATE").replace("PERSIST", "VALIDATE"), "success": False, "input": {**body_in, "__item_idx": "1"}, "output": {"f": {"code": "VALUE_REQUIRED"}}},
    ]
    return [
        Case(
            f"create_{plural}",
            ([body_in, body_in],),
            {"operation_id": "op-fixed", "skip_invalid_items": True},
            [
                x("POST", path, {"async_mode": "true", "operation_id": "op-fixed", **extra_query, "skip_invalid_items": "true"},
                  body=[{**body_in, "__item_idx": "0"}, {**body_in, "__item_idx": "1"}], status=202, reply=op("op-fixed", "RUNNING")),
                x("GET", f"{V1}/operations/op-fixed", reply=op("op-fixed", "SUCCESS")),
                x("GET", f"{V1}/operations/op-fixed/log", reply=log),
                x("GET", fetch_path, {**fetch_query, "id_gte": obj["id"], "id_lte": obj["id"], "sort": "id", "limit": "300"}, reply=page(obj)),
            ],
            lambda result: (
                isinstance(result, models.BatchCreateResult)
                and list(result.items) == ["0"]
                and result.items["0"].id == obj["id"]
                and result.validation_errors == {"1": {"f": {"code": "VALUE_REQUIRED"}}}
            ) or pytest.fail(repr(result)),
        ),
        Case(
            f"create_{plural}_async",
            ([body_in],),
            {"operation_id": "op-a"},
            [x("POST", path, {"async_mode": "true", "operation_id": "op-a", **extra_query, "skip_invalid_items": "false"},
               body=[{**body_in, "__item_idx": "0"}], status=202, reply=op("op-a", "PENDING"))],
            is_model(models.Operation, id="op-a"),
        ),
        Case(
            f"create_{kind}",
            (body_in,),
            {},
            [
                x("POST", path, {"async_mode": "true", "operation_id": ANY, **{k: v for k, v in extra_query.items()}}, body=[{**body_in, "__item_idx": "0"}], status=202, reply=op("op-1", "SUCCESS")),
                x("GET", f"{V1}/operations/op-1/log", reply=log[:1]),
                x("GET", fetch_path, {**fetch_query, "id_gte": obj["id"], "id_lte": obj["id"], "sort": "id", "limit": "300"}, reply=page(obj)),
            ],
            is_model(type_for[kind], id=obj["id"]),
        ),
    ]


type_for = {"task": models.Task, "task_suite": models.TaskSuite, "user_bonus": models.UserBonus}

CASES: list[Case] = [
    Case("get_requester", (), {}, [x("GET", f"{V1}/requester", reply=REQUESTER)], is_model(models.Requester, id="r1", balance=Decimal("100.25"))),
    *crud_cases("project", "projects", models.Project, PROJECT, "11"),
    Case(
        "archive_project", ("11",), {},
        [x("POST", f"{V1}/projects/11/archive", status=202, reply=op("op-p", "RUNNING", "PROJECT.ARCHIVE")),
         x("GET", f"{V1}/operations/op-p", reply=op("op-p", "SUCCESS", "PROJECT.ARCHIVE")),
         x("GET", f"{V1}/projects/11", reply={**PROJECT, "status": "ARCHIVED"})],
        is_model(models.Project, id="11"),
    ),
    *list_cases("projects", f"{V1}/projects", PROJECT, {"status": "ACTIVE"}, {"status": "ACTIVE"}),
    *crud_cases("pool", "pools", models.Pool, POOL, "21"),
    Case("patch_pool", ("21", 40), {}, [x("PATCH", f"{V1}/pools/21", body={"priority": 40}, reply={**POOL, "priority": 40})], is_model(models.Pool, priority=40)),
    *action_cases("pool", models.Pool, POOL, "21", "POOL"),
    *list_cases("pools", f"{V1}/pools", POOL, {"project_id": "11", "status": models.PoolStatus.OPEN}, {"project_id": "11", "status": "OPEN"}),
    *crud_cases("training", "trainings", models.Training, TRAINING, "31"),
    *action_cases("training", models.Training, TRAINING, "31", "TRAINING"),
    *list_cases("trainings", f"{V1}/trainings", TRAINING, {"project_id": "11"}, {"project_id": "11"}),
    *batch_async_cases("task", "tasks", f"{V1}/tasks", TASK, "task_id", "TASK_CREATE", f"{V1}/tasks", {"pool_id": "21"}, {"allow_defaults": "false", "open_pool": "false"}),
    Case("get_task", ("t1",), {}, [x("GET", f"{V1}/tasks/t1", reply=TASK)], is_model(models.Task, id="t1", overlap=3)),
    Case("patch_task", ("t1",), {"overlap": 5, "open_pool": True}, [x("PATCH", f"{V1}/tasks/t1", {"open_pool": "true"}, body={"overlap": 5}, reply={**TASK, "overlap": 5})], is_model(models.Task, overlap=5)),
    Case("patch_task_overlap_or_min", ("t1",), {"overlap": 0}, [x("PATCH", f"{V1}/tasks/t1/set-overlap-or-min", body={"overlap": 0}, reply={**TASK, "overlap": 1})], is_model(models.Task, overlap=1)),
    *list_cases("tasks", f"{V1}/tasks", TASK, {"pool_id": "21", "created_gte": "2024-01-01T12:00:00+03:00"}, {"pool_id": "21", "created_gte": "2024-01-01T12:00:00+03:00"}),
    *batch_async_cases("task_suite", "task_suites", f"{V1}/task-suites", SUITE, "task_suite_id", "TASK_SUITE_CREATE", f"{V1}/task-suites", {"pool_id": "21"}, {"allow_defaults": "false", "open_pool": "false"}),
    Case("get_task_suite", ("s1",), {}, [x("GET", f"{V1}/task-suites/s1", reply=SUITE)], is_model(models.TaskSuite, id="s1")),
    Case("patch_task_suite", ("s1",), {"overlap": 2, "infinite_overlap": False}, [x("PATCH", f"{V1}/task-suites/s1", body={"overlap": 2, "infinite_overlap": False}, reply={**SUITE, "overlap": 2})], is_model(models.TaskSuite, overlap=2)),
    *list_cases("task_suites", f"{V1}/task-suites", SUITE, {"pool_id": "21", "overlap_gt": 1}, {"pool_id": "21", "overlap_gt": "1"}),
    Case("get_assignment", ("a1",), {}, [x("GET", f"{V1}/assignments/a1", reply=ASSIGNMENT)], is_model(models.Assignment, id="a1", reward=Decimal("0.01"))),
    Case("accept_assignment", ("a1", "good"), {}, [x("PATCH", f"{V1}/assignments/a1", body={"status": "ACCEPTED", "public_comment": "good"}, reply={**ASSIGNMENT, "status": "ACCEPTED"})], is_model(models.Assignment, status=models.AssignmentStatus.ACCEPTED)),
    Case("reject_assignment", ("a1", "bad"), {}, [x("PATCH", f"{V1}/assignments/a1", body={"status": "REJECTED", "public_comment": "bad"}, reply={**ASSIGNMENT, "status": "REJECTED"})], is_model(models.Assignment, status="REJECTED")),
    Case("patch_assignment", ("a1", models.AssignmentStatus.ACCEPTED), {}, [x("PATCH", f"{V1}/assignments/a1", body={"status": "ACCEPTED"}, reply={**ASSIGNMENT, "status": "ACCEPTED"})], is_model(models.Assignment, status="ACCEPTED")),
    *list_cases(
        "assignments", f"{V1}/assignments", ASSIGNMENT,
        {"pool_id": "21", "status": ["SUBMITTED", models.AssignmentStatus.ACCEPTED], "submitted_gte": __import__("datetime").datetime(2024, 1, 1, 12, 0)},
        {"pool_id": "21", "status": "SUBMITTED,ACCEPTED", "submitted_gte": "2024-01-01T12:00:00"},
        default_limit="1000",
    ),
    Case(
        "get_assignments_raw", (), {"pool_id": "21"},
        [x("GET", f"{V1}/assignments", {"pool_id": "21", "sort": "id", "limit": "1000"}, reply=page(ASSIGNMENT, has_more=True)),
         x("GET", f"{V1}/assignments", {"pool_id": "21", "sort": "id", "limit": "1000", "id_gt": "a1"}, reply=page({**ASSIGNMENT, "id": "a2"}))],
        lambda pages: pages == [[ASSIGNMENT], [{**ASSIGNMENT, "id": "a2"}]] or pytest.fail(repr(pages)),
    ),
    Case("get_attachment", ("f1",), {}, [x("GET", f"{V1}/attachments/f1", reply=ATTACHMENT)], is_model(models.Attachment, id="f1")),
    *list_cases("attachments", f"{V1}/attachments", ATTACHMENT, {"pool_id": "21"}, {"pool_id": "21"}, default_limit="100"),
    Case("get_operation", ("op-1",), {}, [x("GET", f"{V1}/operations/op-1", reply=op("op-1"))], is_model(models.Operation, id="op-1")),
    Case(
        "get_operation_log", ("op-1",), {},
        [x("GET", f"{V1}/operations/op-1/log", reply=[{"type": "TASK_CREATE", "success": True, "input": {}, "output": {"task_id": "t1"}}])],
        lambda items: (len(items) == 1 and isinstance(items[0], models.OperationLogItem) and items[0].output == {"task_id": "t1"}) or pytest.fail(repr(items)),
    ),
    Case(
        "wait_operation", ("op-1",), {"poll_interval": 2.0},
        [x("GET", f"{V1}/operations/op-1", reply=op("op-1", "RUNNING", progress=10)),
         x("GET", f"{V1}/operations/op-1", reply=op("op-1", "SUCCESS", progress=100))],
        is_model(models.Operation, status=models.OperationStatus.SUCCESS),
    ),
    *list_cases("operations", f"{V1}/operations", op("op-1"), {"type": "POOL.OPEN"}, {"type": "POOL.OPEN"}),
    Case(
        "aggregate_solutions_by_pool", ("DAWID_SKENE", "21", ["label"]), {},
        [x("POST", f"{V1}/aggregated-solutions/aggregate-by-pool", body={"type": "DAWID_SKENE", "pool_id": "21", "fields": [{"name": "label"}]}, status=201, reply=op("op-g", "PENDING", "SOLUTION.AGGREGATE"))],
        is_model(models.Operation, id="op-g"),
    ),
    Case(
        "aggregate_solutions_by_task", ("WEIGHTED_DYNAMIC_OVERLAP", "t1", "21", ["label"]), {"answer_weight_skill_id": "sk"},
        [x("POST", f"{V1}/aggregated-solutions/aggregate-by-task", body={"type": "WEIGHTED_DYNAMIC_OVERLAP", "task_id": "t1", "pool_id": "21", "fields": [{"name": "label"}], "answer_weight_skill_id": "sk"}, status=201, reply=AGG)],
        is_model(models.AggregatedSolution, task_id="t1"),
    ),
    Case(
        "find_aggregated_solutions", ("op-g",), {"task_id_gt": "t0", "limit": 5},
        [x("GET", f"{V1}/aggregated-solutions/op-g", {"task_id_gt": "t0", "limit": "5"}, reply=page(AGG))],
        lambda result: [item.task_id for item in result.items] == ["t1"] or pytest.fail(repr(result)),
    ),
    Case(
        "get_aggregated_solutions", ("op-g",), {"batch_size": 1},
        [x("GET", f"{V1}/aggregated-solutions/op-g", {"sort": "task_id", "limit": "1"}, reply=page(AGG, has_more=True)),
         x("GET", f"{V1}/aggregated-solutions/op-g", {"sort": "task_id", "limit": "1", "task_id_gt": "t1"}, reply=page({**AGG, "task_id": "t2"}))],
        lambda result: [item.task_id for item in result] == ["t1", "t2"] or pytest.fail(repr(result)),
    ),
    Case(
        "get_analytics", ([{"subject": "POOL", "subject_id": "21", "name": "submitted_assignments_count"}],), {},
        [x("POST", "/api/staging/analytics-2", body=[{"subject": "POOL", "subject_id": "21", "name": "submitted_assignments_count"}], status=202, reply=op("op-an", "PENDING", "ANALYTICS"))],
        is_model(models.Operation, id="op-an"),
    ),
    Case(
        "get_pool_completion_percentage", ("21",), {},
        [x("POST", "/api/staging/analytics-2", body=[{"subject": "POOL", "subject_id": "21", "name": "completion_percentage"}], status=202, reply=op("op-an", "RUNNING", "ANALYTICS")),
         x("GET", f"{V1}/operations/op-an", reply=op("op-an", "SUCCESS", "ANALYTICS", details={"value": [{"request": {}, "result": {"type": "NORMAL", "value": 96, "infinite": False}, "finished": "2024-01-01T00:00:01"}]}))],
        lambda value: value == 96 or pytest.fail(repr(value)),
    ),
    *batch_async_cases("user_bonus", "user_bonuses", f"{V1}/user-bonuses", BONUS, "user_bonus_id", "USER_BONUS_PERSIST", f"{V1}/user-bonuses", {}, {}),
    Case("get_user_bonus", ("b1",), {}, [x("GET", f"{V1}/user-bonuses/b1", reply=BONUS)], is_model(models.UserBonus, amount=Decimal("1.5"))),
    *list_cases("user_bonuses", f"{V1}/user-bonuses", BONUS, {"user_id": "u1"}, {"user_id": "u1"}),
    *list_cases("app_projects", f"{APPS}/app-projects", APP_PROJECT, {"app_id": "app"}, {"app_id": "app"}, envelope="content", default_limit="5000"),
    Case("get_app_project", ("ap1",), {}, [x("GET", f"{APPS}/app-projects/ap1", reply=APP_PROJECT)], is_model(models.AppProject, id="ap1")),
    Case(
        "create_app_project", ({"app_id": "app", "name": "n", "parameters": {"x": 1}},), {},
        [x("POST", f"{APPS}/app-projects", body={"app_id": "app", "name": "n", "parameters": {"x": 1}}, reply={**APP_PROJECT, "status": "CREATING"})],
        is_model(models.AppProject, id="ap1"),
    ),
    *list_cases("app_batches", f"{APPS}/app-projects/ap1/batches", APP_BATCH, {"status": "NEW"}, {"status": "NEW"}, envelope="content", default_limit="1000", args=("ap1",)),
    Case("get_app_batch", ("ap1", "ab1"), {}, [x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply=APP_BATCH)], is_model(models.AppBatch, items_count=2)),
    Case(
        "create_app_batch", ("ap1", "b", [{"text": "a"}, {"text": "b"}]), {"priority_order": "ONE"},
        [x("POST", f"{APPS}/app-projects/ap1/batches", body={"name": "b", "items": [{"text": "a"}, {"text": "b"}], "priority_order": "ONE"}, reply=APP_BATCH)],
        is_model(models.AppBatch, id="ab1"),
    ),
    Case(
        "start_app_batch", ("ap1", "ab1"), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/ab1/start"), x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply={**APP_BATCH, "status": "PROCESSING"})],
        is_model(models.AppBatch, id="ab1"),
    ),
    Case(
        "stop_app_batch", ("ap1", "ab1"), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/ab1/stop"), x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply={**APP_BATCH, "status": "STOPPED"})],
        is_model(models.AppBatch, id="ab1"),
    ),
    Case("get_app_item", ("ap1", "ai1"), {}, [x("GET", f"{APPS}/app-projects/ap1/items/ai1", reply=APP_ITEM)], is_model(models.AppItem, id="ai1")),
    *list_cases("app_items", f"{APPS}/app-projects/ap1/items", APP_ITEM, {"batch_id": "ab1"}, {"batch_id": "ab1"}, envelope="content", default_limit="1000", args=("ap1",)),
]


# ---- issue 14: skills, bans, users, messages, webhooks, the rest of Apps, *_async, clone_project ----------

SKILL = {"id": "41", "name": "Accuracy", "hidden": True, "created": "2024-01-01T00:00:00"}
USER_SKILL = {"id": "us1", "skill_id": "41", "user_id": "w1", "value": 84, "exact_value": 83.5}
RESTRICTION = {"id": "ur1", "scope": "PROJECT", "user_id": "w1", "project_id": "11", "created": "2024-01-01T00:00:00"}
USER = {"id": "w1", "country": "DE", "languages": ["EN"], "adult_allowed": False, "attributes": {"client_type": "BROWSER"}}
THREAD = {"id": "mt1", "topic": {"EN": "Hi"}, "folders": ["INBOX"], "messages": [{"text": {"EN": "Hi"}, "from": {"id": "r1", "role": "REQUESTER"}}]}
HOOK = {"id": "wh1", "webhook_url": "http://127.0.0.1:9000/h", "event_type": "POOL_CLOSED", "pool_id": "21", "created": "2024-01-01T00:00:00"}
APP = {"id": "app1", "name": "Text classification", "default_item_price": 0.05}


def none(result: Any) -> None:
    assert result is None, result


def async_action_cases() -> list[Case]:
    cases = []
    for kind, object_id, actions in (
        ("pool", "21", (("open", "open"), ("close", "close"), ("close_{}_for_update", "close-for-update"), ("archive", "archive"), ("clone", "clone"))),
        ("training", "31", (("open", "open"), ("close", "close"), ("archive", "archive"), ("clone", "clone"))),
        ("project", "11", (("archive", "archive"),)),
    ):
        for verb, action in actions:
            method = (verb.format(kind) if "{}" in verb else f"{verb}_{kind}") + "_async"
            op_type = f"{kind.upper()}.{action.upper().replace('-FOR-UPDATE', '')}"
            cases.append(
                Case(
                    method, (object_id,), {},
                    [x("POST", f"{V1}/{kind}s/{object_id}/{action}", status=202, reply=op("op-" + action, "PENDING", op_type))],
                    is_model(models.Operation, id="op-" + action, status=models.OperationStatus.PENDING),
                )
            )
    return cases


CLONE_SOURCE_PROJECT = {
    **PROJECT, "owner": {"id": "r1"},
    "quality_control": {"training_requirement": {"training_pool_id": "31", "training_passing_skill_value": 70}},
}
CLONE_POOL = {
    **POOL, "status": "CLOSED", "created": "2024-01-01T00:00:00", "last_close_reason": "MANUAL", "type": "REGULAR",
    "quality_control": {
        "training_requirement": {"training_pool_id": "31", "training_passing_skill_value": 80},
        "configs": [{"collector_config": {"type": "CAPTCHA", "uuid": "u-1"}, "rules": []}],
    },
}

CASES_ISSUE_14: list[Case] = [
    *crud_cases("skill", "skills", models.Skill, SKILL, "41"),
    *list_cases("skills", f"{V1}/skills", SKILL, {"name": "Accuracy", "created_gte": "2024-01-01T00:00:00"}, {"name": "Accuracy", "created_gte": "2024-01-01T00:00:00"}, default_limit="100"),
    Case(
        "set_user_skill", (), {"skill_id": "41", "user_id": "w1", "value": Decimal("83.5"), "reason": "golden accuracy"},
        [x("PUT", f"{V1}/user-skills", body={"skill_id": "41", "user_id": "w1", "value": 83.5, "reason": "golden accuracy"}, reply=USER_SKILL)],
        is_model(models.UserSkill, value=84, exact_value=Decimal("83.5")),
    ),
    Case("get_user_skill", ("us1",), {}, [x("GET", f"{V1}/user-skills/us1", reply=USER_SKILL)], is_model(models.UserSkill, id="us1")),
    Case("delete_user_skill", ("us1",), {}, [x("DELETE", f"{V1}/user-skills/us1", status=204)], none),
    *list_cases("user_skills", f"{V1}/user-skills", USER_SKILL, {"skill_id": "41", "user_id": "w1"}, {"skill_id": "41", "user_id": "w1"}),
    Case(
        "set_user_restriction",
        (models.PoolUserRestriction(user_id="w1", pool_id="21", private_comment="fast answers", will_expire=__import__("datetime").datetime(2024, 3, 1, 10)),), {},
        [x("PUT", f"{V1}/user-restrictions",
           body={"user_id": "w1", "private_comment": "fast answers", "will_expire": "2024-03-01T10:00:00", "scope": "POOL", "pool_id": "21"},
           reply={"id": "ur9", "scope": "POOL", "user_id": "w1", "pool_id": "21", "will_expire": "2024-03-01T10:00:00"})],
        is_model(models.PoolUserRestriction, id="ur9", pool_id="21"),
    ),
    Case("get_user_restriction", ("ur1",), {}, [x("GET", f"{V1}/user-restrictions/ur1", reply=RESTRICTION)], is_model(models.ProjectUserRestriction, project_id="11")),
    Case("delete_user_restriction", ("ur1",), {}, [x("DELETE", f"{V1}/user-restrictions/ur1", status=204)], none),
    *list_cases("user_restrictions", f"{V1}/user-restrictions", RESTRICTION, {"scope": models.UserRestrictionScope.PROJECT, "project_id": "11"}, {"scope": "PROJECT", "project_id": "11"}),
    Case("get_user", ("w1",), {}, [x("GET", f"{V1}/user-metadata/w1", reply=USER)], is_model(models.User, country="DE", languages=["EN"])),
    Case(
        "compose_message_thread", (),
        {"recipients_select_type": "DIRECT", "topic": {"EN": "Bonus"}, "text": {"EN": "Thanks!"}, "recipients_ids": ["w1", "w2"], "answerable": False},
        [x("POST", f"{V1}/message-threads/compose",
           body={"recipients_select_type": "DIRECT", "topic": {"EN": "Bonus"}, "text": {"EN": "Thanks!"}, "answerable": False, "recipients_ids": ["w1", "w2"]},
           status=201, reply=THREAD)],
        is_model(models.MessageThread, id="mt1"),
    ),
    Case(
        "reply_message_thread", ("mt1", {"text": {"EN": "You are welcome"}}), {},
        [x("POST", f"{V1}/message-threads/mt1/reply", body={"text": {"EN": "You are welcome"}}, status=201, reply=THREAD)],
        lambda thread: thread.messages[0].from_.role == models.InterlocutorRole.REQUESTER or pytest.fail(repr(thread)),
    ),
    Case(
        "add_message_thread_to_folders", ("mt1", [models.Folder.IMPORTANT, "UNREAD"]), {},
        [x("POST", f"{V1}/message-threads/mt1/add-to-folders", body={"folders": ["IMPORTANT", "UNREAD"]}, status=201, reply={**THREAD, "folders": ["INBOX", "IMPORTANT", "UNREAD"]})],
        is_model(models.MessageThread, folders=["INBOX", "IMPORTANT", "UNREAD"]),
    ),
    Case(
        "remove_message_thread_from_folders", ("mt1", ["UNREAD"]), {},
        [x("POST", f"{V1}/message-threads/mt1/remove-from-folders", body={"folders": ["UNREAD"]}, status=201, reply=THREAD)],
        is_model(models.MessageThread, folders=["INBOX"]),
    ),
    *list_cases("message_threads", f"{V1}/message-threads", THREAD, {"folder": ["INBOX", models.Folder.UNREAD]}, {"folder": "INBOX,UNREAD"}),
    Case(
        "upsert_webhook_subscriptions",
        ([{"webhook_url": "http://127.0.0.1:9000/h", "event_type": "POOL_CLOSED", "pool_id": "21", "secret_key": "k"},
          models.WebhookSubscription(webhook_url="ftp://x", event_type=models.WebhookEventType.ASSIGNMENT_SUBMITTED, pool_id="21")],), {},
        [x("PUT", f"{V1}/webhook-subscriptions",
           body=[{"webhook_url": "http://127.0.0.1:9000/h", "event_type": "POOL_CLOSED", "pool_id": "21", "secret_key": "k"},
                 {"webhook_url": "ftp://x", "event_type": "ASSIGNMENT_SUBMITTED", "pool_id": "21"}],
           status=201,
           reply={"items": {"0": HOOK}, "validation_errors": {"1": {"webhook_url": {"code": "INVALID_URL_SYNTAX", "message": "bad"}}}})],
        lambda result: (
            isinstance(result.items["0"], models.WebhookSubscription) and result.items["0"].id == "wh1"
            and result.validation_errors == {"1": {"webhook_url": {"code": "INVALID_URL_SYNTAX", "message": "bad"}}}
        ) or pytest.fail(repr(result)),
    ),
    Case("get_webhook_subscription", ("wh1",), {}, [x("GET", f"{V1}/webhook-subscriptions/wh1", reply=HOOK)], is_model(models.WebhookSubscription, event_type="POOL_CLOSED")),
    Case("delete_webhook_subscription", ("wh1",), {}, [x("DELETE", f"{V1}/webhook-subscriptions/wh1", status=204)], none),
    Case(
        "test_webhook_subscription", ("wh1",), {},
        [x("POST", f"{V1}/webhook-subscriptions/wh1/test", status=201,
           reply={"success": True, "responseReceivedAt": "2024-01-01T00:00:01", "errorType": None, "originalStatusCode": 200, "uuids": ["e1"]})],
        is_model(models.WebhookTestResult, success=True, originalStatusCode=200, uuids=["e1"]),
    ),
    *list_cases("webhook_subscriptions", f"{V1}/webhook-subscriptions", HOOK, {"event_type": "POOL_CLOSED", "pool_id": "21"}, {"event_type": "POOL_CLOSED", "pool_id": "21"}),
    *list_cases("apps", f"{APPS}/apps", APP, {"lang": "EN"}, {"lang": "EN"}, envelope="content", default_limit="1000"),
    Case("get_app", ("app1",), {"lang": "EN"}, [x("GET", f"{APPS}/apps/app1", {"lang": "EN"}, reply=APP)], is_model(models.App, default_item_price=Decimal("0.05"))),
    Case(
        "archive_app_project", ("ap1",), {},
        [x("POST", f"{APPS}/app-projects/ap1/archive"), x("GET", f"{APPS}/app-projects/ap1", reply={**APP_PROJECT, "status": "ARCHIVED"})],
        is_model(models.AppProject, status=models.AppProjectStatus.ARCHIVED),
    ),
    Case(
        "unarchive_app_project", ("ap1",), {},
        [x("POST", f"{APPS}/app-projects/ap1/unarchive"), x("GET", f"{APPS}/app-projects/ap1", reply=APP_PROJECT)],
        is_model(models.AppProject, status="READY"),
    ),
    Case(
        "create_app_item", ("ap1", models.AppItem(batch_id="ab1", input_data={"text": "a"})), {"force_new_original": True},
        [x("POST", f"{APPS}/app-projects/ap1/items", body={"batch_id": "ab1", "input_data": {"text": "a"}, "force_new_original": True}, reply={**APP_ITEM, "status": "NEW"})],
        is_model(models.AppItem, id="ai1", status="NEW"),
    ),
    Case(
        "create_app_items", ("ap1", "ab1", [{"text": "a"}, {"text": "b"}]), {"ignore_errors": True},
        [x("POST", f"{APPS}/app-projects/ap1/items/bulk", body={"batch_id": "ab1", "items": [{"text": "a"}, {"text": "b"}], "ignore_errors": True}, reply=["ai1", "ai2"])],
        lambda ids: ids == ["ai1", "ai2"] or pytest.fail(repr(ids)),
    ),
    Case(
        "patch_app_batch", ("ap1", "ab1"), {"name": "renamed", "priority_order": "ONE"},
        [x("PATCH", f"{APPS}/app-projects/ap1/batches/ab1", body={"name": "renamed", "priority_order": "ONE"}, reply={**APP_BATCH, "name": "renamed"})],
        is_model(models.AppBatch, name="renamed"),
    ),
    Case(
        "resume_app_batch", ("ap1", "ab1"), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/ab1/resume"), x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply={**APP_BATCH, "status": "PROCESSING"})],
        is_model(models.AppBatch, status="PROCESSING"),
    ),
    *async_action_cases(),
    Case(
        "patch_task_suite_overlap_or_min", ("s1",), {"overlap": 0},
        [x("PATCH", f"{V1}/task-suites/s1/set-overlap-or-min", body={"overlap": 0}, reply={**SUITE, "overlap": 1})],
        is_model(models.TaskSuite, overlap=1),
    ),
    Case(
        "clone_project", ("11",), {"reuse_controllers": False},
        [
            x("GET", f"{V1}/projects/11", reply=CLONE_SOURCE_PROJECT),
            x("POST", f"{V1}/projects", body={"public_name": "Cats"}, status=201, reply={**PROJECT, "id": "12"}),
            x("GET", f"{V1}/trainings", {"project_id": "11", "sort": "id", "limit": "300"}, reply=page({**TRAINING, "created": "2024-01-01T00:00:00"})),
            x("POST", f"{V1}/trainings", body={"project_id": "12", "private_name": "t"}, status=201, reply={**TRAINING, "id": "32", "project_id": "12"}),
            x("PUT", f"{V1}/projects/12",
              body={"public_name": "Cats", "quality_control": {"training_requirement": {"training_pool_id": "32", "training_passing_skill_value": 70}}},
              reply={**PROJECT, "id": "12"}),
            x("GET", f"{V1}/pools", {"project_id": "11", "sort": "id", "limit": "300"}, reply=page(CLONE_POOL)),
            x("POST", f"{V1}/pools",
              body={"project_id": "12", "private_name": "p", "reward_per_assignment": 0.05,
                    "quality_control": {"training_requirement": {"training_pool_id": "32", "training_passing_skill_value": 80},
                                        "configs": [{"collector_config": {"type": "CAPTCHA"}, "rules": []}]}},
              status=201, reply={**POOL, "id": "22", "project_id": "12"}),
        ],
        lambda result: (
            isinstance(result, models.CloneResults) and result.project.id == "12"
            and [pool.id for pool in result.pools] == ["22"] and [t.id for t in result.trainings] == ["32"]
        ) or pytest.fail(repr(result)),
    ),
]
CASES_ISSUE_14.append(
    Case(
        "iter_assignments_table", ("21",), {"status": ["SUBMITTED", "ACCEPTED"], "field": ["worker_id"]},
        [x("GET", "/api/new/requester/pools/21/assignments.tsv",
           {"status": "SUBMITTED,APPROVED", "field": "ASSIGNMENT:worker_id", "addRowDelimiter": "false"},
           reply=b'INPUT:text\tASSIGNMENT:worker_id\n"a\tb"\tw1\n')],
        lambda rows: rows == [{"INPUT:text": "a\tb", "ASSIGNMENT:worker_id": "w1"}] or pytest.fail(repr(rows)),
    )
)
CASES_ISSUE_14 += [
    Case(
        "archive_app_batch", ("ap1", "ab1"), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/ab1/archive"), x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply={**APP_BATCH, "status": "ARCHIVE"})],
        is_model(models.AppBatch, status=models.AppBatchStatus.ARCHIVE),
    ),
    Case(
        "unarchive_app_batch", ("ap1", "ab1"), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/ab1/unarchive"), x("GET", f"{APPS}/app-projects/ap1/batches/ab1", reply={**APP_BATCH, "status": "COMPLETED"})],
        is_model(models.AppBatch, status="COMPLETED"),
    ),
    Case(
        "start_sync_batch_processing", ("ap1", "b", [{"text": "a"}]), {},
        [x("POST", f"{APPS}/app-projects/ap1/batches/sync", body={"name": "b", "items": [{"text": "a"}]}, reply={"batch": {**APP_BATCH, "status": "COMPLETED"}})],
        is_model(models.AppBatch, id="ab1", status="COMPLETED"),
    ),
    Case(
        "check_update_project_for_major_version_change", ("11", {"public_name": "Dogs"}), {},
        [x("POST", "/api/staging/projects/11/check", body={"public_name": "Dogs"}, reply={"differenceLevel": "BREAKING_CHANGE"})],
        lambda level: level is models.ProjectUpdateDifferenceLevel.BREAKING_CHANGE or pytest.fail(repr(level)),
    ),
]
CASES.extend(CASES_ISSUE_14)


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def _matches(expected: Any, actual: Any) -> bool:
    if expected is ANY:
        return True
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_matches(expected[k], actual[k]) for k in expected)
    if isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list)):
        return len(expected) == len(actual) and all(_matches(e, a) for e, a in zip(expected, actual, strict=True))
    return expected == actual


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_method_sends_exact_request_and_parses_result(mode: str, case: Case) -> None:
    server = ScriptedServer()
    for _, (status, reply) in case.exchanges:
        if isinstance(reply, bytes):  # a non-JSON body (the TSV export)
            server.reply(status, raw=reply)
        else:
            server.reply(status, reply)
    with Harness(mode, server) as harness:
        result = harness.call(case.method, *case.args, **case.kwargs)
    sent = server.requests_made()
    expected = [request for request, _ in case.exchanges]
    assert len(sent) == len(expected), sent
    for got, want in zip(sent, expected, strict=True):
        assert _matches(want, got), f"\n sent     {got}\n expected {want}"
    case.check(result)


def test_every_public_method_has_a_case() -> None:
    from toloka_provider.client import TolokaClient

    public = {name for name in dir(TolokaClient) if not name.startswith("_") and callable(getattr(TolokaClient, name))}
    # download_attachment and get_assignments_df (pandas is optional) have their own tests.
    covered = {case.method for case in CASES} | {"download_attachment", "close", "get_assignments_df", "new_retry_policy", "run_plan"}
    assert sorted(public - covered) == []


def test_download_attachment_writes_the_bytes(mode: str) -> None:
    server = ScriptedServer()
    server.reply(200, raw=b"\x89PNG-bytes")
    out = io.BytesIO()
    with Harness(mode, server) as harness:
        assert harness.call("download_attachment", "f1", out) is None
    assert server.requests_made() == [("GET", f"{V1}/attachments/f1/download", {}, None)]
    assert out.getvalue() == b"\x89PNG-bytes"


def test_open_pool_already_open_returns_at_once_on_204(mode: str) -> None:
    server = ScriptedServer().reply(204).reply(200, POOL)
    with Harness(mode, server) as harness:
        pool = harness.call("open_pool", "21")
    assert server.requests_made() == [("POST", f"{V1}/pools/21/open", {}, None), ("GET", f"{V1}/pools/21", {}, None)]
    assert pool.status == models.PoolStatus.OPEN


def test_failed_pool_operation_raises(mode: str) -> None:
    from toloka_provider.client import FailedOperationError

    server = ScriptedServer().reply(202, op("op-x", "FAIL", details={"reason": "EMPTY_POOL"}))
    with Harness(mode, server) as harness, pytest.raises(FailedOperationError, match="op-x"):
        harness.call("open_pool", "21")
