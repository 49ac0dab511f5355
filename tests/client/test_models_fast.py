"""The compiled wire builders of the models (issue 16) against the attrs path they replace, and the JSON decode.

``Model.from_json_dict`` on a plain dict goes through a builder compiled per class (and per key set); the
reference is the attrs ``__init__`` with its converters, which every class still has. ``attrs_path()`` turns the
builders off for the duration of a block (every class then builds as before the change), and each test builds
the same payload both ways and compares everything observable: equality, the type of every value (down to
the tzinfo object of every datetime), repr, the wire form, and for a bad payload the exception class and text.
"""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_client_models import EXAMPLES

from toloka_provider.client import core, models
from toloka_provider.client.dates import parse_datetime
from toloka_provider.client.models import (
    Assignment,
    AssignmentStatus,
    BaseModel,
    Message,
    MessageThread,
    Owner,
    Solution,
    Task,
    TaskSuite,
    UserRestriction,
)


def model_classes() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    pending = [BaseModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub.__module__ == models.__name__:
                found.append(sub)
                pending.append(sub)
    return found


@contextlib.contextmanager
def attrs_path() -> Iterator[None]:
    """Every model class builds through its attrs ``__init__`` (the code before the compiled builders)."""
    saved = {
        cls: (cls.__dict__.get("_wire_class"), cls.__dict__.get("_wire_direct")) for cls in model_classes()
    }
    for cls in saved:
        cls._wire_class = None
        cls._wire_direct = None
    try:
        yield
    finally:
        for cls, (wire_class, wire_direct) in saved.items():
            cls._wire_class = wire_class
            cls._wire_direct = wire_direct


def snapshot(value: Any) -> Any:
    """Everything observable of a built value, recursively, with the exact types (and tzinfo objects)."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            tuple((field.name, snapshot(getattr(value, field.name))) for field in attrs.fields(type(value))),
        )
    if isinstance(value, pendulum.DateTime):
        return (type(value), value.isoformat(), id(value.tzinfo), value.fold)
    if isinstance(value, dict):
        return (type(value), tuple((key, snapshot(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(snapshot(item) for item in value))
    return (type(value), repr(value))


def outcome(build: Any) -> Any:
    """The snapshot of what ``build()`` returns (read in full), or the class and text of what it raises."""
    try:
        built = build()
        return ("built", snapshot(built), repr(built), json.dumps(built.to_json_dict(), sort_keys=True))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def both_ways(cls: type[BaseModel], data: Any) -> tuple[Any, Any]:
    fast = outcome(lambda: cls.from_json_dict(copy.deepcopy(data)))
    with attrs_path():
        slow = outcome(lambda: cls.from_json_dict(copy.deepcopy(data)))
    return fast, slow


def assert_same(cls: type[BaseModel], data: Any) -> Any:
    fast, slow = both_ways(cls, data)
    assert fast == slow
    return fast


# ---- which classes have builders -----------------------------------------------------------------------------


def test_the_hot_models_have_compiled_builders():
    for cls in (
        Assignment,
        Task,
        Solution,
        TaskSuite,
        Owner,
        models.Pool,
        models.Operation,
        models.UserBonus,
    ):
        assert cls._wire_class is cls and cls._wire_direct is cls
    # from_json_dict renames keys first: nested lists must go through it, not straight to the builder.
    assert Message._wire_class is Message and Message._wire_direct is None
    # A default that is not None (the scope of a restriction, the items of a page): the attrs path.
    assert models.PoolUserRestriction._wire_class is None
    assert models.SearchResult._wire_class is None


def test_builders_are_off_inside_attrs_path():
    with attrs_path():
        assert Assignment._wire_class is None
    assert Assignment._wire_class is Assignment


# ---- the corpus ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_class", sorted(EXAMPLES, key=lambda cls: cls.__name__), ids=lambda cls: cls.__name__
)
def test_every_example_builds_the_same(model_class):
    result = assert_same(model_class, EXAMPLES[model_class])
    assert result[0] == "built"


WIRE_ASSIGNMENT = {
    "id": "a1",
    "task_suite_id": "s1",
    "pool_id": "p1",
    "user_id": "u1",
    "status": "SUBMITTED",
    "reward": 0.01,
    "tasks": [{"id": f"t{i}", "input_values": {"image": f"https://example.com/{i}.jpg"}} for i in range(5)],
    "solutions": [{"output_values": {"result": "cat"}} for _ in range(5)],
    "mixed": True,
    "automerged": False,
    "created": "2026-12-01T18:45:52.259240",
    "submitted": "2026-12-01T18:45:53",
}


def variant(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(WIRE_ASSIGNMENT)
    for key, value in changes.items():
        if value is KeyError:
            data.pop(key, None)
        else:
            data[key] = value
    return data


ASSIGNMENT_CASES = {
    "server form": variant(),
    "empty object": {},
    "only an id": {"id": "a1"},
    "missing optional fields": variant(
        mixed=KeyError, automerged=KeyError, submitted=KeyError, reward=KeyError
    ),
    "nulls everywhere": {key: None for key in WIRE_ASSIGNMENT},
    "unknown fields": variant(x_new={"deep": [1, {"a": None}]}, y_other=None),
    "a key named unknown_fields": variant(unknown_fields={"a": 1}),
    "only unknown fields": {"x": 1, "y": [2]},
    "empty lists": variant(tasks=[], solutions=[], bonus_ids=[], first_declined_solution_attempt=[]),
    "declined attempt": variant(first_declined_solution_attempt=[{"output_values": {"result": "dog"}}]),
    "owner": variant(owner={"id": "r1", "myself": True, "company_id": 7, "x": 1}),
    "integer ids": variant(id=12, pool_id=0, user_id=-3),
    "unknown status": variant(status="ON_HOLD"),
    "every status": variant(status="ACCEPTED", accepted="2026-12-01T19:00:00Z"),
    "int reward": variant(reward=1),
    "str reward": variant(reward=" 0.30 "),
    "zero rewards": variant(reward=-0.0),
    "huge reward": variant(reward=123456789012345678901234567890),
    "tasks with unknown fields": variant(tasks=[{"id": "t", "x": 1}, {"input_values": {}, "overlap": 3}]),
    "tasks of other shapes": variant(
        tasks=[{"id": "t1"}, {"id": "t2", "created": "2024-01-31T12:00:00Z"}, {"pool_id": 5, "id": 3}, {}]
    ),
    "dates with Z": variant(created="2024-01-31T12:00:00Z", submitted="2024-01-31T12:00:00.5z"),
    "dates with offsets": variant(
        created="2024-01-31T12:00:00+03:00", submitted="2024-01-31T02:30:00.123-05:30"
    ),
    "dates without fraction or seconds": variant(created="2024-01-31T12:00", submitted="2024-01-31T12:00:59"),
    "seven fractional digits": variant(
        created="2024-01-31T12:00:00.1234567", submitted="2024-01-31T12:00:00.1234567Z"
    ),
    "one to five fractional digits": variant(
        created="2024-01-31T12:00:00.1", submitted="2024-01-31T12:00:00.12345"
    ),
    "a date alone and a space": variant(created="2024-01-31", submitted="2024-01-31 12:00:00"),
    "a leap second is not a date": variant(created="2024-01-31T23:59:60"),
    "February 30": variant(created="2024-02-30T00:00:00"),
    "a date that is not a string": variant(created=1706702400),
    "a date that is garbage": variant(submitted="yesterday"),
    "a bad id": variant(user_id=["u1"]),
    "a bool id": variant(pool_id=True),
    "a bad status": variant(status=5),
    "a bad reward": variant(reward="free"),
    "an infinite reward": variant(reward="Infinity"),
    "a bool reward": variant(reward=True),
    "tasks not a list": variant(tasks="t1"),
    "tasks a dict": variant(tasks={"id": "t1"}),
    "a task that is not an object": variant(tasks=[{"id": "t1"}, 7]),
    "a bad value inside a task": variant(tasks=[{"id": "t1"}, {"id": "t2", "created": "never"}]),
    "two bad fields: the first in field order wins": variant(created="never", id=["x"]),
    "a bad owner": variant(owner=["r1"]),
    "a tuple of tasks": variant(tasks=({"id": "t1"},)),
}


@pytest.mark.parametrize("case", ASSIGNMENT_CASES)
def test_assignment_cases_build_the_same(case):
    assert_same(Assignment, ASSIGNMENT_CASES[case])


def test_bad_payloads_raise_the_old_errors():
    # Spot checks that the comparison compares something: the messages name the model and field.
    assert assert_same(Assignment, ASSIGNMENT_CASES["a bad id"])[1:] == (
        TypeError,
        "Assignment.user_id: expected an id (str), got list: ['u1']",
    )
    assert (
        assert_same(Assignment, ASSIGNMENT_CASES["two bad fields: the first in field order wins"])[1]
        is TypeError
    )
    assert assert_same(Assignment, ASSIGNMENT_CASES["a date that is garbage"])[1] is ValueError


def test_not_a_dict_is_refused_the_same():
    for data in (None, [], "x", 5, [("id", "a")]):
        assert_same(Assignment, data)


def test_other_mappings_take_the_attrs_path():
    from types import MappingProxyType

    assert_same(Assignment, MappingProxyType(variant()))


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-31T12:00:00",
        "2024-01-31T12:00:00Z",
        "2024-01-31T12:00:00.000001",
        "2024-01-31T12:00:00.1234567",
        "2024-01-31T15:00:00+03:00",
        "2024-12-31T23:30:00-01:00",
        "2024-01-31",
    ],
)
def test_datetimes_are_utc_pendulum_with_the_shared_tzinfo(text):
    built = Task.from_json_dict({"id": "t", "created": text})
    assert type(built.created) is pendulum.DateTime
    assert built.created.tzinfo is pendulum.UTC
    assert built.created == parse_datetime(text)
    assert_same(Task, {"id": "t", "created": text})


def test_types_of_a_built_assignment():
    built = Assignment.from_json_dict(variant(owner={"id": 1}))
    assert type(built.id) is str and built.status is AssignmentStatus.SUBMITTED
    assert built.reward == Decimal("0.01") and type(built.reward) is Decimal
    assert type(built.tasks[0]) is Task and type(built.solutions[0]) is Solution
    assert type(built.owner) is Owner and built.owner.id == "1"
    assert built.unknown_fields == {} and built.tasks[0].unknown_fields == {}
    assert built.accepted is None and built.first_declined_solution_attempt is None


def test_unknown_fields_dicts_are_not_shared():
    first = Task.from_json_dict({"id": "a"})
    second = Task.from_json_dict({"id": "b"})
    first.unknown_fields["x"] = 1
    assert second.unknown_fields == {}


def test_nested_lists_stay_lazy_and_round_trip():
    wire = variant()
    built = Assignment.from_json_dict(wire)
    assert type(Assignment.tasks.__get__(None, Assignment).__get__(built)) is models._Unbuilt
    assert built.tasks is built.tasks  # built once, then kept
    assert Assignment.from_json_dict(json.loads(json.dumps(built.to_json_dict()))) == built
    assert pickle.loads(pickle.dumps(built)) == built
    assert attrs.evolve(built, id="b").tasks == built.tasks


def test_message_lists_keep_the_renamed_key():
    thread = {"id": "th", "messages": [{"text": {"EN": "hi"}, "from": {"id": "u", "role": "USER"}}]}
    assert_same(MessageThread, thread)
    assert MessageThread.from_json_dict(thread).messages[0].from_.role == "USER"


def test_restrictions_dispatch_on_scope():
    for scope in ("SYSTEM", "ALL_PROJECTS", "PROJECT", "POOL", "GALAXY"):
        assert_same(UserRestriction, {"scope": scope, "user_id": "u", "project_id": "p", "pool_id": "q"})


def test_a_subclass_without_the_decorator_builds_itself():
    class MyTask(Task):
        pass

    built = MyTask.from_json_dict({"id": "t", "created": "2024-01-31T12:00:00"})
    assert type(built) is MyTask and built.created.tzinfo is pendulum.UTC


# ---- key sets ("shapes") -----------------------------------------------------------------------------------------


def test_alternating_shapes_of_one_length():
    # Same length, other keys: the shape builder must hand these back, not read a missing key as None.
    items = [
        {"id": "t1", "pool_id": "p"},
        {"id": "t2", "created": "2024-01-31T12:00:00"},
        {"id": "t3", "x": 1},
    ]
    for _ in range(3):
        for item in items:
            assert_same(Task, item)


def test_more_shapes_than_the_table_holds():
    optional = [
        "pool_id",
        "overlap",
        "created",
        "origin_task_id",
        "remaining_overlap",
        "infinite_overlap",
        "reserved_for",
    ]
    payloads = []
    for mask in range(2 ** len(optional)):  # 128 key sets, more than _MAX_SHAPES; switches run out too
        item = {"id": f"t{mask}"}
        for bit, key in enumerate(optional):
            if mask >> bit & 1:
                item[key] = {"pool_id": "p", "overlap": 2, "created": "2024-01-31T12:00:00Z"}.get(key)
        payloads.append(item)
    for item in payloads + payloads[::-1]:
        assert_same(Task, item)


# ---- a property: any mix of good, odd and bad values builds (or fails) the same -----------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        [
            "2024-01-31T12:00:00",
            "2024-01-31T12:00:00.1234567Z",
            "2024-01-31T12:00:00+05:00",
            "2024-02-30T00:00:00",
            "SUBMITTED",
            "ACCEPTED",
            "0.01",
            "NaN",
            "1e3",
        ]
    ),
    st.lists(
        st.sampled_from([{"id": "t"}, {"output_values": {"a": 1}}, {"created": "bad"}, 1, "x"]), max_size=3
    ),
    st.dictionaries(
        st.sampled_from(["id", "output_values", "a"]), st.sampled_from(["x", 1, None]), max_size=2
    ),
)
ASSIGNMENT_KEYS = [field.name for field in attrs.fields(Assignment)] + ["x_unknown"]
TASK_KEYS = [field.name for field in attrs.fields(Task)] + ["x_unknown"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(ASSIGNMENT_KEYS), VALUES, max_size=8))
def test_property_assignment(data):
    assert_same(Assignment, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(TASK_KEYS), VALUES, max_size=5), min_size=1, max_size=4))
def test_property_tasks_in_a_suite(tasks):
    # Several key sets in a row through one list: shape builders are compiled and switched on the way.
    assert_same(TaskSuite, {"id": "s", "tasks": tasks})


# ---- JSON decode ----------------------------------------------------------------------------------------------------

JSON_BODIES = [
    b'{"items":[{"id":"a","reward":0.01,"tasks":[]}],"has_more":false}',
    b'{"a":1,"a":2}',
    b"[NaN, Infinity, -Infinity]",
    b"[1e400, -1e400, 1.5e-400]",
    b"[-0, -0.0, 0.1, 1E2, 1.0]",
    b"[123456789012345678901234567890, 18446744073709551616, -9223372036854775809]",
    b"[" + b"9" * 4000 + b"]",
    b'["\\ud800", "\\udc00x", "\\ud83d\\ude00", "\\u0000"]',
    '["é"]'.encode("utf-16"),
    '["é"]'.encode("utf-32"),
    b'\xef\xbb\xbf{"a": "\xc3\xa9"}',
    b" \t\n[1]\r\n ",
    b'"\xed\xa0\x80"',
    b'{"a":[' * 50 + b"]}" * 50,
]
BAD_JSON_BODIES = [
    b'"\xff"',
    b"[1]x",
    b"[01]",
    b"[1.]",
    b'["\x01"]',
    b"{",
    b"[" + b"9" * 5000 + b"]",
    b"[" * 100_000 + b"]" * 100_000,
]


def json_outcome(loads: Any, body: bytes) -> Any:
    try:
        value = loads(body)
    except Exception as exc:
        return ("raised", type(exc))
    return ("decoded", snapshot(value), json.dumps(value, sort_keys=True))


@pytest.mark.parametrize("body", JSON_BODIES + BAD_JSON_BODIES, ids=lambda body: repr(body[:24]))
def test_loads_json_is_json_loads(body):
    assert json_outcome(core.loads_json, body) == json_outcome(json.loads, body)


def test_loads_json_uses_msgspec_when_installed_and_json_without(monkeypatch):
    pytest.importorskip("msgspec")
    assert core._fast_loads is not None
    calls = []
    monkeypatch.setattr(core, "_fast_loads", None)
    monkeypatch.setattr(core.json, "loads", lambda body: calls.append(body) or {"via": "json"})
    assert core.loads_json(b"{}") == {"via": "json"} and calls == [b"{}"]


def test_the_emulator_page_decodes_the_same():
    body = json.dumps(
        {"items": [variant(id=f"a{i}", reward=i / 100) for i in range(50)], "has_more": True},
        ensure_ascii=False,
    ).encode()
    assert json_outcome(core.loads_json, body) == json_outcome(json.loads, body)
