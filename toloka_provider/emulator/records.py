"""Cheap assignments for the store: records that remember their JSON, and a compact form for bulk loads.

Assignments are the bulk of a big store and of the listings' work, so they are held cheaply without changing
what anyone sees (``state.assignments`` maps id -> a mapping with the wire fields):

* :class:`Record` is a ``dict`` that keeps its encoded JSON (:meth:`Record.wire`) until it changes. Every
  mutating dict method drops the cached bytes, so a page built from cached bytes always shows the current
  values. Only top-level changes are seen: code that changes a nested value (``a["solutions"][0][...]``)
  must set the top-level key again (the emulator's own code always replaces whole values).
* :class:`CompactAssignment` is one bulk-loaded assignment as (its batch, its number in the batch): about
  50 bytes instead of a dict tree. Every field is computed from the :class:`BulkBatch` (ids from counters,
  the shared timestamps and reward, tasks and solutions from the number), and :meth:`CompactAssignment.wire`
  formats the JSON bytes directly, byte for byte what encoding the equivalent dict gives.
* :class:`AssignmentTable` is the ``dict`` behind ``state.objects["assignments"]``. Its values may be compact;
  reading one through ``table[id]`` or ``table.get(id)`` turns it into a :class:`Record` for good (so the
  caller may change it, as ``decide_assignment`` and the crowd do). ``values()`` and ``items()`` hand out
  records without storing them (iterating a million compact assignments does not keep a million dicts); the
  first change to such a record stores it in the table. :meth:`AssignmentTable.peek` gives the stored value
  as is, for readers that only read (the listing's fast path).

The encoder here is the server's: compact separators, UTF-8 as is, a lone surrogate written back as its JSON
escape, ``Decimal`` as a number.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from decimal import Decimal
from typing import Any

_MASK_96 = (1 << 96) - 1
_ID_MULTIPLIER = 0xD6E8FEB86659FD93A5B3C1F1


def hex_id(number: int, salt: int) -> str:
    """The ``<12 hex>--<24 hex>`` id of counter ``number`` for a kind's salt (see ``State.new_id``)."""
    return f"{number:012x}--{((number + salt) * _ID_MULTIPLIER) & _MASK_96:024x}"


# ----------------------------------------------------------------------------------------------- encoding


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Built once: no whitespace, no circularity bookkeeping (our bodies are trees), UTF-8 as is.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_default
)


def dumps(body: Any) -> bytes:
    """The wire form of a JSON body."""
    # A lone surrogate (a client may send "\\ud800") cannot be UTF-8: write it back as the same JSON escape.
    return _ENCODER.encode(body).encode("utf-8", "backslashreplace")


def wire_of(obj: Any) -> bytes:
    """The JSON bytes of a stored object: cached for records and compact ones, encoded now for others."""
    wire = getattr(obj, "wire", None)
    return wire() if wire is not None else dumps(obj)


# ----------------------------------------------------------------------------------------------- records


class Record(dict):
    """A dict that caches its encoded JSON; any change through a dict method drops the cache."""

    __slots__ = ("_owner", "_wire")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dict.__init__(self, *args, **kwargs)
        self._wire: bytes | None = None
        # (table, key, compact) while this record is a loose copy of a compact value: the first change
        # stores it in the table in place of that value.
        self._owner: tuple[AssignmentTable, str, CompactAssignment] | None = None

    def wire(self) -> bytes:
        wire = self._wire
        if wire is None:
            wire = self._wire = dumps(self)
        return wire

    def _touch(self) -> None:
        self._wire = None
        owner = self._owner
        if owner is not None:
            self._owner = None
            table, key, compact = owner
            if dict.get(table, key) is compact:
                dict.__setitem__(table, key, self)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._touch()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._touch()
        dict.__delitem__(self, key)

    def pop(self, *args: Any) -> Any:
        self._touch()
        return dict.pop(self, *args)

    def popitem(self) -> tuple[Any, Any]:
        self._touch()
        return dict.popitem(self)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._touch()
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._touch()
        dict.update(self, *args, **kwargs)

    def clear(self) -> None:
        self._touch()
        dict.clear(self)

    def __ior__(self, other: Any) -> Record:  # type: ignore[misc]
        self._touch()
        dict.update(self, other)
        return self

    def __reduce__(self) -> tuple:
        # Copies and pickles are plain dicts: a copy must not carry the cache or the table link.
        return (dict, (dict(self),))


