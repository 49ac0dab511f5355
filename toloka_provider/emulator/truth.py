"""Correct answers for the simulated crowd: truth files, pseudo-truth, and values that fit an output spec.

The crowd needs, for every task and every output field, the *correct* value and, when a worker errs, a
*wrong* one. This module supplies both, from pure functions of their inputs (no global random state), so
that a run is reproducible for a given seed.

Truth file (``--truth FILE``), two formats, chosen by the file extension:

* JSON Lines (``.jsonl`` / ``.json``), one object per line::

      {"input_values": {"text": "I love it"}, "output_values": {"sentiment": "positive"}}

* CSV (``.csv``; ``.tsv`` is read tab-separated): a header row whose output columns are named
  ``OUTPUT:<field>``; every other column is an input column, optionally named ``INPUT:<field>`` (the prefix
  is dropped). Output cells are converted to the output spec's type (``true``/``false`` for booleans,
  numbers for integer and float fields, JSON for arrays and json fields)::

      INPUT:text,OUTPUT:sentiment
      I love it,positive

A task matches a truth row when its ``input_values`` equal the row's input values, compared as strings
(so a CSV cell ``"3"`` matches an input value ``3``). A task with no matching row, or a field the row does
not give, falls back to the pseudo-truth: a value derived from a hash of the input values and the field
name, identical for every seed.

Output spec fields follow Toloka's ``task_spec.output_spec``: ``{"type": "string", "required": true,
"allowed_values": [...], "min_length": .., "max_length": ..}``, ``integer``/``float`` with
``min_value``/``max_value`` (and ``allowed_values`` for integers), ``boolean``, ``url``, ``file``,
``coordinates``, ``json`` and the ``array_*`` variants with ``min_size``/``max_size``. Unknown types get a
plausible string.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "TruthTable",
    "hash_unit",
    "input_key",
    "load_truth",
    "pseudo_truth",
    "random_value",
    "wrong_value",
]


def hash_unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by ``parts`` (stable across processes and Python versions)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 18446744073709551616.0


def _hash_index(size: int, *parts: object) -> int:
    return min(int(hash_unit(*parts) * size), size - 1)


def input_key(input_values: Mapping[str, Any] | None) -> tuple:
    """The lookup key of a task's input values: sorted (name, value-as-string) pairs."""
    if not input_values:
        return ()
    return tuple(sorted((str(name), _as_text(value)) for name, value in input_values.items()))


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


# --- values that fit an output spec ---------------------------------------------------------------------


def _bounds(spec: Mapping[str, Any], low: float, high: float) -> tuple[float, float]:
    lo = spec.get("min_value")
    hi = spec.get("max_value")
    lo = low if lo is None else lo
    hi = high if hi is None else hi
    if hi < lo:
        hi = lo
    return lo, hi


def _string_length_bounds(spec: Mapping[str, Any]) -> tuple[int, int]:
    lo = int(spec.get("min_length") or 1)
    hi = int(spec.get("max_length") or max(lo, 12))
    return lo, max(lo, hi)


