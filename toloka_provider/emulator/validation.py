"""Validation of request bodies: the JSON itself, then required fields and types of create/update bodies.

:func:`parse_json_body` turns the raw body into Python values or raises a 400 ``VALIDATION_ERROR``: UTF-8
only, no ``NaN``/``Infinity`` and no number that overflows (``1e400``, integers beyond 64 bits), nesting at
most :data:`MAX_JSON_DEPTH` levels. Python's ``json`` would accept the first two and recurse on the last.

Each ``check_*`` function returns a dict ``{"field.path": {"code", "message"}}`` (empty when valid). The
checks cover what Toloka rejects most often; they do not try to cover every constraint of the API.
"""

from __future__ import annotations

import json
import math
from typing import Any

from toloka_provider.emulator.errors import ApiError, field_error
from toloka_provider.emulator.state import State, parse_datetime

_MISSING = object()

#: The deepest nesting of arrays and objects a body may have (handlers copy bodies recursively).
MAX_JSON_DEPTH = 128
_INT_MAX = 2**63 - 1


class _BadNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _BadNumber(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _BadNumber(f"{text[:40]} is out of range for a number")
    return value


def _bounded_int(text: str) -> int:
    # 19 digits and a sign is the longest 64-bit integer: check the value only near the edge.
    if len(text) > 20:
        raise _BadNumber(f"{text[:40]}... does not fit in 64 bits")
    value = int(text)
    if len(text) > 18 and not -_INT_MAX - 1 <= value <= _INT_MAX:
        raise _BadNumber(f"{text} does not fit in 64 bits")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_json_body(raw: bytes) -> Any:
    """The JSON request body as Python values; ApiError 400 VALIDATION_ERROR naming what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, "VALIDATION_ERROR", f"The request body is not UTF-8: {error}") from None
    text = text.removeprefix("\ufeff")
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except _BadNumber as error:
        raise ApiError(400, "VALIDATION_ERROR", f"The request body has a number out of range: {error}") from None
    except RecursionError:
        body = None
        too_deep = True
    except ValueError as error:
        raise ApiError(400, "VALIDATION_ERROR", f"The request body is not valid JSON: {error}") from None
    else:
        # Counting brackets is cheap and bounds the depth; walk the values only when it might be too deep.
        too_deep = (
            isinstance(body, (dict, list))
            and text.count("[") + text.count("{") > MAX_JSON_DEPTH
            and _deeper_than(body, MAX_JSON_DEPTH)
        )
    if too_deep:
        raise ApiError(
            400, "VALIDATION_ERROR", f"The request body is nested deeper than {MAX_JSON_DEPTH} levels"
        )
    return body


class Checker:
    """Collects field errors for one object."""

    def __init__(self, obj: Any, prefix: str = "") -> None:
        self.obj = obj if isinstance(obj, dict) else {}
        self.prefix = prefix
        self.errors: dict[str, dict] = {}
        if not isinstance(obj, dict):
            self.errors[prefix.rstrip(".") or "body"] = field_error("OBJECT_EXPECTED", "expected a JSON object")

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, code: str, message: str) -> None:
        self.errors.setdefault(self.path(name), field_error(code, message))

    def get(self, name: str) -> Any:
        value: Any = self.obj
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value or value[part] is None:
                return _MISSING
            value = value[part]
        return value

    def require(self, name: str) -> Any:
        value = self.get(name)
        if value is _MISSING:
            self.error(name, "VALUE_REQUIRED", f"{name} is required")
        return value

    def string(self, name: str, required: bool = False, blank: bool = True) -> None:
        value = self.require(name) if required else self.get(name)
        if value is _MISSING:
            return
        if not isinstance(value, str):
            self.error(name, "STRING_EXPECTED", f"{name} must be a string, got {type(value).__name__}")
        elif not blank and not value.strip():
            self.error(name, "BLANK_STRING_NOT_ALLOWED", f"{name} must not be blank")

    def number(self, name: str, required: bool = False, minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> None:
        value = self.require(name) if required else self.get(name)
        if value is _MISSING:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            expected = "an integer" if integer else "a number"
            code = "INTEGER_EXPECTED" if integer else "FLOAT_EXPECTED"
            self.error(name, code, f"{name} must be {expected}, got {value!r}")
            return
        if minimum is not None and value < minimum:
            self.error(name, "VALUE_LESS_THAN_MIN", f"{name} must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.error(name, "VALUE_GREATER_THAN_MAX", f"{name} must be <= {maximum}, got {value}")

    def boolean(self, name: str, required: bool = False) -> None:
        value = self.require(name) if required else self.get(name)
        if value is not _MISSING and not isinstance(value, bool):
            self.error(name, "BOOLEAN_EXPECTED", f"{name} must be true or false, got {value!r}")

    def obj_field(self, name: str, required: bool = False) -> Any:
        value = self.require(name) if required else self.get(name)
        if value is not _MISSING and not isinstance(value, dict):
            self.error(name, "OBJECT_EXPECTED", f"{name} must be an object, got {type(value).__name__}")
            return _MISSING
        return value

    def array(self, name: str, required: bool = False) -> Any:
        value = self.require(name) if required else self.get(name)
        if value is not _MISSING and not isinstance(value, list):
            self.error(name, "ARRAY_EXPECTED", f"{name} must be an array, got {type(value).__name__}")
            return _MISSING
        return value

    def date(self, name: str, required: bool = False) -> None:
        value = self.require(name) if required else self.get(name)
        if value is _MISSING:
            return
        try:
            parse_datetime(value if isinstance(value, str) else "")
        except ValueError:
            self.error(name, "INVALID_DATE_TIME_SYNTAX", f"{name} must be an ISO 8601 date-time, got {value!r}")

    def enum(self, name: str, allowed: tuple[str, ...], required: bool = False) -> None:
        value = self.require(name) if required else self.get(name)
        if value is not _MISSING and value not in allowed:
            self.error(name, "UNKNOWN_ENUM_VALUE", f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    def metadata(self) -> None:
        value = self.get("metadata")
        if value is not _MISSING and not isinstance(value, dict):
            self.error("metadata", "OBJECT_EXPECTED", "metadata must be an object of string lists")


def check_project(body: Any) -> dict:
    c = Checker(body)
    c.string("public_name", required=True, blank=False)
    spec = c.obj_field("task_spec", required=True)
    if spec is not _MISSING:
        c.obj_field("task_spec.input_spec")
        c.obj_field("task_spec.output_spec")
    c.enum("assignments_issuing_type", ("AUTOMATED", "MAP_SELECTOR"), required=True)
    c.metadata()
    return c.errors


def _check_project_ref(c: Checker, state: State) -> None:
    project_id = c.get("project_id")
    if project_id is _MISSING:
        c.error("project_id", "VALUE_REQUIRED", "project_id is required")
    elif str(project_id) not in state.projects:
        c.error("project_id", "ENTITY_DOES_NOT_EXIST", f"project {project_id!r} does not exist")


def check_pool(body: Any, state: State) -> dict:
    c = Checker(body)
    _check_project_ref(c, state)
    c.string("private_name", required=True, blank=False)
    c.number("reward_per_assignment", required=True, minimum=0.005)
    c.number("assignment_max_duration_seconds", required=True, minimum=5, maximum=2**31 - 1, integer=True)
    c.date("will_expire", required=True)
    if c.obj_field("defaults", required=True) is not _MISSING:
        c.number("defaults.default_overlap_for_new_task_suites", required=True, minimum=1, maximum=30000, integer=True)
        c.number("defaults.default_overlap_for_new_tasks", minimum=1, maximum=30000, integer=True)
    c.number("priority", minimum=0, maximum=100, integer=True)
    c.number("auto_close_after_complete_delay_seconds", minimum=0, maximum=259200, integer=True)
    c.number("auto_accept_period_day", minimum=1, maximum=21, integer=True)
    c.boolean("auto_accept_solutions")
    c.boolean("may_contain_adult_content")
    if c.obj_field("mixer_config") is not _MISSING:
        for name in ("real_tasks_count", "golden_tasks_count", "training_tasks_count"):
            c.number(f"mixer_config.{name}", required=True, minimum=0, maximum=500, integer=True)
    c.metadata()
    return c.errors


def check_training(body: Any, state: State) -> dict:
    c = Checker(body)
    _check_project_ref(c, state)
    c.string("private_name", required=True, blank=False)
    c.boolean("inherited_instructions", required=True)
    c.number("training_tasks_in_task_suite_count", required=True, minimum=0, maximum=500, integer=True)
    c.number("task_suites_required_to_pass", minimum=0, maximum=500, integer=True)
    c.number("assignment_max_duration_seconds", minimum=5, maximum=2**31 - 1, integer=True)
    c.metadata()
    return c.errors


_SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "url": (str,),
    "file": (str,),
    "coordinates": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "json": (dict, list, str, int, float, bool),
}


def check_values_against_spec(c: Checker, values: Any, spec: dict | None, path: str) -> None:
    """``input_values`` (or output values) against a project's ``input_spec``: required fields, basic types."""
    if not isinstance(values, dict):
        c.error(path, "OBJECT_EXPECTED", f"{path} must be an object")
        return
    if not spec:
        return
    for name, field_spec in spec.items():
        field_spec = field_spec if isinstance(field_spec, dict) else {}
        required = field_spec.get("required", True)
        value = values.get(name)
        if value is None:
            if required:
                c.error(f"{path}.{name}", "VALUE_REQUIRED", f"{path}.{name} is required by the project's spec")
            continue
        field_type = str(field_spec.get("type", "json")).lower()
        if field_type.startswith("array_"):
            if not isinstance(value, list):
                c.error(f"{path}.{name}", "ARRAY_EXPECTED", f"{path}.{name} must be an array")
            continue
        expected = _SPEC_TYPES.get(field_type)
        ok = expected is None or (isinstance(value, expected) and not (isinstance(value, bool) and bool not in expected))
        if not ok:
            c.error(
                f"{path}.{name}",
                f"{field_type.upper()}_EXPECTED" if field_type != "string" else "STRING_EXPECTED",
                f"{path}.{name} must be of type {field_type}, got {value!r}",
            )


def pool_for(c: Checker, state: State) -> dict | None:
    pool_id = c.get("pool_id")
    if pool_id is _MISSING:
        c.error("pool_id", "VALUE_REQUIRED", "pool_id is required")
        return None
    pool = state.pools.get(str(pool_id)) or state.trainings.get(str(pool_id))
    if pool is None:
        c.error("pool_id", "ENTITY_DOES_NOT_EXIST", f"pool {pool_id!r} does not exist")
        return None
    if pool.get("status") == "ARCHIVED":
        c.error("pool_id", "INVALID_VALUE", f"pool {pool_id} is archived")
    return pool


def _input_spec(state: State, pool: dict | None) -> dict | None:
    if pool is None:
        return None
    project = state.projects.get(str(pool.get("project_id")))
    if project is None:
        return None
    return (project.get("task_spec") or {}).get("input_spec")


def _check_overlap(c: Checker, allow_defaults: bool, what: str) -> None:
    c.number("overlap", minimum=1, maximum=30000, integer=True)
    c.boolean("infinite_overlap")
    if c.get("overlap") is _MISSING and c.get("infinite_overlap") is not True and not allow_defaults:
        c.error("overlap", "VALUE_REQUIRED", f"overlap is required for a {what} unless allow_defaults=true")


def check_task(body: Any, state: State, allow_defaults: bool) -> dict:
    c = Checker(body)
    pool = pool_for(c, state)
    values = c.require("input_values")
    if values is not _MISSING:
        check_values_against_spec(c, values, _input_spec(state, pool), "input_values")
    if c.array("known_solutions") not in (_MISSING, None):
        for index, solution in enumerate(body["known_solutions"]):
            if not isinstance(solution, dict) or not isinstance(solution.get("output_values"), dict):
                c.error(f"known_solutions.{index}.output_values", "OBJECT_EXPECTED", "a known solution needs output_values")
    _check_overlap(c, allow_defaults, "task")
    return c.errors


def check_task_suite(body: Any, state: State, allow_defaults: bool) -> dict:
    c = Checker(body)
    pool = pool_for(c, state)
    tasks = c.array("tasks", required=True)
    if tasks is not _MISSING:
        spec = _input_spec(state, pool)
        for index, task in enumerate(tasks):
            if not isinstance(task, dict):
                c.error(f"tasks.{index}", "OBJECT_EXPECTED", "a task must be an object")
                continue
            if "input_values" not in task:
                c.error(f"tasks.{index}.input_values", "VALUE_REQUIRED", "input_values is required")
            else:
                check_values_against_spec(c, task["input_values"], spec, f"tasks.{index}.input_values")
    _check_overlap(c, allow_defaults, "task suite")
    return c.errors


def check_user_bonus(body: Any) -> dict:
    c = Checker(body)
    c.string("user_id", required=True, blank=False)
    c.number("amount", required=True, minimum=0.005, maximum=100)
    c.string("assignment_id")
    c.string("private_comment")
    c.boolean("without_message")
    if c.get("without_message") is not True and c.obj_field("public_title") is _MISSING and not c.errors:
        c.error("public_title", "VALUE_REQUIRED", "public_title and public_message are required unless without_message=true")
    return c.errors
