"""Nested model lists built on first read (``Assignment.tasks``/``solutions``, ``TaskSuite.tasks``).

Every check starts from a freshly parsed object, so the property under test is what triggers the build:
reading, equality, ``to_json_dict``, pickling, copying, ``attrs.evolve``, ``repr`` all see built models.
"""

from __future__ import annotations

import copy
import pickle

import attrs
import pendulum
import pytest

from toloka_provider.client import models
from toloka_provider.client.models import Assignment, Solution, Task, TaskSuite

WIRE = {
    "id": "a1",
    "pool_id": "21",
    "status": "SUBMITTED",
    "reward": 0.01,
    "tasks": [
        {"id": "t1", "input_values": {"image": "1.jpg"}, "created": "2024-01-31T12:34:56.123000"},
        {"id": "t2", "input_values": {"image": "2.jpg"}, "x_task_extra": [1]},
    ],
    "solutions": [{"output_values": {"label": "cat"}}, {"output_values": {"label": "dog"}, "x_extra": True}],
    "first_declined_solution_attempt": [{"output_values": {"label": "bird"}}],
    "created": "2024-01-31T12:00:00",
    "x_top": "kept",
}


def fresh() -> Assignment:
    # A copy: the model references the decoded dicts it was given, and some tests change them.
    return Assignment.from_json_dict(copy.deepcopy(WIRE))


def built(assignment: Assignment) -> Assignment:
    for name in ("tasks", "solutions", "first_declined_solution_attempt"):
        getattr(assignment, name)
    return assignment


def test_reading_gives_built_models_once():
    assignment = fresh()

    assert [type(task) for task in assignment.tasks] == [Task, Task]
    assert assignment.tasks[0].input_values == {"image": "1.jpg"}
    assert assignment.tasks[0].created == pendulum.datetime(2024, 1, 31, 12, 34, 56, 123000, tz="UTC")
    assert assignment.tasks[1].unknown_fields == {"x_task_extra": [1]}
    assert assignment.solutions == [Solution({"label": "cat"}), Solution({"label": "dog"}, unknown_fields={"x_extra": True})]
    assert assignment.first_declined_solution_attempt == [Solution({"label": "bird"})]
    assert type(assignment.tasks) is list
    assert assignment.tasks is assignment.tasks  # built once, then kept


def test_changes_to_the_built_list_stick():
    assignment = fresh()
    assignment.solutions.append(Solution({"label": "fish"}))
    assignment.tasks[0].input_values["image"] = "changed.jpg"

    assert [s.output_values["label"] for s in assignment.solutions] == ["cat", "dog", "fish"]
    assert assignment.to_json_dict()["tasks"][0]["input_values"] == {"image": "changed.jpg"}


def test_assignment_replaces_the_list():
    assignment = fresh()
    assignment.tasks = [Task(id="other")]
    assert assignment.tasks == [Task(id="other")]
    assignment.solutions = None
    assert assignment.solutions is None
    assert "solutions" not in assignment.to_json_dict()


def test_round_trip_is_exact_without_reading_first():
    assert fresh().to_json_dict() == WIRE
    assert Assignment.from_json_dict(fresh().to_json_dict()) == fresh()


def test_equality_between_built_and_unbuilt():
    assert fresh() == fresh()
    assert built(fresh()) == fresh()
    assert fresh() == built(fresh())
    other = Assignment.from_json_dict({**WIRE, "solutions": [{"output_values": {"label": "other"}}]})
    assert fresh() != other


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_and_copy_without_reading_first(protocol):
    restored = pickle.loads(pickle.dumps(fresh(), protocol=protocol))
    assert restored == built(fresh())
    assert restored.tasks[1].unknown_fields == {"x_task_extra": [1]}
    assert copy.deepcopy(fresh()) == fresh()
    assert copy.copy(fresh()).solutions[0].output_values == {"label": "cat"}


def test_evolve_without_reading_first():
    evolved = attrs.evolve(fresh(), id="a2")
    assert evolved.id == "a2"
    assert evolved.tasks == built(fresh()).tasks
    assert evolved.unknown_fields == {"x_top": "kept"}


def test_repr_shows_built_models():
    text = repr(fresh())
    assert "tasks=[Task(input_values={'image': '1.jpg'}, id='t1'" in text
    assert "solutions=[Solution(output_values={'label': 'cat'})" in text


def test_task_suite_tasks_are_built_on_read():
    suite = TaskSuite.from_json_dict({"pool_id": "1", "tasks": [{"input_values": {"a": 1}}]})
    assert suite.tasks == [Task(input_values={"a": 1})]
    assert TaskSuite(pool_id="1", tasks=[{"input_values": {"a": 1}}]) == suite


def test_mixed_and_non_list_values_are_converted_at_once():
    task = Task(input_values={"a": 2})
    suite = TaskSuite(tasks=({"input_values": {"a": 1}}, task))  # a tuple, one model: converted eagerly
    assert suite.tasks == [Task(input_values={"a": 1}), task]
    assert suite.tasks[1] is task


def test_shape_errors_still_raise_when_the_parent_is_built():
    with pytest.raises(TypeError, match=r"Assignment\.solutions: expected a list of Solution or dicts, got str"):
        Assignment.from_json_dict({"solutions": "cat"})
    with pytest.raises(TypeError, match=r"Assignment\.tasks: .* got an item of type int"):
        Assignment.from_json_dict({"tasks": [{"id": "t"}, 5]})


def test_a_bad_nested_value_raises_at_first_read_naming_model_and_field():
    assignment = Assignment.from_json_dict({"id": "a", "tasks": [{"created": "soon"}]})  # not read yet: no error
    with pytest.raises(ValueError, match=r"Task\.created: Invalid datetime 'soon'"):
        assignment.tasks  # noqa: B018 - the read is the point
    with pytest.raises(ValueError, match=r"Task\.created"):
        assignment.to_json_dict()


def test_class_attribute_is_the_slot_descriptor():
    # attrs and introspection that read the class attribute see what attrs made.
    assert type(Assignment.tasks).__name__ == "member_descriptor"
    assert isinstance(Assignment.__dict__["tasks"], models._LazyModelList)
    assert [field.name for field in attrs.fields(Assignment)][:3] == ["unknown_fields", "id", "task_suite_id"]


# Not nested, but part of the same fast path: money parsed from JSON floats is cached per float value.
@pytest.mark.parametrize("reward", [0.01, 0.0, -0.0, 1e-7, 12.5])
def test_cached_money_round_trips_exactly(reward):
    first, second = (Assignment.from_json_dict({"reward": reward}) for _ in range(2))
    assert first.reward == second.reward
    assert repr(first.to_json_dict()["reward"]) == repr(reward)
    assert str(second.reward) == str(models.Decimal(repr(reward)))
