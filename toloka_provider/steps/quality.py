"""Quality-control rules: who is banned, what skill value a worker gets, which bonuses are still to pay and which
message threads to send.

Pure functions over plain data (rows already read from files, objects read from Toloka); the operators in
``operators/quality.py`` read the files, call Toloka and write XCom. A bad input raises the client's
``TolokaArgumentError`` naming the argument, what was expected and what came.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from toloka_provider.client.errors import TolokaArgumentError
from toloka_provider.steps.values import field
from toloka_provider.steps.votes import answered_once

#: Values a template renders when the variable it named was empty: never a real id or name.
RENDERED_NOTHING = frozenset({"none", "null", "undefined", "nan"})

#: The longest ban the operators set (Toloka keeps dates as ``datetime``; longer is an unbounded ban anyway).
MAX_BAN = timedelta(days=36500)


def bad(argument: str, expected: str, got: Any) -> TolokaArgumentError:
    """The one shape of an input error: which argument, what it must be, what came."""
    return TolokaArgumentError(f"Argument {argument!r} must be {expected}, got {type(got).__name__} {got!r}")


# --------------------------------------------------------------------------------------------------------------
# Values


def text_id(value: Any, argument: str, what: str = "a user id") -> str:
    """A user id, skill name, ...: a non-blank string that is not what an empty template or a list renders to."""
    expected = f"a non-empty string ({what})"
    if not isinstance(value, str) or not value.strip():
        raise bad(argument, expected, value)
    if value != value.strip():
        raise bad(argument, f"{what} without surrounding whitespace", value)
    if value.lower() in RENDERED_NOTHING:
        raise bad(argument, f"a non-empty string ({what}), not what a template renders for an empty value", value)
    if value[0] + value[-1] in ("[]", "()", "{}"):
        raise bad(argument, f"{what}, not a list or dict rendered as a string (pass the list itself)", value)
    return value


def user_ids(value: Any, argument: str) -> list[str]:
    """A non-empty list of distinct user ids in the given order (a single id string is a list of one)."""
    if isinstance(value, str):
        return [text_id(value, argument)]
    if isinstance(value, (Mapping, bytes)) or not isinstance(value, (list, tuple)):
        raise bad(argument, "a list of user id strings", value)
    if not value:
        raise bad(argument, "a non-empty list of user id strings", value)
    return list(dict.fromkeys(text_id(item, f"{argument}[{number}]") for number, item in enumerate(value)))


def fraction(value: Any, argument: str) -> float:
    """A share such as an accuracy: a fraction in [0, 1] (45 for 45 % is refused, not read as 0.45)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise bad(argument, "a fraction in [0, 1]", value)
    return float(value)


def money(value: Any, argument: str) -> Decimal:
    """A Decimal amount of USD; floats go through ``str`` so that 0.1 stays 0.1."""
    if isinstance(value, bool):
        raise bad(argument, "an amount of money", value)
    try:
        amount = Decimal(str(value)) if isinstance(value, (int, float, str)) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise bad(argument, "an amount of money", value) from None
    if not amount.is_finite():
        raise bad(argument, "a finite amount of money", value)
    return amount


def lang_map(value: Any, argument: str) -> dict[str, str]:
    """``"text"`` → ``{"EN": "text"}``; a ``{LANG: str}`` dict stays as it is. Blank texts are refused."""
    if isinstance(value, str) and value.strip():
        return {"EN": value}
    if (
        isinstance(value, Mapping) and value
        and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items())
    ):
        return dict(value)
    raise bad(argument, "a non-empty string or a {LANG: text} dict of non-blank texts", value)


