"""Models: wire round trips for every model, conversions (datetimes, money, ids, enums), unknown data kept."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal

import pendulum
import pytest
from model_examples_quality import QUALITY_EXAMPLES

from toloka_provider.client import models
from toloka_provider.client.errors import FailedOperationError
from toloka_provider.client.models import (
    AggregatedSolution,
    App,
    AppBatch,
    AppBatchStatus,
    AppItem,
    AppItemStatus,
    AppProject,
    AppProjectStatus,
    Assignment,
    AssignmentStatus,
    Attachment,
    BaseModel,
    BatchCreateResult,
    Operation,
    OperationLogItem,
    OperationStatus,
    OperationType,
    Owner,
    Pool,
    PoolCloseReason,
    PoolStatus,
    Project,
    ProjectStatus,
    Requester,
    SearchResult,
    Solution,
    Task,
    TaskSuite,
    Training,
    UserBonus,
)

OWNER = {"id": "requester-1", "myself": True, "company_id": "company-1", "x_owner_extra": {"level": 2}}

TASK = {
    "pool_id": "1080020",
    "input_values": {"image": "https://example.com/1.jpg", "text": "Is there a cat?"},
    "known_solutions": [{"output_values": {"label": "cat"}, "correctness_weight": 1}],
    "message_on_unknown_solution": "Look again",
    "baseline_solutions": [{"output_values": {"label": "dog"}, "confidence_weight": 0.5}],
    "overlap": 3,
    "infinite_overlap": False,
    "reserved_for": ["user-1"],
    "unavailable_for": ["user-2"],
    "traits_all_of": ["a"],
    "traits_any_of": ["b"],
    "traits_none_of_any": ["c"],
    "localization_config": {"additional_languages": [{"language": "RU", "public_fields": []}]},
    "id": "00014495f0--60213f7c25a8b84e2ffb7a2c",
    "created": "2024-01-31T12:34:56.123000",
    "origin_task_id": "00014495f0--60213f7c25a8b84e2ffb7a2b",
    "remaining_overlap": 2,
    "x_task_extra": [1, {"nested": True}],
}

# Realistic full examples in canonical wire form (datetimes as format_datetime writes them), each with
# unknown keys at the top level and inside nested models, so `to_json_dict()` must reproduce them exactly.
EXAMPLES: dict[type[BaseModel], dict] = {
    Owner: OWNER,
    Project: {
        "public_name": "Cats",
        "public_description": "Find cats",
        "public_instructions": "<p>Is there a cat?</p>",
        "private_comment": "internal",
        "task_spec": {
            "input_spec": {"image": {"type": "url", "required": True}},
            "output_spec": {"label": {"type": "string", "allowed_values": ["cat", "dog"]}},
            "view_spec": {"type": "tb", "config": "{}"},
        },
        "assignments_issuing_type": "AUTOMATED",
        "assignments_issuing_view_config": {"title_template": "t", "map_provider": "GOOGLE"},
        "assignments_automerge_enabled": False,
        "max_active_assignments_count": 10,
        "quality_control": {"configs": []},
        "localization_config": {"additional_languages": []},
        "metadata": {"airflow_run": ["run-1"]},
        "id": "1080020",
        "status": "ACTIVE",
        "created": "2024-01-01T00:00:00",
        "owner": OWNER,
        "sensitive": False,
    },
    Pool: {
        "project_id": "1080020",
        "private_name": "Pool 1",
        "private_comment": "c",
        "public_description": "d",
        "public_instructions": "i",
        "may_contain_adult_content": False,
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2030-12-31T23:59:59",
        "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
        "auto_close_after_complete_delay_seconds": 0,
        "auto_accept_solutions": True,
        "auto_accept_period_day": 7,
        "assignments_issuing_config": {"issue_task_suites_in_creation_order": False},
        "priority": 10,
        "filter": {"and": [{"or": [{"category": "profile", "key": "languages", "operator": "IN", "value": "EN"}]}]},
        "quality_control": {
            "training_requirement": {"training_pool_id": "77", "training_passing_skill_value": 80},
            "configs": [
                {
                    "collector_config": {"type": "GOLDEN_SET", "parameters": {"history_size": 10}},
                    "rules": [
                        {
                            "conditions": [{"key": "total_answers_count", "operator": "GT", "value": 3}],
                            "action": {"type": "RESTRICTION_V2", "parameters": {"scope": "PROJECT"}},
                        }
                    ],
                }
            ],
        },
        "speed_quality_balance": {"type": "TOP_PERCENTAGE_BY_QUALITY", "percent": 90},
        "dynamic_overlap_config": {"type": "BASIC", "max_overlap": 5, "min_confidence": 0.8, "fields": [{"name": "x"}]},
        "dynamic_pricing_config": {"type": "SKILL", "skill_id": "1", "intervals": [{"from": 50, "reward_per_assignment": 0.05}]},
        "mixer_config": {"real_tasks_count": 9, "golden_tasks_count": 1, "training_tasks_count": 0},
        "training_config": {"training_skill_ttl_days": 5},
        "metadata": {"airflow_run": ["run-1"]},
        "owner": OWNER,
        "id": "36502086",
        "status": "OPEN",
        "last_close_reason": "MANUAL",
        "created": "2024-01-01T10:00:00.500000",
        "last_started": "2024-01-02T10:00:00",
        "last_stopped": "2024-01-01T11:00:00",
        "type": "REGULAR",
        "training": False,
    },
    Training: {
        "project_id": "1080020",
        "private_name": "Training",
        "private_comment": "c",
        "may_contain_adult_content": True,
        "assignment_max_duration_seconds": 300,
        "mix_tasks_in_creation_order": True,
        "shuffle_tasks_in_task_suite": False,
        "training_tasks_in_task_suite_count": 3,
        "task_suites_required_to_pass": 5,
        "retry_training_after_days": 1,
        "inherited_instructions": True,
        "public_instructions": "i",
        "metadata": {"k": ["v"]},
        "owner": OWNER,
        "id": "77",
        "status": "CLOSED",
        "last_close_reason": "COMPLETED",
        "created": "2024-01-01T00:00:00",
        "last_started": "2024-01-01T00:00:01",
        "last_stopped": "2024-01-01T00:00:02",
        "x_training_extra": "kept",
    },
    Task: TASK,
    TaskSuite: {
        "pool_id": "1080020",
        "tasks": [TASK, {"input_values": {"image": "https://example.com/2.jpg"}, "x_inner": 1}],
        "overlap": 2,
        "infinite_overlap": False,
        "reserved_for": ["u1"],
        "unavailable_for": ["u2"],
        "issuing_order_override": 10.5,
        "mixed": False,
        "traits_all_of": ["a"],
        "traits_any_of": ["b"],
        "traits_none_of_any": ["c"],
        "longitude": 37.61,
        "latitude": 55.75,
        "id": "suite-1",
        "remaining_overlap": 1,
        "automerged": False,
        "created": "2024-01-31T12:00:00",
        "x_suite_extra": None,
    },
    Solution: {"output_values": {"label": "cat", "score": 0.25}, "task_id": "t1", "id": "s1"},
    Assignment: {
        "id": "00014495f0--60213f7c25a8b84e2ffb7a2d",
        "task_suite_id": "00014495f0--60213f7c25a8b84e2ffb7a2e",
        "pool_id": "1080020",
        "user_id": "8d7c3a8c1e9f0a1b2c3d4e5f6a7b8c9d",
        "status": "ACCEPTED",
        "reward": 0.05,
        "bonus_ids": ["b1"],
        "tasks": [TASK, {"id": "t2", "input_values": {"image": "https://example.com/2.jpg"}}],
        "solutions": [{"output_values": {"label": "cat"}, "x_solution_extra": 1}, {"output_values": {"label": "dog"}}],
        "first_declined_solution_attempt": [{"output_values": {"label": "dog"}}],
        "mixed": True,
        "automerged": False,
        "created": "2024-01-31T12:00:00",
        "submitted": "2024-01-31T12:01:00.120000",
        "accepted": "2024-01-31T12:02:00",
        "rejected": "2024-01-31T12:03:00",
        "skipped": "2024-01-31T12:04:00",
        "expired": "2024-01-31T12:05:00",
        "owner": OWNER,
        "public_comment": "Well done",
        "x_assignment_extra": {"deep": [{"deeper": "yes"}]},
    },
    Attachment: {
        "id": "att-1",
        "name": "photo.jpg",
        "attachment_type": "ASSIGNMENT_ATTACHMENT",
        "details": {"user_id": "u1", "assignment_id": "a1", "pool_id": "p1"},
        "created": "2024-01-31T12:00:00",
        "media_type": "image/jpeg",
        "owner": OWNER,
        "x_att": 1,
    },
    Operation: {
        "id": "2f9a7c1e-0000-4000-8000-000000000001",
        "type": "TASK.BATCH_CREATE",
        "status": "SUCCESS",
        "submitted": "2024-01-31T12:00:00",
        "started": "2024-01-31T12:00:01",
        "finished": "2024-01-31T12:00:02.999999",
        "progress": 100,
        "parameters": {"skip_invalid_items": True, "allow_defaults": False, "open_pool": False},
        "details": {"total_count": 3, "valid_count": 2, "not_valid_count": 1, "success_count": 2, "failed_count": 1},
        "x_op": "kept",
    },
    OperationLogItem: {
        "type": "TASK_VALIDATE",
        "success": False,
        "input": {"pool_id": "1", "input_values": {}, "__item_idx": "1"},
        "output": {"input_values.image": {"code": "VALUE_REQUIRED", "message": "required"}},
        "x_log": 2,
    },
    Requester: {
        "id": "requester-1",
        "balance": 1234.56,
        "public_name": {"EN": "ACME"},
        "company": {"id": "c1", "superintendent_id": "s1"},
        "x_req": True,
    },
    UserBonus: {
        "user_id": "u1",
        "amount": 1.5,
        "private_comment": "thanks",
        "public_title": {"EN": "Bonus"},
        "public_message": {"EN": "Great work"},
        "without_message": False,
        "assignment_id": "a1",
        "id": "bonus-1",
        "created": "2024-01-31T12:00:00",
        "x_bonus": [],
    },
    AggregatedSolution: {
        "pool_id": "1080020",
        "task_id": "t1",
        "confidence": 0.875,
        "output_values": {"label": "cat"},
        "x_agg": "kept",
    },
    SearchResult: {"items": [{"id": "1"}, {"id": "2"}], "has_more": True, "x_search": 1},
    BatchCreateResult: {
        "items": {"0": {"id": "t0"}, "2": {"id": "t2"}},
        "validation_errors": {"1": {"input_values.image": {"code": "VALUE_REQUIRED", "message": "required"}}},
        "x_batch": 1,
    },
    App: {
        "id": "9lZaMl363jahzra1rrYq",
        "name": "Text classification",
        "image": "https://example.com/app.png",
        "description": "Classifies texts",
        "default_item_price": 0.0003,
        "examples": [{"input": "a", "output": "b"}],
        "constraints_description": "Up to 100 classes",
        "param_spec": {"type": "object"},
        "input_spec": {"text": {"type": "string"}},
        "output_spec": {"label": {"type": "string"}},
        "input_format_info": {"inputFields": []},
        "x_app": "kept",
    },
    AppProject: {
        "app_id": "9lZaMl363jahzra1rrYq",
        "parent_app_project_id": "parent-1",
        "name": "My classifier",
        "parameters": {"default_language": "en", "instruction_classes": [{"label": "cat", "value": "cat"}]},
        "id": "8lvN9kBN4wwsj47ZqNal",
        "status": "READY",
        "created": "2023-04-17T08:58:38.692000",
        "item_price": 0.07,
        "errors": [{"code": "E", "message": "m", "payload": {}}],
        "read_only": False,
        "app": {"id": "9lZaMl363jahzra1rrYq", "name": "Text classification"},
        "x_app_project": 1,
    },
    AppBatch: {
        "id": "3xQ3Wj98D5RsM0Rb6kQL",
        "app_project_id": "8lvN9kBN4wwsj47ZqNal",
        "name": "Test batch",
        "status": "PROCESSING",
        "items_count": 4,
        "item_price": 0.07,
        "cost": 0.28,
        "cost_of_processed": 0.07,
        "created_at": "2023-04-17T08:58:38.692000",
        "started_at": "2023-04-17T09:00:00",
        "finished_at": "2023-04-17T10:00:00",
        "read_only": False,
        "priority_order": "ONE",
        "last_items_import": {"id": "imp-1", "records_count": 4, "records_processed": 4, "records_skipped": 0},
        "confidence_avg": 0.93,
        "items_processed_count": 1,
        "eta": "2023-04-17T11:00:00",
        "etd": "2023-04-17T11:30:00",
        "app_project_eta": "2023-04-17T12:00:00",
        "items_per_state": {"NEW": 3, "COMPLETED": 1},
        "current_time": "2023-04-17T10:30:00",
        "validation_errors": {},
    },
    AppItem: {
        "id": "QPVvLYdlRPBH9pl7KzBV",
        "app_project_id": "8lvN9kBN4wwsj47ZqNal",
        "batch_id": "7d0YYJ2Av5OhnLVwAygZ",
        "status": "COMPLETED",
        "input_data": {"id": "2", "text": "Cat"},
        "output_data": {"label": "cat"},
        "errors": [],
        "created_at": "2022-01-22T07:44:57.035000",
        "started_at": "2022-01-22T07:45:00",
        "finished_at": "2022-01-22T07:50:00",
        "x_item": {"a": [1, 2]},
    },
}

EXAMPLES.update(QUALITY_EXAMPLES)  # the issue-14 models (model_examples_quality.py)


def all_model_classes() -> set[type[BaseModel]]:
    return {
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type) and issubclass(obj, BaseModel) and obj is not BaseModel
    }


def test_examples_cover_every_model():
    assert set(EXAMPLES) == all_model_classes()


@pytest.mark.parametrize("model_class", list(EXAMPLES), ids=lambda c: c.__name__)
def test_round_trip_through_json(model_class):
    wire = copy.deepcopy(EXAMPLES[model_class])

    parsed = model_class.from_json_dict(wire)
    written = parsed.to_json_dict()
    reparsed = model_class.from_json_dict(json.loads(json.dumps(written)))

    assert written == EXAMPLES[model_class]  # nothing lost, nothing added, same wire forms
    assert reparsed == parsed
    assert reparsed.to_json_dict() == written
    assert pickle.loads(pickle.dumps(parsed)) == parsed


def test_unknown_fields_kept_at_every_level():
    assignment = Assignment.from_json_dict(EXAMPLES[Assignment])

    assert assignment.unknown_fields == {"x_assignment_extra": {"deep": [{"deeper": "yes"}]}}
    assert assignment.owner.unknown_fields == {"x_owner_extra": {"level": 2}}
    assert assignment.tasks[0].unknown_fields == {"x_task_extra": [1, {"nested": True}]}
    assert assignment.solutions[0].unknown_fields == {"x_solution_extra": 1}
    assert assignment.solutions[1].unknown_fields == {}
    written = assignment.to_json_dict()
    assert written["x_assignment_extra"] == {"deep": [{"deeper": "yes"}]}
    assert written["owner"]["x_owner_extra"] == {"level": 2}
    assert written["tasks"][0]["x_task_extra"] == [1, {"nested": True}]


def test_parsed_types():
    assignment = Assignment.from_json_dict(EXAMPLES[Assignment])

    assert assignment.status is AssignmentStatus.ACCEPTED
    assert assignment.reward == Decimal("0.05")
    assert str(assignment.reward) == "0.05"
    assert assignment.submitted == pendulum.datetime(2024, 1, 31, 12, 1, 0, 120000, tz="UTC")
    assert isinstance(assignment.submitted, pendulum.DateTime)
    assert assignment.submitted.tzinfo is pendulum.UTC
    assert isinstance(assignment.owner, Owner)
    assert [type(task) for task in assignment.tasks] == [Task, Task]
    assert assignment.tasks[0].created == pendulum.datetime(2024, 1, 31, 12, 34, 56, 123000, tz="UTC")
    assert [solution.output_values for solution in assignment.solutions] == [{"label": "cat"}, {"label": "dog"}]
    assert all(type(solution) is Solution for solution in assignment.solutions)
    assert type(assignment.first_declined_solution_attempt[0]) is Solution

    batch = AppBatch.from_json_dict(EXAMPLES[AppBatch])
    assert (batch.item_price, batch.cost, batch.cost_of_processed) == (
        Decimal("0.07"),
        Decimal("0.28"),
        Decimal("0.07"),
    )
    assert batch.status is AppBatchStatus.PROCESSING
    assert batch.confidence_avg == 0.93
    assert App.from_json_dict(EXAMPLES[App]).default_item_price == Decimal("0.0003")
    assert Requester.from_json_dict(EXAMPLES[Requester]).balance == Decimal("1234.56")
    assert UserBonus.from_json_dict(EXAMPLES[UserBonus]).amount == Decimal("1.5")
    assert AppProject.from_json_dict(EXAMPLES[AppProject]).status is AppProjectStatus.READY
    assert AppItem.from_json_dict(EXAMPLES[AppItem]).status is AppItemStatus.COMPLETED
    assert Project.from_json_dict(EXAMPLES[Project]).status is ProjectStatus.ACTIVE
    pool = Pool.from_json_dict(EXAMPLES[Pool])
    assert (pool.status, pool.last_close_reason) == (PoolStatus.OPEN, PoolCloseReason.MANUAL)
    assert Operation.from_json_dict(EXAMPLES[Operation]).type is OperationType.TASK_BATCH_CREATE


def test_server_datetime_variants_are_normalised_on_write():
    pool = Pool.from_json_dict(
        {
            "created": "2024-01-01T10:00:00.5",
            "last_started": "2024-01-02T10:00:00Z",
            "last_stopped": "2024-01-02T13:00:00+03:00",
            "will_expire": "2030-01-01T00:00:00.123456789",
        }
    )

    assert pool.to_json_dict() == {
        "created": "2024-01-01T10:00:00.500000",
        "last_started": "2024-01-02T10:00:00",
        "last_stopped": "2024-01-02T10:00:00",
        "will_expire": "2030-01-01T00:00:00.123456",
    }


def test_decimal_parsed_json_is_accepted_and_written_as_numbers():
    # A client may decode JSON with parse_float=Decimal: money and plain dicts then hold Decimals.
    text = json.dumps(EXAMPLES[Pool])
    pool = Pool.from_json_dict(json.loads(text, parse_float=Decimal))

    assert pool.reward_per_assignment == Decimal("0.01")
    assert pool.dynamic_pricing_config["intervals"][0]["reward_per_assignment"] == Decimal("0.05")
    written = pool.to_json_dict()
    assert json.loads(json.dumps(written)) == EXAMPLES[Pool]
    solution = AggregatedSolution.from_json_dict({"confidence": Decimal("0.5")})
    assert solution.confidence == 0.5
    assert type(solution.confidence) is float


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (Decimal("0.01"), Decimal("0.01")),
        (0.01, Decimal("0.01")),
        (0.1 + 0.2, Decimal("0.30000000000000004")),
        ("0.01", Decimal("0.01")),
        (" 1.50 ", Decimal("1.50")),
        (3, Decimal("3")),
        (0.005, Decimal("0.005")),
    ],
)
def test_money_conversion(given, expected):
    pool = Pool(reward_per_assignment=given)

    assert pool.reward_per_assignment == expected
    assert type(pool.reward_per_assignment) is Decimal
    assert str(pool.reward_per_assignment) == str(expected)
    again = Pool.from_json_dict(json.loads(json.dumps(pool.to_json_dict())))
    assert again.reward_per_assignment == expected


@pytest.mark.parametrize(
    ("given", "error", "text"),
    [
        ("a lot", ValueError, "Pool.reward_per_assignment: expected a number, got 'a lot'"),
        ("NaN", ValueError, "Pool.reward_per_assignment: expected a finite number, got 'NaN'"),
        (float("inf"), ValueError, "Pool.reward_per_assignment: expected a finite number, got inf"),
        (True, TypeError, "Pool.reward_per_assignment: expected a number (Decimal, int, float or numeric str), got bool"),
        ([1], TypeError, "got list: [1]"),
    ],
)
def test_bad_money_names_the_field(given, error, text):
    with pytest.raises(error) as info:
        Pool(reward_per_assignment=given)
    assert text in str(info.value)


def test_bad_values_name_model_and_field():
    with pytest.raises(ValueError, match=r"Assignment\.submitted: Invalid datetime 'soon'"):
        Assignment.from_json_dict({"submitted": "soon"})
    with pytest.raises(TypeError, match=r"Pool\.created: Expected an ISO 8601 string or a datetime, got int"):
        Pool(created=5)
    with pytest.raises(TypeError, match=r"Pool\.status: expected a PoolStatus or its string value, got int"):
        Pool(status=1)
    with pytest.raises(TypeError, match=r"Pool\.owner: expected a Owner or a dict, got str"):
        Pool(owner="me")
    with pytest.raises(TypeError, match=r"Assignment\.solutions: expected a list of Solution or dicts, got str"):
        Assignment(solutions="cat")
    with pytest.raises(TypeError, match=r"Assignment\.solutions: .* got an item of type int"):
        Assignment(solutions=[1])
    with pytest.raises(TypeError, match=r"Pool\.project_id: expected an id \(str\), got float"):
        Pool(project_id=1.5)
    with pytest.raises(TypeError, match=r"TaskSuite\.latitude: expected a finite number, got str: 'north'"):
        TaskSuite(latitude="north")
    with pytest.raises(TypeError, match=r"Pool\.from_json_dict expects a dict"):
        Pool.from_json_dict([1, 2])


def test_keyword_construction_builds_a_request_body():
    pool = Pool(
        project_id=1080020,  # ids typed as int by hand become strings
        private_name="Cats, batch 1",
        may_contain_adult_content=False,
        reward_per_assignment=0.01,
        assignment_max_duration_seconds=600,
        will_expire=pendulum.datetime(2030, 1, 1, 3, tz="Europe/Moscow"),
        defaults={"default_overlap_for_new_task_suites": 3},
        mixer_config={"real_tasks_count": 10, "golden_tasks_count": 0, "training_tasks_count": 0},
        metadata={"airflow_dag": ["cats"]},
    )

    assert pool.project_id == "1080020"
    assert pool.id is None and pool.status is None and pool.unknown_fields == {}
    assert pool.to_json_dict() == {
        "project_id": "1080020",
        "private_name": "Cats, batch 1",
        "may_contain_adult_content": False,
        "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2030-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 3},
        "mixer_config": {"real_tasks_count": 10, "golden_tasks_count": 0, "training_tasks_count": 0},
        "metadata": {"airflow_dag": ["cats"]},
    }
    assert Solution({"label": "cat"}).output_values == {"label": "cat"}
    assert Task(pool_id="1", input_values={"x": 1}).to_json_dict() == {"pool_id": "1", "input_values": {"x": 1}}
    assert Pool().to_json_dict() == {}


def test_nested_models_accept_dicts_and_models():
    suite = TaskSuite(pool_id="1", tasks=[{"input_values": {"a": 1}}, Task(input_values={"a": 2})])
    assert [task.input_values for task in suite.tasks] == [{"a": 1}, {"a": 2}]
    assert all(type(task) is Task for task in suite.tasks)
    assert Pool(owner={"id": "o"}).owner == Owner(id="o")


def test_default_containers_are_not_shared():
    first, second = Pool(), Pool()
    first.unknown_fields["x"] = 1
    assert second.unknown_fields == {}
    assert SearchResult().items is not SearchResult().items


def test_later_assignments_still_serialise():
    # Attribute writes are not converted (kept cheap), but the writers accept the raw forms.
    pool = Pool()
    pool.reward_per_assignment = 0.02
    pool.will_expire = "2030-01-01T00:00:00+01:00"
    pool.status = "OPEN"
    pool.owner = {"id": "o"}
    assert pool.to_json_dict() == {
        "reward_per_assignment": 0.02,
        "will_expire": "2029-12-31T23:00:00",
        "status": "OPEN",
        "owner": {"id": "o"},
    }


def test_unknown_enum_values_parse_and_round_trip():
    pool = Pool.from_json_dict({"status": "FROZEN", "last_close_reason": "SOLAR_FLARE"})
    operation = Operation.from_json_dict({"type": "POOL.TELEPORT", "status": "QUEUED"})

    assert pool.status == "FROZEN"
    assert isinstance(pool.status, PoolStatus)
    assert pool.status.value == "FROZEN" and pool.status.name == "FROZEN"
    assert str(pool.status) == "FROZEN" and f"{pool.status}" == "FROZEN"
    assert PoolStatus("FROZEN") is pool.status
    assert pool.to_json_dict() == {"status": "FROZEN", "last_close_reason": "SOLAR_FLARE"}
    assert operation.to_json_dict() == {"type": "POOL.TELEPORT", "status": "QUEUED"}
    assert not operation.is_completed()
    assert pickle.loads(pickle.dumps(pool)) == pool
    assert pool.is_open() is False
    assert list(PoolStatus) == [PoolStatus.OPEN, PoolStatus.CLOSED, PoolStatus.ARCHIVED, PoolStatus.LOCKED]


def test_known_enum_members_behave_as_strings():
    assert PoolStatus("OPEN") is PoolStatus.OPEN
    assert PoolStatus.OPEN == "OPEN"
    assert str(OperationType.POOL_OPEN) == "POOL.OPEN"
    assert json.dumps({"s": AssignmentStatus.SUBMITTED}) == '{"s": "SUBMITTED"}'


def test_nested_enum_aliases():
    assert Pool.Status is PoolStatus
    assert Pool.CloseReason is PoolCloseReason
    assert Training.Status is PoolStatus
    assert Assignment.Status is AssignmentStatus
    assert Operation.Status is OperationStatus
    assert Operation.Type is OperationType
    assert Project.Status is ProjectStatus
    assert AppBatch.Status is AppBatchStatus
    assert AppItem.Status is AppItemStatus
    assert AppProject.Status is AppProjectStatus


@pytest.mark.parametrize(
    ("status", "completed"),
    [("PENDING", False), ("RUNNING", False), ("SUCCESS", True), ("FAIL", True), (None, False)],
)
def test_operation_is_completed(status, completed):
    assert Operation(id="op", status=status).is_completed() is completed


def test_operation_raise_on_fail():
    failed = Operation.from_json_dict(
        {"id": "op-7", "type": "POOL.OPEN", "status": "FAIL", "details": {"reason": "EMPTY_POOL"}}
    )

    with pytest.raises(FailedOperationError) as info:
        failed.raise_on_fail()
    assert info.value.operation is failed
    assert str(info.value) == 'Toloka operation op-7 (POOL.OPEN) failed: {"reason":"EMPTY_POOL"}'
    restored = pickle.loads(pickle.dumps(info.value))
    assert restored.operation == failed and str(restored) == str(info.value)
    succeeded = Operation(id="op-8", status="SUCCESS")
    assert succeeded.raise_on_fail() is succeeded
    assert Operation(id="op-9", status="RUNNING").raise_on_fail().status is OperationStatus.RUNNING


def test_pool_status_helpers():
    assert Pool(status="OPEN").is_open()
    assert Pool(status="CLOSED").is_closed()
    assert Pool(status="ARCHIVED").is_archived()
    assert Pool(status="LOCKED").is_locked()
    assert Training(status="OPEN").is_open() and not Training(status="OPEN").is_closed()


def test_search_result_items_typed_on_request():
    data = {"items": [EXAMPLES[Pool], {"id": "2"}], "has_more": False}

    plain = SearchResult.from_json_dict(data)
    typed = SearchResult.from_json_dict(data, item_class=Pool)

    assert plain.items == data["items"]
    assert [type(item) for item in typed.items] == [Pool, Pool]
    assert typed.has_more is False
    assert SearchResult.from_json_dict(json.loads(json.dumps(typed.to_json_dict())), item_class=Pool) == typed
    apps = SearchResult.from_json_dict({"content": [{"id": "b1"}], "has_more": True}, item_class=AppBatch)
    assert apps.items == [AppBatch(id="b1")] and apps.has_more is True
    assert SearchResult.from_json_dict({"items": None}).items == []


def test_batch_create_result_items_typed_on_request():
    data = {"items": {"0": EXAMPLES[Task], "2": {"id": "t2"}}, "validation_errors": {"1": {"f": {"code": "X"}}}}

    result = BatchCreateResult.from_json_dict(data, item_class=Task)

    assert {key: type(item) for key, item in result.items.items()} == {"0": Task, "2": Task}
    assert result.items["2"].id == "t2"
    assert result.validation_errors == {"1": {"f": {"code": "X"}}}
    assert BatchCreateResult.from_json_dict(result.to_json_dict(), item_class=Task) == result
    assert BatchCreateResult.from_json_dict({"items": {"0": {}}}).validation_errors == {}
    built = BatchCreateResult(items={"0": Task(id="t0")})
    assert built.to_json_dict() == {"items": {"0": {"id": "t0"}}, "validation_errors": {}}


def test_repr_shows_only_set_fields():
    assert repr(Pool(id="1", private_name="x")) == "Pool(private_name='x', id='1')"
    assert repr(Owner.from_json_dict({"id": "o", "extra": 1})) == "Owner(id='o', unknown_fields={'extra': 1})"


def test_to_json_dict_rejects_what_json_cannot_hold():
    with pytest.raises(TypeError, match="Cannot write a object as JSON"):
        Task(input_values={"x": object()}).to_json_dict()


def test_to_jsonable_plain_values():
    value = {
        1: (Decimal("1.5"), pendulum.datetime(2024, 1, 1, tz="UTC")),
        "enum": PoolStatus.OPEN,
        "model": Owner(id="o"),
        "set": frozenset({"a"}),
    }
    assert models.to_jsonable(value) == {
        "1": [1.5, "2024-01-01T00:00:00"],
        "enum": "OPEN",
        "model": {"id": "o"},
        "set": ["a"],
    }


def test_from_json_dict_does_not_mutate_its_input():
    wire = copy.deepcopy(EXAMPLES[Assignment])
    Assignment.from_json_dict(wire)
    assert wire == EXAMPLES[Assignment]


def test_operation_timeout_error_reads_the_operation_model():
    from toloka_provider.client.errors import OperationTimeoutError

    operation = Operation(id="op-5", type="POOL.CLOSE", status="RUNNING", progress=40)
    error = OperationTimeoutError(operation, 600.0)

    assert str(error) == "Toloka operation op-5 did not complete within 600 s; last status RUNNING, progress 40%"
    restored = pickle.loads(pickle.dumps(error))
    assert restored.operation == operation and str(restored) == str(error)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(Decimal("2.50"), Decimal("2.50")), (0.07, Decimal("0.07")), ("1e-3", Decimal("0.001")), (7, Decimal("7"))],
)
def test_to_decimal(given, expected):
    assert models.to_decimal(given) == expected
    assert str(models.to_decimal(given)) == str(expected)


def test_to_jsonable_makes_hand_written_bodies_json_safe():
    body = {"reward_per_assignment": Decimal("0.01"), "will_expire": pendulum.datetime(2030, 1, 1, tz="UTC")}
    assert json.loads(json.dumps(models.to_jsonable(body))) == {
        "reward_per_assignment": 0.01,
        "will_expire": "2030-01-01T00:00:00",
    }
