"""The emulator's world in one object, :class:`State`: every Toloka object, ids, the emulator clock, the
balance, counters and the other modules' books. Its docstring is the contract the other modules keep."""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from toloka_provider.emulator.books import AppsBook, QualityBook, WebhookBook
from toloka_provider.emulator.errors import ApiError, does_not_exist, inappropriate_status, not_enough_balance
from toloka_provider.emulator.records import AssignmentTable, BulkBatch, CompactAssignment, Record, hex_id

UTC = timezone.utc
log = logging.getLogger(__name__)

KINDS = (
    "projects",
    "pools",
    "trainings",
    "tasks",
    "task_suites",
    "assignments",
    "operations",
    "operation_logs",
    "attachments",
    "user_bonuses",
    "aggregations",
    "app_projects",
    "app_batches",
    "app_items",
    "skills",
    "user_skills",
    "user_restrictions",
    "message_threads",
    "webhook_subscriptions",
)

# Kinds that belong to a pool and get a per-pool sorted id list.
POOL_INDEXED_KINDS = ("tasks", "task_suites", "assignments", "attachments")

SINGULAR = {
    "projects": "project",
    "pools": "pool",
    "trainings": "training",
    "tasks": "task",
    "task_suites": "task_suite",
    "assignments": "assignment",
    "operations": "operation",
    "attachments": "attachment",
    "user_bonuses": "user_bonus",
    "app_projects": "app_project",
    "app_batches": "app_batch",
    "app_items": "app_item",
    "skills": "skill",
    "user_skills": "user_skill",
    "user_restrictions": "user_restriction",
    "message_threads": "message_thread",
    "webhook_subscriptions": "webhook_subscription",
}

_NUMERIC_ID_BASE = {
    "projects": 100_000_000,
    "pools": 100_000_000,
    "trainings": 100_000_000,
    "skills": 100_000_000,
    "user_skills": 100_000_000,
    "user_restrictions": 100_000_000,
}
_UUID_KINDS = {"operations", "aggregations", "app_projects", "app_batches"}
# Different salts per kind so that a task and an assignment with the same counter get different ids.
_KIND_SALT = {kind: (index + 1) * 0x5BD1E995 for index, kind in enumerate(KINDS)}
_MASK_96 = (1 << 96) - 1
_LAST_CLOCK_YEAR = 9000


@dataclass
class EmulatorOptions:
    """Everything the emulator was started with (CLI flags / ``TolokaEmulator`` arguments)."""

    tokens: tuple[str, ...] = ("emulator-token",)
    seed: int = 0
    crowd: int = 30
    accuracy: tuple[float, float] = (0.55, 0.95)
    spammers: float = 0.1
    speed: float = 200.0  # assignments per second, for the whole crowd
    truth: str | Path | None = None
    balance: Decimal = Decimal("1000")
    faults: str | dict | None = None
    latency_ms: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    operation_delay: float = 0.1  # seconds an operation takes from PENDING to its final status
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- dates

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def format_datetime(value: datetime) -> str:
    """Wire form: UTC, naive, always with 6 fractional digits (``2024-01-02T03:04:05.000000``)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def parse_datetime(text: str) -> datetime:
    """Parse a client's date: 0-9 fractional digits, optional ``Z`` or offset; naive means UTC.

    Returns an aware UTC datetime; raises ValueError naming the text when it is not a date.
    """
    match = _DATE_RE.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    result = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=UTC
    )
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            result = result - sign * offset
        except OverflowError:  # 9999-12-31T23:59-01:00 is past the last date Python has
            raise ValueError(f"date-time out of range: {text!r}") from None
    return result


def normalize_datetime(text: str) -> str:
    """A client's date in the stored wire form, so that it compares with stored dates as a string."""
    return format_datetime(parse_datetime(text))


# ------------------------------------------------------------------------------------------------ ids


def format_id(kind: str, number: int) -> str:
    """The id of counter ``number`` of ``kind``: fixed width, so that string order = creation order."""
    if kind in _NUMERIC_ID_BASE:
        return str(_NUMERIC_ID_BASE[kind] + number)
    salt = _KIND_SALT.get(kind, 7)
    if kind in _UUID_KINDS:
        tail = f"{((number + salt) * 0xD6E8FEB86659FD93A5B3C1F1) & _MASK_96:024x}"
        return f"{number:08x}-{tail[:4]}-4{tail[5:8]}-8{tail[9:12]}-{tail[12:24]}"
    return hex_id(number, salt)