def ban_expiry(duration: timedelta | None, argument: str = "duration", now: datetime | None = None) -> str | None:
    """``will_expire`` of a ban lasting ``duration`` from now (naive UTC ISO), None for a ban until lifted."""
    if duration is None:
        return None
    if not isinstance(duration, timedelta) or duration <= timedelta(0) or duration > MAX_BAN:
        raise bad(argument, f"a positive datetime.timedelta of at most {MAX_BAN.days} days, or None", duration)
    start = now or datetime.now(timezone.utc)
    try:
        return (start + duration).replace(tzinfo=None).isoformat(timespec="seconds")
    except OverflowError:  # pragma: no cover - MAX_BAN keeps far from datetime.max
        raise bad(argument, "a ban that ends before the year 9999", duration) from None


# --------------------------------------------------------------------------------------------------------------
# Per-worker statistics


def statistics_rows(
    rows: Iterable[Mapping[str, Any]], argument: str = "statistics_path", path: Any = "the file"
) -> list[dict]:
    """The per-worker statistics rows, checked: a ``user_id`` each, once, and golden numbers that make sense."""
    checked, seen = [], set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get("user_id"), str) or not row["user_id"]:
            raise TolokaArgumentError(f"Argument {argument!r}: object {number} of {path} has no 'user_id' string")
        user_id = text_id(row["user_id"], f"{argument} object {number} user_id")
        if user_id in seen:
            raise TolokaArgumentError(f"Argument {argument!r}: worker {user_id} appears twice in {path}")
        seen.add(user_id)
        golden(row, f"Argument {argument!r}: worker {user_id} (object {number})")
        checked.append(dict(row))
    return checked


def golden(row: Mapping[str, Any], where: str = "statistics") -> tuple[int, float | None]:
    """``(golden_seen, golden_accuracy)`` of a statistics row; the accuracy is None when nothing was seen."""
    seen = row.get("golden_seen") or 0
    accuracy = row.get("golden_accuracy")
    if isinstance(seen, bool) or not isinstance(seen, int) or seen < 0:
        raise TolokaArgumentError(f"{where}: 'golden_seen' must be an integer >= 0, got {type(seen).__name__} {seen!r}")
    if accuracy is not None and (
        isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1
    ):
        raise TolokaArgumentError(
            f"{where}: 'golden_accuracy' must be a fraction in [0, 1] (0.9, not 90) or null, "
            f"got {type(accuracy).__name__} {accuracy!r}"
        )
    return seen, (None if seen == 0 or accuracy is None else float(accuracy))


def ban_candidates(
    rows: Iterable[Mapping[str, Any]], *, accuracy_below: float | None = None, min_golden: int = 5,
    rule: Callable[[dict], Any] | None = None,
) -> list[tuple[str, str]]:
    """``[(user_id, reason)]`` of the workers to ban, in row order: by ``rule`` or by the accuracy threshold."""
    chosen = []
    if rule is not None:
        for row in rows:
            verdict = rule(dict(row))
            if verdict:
                reason = verdict if isinstance(verdict, str) else f"rule {getattr(rule, '__name__', 'rule')}"
                chosen.append((row["user_id"], reason))
        return chosen
    threshold = fraction(accuracy_below, "accuracy_below")
    for row in rows:
        seen, accuracy = golden(row)
        if seen >= min_golden and accuracy is not None and accuracy < threshold:
            chosen.append((row["user_id"], f"golden accuracy {accuracy:.2f} < {threshold:.2f} over {seen} golden tasks"))
    return chosen


def ban_grace(duration: timedelta) -> timedelta:
    """How much earlier than asked an existing ban may end and still count as the asked one: a tenth of the
    duration, at most a day."""
    return min(duration / 10, timedelta(days=1))


def _expiry_of(restriction: Any) -> datetime | None:
    expires = field(restriction, "will_expire")
    if expires is None:
        return None
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=timezone.utc)


