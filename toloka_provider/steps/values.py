"""Reading client models and plain dicts alike: the steps get both (the fake clients of tests give dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` for a model, ``obj[name]`` for a dict."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def enum_value(value: Any) -> str | None:
    """The wire string of a client enum (or a plain string); None stays None."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def as_json_dict(obj: Any) -> dict:
    """A model's JSON dict, or a copy of a dict."""
    if isinstance(obj, Mapping):
        return dict(obj)
    return obj.to_json_dict()
