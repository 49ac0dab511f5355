"""Operator arguments: configs given as dict / JSON string / JSON file, and the checks arguments share.

Every check raises :class:`TolokaInputError` naming the argument, what was expected and what came, and runs
before the first request that changes anything. An argument the client checks itself (a status name, a
listing's ``batch_size``) is left to the client: its ``TolokaArgumentError`` becomes a ``TolokaInputError``
in the operator's error mapping.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.module_loading import import_string

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.files import storage_path


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN`` / ``Infinity`` (Python writes them; JSON and Toloka do not have them)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _json_position(error: json.JSONDecodeError) -> str:
    return f"line {error.lineno}, column {error.colno} (char {error.pos})"


def _parse_or_fail(text: str, what: str) -> Any:
    try:
        return parse_json(text)
    except json.JSONDecodeError as err:
        raise TolokaInputError(f"{what} at {_json_position(err)}: {err.msg}") from None
    except ValueError as err:  # NaN / Infinity
        raise TolokaInputError(f"{what}: {err}") from None


def load_json_config(value: Any, *, argument: str, expect: type = dict) -> Any:
    """Return the config ``value`` as plain JSON data (a fresh copy the caller may change).

    ``value`` may be a dict (or list when ``expect`` is list), a model with ``to_json_dict()``, a JSON string,
    or a path / URL of a JSON file. A string that starts with ``{`` or ``[`` is JSON; any other string is a path.
    """
    if hasattr(value, "to_json_dict"):
        value = value.to_json_dict()
    if isinstance(value, (dict, list)):
        try:  # deep copy, and proves the value is JSON-safe
            data = json.loads(json.dumps(value, default=str, allow_nan=False))
        except ValueError as error:
            raise TolokaInputError(
                f"Argument {argument!r}: {error} (NaN and Infinity are not JSON)"
            ) from None
    elif isinstance(value, (str, ObjectStoragePath)):
        text_value = str(value).strip()
        if isinstance(value, str) and text_value[:1] in ("{", "["):
            data = _parse_or_fail(text_value, f"Argument {argument!r}: invalid JSON string")
        else:
            path = storage_path(text_value)
            try:
                text = path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                raise TolokaInputError(
                    f"Argument {argument!r}: {text_value!r} is neither JSON (it does not start with '{{' or '[') "
                    f"nor an existing file"
                ) from None
            except UnicodeDecodeError as error:
                raise TolokaInputError(
                    f"Argument {argument!r}: file {text_value} is not UTF-8 text (at byte {error.start})"
                ) from None
            data = _parse_or_fail(text, f"Argument {argument!r}: file {text_value} is not valid JSON")
    else:
        raise TolokaInputError(
            f"Argument {argument!r} must be a dict, a JSON string or a path to a JSON file, "
            f"got {type(value).__name__}"
        )
    if not isinstance(data, expect):
        raise TolokaInputError(
            f"Argument {argument!r} must hold a JSON {'object' if expect is dict else 'array'}, "
            f"got {type(data).__name__}"
        )
    return data


def positive_int(value: Any, argument: str, *, maximum: int | None = None) -> int:
    """An int >= 1 (and <= ``maximum``); a bool is not an int here."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 1
        or (maximum is not None and value > maximum)
    ):
        bound = f"an int from 1 to {maximum}" if maximum is not None else "a positive int"
        raise TolokaInputError(f"{argument!r} must be {bound}, got {value!r}")
    return value


def non_negative_int(value: Any, argument: str) -> int:
    """An int >= 0; a bool is not an int here."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TolokaInputError(f"{argument!r} must be an int >= 0, got {value!r}")
    return value


def checked_assignment(item: Any, where: str) -> dict:
    """An assignment the review and the aggregation can read: an object with an ``id``, ``tasks`` and
    ``solutions`` lists of objects when present. ``where`` names the item (argument, file, line)."""
    if not isinstance(item, dict):
        raise TolokaInputError(f"{where} must be an assignment object, got {type(item).__name__}")
    if item.get("id") in (None, ""):
        raise TolokaInputError(f"{where} has no 'id' (keys: {sorted(item)[:10]})")
    for key in ("tasks", "solutions"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise TolokaInputError(f"{where} (assignment {item['id']}): {key!r} must be a list, got {type(value).__name__}")
        for index, element in enumerate(value):
            if element is not None and not isinstance(element, dict):
                raise TolokaInputError(
                    f"{where} (assignment {item['id']}): {key}[{index}] must be an object, got {type(element).__name__}"
                )
    return item


def unit_fraction(value: Any, argument: str) -> float:
    """A fraction in [0, 1]: not a bool, not a string, not NaN; 45 (a percentage) is refused, not read as 0.45."""
    if (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise TolokaInputError(
            f"{argument!r} must be a fraction in [0, 1] (a number from 0 to 1: 0.9, not 90), got {value!r}"
        )
    return float(value)


def positive_seconds(value: Any, argument: str) -> float:
    """A finite number of seconds > 0 (not a bool, not a string)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise TolokaInputError(f"{argument!r} must be a number of seconds > 0, got {value!r}")
    return float(value)


def non_empty_names(value: Any, argument: str, *, what: str = "output field names") -> list[str]:
    """A non-empty list of non-empty strings (a single string is a list of one)."""
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TolokaInputError(f"{argument!r} must be a non-empty list of {what}, got {value!r}")
    return names


def imported_callable(path: Any, argument: str, *, context: str = "") -> Callable[..., Any]:
    """A callable given as itself or as its dotted path ``"package.module.function"`` (imported here, on the
    worker). ``context`` is put after the argument's value in the messages (e.g. what else it may be)."""
    if callable(path):
        return path
    if not isinstance(path, str) or "." not in path:
        raise TolokaInputError(
            f"{argument} {path!r}{context} must be a callable or its dotted path 'package.module.function'"
        )
    try:
        function = import_string(path)
    except ImportError as error:
        raise TolokaInputError(
            f"{argument} {path!r}{context} cannot be imported as a callable 'package.module.function': "
            f"cannot import {path!r}: {error}"
        ) from None
    if not callable(function):
        raise TolokaInputError(f"{argument} {path!r} imports a {type(function).__name__}, not a callable")
    return function