def ban_action(
    existing: Iterable[Any], will_expire: str | None, duration: timedelta | None = None, now: datetime | None = None
) -> str:
    """What to do for one worker given their bans in the scope: ``"keep"`` (an active ban lasts as long as the one
    asked for), ``"extend"`` (active, but ends earlier: replace it with the longer one) or ``"ban"``.

    A ban that ends less than :func:`ban_grace` earlier than asked counts as lasting as long: it is the ban
    a previous try set (a retry computes its end from a later "now")."""
    now = now or datetime.now(timezone.utc)
    wanted = None if will_expire is None else datetime.fromisoformat(will_expire).replace(tzinfo=timezone.utc)
    active = [expiry for expiry in map(_expiry_of, existing) if expiry is None or expiry > now]
    if not active:
        return "ban"
    if any(expiry is None for expiry in active):
        return "keep"
    grace = ban_grace(duration) if duration is not None else timedelta(0)
    if wanted is not None and max(expiry for expiry in active if expiry is not None) >= wanted - grace:
        return "keep"
    return "extend"


# --------------------------------------------------------------------------------------------------------------
# Skills


def agreement_by_worker(
    assignments: Iterable[Mapping[str, Any]], labels: Mapping[str, str], names: Sequence[str],
    statuses: Sequence[str] = ("SUBMITTED", "ACCEPTED"),
) -> dict[str, tuple[int, int]]:
    """``{user_id: (agreeing, compared)}``: how often each worker's answer equals the aggregated label (both as
    :func:`toloka_provider.steps.votes.label_key`); each assignment counts once (``votes.answered_once``)."""
    scores: dict[str, list[int]] = {}
    for assignment, answers in answered_once(assignments, list(names)):
        if str(assignment.get("status")) not in statuses:
            continue
        user_id = str(assignment.get("user_id"))
        for task, answer in answers:
            wanted = labels.get(str(task.get("id")))
            if wanted is None or answer is None:
                continue
            score = scores.setdefault(user_id, [0, 0])
            score[0] += int(answer == wanted)
            score[1] += 1
    return {user: (agree, total) for user, (agree, total) in scores.items()}


def skill_values(
    scores: Mapping[str, tuple[float, int]], *, scale: float, min_answers: int
) -> tuple[dict[str, Decimal], int]:
    """``({user_id: value}, skipped)`` from ``{user_id: (share, answers)}``; a value outside 0..100 is refused
    (a share that is not a fraction), never clamped."""
    values, skipped = {}, 0
    for user_id, (share, answers) in scores.items():
        if answers < min_answers or math.isnan(share):
            skipped += 1
            continue
        value = Decimal(str(round(share * scale, 2)))
        if not Decimal(0) <= value <= Decimal(100):
            raise bad(f"skill value of worker {user_id}", "a number from 0 to 100", value)
        values[user_id] = value
    return values, skipped


# --------------------------------------------------------------------------------------------------------------
# Bonuses

BONUS_LIMITS = (Decimal("0.01"), Decimal("100"))


def bonus_amount(amount: Decimal, where: str) -> Decimal:
    low, high = BONUS_LIMITS
    if not low <= amount <= high:
        raise TolokaArgumentError(f"{where}: a bonus must be from {low} to {high} USD, got {amount}")
    if amount != amount.quantize(Decimal("0.01")):
        raise TolokaArgumentError(f"{where}: a bonus has at most 2 decimal places (cents), got {amount}")
    return amount


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def bonus_identity(bonus: Any) -> tuple[str, str]:
    """Whom a bonus is for: ``(user_id, assignment_id or "")``."""
    return str(field(bonus, "user_id")), str(field(bonus, "assignment_id") or "")


def bonus_content(bonus: Any) -> tuple[str, str, str]:
    """What a bonus pays and says: amount (to the cent), public title and public message."""
    amount = Decimal(str(field(bonus, "amount"))).quantize(Decimal("0.01"))
    return str(amount), _json(field(bonus, "public_title")), _json(field(bonus, "public_message"))


BONUS_TAG_PREFIX = "airflow bonus "
BONUS_TAG_LIMIT = 200  # characters of a private_comment kept as they are; longer parts are hashed
_RUN_PART_LIMIT = 120  # the run's part (``<dag>/<run>/``) is kept readable up to here, so the task's part fits