# --------------------------------------------------------------------------------------- bulk-loaded ones

_LABELS = ("cat", "dog", "bird")
_DECIDED_DATE_KEYS = {
    "ACCEPTED": "accepted",
    "REJECTED": "rejected",
    "SKIPPED": "skipped",
    "EXPIRED": "expired",
}
BULK_STATUSES = ("ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED")
TASKS_PER_SUITE = 5
ASSIGNMENTS_PER_SUITE = 3
# The tasks of a bulk suite on the wire: task id (two halves) and the suite's first number, per task.
_TASKS_TEMPLATE = ",".join(
    '{"id":"%s--%s","input_values":{"image":"https://example.com/images/%d-' + str(position) + '.jpg"}}'
    for position in range(TASKS_PER_SUITE)
)


class BulkBatch:
    """One ``bulk-load`` call: ``count`` assignments with consecutive counters, 3 per task suite of 5 tasks.

    Assignment ``number`` (0-based in the batch) has the assignment counter ``first_assignment + number``,
    suite ``first_suite + number // 3``, tasks ``first_task + 5 * (number // 3) + position``, worker
    ``bulk-worker-<number % 100>`` and answers shifted by ``number % 3``: the same objects the dict-based
    bulk load made, in the same field order.
    """

    def __init__(
        self,
        *,
        pool_id: str,
        status: str,
        reward: Any,
        now: str,
        count: int,
        first_assignment: int,
        first_suite: int,
        first_task: int,
        salts: tuple[int, int, int],
    ) -> None:
        if status not in BULK_STATUSES:
            raise ValueError(f"unknown assignment status {status!r}")
        self.pool_id = pool_id
        self.status = status
        self.reward = reward
        self.now = now
        self.count = count
        self.first_assignment = first_assignment
        self.first_suite = first_suite
        self.first_task = first_task
        self.assignment_salt, self.suite_salt, self.task_salt = salts
        keys = ["id", "task_suite_id", "pool_id", "user_id", "status", "reward", "tasks", "solutions"]
        keys += ["mixed", "automerged", "created"]
        dates = []
        if status != "ACTIVE":
            dates.append("submitted")
        if status in _DECIDED_DATE_KEYS:
            dates.append(_DECIDED_DATE_KEYS[status])
        self.date_keys = tuple(dates)
        self.keys = tuple(keys) + self.date_keys
        self._key_set = frozenset(self.keys)
        self.users = tuple(f"bulk-worker-{index}" for index in range(100))
        # Pre-encoded pieces of the wire form; only ids, the worker and the tasks differ between assignments.
        status_reward = f',"status":{_text(status)},"reward":{_text(reward)},"tasks":['
        self._pool_user = tuple(
            f'"pool_id":{_text(pool_id)},"user_id":"{user}"{status_reward}' for user in self.users
        )
        tail = f'"mixed":true,"automerged":false,"created":{_text(now)}'
        tail += "".join(f',"{key}":{_text(now)}' for key in self.date_keys) + "}"
        self._after_tasks = tuple(
            '],"solutions":' + _text(self.solutions(shift)) + "," + tail
            for shift in range(ASSIGNMENTS_PER_SUITE)
        )
        self.suite_ids: list[str] = []
        self.suite_tasks: list[str] = []

    # ids
    def assignment_id(self, number: int) -> str:
        return hex_id(self.first_assignment + number, self.assignment_salt)

    def suite_id(self, number: int) -> str:
        return self.suite_ids[number // ASSIGNMENTS_PER_SUITE]

    # values
    def solutions(self, number: int) -> list[dict]:
        shift = number % ASSIGNMENTS_PER_SUITE
        return [
            {"output_values": {"result": _LABELS[(shift + position) % 3]}}
            for position in range(TASKS_PER_SUITE)
        ]

    def tasks(self, number: int) -> list[dict]:
        suite = number // ASSIGNMENTS_PER_SUITE
        first_number = suite * ASSIGNMENTS_PER_SUITE
        first_task = self.first_task + TASKS_PER_SUITE * suite
        return [
            {
                "id": hex_id(first_task + position, self.task_salt),
                "input_values": {"image": f"https://example.com/images/{first_number}-{position}.jpg"},
            }
            for position in range(TASKS_PER_SUITE)
        ]

    def field(self, number: int, key: str) -> Any:
        if key == "status":
            return self.status
        if key == "pool_id":
            return self.pool_id
        if key == "id":
            return self.assignment_id(number)
        if key in ("created", "submitted") or key in self.date_keys:
            if key not in self._key_set:
                raise KeyError(key)
            return self.now
        if key == "task_suite_id":
            return self.suite_id(number)
        if key == "user_id":
            return self.users[number % 100]
        if key == "reward":
            return self.reward
        if key == "tasks":
            return self.tasks(number)
        if key == "solutions":
            return self.solutions(number)
        if key == "mixed":
            return True
        if key == "automerged":
            return False
        raise KeyError(key)

    def _suite_wire(self, suite: int) -> tuple[str, str]:
        """(the suite's id, its tasks' JSON): the six ids formatted by one int-to-hex conversion."""
        first_number = suite * ASSIGNMENTS_PER_SUITE
        first_task = self.first_task + TASKS_PER_SUITE * suite
        packed = self.first_suite + suite
        packed = (packed << 96) | (((packed + self.suite_salt) * _ID_MULTIPLIER) & _MASK_96)
        salt = self.task_salt
        for number in range(first_task, first_task + TASKS_PER_SUITE):  # 18 bytes each: counter, scrambled
            packed = (packed << 144) | (number << 96) | (((number + salt) * _ID_MULTIPLIER) & _MASK_96)
        d = packed.to_bytes(18 * (TASKS_PER_SUITE + 1), "big").hex()
        n = first_number
        text = _TASKS_TEMPLATE % (
            d[36:48], d[48:72], n, d[72:84], d[84:108], n, d[108:120], d[120:144], n,
            d[144:156], d[156:180], n, d[180:192], d[192:216], n,
        )  # fmt: skip
        return f"{d[:12]}--{d[12:36]}", text

    def prepare(self) -> None:
        """Format every suite's id and tasks once, at load time (about 0.2 KB per assignment): serving a
        page then only joins strings. Formatting them per request cost more than the rest of a page."""
        suite_ids, suite_tasks = [], []
        for suite in range(-(-self.count // ASSIGNMENTS_PER_SUITE)):
            suite_id, text = self._suite_wire(suite)
            suite_ids.append(suite_id)
            suite_tasks.append(text)
        self.suite_ids, self.suite_tasks = suite_ids, suite_tasks

    def text(self, number: int, assignment_id: str) -> str:
        """The JSON text of assignment ``number`` (id ``assignment_id``)."""
        suite = number // ASSIGNMENTS_PER_SUITE
        return (
            f'{{"id":"{assignment_id}","task_suite_id":"{self.suite_ids[suite]}",{self._pool_user[number % 100]}'
            f"{self.suite_tasks[suite]}{self._after_tasks[number % ASSIGNMENTS_PER_SUITE]}"
        )

    def text_of_run(self, items: list[CompactAssignment]) -> str:
        """The JSON texts of consecutive ``items`` of this batch, comma-separated: one loop, no call per item."""
        suite_ids, suite_tasks, pool_user, after = (
            self.suite_ids,
            self.suite_tasks,
            self._pool_user,
            self._after_tasks,
        )
        # 3 = ASSIGNMENTS_PER_SUITE, written out: this loop is the hot path of a page.
        return ",".join(
            f'{{"id":"{item.id}","task_suite_id":"{suite_ids[item.number // 3]}",{pool_user[item.number % 100]}'
            f"{suite_tasks[item.number // 3]}{after[item.number % 3]}"
            for item in items
        )

    def wire(self, number: int, assignment_id: str) -> bytes:
        return self.text(number, assignment_id).encode("utf-8", "backslashreplace")


def _text(value: Any) -> str:
    return _ENCODER.encode(value)


class CompactAssignment(Mapping):
    """A bulk-loaded assignment, read-only; its fields are computed from its batch (see the module doc)."""

    __slots__ = ("batch", "id", "number")

    def __init__(self, batch: BulkBatch, number: int, assignment_id: str) -> None:
        self.batch = batch
        self.number = number
        self.id = assignment_id  # the table's key itself: no extra string

    def __getitem__(self, key: str) -> Any:
        if key == "id":
            return self.id
        return self.batch.field(self.number, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key == "status":  # the listing's filter, checked on every assignment it scans
            return self.batch.status
        if key == "id":
            return self.id
        try:
            return self.batch.field(self.number, key)
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return key in self.batch._key_set

    def __iter__(self) -> Iterator[str]:
        return iter(self.batch.keys)

    def __len__(self) -> int:
        return len(self.batch.keys)

    def wire(self) -> bytes:
        return self.batch.wire(self.number, self.id)

    def has_task(self, task_id: str) -> bool:
        """Whether one of its tasks has id ``task_id`` (a look in the suite's JSON text, no dicts made)."""
        return f'{{"id":"{task_id}",' in self.batch.suite_tasks[self.number // ASSIGNMENTS_PER_SUITE]

    def materialize(self) -> Record:
        batch, number = self.batch, self.number
        return Record((key, self.id if key == "id" else batch.field(number, key)) for key in batch.keys)

    def __repr__(self) -> str:
        return repr(dict(self.materialize()))


# ------------------------------------------------------------------------------------------------ the table

_MISSING = object()


class AssignmentTable(dict):
    """``state.objects["assignments"]``: id -> Record (or plain dict), or a CompactAssignment (hidden)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if type(value) is CompactAssignment:
            value = value.materialize()
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, _MISSING)
        if value is _MISSING:
            return default
        if type(value) is CompactAssignment:
            value = value.materialize()
            dict.__setitem__(self, key, value)
        return value

    def peek(self, key: str, default: Any = None) -> Any:
        """The stored value as is (possibly compact): for reading only."""
        return dict.get(self, key, default)

    def loose(self, key: str, value: Any) -> Any:
        """``value`` (stored under ``key``) as a mapping a reader may change: a compact one becomes a record
        that takes its place in the table on its first change."""
        if type(value) is not CompactAssignment:
            return value
        record = value.materialize()
        record._owner = (self, key, value)
        return record

    def values(self) -> _Values:  # type: ignore[override]
        return _Values(self)

    def items(self) -> _Items:  # type: ignore[override]
        return _Items(self)

    def pop(self, key: str, *default: Any) -> Any:
        value = dict.pop(self, key, *default)
        return value.materialize() if type(value) is CompactAssignment else value

    def popitem(self) -> tuple[str, Any]:
        key, value = dict.popitem(self)
        return key, (value.materialize() if type(value) is CompactAssignment else value)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return dict.setdefault(self, key, default)

    def copy(self) -> AssignmentTable:
        table = AssignmentTable()
        dict.update(table, self)  # compact values are immutable: sharing them is safe
        return table

    def __reduce__(self) -> tuple:
        return (dict, (dict(self.items()),))

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _Values(ValuesView):
    _mapping: AssignmentTable

    def __iter__(self) -> Iterator[Any]:
        table = self._mapping
        for key, value in dict.items(table):
            yield table.loose(key, value)

    def __contains__(self, value: object) -> bool:
        return any(candidate == value for candidate in self)


class _Items(ItemsView):
    _mapping: AssignmentTable

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        table = self._mapping
        for key, value in dict.items(table):
            yield key, table.loose(key, value)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        key, value = item
        stored = self._mapping.peek(key, _MISSING)
        return stored is not _MISSING and (stored is value or stored == value)