def _scalar_value(base_type: str, spec: Mapping[str, Any], unit: float, salt: str) -> Any:
    """A value of ``base_type`` fitting ``spec``, chosen by ``unit`` in [0, 1)."""
    allowed = spec.get("allowed_values")
    if allowed:
        return allowed[min(int(unit * len(allowed)), len(allowed) - 1)]
    if base_type == "boolean":
        return unit < 0.5
    if base_type == "integer":
        lo, hi = _bounds(spec, 0, 10)
        lo, hi = int(lo), int(hi)
        return lo + min(int(unit * (hi - lo + 1)), hi - lo)
    if base_type == "float":
        lo, hi = _bounds(spec, 0.0, 1.0)
        return round(lo + unit * (hi - lo), 4)
    if base_type == "url":
        return f"https://example.com/{int(unit * 1e9):09d}"
    if base_type == "file":
        return f"{int(unit * 2**64):016x}"
    if base_type == "coordinates":
        return f"{-90 + unit * 180:.6f},{-180 + ((unit * 7919) % 1) * 360:.6f}"
    if base_type == "json":
        return {"value": int(unit * 1e6)}
    lo, hi = _string_length_bounds(spec)
    text = f"answer-{int(unit * 1e9):09d}-{salt}"
    length = max(lo, min(hi, len(text)))
    return (text * (length // len(text) + 1))[:length]


def _value(spec: Mapping[str, Any], unit: float, salt: str) -> Any:
    field_type = str(spec.get("type") or "string").lower()
    if field_type.startswith("array_"):
        base = field_type[len("array_") :]
        lo = int(spec.get("min_size") or 1)
        hi = int(spec.get("max_size") or max(lo, 3))
        size = lo + min(int(unit * (hi - lo + 1)), hi - lo)
        return [_scalar_value(base, spec, hash_unit(unit, salt, i), salt) for i in range(max(size, lo))]
    return _scalar_value(field_type, spec, unit, salt)


def pseudo_truth(input_values: Mapping[str, Any] | None, field: str, spec: Mapping[str, Any]) -> Any:
    """The deterministic stand-in for a correct answer when no truth is known (same for every seed)."""
    key = input_key(input_values)
    return _value(spec, hash_unit("truth", key, field), "t")


def random_value(spec: Mapping[str, Any], *parts: object) -> Any:
    """Any value that fits ``spec`` (a spammer's answer), chosen by hashing ``parts``."""
    return _value(spec, hash_unit("random", *parts), "r")


def wrong_value(correct: Any, spec: Mapping[str, Any], *parts: object) -> Any:
    """A value that fits ``spec`` and differs from ``correct`` whenever the spec allows another value."""
    field_type = str(spec.get("type") or "string").lower()
    allowed = spec.get("allowed_values")
    if allowed:
        others = [value for value in allowed if value != correct]
        return others[_hash_index(len(others), "wrong", *parts)] if others else correct
    if field_type == "boolean":
        return not correct if isinstance(correct, bool) else False
    if field_type == "integer":
        lo, hi = _bounds(spec, 0, 10)
        lo, hi = int(lo), int(hi)
        if hi == lo:
            return correct
        candidate = lo + _hash_index(hi - lo, "wrong", *parts)
        return candidate if candidate < correct else candidate + 1
    for attempt in range(8):
        candidate = _value(spec, hash_unit("wrong", attempt, *parts), "w")
        if candidate != correct:
            return candidate
    return correct


# --- truth files ----------------------------------------------------------------------------------------


class TruthTable:
    """Correct output values keyed by the task's input values (see the module docstring for formats)."""

    def __init__(self, rows: Mapping[tuple, Mapping[str, Any]] | None = None, source: str | None = None):
        self._rows: dict[tuple, dict[str, Any]] = {key: dict(values) for key, values in (rows or {}).items()}
        self.source = source

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, input_values: Mapping[str, Any], output_values: Mapping[str, Any]) -> None:
        self._rows[input_key(input_values)] = dict(output_values)

    def lookup(self, input_values: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The known output values for these input values, or None."""
        return self._rows.get(input_key(input_values))

    def correct_value(self, input_values: Mapping[str, Any] | None, field: str, spec: Mapping[str, Any]) -> Any:
        """The truth for one field: the file's value (converted to the spec's type) or the pseudo-truth."""
        row = self._rows.get(input_key(input_values))
        if row is not None and field in row:
            return _convert_cell(row[field], spec)
        return pseudo_truth(input_values, field, spec)


def _convert_cell(value: Any, spec: Mapping[str, Any]) -> Any:
    """Turn a CSV cell (a str) into the output spec's type; JSON values pass through unchanged."""
    if not isinstance(value, str):
        return value
    field_type = str(spec.get("type") or "string").lower()
    try:
        if field_type == "boolean":
            return value.strip().lower() in ("true", "1", "yes")
        if field_type == "integer":
            return int(value)
        if field_type == "float":
            return float(value)
        if field_type == "json" or field_type.startswith("array_"):
            return json.loads(value)
    except ValueError:
        return value
    return value


def load_truth(path: str | os.PathLike[str]) -> TruthTable:
    """Read a truth file (JSONL, or CSV/TSV with ``OUTPUT:<field>`` columns). Raises ValueError on bad content."""
    path = os.fspath(path)
    table = TruthTable(source=path)
    lower = path.lower()
    if lower.endswith((".csv", ".tsv")):
        delimiter = "\t" if lower.endswith(".tsv") else ","
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream, delimiter=delimiter)
            columns = reader.fieldnames or []
            if not any(column.startswith("OUTPUT:") for column in columns):
                raise ValueError(
                    f"truth file {path!r}: expected at least one column named OUTPUT:<field>, got columns {columns}"
                )
            for row in reader:
                inputs: dict[str, Any] = {}
                outputs: dict[str, Any] = {}
                for column, cell in row.items():
                    if column is None:
                        continue
                    if column.startswith("OUTPUT:"):
                        outputs[column[len("OUTPUT:") :]] = cell
                    else:
                        inputs[column.removeprefix("INPUT:")] = cell
                table.add(inputs, outputs)
        return table
    with open(path, encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ValueError(f"truth file {path!r} line {line_number}: not JSON ({error})") from None
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("input_values"), dict)
                or not isinstance(record.get("output_values"), dict)
            ):
                raise ValueError(
                    f"truth file {path!r} line {line_number}: expected an object with 'input_values' and "
                    f"'output_values' objects, got {line.strip()[:200]!r}"
                )
            table.add(record["input_values"], record["output_values"])
    return table