def _hashed(*parts: str) -> str:
    return "#" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def bonus_run_prefix(dag_id: str, run_id: str) -> str:
    """What the ``private_comment`` of every bonus paid by a task of the run starts with.

    ``airflow bonus <dag>/<run>/``, or, when that is over 120 characters, ``airflow bonus #<hash of both>/``: the
    run's bonuses always share one prefix, which is how the run budget finds them.
    """
    readable = f"{BONUS_TAG_PREFIX}{dag_id}/{run_id}/"
    return readable if len(readable) <= _RUN_PART_LIMIT else f"{BONUS_TAG_PREFIX}{_hashed(dag_id, run_id)}/"


def bonus_tag(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The ``private_comment`` of every bonus one task instance pays: how a later try finds them all.

    The run's prefix (:func:`bonus_run_prefix`) then ``<task>`` or ``<task>[<map index>]``; a task part that
    would take the comment over 200 characters is replaced by its hash, the prefix never is.
    """
    prefix = bonus_run_prefix(dag_id, run_id)
    task = task_id + (f"[{map_index}]" if map_index >= 0 else "")
    readable = prefix + task
    return readable if len(readable) <= BONUS_TAG_LIMIT else prefix + _hashed(task_id, str(map_index))


@dataclass
class BonusPlan:
    """The difference between the bonuses asked for and those this task instance already paid."""

    to_pay: list[dict] = dataclass_field(default_factory=list)
    already_paid: list[dict] = dataclass_field(default_factory=list)
    not_in_inputs: list[Any] = dataclass_field(default_factory=list)

    @property
    def total_to_pay(self) -> Decimal:
        return sum((Decimal(str(item["amount"])) for item in self.to_pay), Decimal("0"))


def refuse_repeated_bonuses(items: Sequence[Mapping[str, Any]], argument: str) -> None:
    """Two identical bonuses for one user and assignment are one line given twice (Toloka refuses them too)."""
    seen: dict[tuple, int] = {}
    for number, item in enumerate(items, start=1):
        key = (*bonus_identity(item), *bonus_content(item))
        if key in seen:
            user_id, assignment_id = bonus_identity(item)
            raise TolokaArgumentError(
                f"Argument {argument!r}: bonus {number} repeats bonus {seen[key]} (user {user_id}"
                f"{', assignment ' + assignment_id if assignment_id else ''}, the same amount, title and message); "
                f"expected one line per bonus (merge them, or give each its 'assignment_id')"
            )
        seen[key] = number


def plan_bonuses(items: Sequence[dict], paid: Iterable[Any], argument: str) -> BonusPlan:
    """Pay exactly the difference: for each (user, assignment), bonuses already paid with the same amount, title
    and message count as paid; asked-for bonuses beyond them are to pay; paid bonuses no longer asked for are
    reported (Toloka cannot take a bonus back). A (user, assignment) whose paid bonuses differ from the ones
    asked for is refused, naming what changed, before anything is paid."""
    paid_by_identity: dict[tuple[str, str], list[Any]] = {}
    for bonus in paid:
        paid_by_identity.setdefault(bonus_identity(bonus), []).append(bonus)
    asked_by_identity: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        asked_by_identity.setdefault(bonus_identity(item), []).append(item)
    plan = BonusPlan()
    for identity in list(dict.fromkeys([*asked_by_identity, *paid_by_identity])):
        asked = list(asked_by_identity.get(identity, []))
        earlier = list(paid_by_identity.get(identity, []))
        remaining_paid = []
        for bonus in earlier:
            match = next((item for item in asked if bonus_content(item) == bonus_content(bonus)), None)
            if match is None:
                remaining_paid.append(bonus)
            else:
                asked.remove(match)
                plan.already_paid.append(match)
        if remaining_paid and asked:
            user_id, assignment_id = identity
            was = ", ".join(_describe(bonus) for bonus in remaining_paid)
            now = ", ".join(_describe(item) for item in asked)
            raise TolokaArgumentError(
                f"Argument {argument!r}: the bonus for user {user_id}"
                f"{' and assignment ' + assignment_id if assignment_id else ''} changed since an earlier try of this "
                f"task paid it: paid {was}; now asked {now}. A paid bonus cannot be changed; nothing was paid "
                f"(run the task as a new DAG run to pay a new bonus)"
            )
        plan.to_pay.extend(asked)
        plan.not_in_inputs.extend(remaining_paid)
    return plan


def _describe(bonus: Any) -> str:
    amount, title, message = bonus_content(bonus)
    return f"{amount} USD titled {title} with message {message}"


# --------------------------------------------------------------------------------------------------------------
# Messages

REJECTED_MARKS = ("REJECTED", "REJECT", "reject", "rejected")
MESSAGE_KEY_MARK = "ref "


def rejection_reasons(rows: Iterable[Mapping[str, Any]], argument: str) -> dict[str, list[str]]:
    """``{user_id: [distinct rejection comment, ...]}`` from decisions or assignments rows."""
    reasons: dict[str, list[str]] = {}
    for number, row in enumerate(rows, start=1):
        if str(row.get("status", row.get("action"))) not in REJECTED_MARKS or not row.get("user_id"):
            continue
        user_id = text_id(row["user_id"], f"{argument} object {number} user_id")
        comment = row.get("public_comment") or row.get("comment")
        found = reasons.setdefault(user_id, [])
        if comment and str(comment) not in found:
            found.append(str(comment))
    return reasons


def message_threads(
    recipients: Mapping[str, list[str]], topic: Mapping[str, str], text: Mapping[str, str], run_key: str
) -> list[dict]:
    """The threads to compose: workers with the same text share one (at most 100 recipients); each thread's topic
    ends with ``(ref <run key>-<digest of recipients and text>)`` (how a later try finds what this task instance
    sent: :func:`earlier_recipients`)."""
    groups: dict[tuple, list[str]] = {}
    for user_id, reasons in sorted(recipients.items()):
        joined = "; ".join(reasons) or "no reason given"
        body = tuple(sorted((lang, value.replace("{reasons}", joined)) for lang, value in text.items()))
        groups.setdefault(body, []).append(user_id)
    threads = []
    for body, users in groups.items():
        for start in range(0, len(users), 100):
            chunk = users[start : start + 100]
            digest = hashlib.sha256(repr((body, chunk, sorted(topic.items()))).encode()).hexdigest()
            key = f"{run_key}-{digest[:12]}"
            tagged = {lang: f"{value} ({MESSAGE_KEY_MARK}{key})" for lang, value in topic.items()}
            threads.append({"key": key, "topic": tagged, "text": dict(body), "recipients_ids": chunk})
    return threads


def earlier_recipients(threads: Iterable[Any], run_key: str) -> list[set[str]]:
    """The recipients of each thread this task instance sent (its topic carries ``(ref <run key>-``)."""
    mark = f"({MESSAGE_KEY_MARK}{run_key}-"
    found = []
    for thread in threads:
        if any(mark in str(value) for value in (field(thread, "topic") or {}).values()):
            details = field(thread, "compose_details") or {}
            found.append({str(user) for user in (details.get("recipients_ids") or ())})
    return found


__all__ = [
    "BonusPlan",
    "agreement_by_worker",
    "ban_action",
    "ban_candidates",
    "ban_expiry",
    "bonus_run_prefix",
    "bonus_tag",
    "earlier_recipients",
    "fraction",
    "golden",
    "lang_map",
    "message_threads",
    "money",
    "plan_bonuses",
    "rejection_reasons",
    "skill_values",
    "statistics_rows",
    "text_id",
    "user_ids",
]