# ----------------------------------------------------------------------------------------------- state


class State:
    """The emulator's in-memory store: every Toloka object, ids, the emulator clock, balance and counters.

    The world, and the contract for the other emulator modules:

    * **One lock.** ``state.lock`` is a ``threading.RLock``; hold it (``with state.lock:``) while reading or
      changing anything below. Handlers run on many server threads, the crowd on its own thread.
    * **Objects are plain JSON dicts** exactly as they go on the wire (no private keys), stored per kind in
      ``state.objects[kind]`` (also reachable as attributes: ``state.pools``, ``state.assignments``, ...), kinds::

          projects pools trainings tasks task_suites assignments operations operation_logs attachments
          user_bonuses aggregations app_projects app_batches app_items skills user_skills user_restrictions
          message_threads webhook_subscriptions

      ``operation_logs[op_id]`` is a list of log items; ``aggregations[op_id]`` a list of AggregatedSolution
      dicts sorted by task_id; ``attachment_content[att_id]`` holds download bytes. Every other dict maps id ->
      object. Dict order is insertion order = id order.
    * **Ids** come from :meth:`State.new_id` (or :meth:`State.create`, which also stores and indexes the object).
      They are fixed-width strings whose string order is creation order, per kind: numeric for projects, pools,
      trainings, skills, user skills and restrictions (``"100000001"``), ``"<12 hex>--<24 hex>"`` for tasks,
      task suites, assignments, attachments, user bonuses, app items, message threads and webhook subscriptions,
      UUID-shaped for operations, app projects and app batches.
    * **Assignments** (``records.py``): ``state.assignments`` is an :class:`AssignmentTable` (a dict); stored
      assignments are :class:`Record` dicts that cache their JSON for listings (``store`` turns a plain dict into
      one; change them through dict methods, and set a top-level key again after changing a nested value), and
      bulk-loaded ones are held compact until first read through ``table[id]`` / ``table.get(id)`` (which turn
      them into records). Code that only reads may use ``state.assignments.peek(id)``, which copies nothing.
    * **Per-pool indexes**: ``state.pool_index(kind, pool_id)`` is the list of ids of that kind (tasks,
      task_suites, assignments, attachments) in the pool, sorted (append-only, because ids only grow). Objects
      must enter through :meth:`State.create` (or :meth:`State.store` for an id minted earlier) to be indexed.
      Also ``state.task_suites_by_task[task_id]`` -> list of suite ids (for ``GET /task-suites?task_id=``).
    * **Clock**: :meth:`State.now` is the wall clock plus an offset that ``/_emulator/clock/advance`` moves
      forward (aware UTC datetime). :func:`format_datetime` gives the wire form (naive ISO, always 6 fractional
      digits, so that stored date strings compare correctly as strings); :func:`parse_datetime` reads any form
      a client sends (0-6 fractional digits, ``Z`` or an offset; naive = UTC).
    * **Change notification**: call :meth:`State.notify_changed` after a change the crowd may care about (pool
      opened, tasks added, clock advanced); the crowd can block in :meth:`State.wait_changed`.
    * **Money**: ``state.balance`` is a Decimal. Accepting an assignment charges its ``reward`` through
      :meth:`State.decide_assignment`, the one place where ACCEPTED/REJECTED is set (the crowd's auto-accept
      must use it too, so the counters and ``double_decisions`` stay right).
      :meth:`State.charge` refuses (409 ``NOT_ENOUGH_BALANCE``, nothing taken) what the balance cannot cover:
      the balance never goes negative.
    * **Pool / training status**: change it only through :meth:`State.set_pool_status` (sets ``status``,
      ``last_started`` / ``last_stopped``, ``last_close_reason``, and notifies). Close reasons the server sets:
      MANUAL, FOR_UPDATE; the crowd sets COMPLETED, EXPIRED, NOT_ENOUGH_BALANCE.
    * **Operations**: :meth:`State.create_operation` stores the final form of an operation and when it will be
      done; :meth:`State.operation_view` shows it as PENDING, then RUNNING, then its final status as real time
      passes (``operation_delay`` seconds in total, default 0.1). The effect of the operation is applied by the
      caller right away (so a lost response or a retry sees it).
    * **Events**: :meth:`State.emit` tells ``state.event_listeners`` (webhook delivery) about ``POOL_CLOSED``
      (from :meth:`set_pool_status`), ``ASSIGNMENT_APPROVED`` / ``ASSIGNMENT_REJECTED`` (from
      :meth:`decide_assignment`) and the crowd's ``ASSIGNMENT_CREATED`` / ``ASSIGNMENT_SUBMITTED``. Listeners run
      with the lock held and only record. ``state.quality_version`` moves on every skill / ban change.
    * **Counters**: ``state.counters`` (see :meth:`State.counters_snapshot`): ``requests`` by
      ``"METHOD /route/template STATUS"``, ``created`` by singular kind (project, pool, training, task,
      task_suite, user_bonus, assignment, ...), ``assignments_accepted``, ``assignments_rejected``,
      ``double_decisions`` (must stay 0).
    * **Options**: ``state.options`` is the :class:`EmulatorOptions` the emulator was started with.
    * **Books** (``books.py``): ``state.apps_book``, ``state.quality_book``, ``state.webhook_book`` and
      ``state.inboxes`` hold what those modules keep beside the objects; ``state.users`` every user id that
      has an assignment. Nothing about the world lives outside the State.
    """

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.objects: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        # Assignments are the bulk of a big store: records that cache their JSON, compact bulk loads.
        self._assignments = AssignmentTable()
        self.objects["assignments"] = self._assignments
        self.attachment_content: dict[str, bytes] = {}
        self._counters_by_kind: Counter[str] = Counter()
        self._pool_index: dict[str, dict[str, list[str]]] = {kind: {} for kind in POOL_INDEXED_KINDS}
        self.task_suites_by_task: dict[str, list[str]] = {}
        self._clock_offset = 0.0
        self.balance = Decimal(str(self.options.balance))
        self.requester_id = "emulated-requester"
        self.operation_delay = float(self.options.operation_delay)
        # op id -> (monotonic time it turns RUNNING, monotonic time it turns final)
        self._operation_timeline: dict[str, tuple[float, float]] = {}
        # assignment id -> number of times it was set to ACCEPTED or REJECTED (REJECTED->ACCEPTED counts once)
        self._decisions: dict[str, int] = {}
        self.requests: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.assignments_accepted = 0
        self.assignments_rejected = 0
        self.double_decisions = 0
        # Callables ``listener(event_type, fields)`` told about pool and assignment events (webhooks.py);
        # called with the lock held, so they must only record, never block.
        self.event_listeners: list[Any] = []
        # Bumped on every change to skills, user skills or restrictions: the crowd re-checks who may work.
        self.quality_version = 0
        # Every user id that has an assignment (the crowd's and bulk-loaded ones): users the emulator knows.
        self.users: set[str] = set()
        # What the apps, quality, messages and webhooks modules keep beside the objects (books.py).
        self.apps_book = AppsBook()
        self.quality_book = QualityBook()
        self.webhook_book = WebhookBook()
        self.inboxes: dict[str, list[dict]] = {}  # user id -> messages the requester sent them

    # The objects of each kind as attributes: state.pools is state.objects["pools"], and so on.
    @property
    def assignments(self) -> AssignmentTable:
        return self._assignments

    @property
    def projects(self) -> dict[str, Any]:
        return self.objects["projects"]

    @property
    def pools(self) -> dict[str, Any]:
        return self.objects["pools"]

    @property
    def trainings(self) -> dict[str, Any]:
        return self.objects["trainings"]

    @property
    def tasks(self) -> dict[str, Any]:
        return self.objects["tasks"]

    @property
    def task_suites(self) -> dict[str, Any]:
        return self.objects["task_suites"]

    @property
    def operations(self) -> dict[str, Any]:
        return self.objects["operations"]

    @property
    def operation_logs(self) -> dict[str, Any]:
        return self.objects["operation_logs"]

    @property
    def attachments(self) -> dict[str, Any]:
        return self.objects["attachments"]

    @property
    def user_bonuses(self) -> dict[str, Any]:
        return self.objects["user_bonuses"]

    @property
    def aggregations(self) -> dict[str, Any]:
        return self.objects["aggregations"]

    @property
    def app_projects(self) -> dict[str, Any]:
        return self.objects["app_projects"]

    @property
    def app_batches(self) -> dict[str, Any]:
        return self.objects["app_batches"]

    @property
    def app_items(self) -> dict[str, Any]:
        return self.objects["app_items"]

    @property
    def skills(self) -> dict[str, Any]:
        return self.objects["skills"]

    @property
    def user_skills(self) -> dict[str, Any]:
        return self.objects["user_skills"]

    @property
    def user_restrictions(self) -> dict[str, Any]:
        return self.objects["user_restrictions"]

    @property
    def message_threads(self) -> dict[str, Any]:
        return self.objects["message_threads"]

    @property
    def webhook_subscriptions(self) -> dict[str, Any]:
        return self.objects["webhook_subscriptions"]

    # ------------------------------------------------------------------------------------------ clock
    def now(self) -> datetime:
        """The emulator clock: wall clock plus the offset moved by :meth:`advance_clock` (aware UTC)."""
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset)

    def now_wire(self) -> str:
        return format_datetime(self.now())

    def advance_clock(self, seconds: float) -> datetime:
        if not 0 <= seconds < float("inf"):  # NaN fails this too
            raise ValueError(f"the emulator clock only moves forward by a finite number of seconds; got {seconds!r}")
        with self.lock:
            # The clock must stay far from the last date Python has, or every later now() (and the dates
            # computed from it: deadlines, operation times) would raise OverflowError.
            try:
                moved = self.now() + timedelta(seconds=seconds)
            except OverflowError:
                moved = None
            if moved is None or moved.year >= _LAST_CLOCK_YEAR:
                raise ValueError(f"advancing the clock by {seconds!r} seconds would pass the year {_LAST_CLOCK_YEAR}")
            self._clock_offset += seconds
            self.notify_changed()
            return self.now()

    # ------------------------------------------------------------------------------------ change events
    def notify_changed(self) -> None:
        with self.lock:
            self._changed.notify_all()

    def wait_changed(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds for :meth:`notify_changed` (releases the lock while waiting)."""
        with self.lock:
            self._changed.wait(timeout)

    def emit(self, event_type: str, **fields: Any) -> None:
        """Tell the event listeners (webhook delivery) that ``event_type`` happened (``pool_id`` ...)."""
        for listener in list(self.event_listeners):
            try:
                listener(event_type, fields)
            except Exception:  # a listener must never break the change that emitted the event
                log.exception("event listener failed for %s", event_type)

    # -------------------------------------------------------------------------------------------- ids
    def new_id(self, kind: str) -> str:
        """A new id for ``kind``: fixed width, string order = creation order."""
        with self.lock:
            self._counters_by_kind[kind] += 1
            number = self._counters_by_kind[kind]
        return format_id(kind, number)

    def reserve_ids(self, kind: str, count: int) -> int:
        """Take ``count`` consecutive id counters of ``kind`` at once; returns the first (see format_id)."""
        with self.lock:
            first = self._counters_by_kind[kind] + 1
            self._counters_by_kind[kind] += count
            return first

    # ------------------------------------------------------------------------------------- objects
    def create(self, kind: str, obj: dict) -> dict:
        """Give ``obj`` a new id (and ``created`` if absent), store and index it, count it. Returns obj."""
        with self.lock:
            obj["id"] = self.new_id(kind)
            obj.setdefault("created", self.now_wire())
            stored = self.store(kind, obj)
            self.created[SINGULAR.get(kind, kind)] += 1
            return stored

    def store(self, kind: str, obj: dict) -> dict:
        """Store ``obj`` under its existing ``id`` and index it (no counting). Returns what was stored: for
        an assignment, a :class:`Record` copy of a plain dict (it caches its JSON for listings)."""
        if kind == "assignments" and type(obj) is dict:
            obj = Record(obj)
        with self.lock:
            object_id = obj["id"]
            is_new = object_id not in self.objects[kind]
            if kind == "assignments" and obj.get("user_id") is not None:
                self.users.add(str(obj["user_id"]))
            self.objects[kind][object_id] = obj
            if is_new and kind in self._pool_index and obj.get("pool_id") is not None:
                ids = self._pool_index[kind].setdefault(str(obj["pool_id"]), [])
                if not ids or ids[-1] < object_id:
                    ids.append(object_id)
                else:
                    bisect.insort(ids, object_id)
            if is_new and kind == "task_suites":
                for task in obj.get("tasks") or ():
                    if task.get("id"):
                        self.task_suites_by_task.setdefault(task["id"], []).append(object_id)
            return obj

    def store_bulk_assignments(
        self, pool_id: str, count: int, status: str, reward: Any
    ) -> tuple[str | None, str | None]:
        """Add ``count`` compact synthetic assignments to a pool (see ``records.BulkBatch``), with the ids,
        suites and tasks the one-by-one bulk load gave; returns (first id, last id)."""
        with self.lock:
            if count == 0:
                return None, None
            suites = -(-count // 3)
            batch = BulkBatch(
                pool_id=pool_id,
                status=status,
                reward=reward,
                now=self.now_wire(),
                count=count,
                first_suite=self.reserve_ids("task_suites", suites),
                first_task=self.reserve_ids("tasks", 5 * suites),
                first_assignment=self.reserve_ids("assignments", count),
                salts=(_KIND_SALT["assignments"], _KIND_SALT["task_suites"], _KIND_SALT["tasks"]),
            )
            batch.prepare()
            self.users.update(batch.users[: min(count, len(batch.users))])
            table = self.objects["assignments"]
            index = self._pool_index["assignments"].setdefault(str(pool_id), [])
            ids = [hex_id(batch.first_assignment + number, batch.assignment_salt) for number in range(count)]
            # Counters only grow, so these ids sort after every id already in the pool's index.
            dict.update(table, zip(ids, map(CompactAssignment, [batch] * count, range(count), ids), strict=True))
            index.extend(ids)
            return ids[0], ids[-1]

    def get(self, kind: str, object_id: str) -> dict:
        """The stored object, or ApiError 404 DOES_NOT_EXIST."""
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise does_not_exist(SINGULAR.get(kind, kind), object_id)
        return obj

    def pool_index(self, kind: str, pool_id: str) -> list[str]:
        """Sorted ids of ``kind`` in ``pool_id`` (do not modify the returned list)."""
        return self._pool_index[kind].get(str(pool_id), [])

    # ------------------------------------------------------------------------------------- pools
    def set_pool_status(self, kind: str, pool_id: str, status: str, close_reason: str | None = None) -> dict:
        """Move a pool (``kind="pools"``) or training (``"trainings"``) to ``status``; notifies the crowd."""
        with self.lock:
            pool = self.get(kind, pool_id)
            now = self.now_wire()
            pool["status"] = status
            if status == "OPEN":
                pool["last_started"] = now
                pool.pop("last_close_reason", None)
            elif status == "CLOSED":
                pool["last_stopped"] = now
                if close_reason:
                    pool["last_close_reason"] = close_reason
                if kind == "pools":
                    self.emit("POOL_CLOSED", pool_id=pool_id, close_reason=close_reason or "MANUAL")
            self.notify_changed()
            return pool

    # ------------------------------------------------------------------------------------- money
    def charge(self, amount: Any, what: str = "This payment") -> None:
        """Take ``amount`` from the balance; ApiError 409 NOT_ENOUGH_BALANCE (and nothing taken) when the
        balance cannot cover it: the balance never goes negative."""
        value = Decimal(str(amount))
        if not value.is_finite():  # a NaN balance would make every later comparison raise
            raise ValueError(f"cannot charge a non-finite amount {amount!r}")
        with self.lock:
            if value > self.balance:
                raise not_enough_balance(value, self.balance, what)
            self.balance -= value

    # ------------------------------------------------------------------------------- assignments
    def decide_assignment(self, assignment_id: str, status: str, public_comment: str | None = None) -> dict:
        """Set an assignment to ACCEPTED or REJECTED as Toloka allows; charge the reward on ACCEPTED.

        Allowed: SUBMITTED -> ACCEPTED | REJECTED, REJECTED -> ACCEPTED. Anything else raises ApiError 409
        INAPPROPRIATE_STATUS and changes nothing.
        """
        if status not in ("ACCEPTED", "REJECTED"):
            raise ValueError(f"decide_assignment: status must be ACCEPTED or REJECTED, got {status!r}")
        with self.lock:
            assignment = self.get("assignments", assignment_id)
            current = assignment.get("status")
            allowed = current == "SUBMITTED" or (current == "REJECTED" and status == "ACCEPTED")
            if not allowed:
                appropriate = ["SUBMITTED", "REJECTED"] if status == "ACCEPTED" else ["SUBMITTED"]
                raise inappropriate_status(
                    f"Assignment {assignment_id} is {current}; it cannot become {status}", appropriate
                )
            if status == "ACCEPTED":  # first, so that a reward that cannot be charged changes nothing
                self.charge(assignment.get("reward") or 0, f"Accepting assignment {assignment_id}")
            decisions = self._decisions.get(assignment_id, 0)
            if decisions and not (current == "REJECTED" and status == "ACCEPTED"):
                self.double_decisions += 1
            self._decisions[assignment_id] = decisions + (0 if current == "REJECTED" else 1)
            now = self.now_wire()
            assignment["status"] = status
            if public_comment is not None:
                assignment["public_comment"] = public_comment
            if status == "ACCEPTED":
                assignment["accepted"] = now
                self.assignments_accepted += 1
            else:
                assignment["rejected"] = now
                self.assignments_rejected += 1
            self.emit(
                "ASSIGNMENT_APPROVED" if status == "ACCEPTED" else "ASSIGNMENT_REJECTED",
                pool_id=assignment.get("pool_id"),
                assignment_id=assignment_id,
                task_suite_id=assignment.get("task_suite_id"),
            )
            self.notify_changed()
            return assignment

    # -------------------------------------------------------------------------------- operations
    def create_operation(
        self,
        op_type: str,
        parameters: dict | None = None,
        *,
        status: str = "SUCCESS",
        details: dict | None = None,
        operation_id: str | None = None,
        log: list | None = None,
        delay: float | None = None,
    ) -> dict:
        """Store an operation in its final form (``status`` SUCCESS or FAIL, ``details``) and return its
        current view (PENDING). ``operation_id`` reuse raises ApiError 409 OPERATION_ALREADY_EXISTS.
        ``log`` becomes ``GET /operations/{id}/log``."""
        with self.lock:
            if operation_id is not None and operation_id in self.objects["operations"]:
                raise ApiError(
                    409, "OPERATION_ALREADY_EXISTS", f"Operation with id {operation_id} already exists"
                )
            op_id = operation_id or self.new_id("operations")
            now = self.now()
            delay = self.operation_delay if delay is None else delay
            op = {
                "id": op_id,
                "type": op_type,
                "status": status,
                "submitted": format_datetime(now),
                "started": format_datetime(now + timedelta(seconds=delay / 2)),
                "finished": format_datetime(now + timedelta(seconds=delay)),
                "progress": 100,
                "parameters": parameters or {},
            }
            if details is not None:
                op["details"] = details
            self.objects["operations"][op_id] = op
            self.operation_logs[op_id] = log or []
            started = time.monotonic()
            self._operation_timeline[op_id] = (started + delay / 2, started + delay)
            self.created["operation"] += 1
            return self.operation_view(op_id)

    def operation_view(self, op_id: str) -> dict:
        """The operation as a client sees it now (PENDING / RUNNING / final). 404 if unknown."""
        op = self.get("operations", op_id)
        timeline = self._operation_timeline.get(op_id)
        if timeline is None:
            return op
        running_at, done_at = timeline
        moment = time.monotonic()
        if moment >= done_at:
            self._operation_timeline.pop(op_id, None)
            return op
        view = {key: value for key, value in op.items() if key not in ("finished", "details")}
        if moment < running_at:
            view["status"] = "PENDING"
            view["progress"] = 0
            view.pop("started", None)
        else:
            view["status"] = "RUNNING"
            view["progress"] = 50
        return view

    # -------------------------------------------------------------------------------- counters
    def counters_snapshot(self) -> dict:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "created": dict(self.created),
                "assignments_accepted": self.assignments_accepted,
                "assignments_rejected": self.assignments_rejected,
                "double_decisions": self.double_decisions,
                "balance": float(self.balance),
                "objects": {kind: len(items) for kind, items in self.objects.items()},
            }
