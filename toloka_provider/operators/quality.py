"""Quality-control operators: ban weak workers, give good ones a skill, pay bonuses, tell workers why.

They act on what earlier steps wrote to files, so that the pipeline keeps data that grows with the crowd out
of XCom:

**Per-worker statistics JSONL** (``statistics_path``; the review step writes it): one JSON object per line::

    {"user_id": "...", "assignments": 12, "golden_seen": 10, "golden_correct": 7,
     "golden_accuracy": 0.7,          # null when golden_seen == 0
     "accepted": 11, "rejected": 1, "median_seconds": 41.5}

Only ``user_id`` is required by the code here; the rules read ``golden_seen`` and ``golden_accuracy``.

**Aggregated labels JSONL** (``labels_path``): as written by ``TolokaAggregateLocallyOperator``, one
``{"task_id", "input_values", "output_values", "confidence", "votes"}`` per task.

**Assignments JSONL** (``assignments_path``): as written by ``TolokaGetAssignmentsOperator`` (``user_id``,
``status``, ``tasks``, ``solutions``, ...).

Every operator is safe to retry (a retry of the same task instance never bans, pays or messages twice), checks
its arguments before any request (a bad argument is ``TolokaInputError``), and returns a small XCom. A Toloka
refusal a retry cannot change (4xx) is ``TolokaApiFailure``; transient errors (5xx, 429, no answer) pass
through unchanged so that Airflow's task retries cover an outage.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from toloka_provider import lineage, metrics
from toloka_provider.client.errors import is_transient as may_have_been_applied
from toloka_provider.exceptions import TolokaInputError, toloka_error_mapping
from toloka_provider.links import TolokaPoolLink, TolokaProjectLink
from toloka_provider.operators.base import TolokaBaseOperator
from toloka_provider.operators.files import iter_jsonl
from toloka_provider.operators.identity import RunIdentity
from toloka_provider.steps.values import field

#: How many entries of a list (banned workers, ...) an XCom carries at most; the counts are always complete.
XCOM_LIST_LIMIT = 100

SCOPES = ("POOL", "PROJECT", "ALL_PROJECTS")


# --------------------------------------------------------------------------------------------------------------
# Shared helpers


def api_errors(conn_id: str) -> contextlib.AbstractContextManager[None]:
    """Map client errors the way every operator does (``operators.base.toloka_error_mapping``): bad arguments
    fail as input errors, transient ones pass through (Airflow retries), persistent ones fail at once."""
    return toloka_error_mapping(conn_id)


def read_statistics(path: Any, *, argument: str = "statistics_path") -> list[dict]:
    """The per-worker statistics of ``path`` (see the module docstring); each line needs a ``user_id``."""
    if not path:
        raise TolokaInputError(f"Give {argument!r}: a per-worker statistics JSONL file")
    rows = []
    seen: set[str] = set()
    for line_number, row in enumerate(iter_jsonl(path, argument=argument), start=1):
        user_id = row.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise TolokaInputError(f"Argument {argument!r}: object {line_number} of {path} has no 'user_id' string")
        if user_id in seen:
            raise TolokaInputError(f"Argument {argument!r}: worker {user_id} appears twice in {path}")
        seen.add(user_id)
        rows.append(row)
    return rows


def _golden(row: Mapping[str, Any]) -> tuple[int, float | None]:
    seen = row.get("golden_seen") or 0
    accuracy = row.get("golden_accuracy")
    if not isinstance(seen, int) or (accuracy is not None and not isinstance(accuracy, (int, float))):
        raise TolokaInputError(
            f"worker {row.get('user_id')}: 'golden_seen' must be an integer and 'golden_accuracy' a number or "
            f"null, got {seen!r} and {accuracy!r}"
        )
    return seen, (None if seen == 0 or accuracy is None else float(accuracy))


def _import_callable(dotted: Any, argument: str) -> Callable[..., Any]:
    if callable(dotted):
        return dotted
    if not isinstance(dotted, str) or "." not in dotted:
        raise TolokaInputError(f"{argument!r} must be a dotted path 'package.module.function', got {dotted!r}")
    from airflow.sdk.module_loading import import_string

    try:
        function = import_string(dotted)
    except ImportError as error:
        raise TolokaInputError(f"{argument!r}: cannot import {dotted!r}: {error}") from None
    if not callable(function):
        raise TolokaInputError(f"{argument!r}: {dotted!r} is a {type(function).__name__}, not a callable")
    return function


def _lang_map(value: Any, argument: str) -> dict[str, str]:
    """``"text"`` → ``{"EN": "text"}``; a ``{LANG: str}`` dict stays as it is."""
    if isinstance(value, str) and value:
        return {"EN": value}
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    raise TolokaInputError(f"{argument!r} must be a non-empty string or a {{LANG: text}} dict, got {value!r}")


def _fraction(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise TolokaInputError(f"{argument!r} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _count(value: Any, argument: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TolokaInputError(f"{argument!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _money(value: Any, argument: str) -> Decimal:
    """A Decimal amount of USD; floats go through ``str`` so that 0.1 stays 0.1."""
    if isinstance(value, bool):
        raise TolokaInputError(f"{argument!r} must be an amount of money, got {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, (int, float, str)) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise TolokaInputError(f"{argument!r} must be an amount of money, got {value!r}") from None
    if not amount.is_finite():
        raise TolokaInputError(f"{argument!r} must be a finite amount of money, got {value!r}")
    return amount


def _expiry(duration: timedelta | None) -> str | None:
    if duration is None:
        return None
    return (datetime.now(timezone.utc) + duration).replace(tzinfo=None).isoformat(timespec="seconds")


def _is_active(restriction: Any) -> bool:
    expires = field(restriction, "will_expire")
    if expires is None:
        return True
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    return expires > datetime.now(timezone.utc)


# --------------------------------------------------------------------------------------------------------------
# Bans


class TolokaRestrictWorkersOperator(TolokaBaseOperator):
    """Ban workers by a rule over the per-worker statistics (see the module docstring for the file).

    :param statistics_path: the per-worker statistics JSONL (templated).
    :param scope: ``"POOL"`` (needs ``pool_id``), ``"PROJECT"`` (needs ``project_id``) or ``"ALL_PROJECTS"``.
    :param pool_id: the pool of a POOL ban (templated).
    :param project_id: the project of a PROJECT ban (templated).
    :param accuracy_below: ban a worker whose golden accuracy is below this (0..1) ...
    :param min_golden: ... once they answered at least this many golden tasks (default 5; fewer says too little).
    :param rule: instead of the threshold, a callable or its dotted path ``"package.module.function"`` called
        with each statistics row; a true result bans the worker (a non-empty string is also the reason).
    :param duration: how long the ban lasts (a timedelta, sets ``will_expire``); None bans until lifted.
    :param private_comment: the ban's private comment; the reason is appended.
    :param dry_run: only report whom the rule would ban; send nothing.

    Idempotent: before banning, the worker's bans in that scope are looked up (``find_user_restrictions``); an
    active one counts as ``already_restricted`` and is not set again. XCom: ``{"scope", "dry_run",
    "banned_count", "already_restricted", "banned": [{"user_id", "reason"}, ...]}`` (the list holds at most
    100 entries). Pushes the pool or project page for the extra link.
    """

    template_fields = ("statistics_path", "pool_id", "project_id", "private_comment", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(), TolokaProjectLink())
    ui_color = "#ffe4e1"

    def __init__(
        self,
        *,
        statistics_path: str,
        scope: str = "POOL",
        pool_id: str | None = None,
        project_id: str | None = None,
        accuracy_below: float | None = None,
        min_golden: int = 5,
        rule: str | Callable[[dict], Any] | None = None,
        duration: timedelta | None = None,
        private_comment: str = "Low quality on control tasks",
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if scope not in SCOPES:
            raise TolokaInputError(f"'scope' must be one of {', '.join(SCOPES)}, got {scope!r}")
        if (accuracy_below is None) == (rule is None):
            raise TolokaInputError("Give exactly one of 'accuracy_below' (with 'min_golden') and 'rule'")
        if accuracy_below is not None:
            _fraction(accuracy_below, "accuracy_below")
        _count(min_golden, "min_golden", minimum=1)
        if duration is not None and (not isinstance(duration, timedelta) or duration <= timedelta(0)):
            raise TolokaInputError(f"'duration' must be a positive datetime.timedelta or None, got {duration!r}")
        self.statistics_path = statistics_path
        self.scope = scope
        self.pool_id = pool_id
        self.project_id = project_id
        self.accuracy_below = accuracy_below
        self.min_golden = min_golden
        self.rule = rule
        self.duration = duration
        self.private_comment = private_comment
        self.is_dry_run = dry_run  # not self.dry_run: BaseOperator has a dry_run() method

    def _scope_filter(self) -> dict[str, str]:
        if self.scope == "POOL":
            if not self.pool_id:
                raise TolokaInputError("scope 'POOL' needs 'pool_id'")
            return {"pool_id": str(self.pool_id)}
        if self.scope == "PROJECT":
            if not self.project_id:
                raise TolokaInputError("scope 'PROJECT' needs 'project_id'")
            return {"project_id": str(self.project_id)}
        return {}

    def candidates(self, rows: Iterable[dict]) -> list[tuple[str, str]]:
        """``[(user_id, reason)]`` of the workers the rule bans, in file order."""
        chosen = []
        if self.rule is not None:
            function = _import_callable(self.rule, "rule")
            for row in rows:
                verdict = function(dict(row))
                if verdict:
                    reason = verdict if isinstance(verdict, str) else f"rule {getattr(function, '__name__', 'rule')}"
                    chosen.append((row["user_id"], reason))
            return chosen
        threshold = float(self.accuracy_below)  # type: ignore[arg-type]
        for row in rows:
            seen, accuracy = _golden(row)
            if seen >= self.min_golden and accuracy is not None and accuracy < threshold:
                chosen.append(
                    (row["user_id"], f"golden accuracy {accuracy:.2f} < {threshold:.2f} over {seen} golden tasks")
                )
        return chosen

    def execute(self, context: Any) -> dict:
        where = self._scope_filter()
        chosen = self.candidates(read_statistics(self.statistics_path))
        result: dict[str, Any] = {"scope": self.scope, "dry_run": bool(self.is_dry_run), "banned_count": 0,
                                  "already_restricted": 0, "banned": []}
        if self.scope == "POOL":
            self.push_pool_url(context, where["pool_id"])
        elif self.scope == "PROJECT":
            self.push_project_url(context, where["project_id"])
        if self.is_dry_run:
            self.log.info("Dry run: the rule would ban %d workers (%s)", len(chosen), self.scope)
            result["banned_count"] = len(chosen)
            result["banned"] = [{"user_id": u, "reason": r} for u, r in chosen[:XCOM_LIST_LIMIT]]
            return result
        will_expire = _expiry(self.duration)
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            for user_id, reason in chosen:
                existing = client.find_user_restrictions(scope=self.scope, user_id=user_id, limit=50, **where)
                if any(_is_active(item) for item in (field(existing, "items") or ())):
                    result["already_restricted"] += 1
                    continue
                body: dict[str, Any] = {"scope": self.scope, "user_id": user_id,
                                        "private_comment": f"{self.private_comment}: {reason}"[:1000], **where}
                if will_expire:
                    body["will_expire"] = will_expire
                client.set_user_restriction(body)  # an upsert: repeating it after a lost answer is harmless
                result["banned_count"] += 1
                if len(result["banned"]) < XCOM_LIST_LIMIT:
                    result["banned"].append({"user_id": user_id, "reason": reason})
        self.log.info(
            "Banned %d workers (%s), %d were already banned", result["banned_count"], self.scope,
            result["already_restricted"],
        )
        return result


# --------------------------------------------------------------------------------------------------------------
# Skills


def _label_key(values: Mapping[str, Any], names: Sequence[str]) -> tuple | None:
    if any(name not in values for name in names):
        return None
    return tuple(repr(values[name]) for name in names)


def agreement_by_worker(
    assignments: Iterable[Mapping[str, Any]], labels: Mapping[str, tuple], names: Sequence[str],
    statuses: Sequence[str] = ("SUBMITTED", "ACCEPTED"),
) -> dict[str, tuple[int, int]]:
    """``{user_id: (agreeing, compared)}``: how often each worker's answer equals the aggregated label."""
    scores: dict[str, list[int]] = {}
    for assignment in assignments:
        if str(assignment.get("status")) not in statuses:
            continue
        user_id = str(assignment.get("user_id"))
        for task, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False):
            wanted = labels.get(str((task or {}).get("id")))
            answer = _label_key(((solution or {}).get("output_values") or {}), names)
            if wanted is None or answer is None:
                continue
            score = scores.setdefault(user_id, [0, 0])
            score[0] += int(answer == wanted)
            score[1] += 1
    return {user: (agree, total) for user, (agree, total) in scores.items()}


class TolokaSetUserSkillsOperator(TolokaBaseOperator):
    """Set a skill per worker from their quality: golden accuracy, or agreement with the aggregated labels.

    :param skill_name: the skill's private name; the skill is created once (a retry finds it by this name).
    :param skill_config: extra fields for a new skill (e.g. ``{"hidden": True, "public_name": {"EN": ...}}``).
    :param source: ``"golden_accuracy"`` (reads ``statistics_path``: value = golden accuracy × ``scale``) or
        ``"agreement"`` (reads ``labels_path`` and ``assignments_path``: value = the share of a worker's
        answers equal to the aggregated label × ``scale``, over the output ``fields``).
    :param min_answers: skip a worker with fewer golden answers (or compared answers) than this (default 3).
    :param scale: the skill value of a perfect worker (default 100; Toloka skills are 0..100).
    :param reason: the reason recorded on each skill value.

    Idempotent: ``set_user_skill`` is an upsert and the skill is looked up by name before it is created.
    XCom: ``{"skill_id", "skill_name", "created_skill", "set", "skipped"}``.
    """

    template_fields = ("skill_name", "statistics_path", "labels_path", "assignments_path", "toloka_conn_id")
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        skill_name: str,
        source: str = "golden_accuracy",
        statistics_path: str | None = None,
        labels_path: str | None = None,
        assignments_path: str | None = None,
        fields: Sequence[str] = (),
        skill_config: Mapping[str, Any] | None = None,
        min_answers: int = 3,
        scale: float = 100.0,
        reason: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if source not in ("golden_accuracy", "agreement"):
            raise TolokaInputError(f"'source' must be 'golden_accuracy' or 'agreement', got {source!r}")
        if source == "golden_accuracy" and not statistics_path:
            raise TolokaInputError("source 'golden_accuracy' needs 'statistics_path'")
        if source == "agreement" and not (labels_path and assignments_path):
            raise TolokaInputError("source 'agreement' needs 'labels_path' and 'assignments_path'")
        if skill_config is not None and not isinstance(skill_config, Mapping):
            raise TolokaInputError(f"'skill_config' must be a dict, got {type(skill_config).__name__}")
        _count(min_answers, "min_answers", minimum=1)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 100:
            raise TolokaInputError(f"'scale' must be a number in (0, 100], got {scale!r}")
        self.skill_name = skill_name
        self.source = source
        self.statistics_path = statistics_path
        self.labels_path = labels_path
        self.assignments_path = assignments_path
        self.fields = fields
        self.skill_config = dict(skill_config or {})
        self.min_answers = min_answers
        self.scale = scale
        self.reason = reason

    def values(self) -> tuple[dict[str, Decimal], int]:
        """``({user_id: skill value}, skipped)`` from the files (read before any request)."""
        scores: dict[str, tuple[float, int]] = {}
        if self.source == "golden_accuracy":
            for row in read_statistics(self.statistics_path):
                seen, accuracy = _golden(row)
                scores[row["user_id"]] = (accuracy if accuracy is not None else math.nan, seen)
        else:
            names = [self.fields] if isinstance(self.fields, str) else list(self.fields)
            if not names or not all(isinstance(name, str) and name for name in names):
                raise TolokaInputError(f"source 'agreement' needs 'fields': the output field names, got {self.fields!r}")
            if not self.labels_path or not self.assignments_path:
                raise TolokaInputError("source 'agreement' needs 'labels_path' and 'assignments_path'")
            labels = {}
            for row in iter_jsonl(self.labels_path, argument="labels_path"):
                key = _label_key(row.get("output_values") or {}, names)
                if row.get("task_id") is not None and key is not None:
                    labels[str(row["task_id"])] = key
            agreement = agreement_by_worker(iter_jsonl(self.assignments_path, argument="assignments_path"), labels, names)
            scores = {user: (agree / total, total) for user, (agree, total) in agreement.items()}
        values, skipped = {}, 0
        for user_id, (share, answers) in scores.items():
            if answers < self.min_answers or math.isnan(share):
                skipped += 1
                continue
            value = Decimal(str(round(share * self.scale, 2)))
            values[user_id] = min(max(value, Decimal(0)), Decimal(100))
        return values, skipped

    def _find_skill(self, client: Any, name: str) -> Any:
        page = client.find_skills(name=name, limit=100)
        matches = [skill for skill in (field(page, "items") or ()) if field(skill, "name") == name]
        return min(matches, key=lambda skill: str(field(skill, "id"))) if matches else None

    def execute(self, context: Any) -> dict:
        name = str(self.skill_name or "").strip()
        if not name:
            raise TolokaInputError("'skill_name' must be a non-empty string")
        values, skipped = self.values()
        created = False
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            skill = self._find_skill(client, name)
            if skill is None:
                body = {"hidden": True, **self.skill_config, "name": name}
                try:
                    skill = client.create_skill(body)
                    created = True
                except Exception as error:
                    # The create may have landed with its answer lost: look again before giving up.
                    if not may_have_been_applied(error) or (skill := self._find_skill(client, name)) is None:
                        raise
            skill_id = str(field(skill, "id"))
            for user_id, value in values.items():
                client.set_user_skill(skill_id=skill_id, user_id=user_id, value=value, reason=self.reason)
        self.log.info("Skill %s (%s): set for %d workers, %d skipped", name, skill_id, len(values), skipped)
        return {"skill_id": skill_id, "skill_name": name, "created_skill": created, "set": len(values),
                "skipped": skipped}


# --------------------------------------------------------------------------------------------------------------
# Bonuses


class TolokaCreateBonusesOperator(TolokaBaseOperator):
    """Pay bonuses, from a file or from a rule over the per-worker statistics, at most ``max_total`` in all.

    :param max_total: the spending cap in USD (required): when the bonuses add up to more, the task fails
        before anything is sent.
    :param bonuses_path: a JSONL of ``{"user_id", "amount", "public_title", "public_message",
        "assignment_id"?}`` (title and message: a string or ``{LANG: text}``) (templated) ...
    :param statistics_path: ... or the per-worker statistics, with ``top_n`` and ``amount``: the ``top_n``
        workers by golden accuracy (ties: more golden answers first, then user id) who answered at least
        ``min_golden`` golden tasks and reach ``min_accuracy`` each get ``amount``.
    :param public_title: / :param public_message: for the rule's bonuses (a string or ``{LANG: text}``).

    Money is ``Decimal`` throughout. One bulk create in async mode under an ``operation_id`` derived from the
    run identity: a retry of the same task instance resumes that operation (OPERATION_ALREADY_EXISTS) instead
    of paying again. XCom: ``{"operation_id", "count", "created", "failed", "total", "errors_sample"}``
    (``total`` as a string).
    """

    template_fields = ("bonuses_path", "statistics_path", "toloka_conn_id")
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        max_total: Decimal | str | int | float,
        bonuses_path: str | None = None,
        statistics_path: str | None = None,
        top_n: int | None = None,
        amount: Decimal | str | int | float | None = None,
        min_golden: int = 5,
        min_accuracy: float = 0.0,
        public_title: str | Mapping[str, str] = "Bonus for good work",
        public_message: str | Mapping[str, str] = "Thank you for your accurate answers.",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_total = _money(max_total, "max_total")
        if self.max_total < 0:
            raise TolokaInputError(f"'max_total' must not be negative, got {max_total!r}")
        if (bonuses_path is None) == (statistics_path is None):
            raise TolokaInputError("Give exactly one of 'bonuses_path' and 'statistics_path' (with 'top_n', 'amount')")
        if statistics_path is not None:
            if top_n is None or amount is None:
                raise TolokaInputError("'statistics_path' needs 'top_n' and 'amount'")
            _count(top_n, "top_n", minimum=1)
            self.amount: Decimal | None = self._checked_amount(_money(amount, "amount"), "amount")
        else:
            self.amount = None
        _count(min_golden, "min_golden")
        _fraction(min_accuracy, "min_accuracy")
        self.bonuses_path = bonuses_path
        self.statistics_path = statistics_path
        self.top_n = top_n
        self.min_golden = min_golden
        self.min_accuracy = min_accuracy
        self.public_title = _lang_map(public_title, "public_title")
        self.public_message = _lang_map(public_message, "public_message")

    @staticmethod
    def _checked_amount(amount: Decimal, where: str) -> Decimal:
        if not Decimal("0.01") <= amount <= Decimal("100"):
            raise TolokaInputError(f"{where}: a bonus must be from 0.01 to 100 USD, got {amount}")
        if amount != amount.quantize(Decimal("0.01")):
            raise TolokaInputError(f"{where}: a bonus has at most 2 decimal places (cents), got {amount}")
        return amount

    def bonuses(self, identity: RunIdentity) -> list[dict]:
        """The bonus bodies to send (checked, before any request)."""
        comment = f"airflow {identity.dag_id}/{identity.run_id}/{identity.task_id}"[:200]
        items = []
        if self.bonuses_path is not None:
            for number, row in enumerate(iter_jsonl(self.bonuses_path, argument="bonuses_path"), start=1):
                where = f"bonuses_path object {number}"
                user_id = row.get("user_id")
                if not isinstance(user_id, str) or not user_id:
                    raise TolokaInputError(f"{where} has no 'user_id' string")
                if "amount" not in row:
                    raise TolokaInputError(f"{where} has no 'amount'")
                item = {
                    "user_id": user_id,
                    "amount": self._checked_amount(_money(row["amount"], f"{where} amount"), where),
                    "public_title": _lang_map(row.get("public_title", self.public_title), f"{where} public_title"),
                    "public_message": _lang_map(row.get("public_message", self.public_message),
                                                f"{where} public_message"),
                    "private_comment": comment,
                    "without_message": False,
                }
                if row.get("assignment_id"):
                    item["assignment_id"] = str(row["assignment_id"])
                items.append(item)
            return items
        ranked = []
        for row in read_statistics(self.statistics_path):
            seen, accuracy = _golden(row)
            if accuracy is not None and seen >= self.min_golden and accuracy >= self.min_accuracy:
                ranked.append((-accuracy, -seen, row["user_id"]))
        for _, _, user_id in sorted(ranked)[: self.top_n]:
            items.append({"user_id": user_id, "amount": self.amount, "public_title": self.public_title,
                          "public_message": self.public_message, "private_comment": comment,
                          "without_message": False})
        return items

    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        items = self.bonuses(identity)
        total = sum((item["amount"] for item in items), Decimal("0"))
        if total > self.max_total:
            raise TolokaInputError(
                f"The {len(items)} bonuses add up to {total} USD, more than max_total {self.max_total} USD; "
                f"nothing was sent"
            )
        operation_id = identity.operation_id("user_bonuses")
        result: dict[str, Any] = {"operation_id": operation_id, "count": len(items), "created": 0, "failed": 0,
                                  "total": str(total), "errors_sample": {}}
        if not items:
            self.log.info("No bonuses to pay")
            return result
        with api_errors(self.toloka_conn_id):
            created = self.hook.get_conn().create_user_bonuses(items, async_mode=True, operation_id=operation_id)
        errors = dict(field(created, "validation_errors") or {})
        result["created"] = len(field(created, "items") or {})
        result["failed"] = len(errors)
        result["errors_sample"] = {key: errors[key] for key in list(errors)[:5]}
        self.log.info("Bonuses: %d paid, %d refused, %s USD in all (operation %s)",
                      result["created"], result["failed"], total, operation_id)
        self._lineage_result = result
        if not result["failed"]:  # with refusals the paid sum is not known here: nothing rather than a guess
            metrics.money_spent(total, what="bonuses")
        return result

    def get_openlineage_facets_on_start(self) -> Any:
        return lineage.operator_lineage(self, lineage.BONUSES)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return lineage.operator_lineage(self, lineage.BONUSES, getattr(self, "_lineage_result", None))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_complete(task_instance)


# --------------------------------------------------------------------------------------------------------------
# Messages

REJECTED_MARKS = ("REJECTED", "REJECT", "reject", "rejected")
MESSAGE_KEY_MARK = "ref "


class TolokaSendMessageOperator(TolokaBaseOperator):
    """Message workers directly: a list of user ids, or the workers whose work was rejected, with the reason.

    :param topic: the thread topic (a string or ``{LANG: text}``).
    :param text: the message (a string or ``{LANG: text}``); ``{reasons}`` in it is replaced by the worker's
        distinct rejection comments joined by ``"; "`` (only with ``rejections_path``).
    :param user_ids: the recipients (templated) ...
    :param rejections_path: ... or a JSONL of decisions or assignments: lines whose ``status`` or ``action`` is
        REJECTED/REJECT, each with ``user_id`` and optionally ``public_comment`` (or ``comment``) (templated).
    :param answerable: whether workers may reply.

    Workers with the same text share a thread (at most 100 recipients each). Idempotent by a key: each thread's
    topic ends with ``(ref <key>)``, a key derived from the run identity and the thread's recipients and text;
    before sending, the requester's OUTBOX is read (``find_message_threads``) and a thread whose topic carries
    the key is not sent again. XCom: ``{"threads", "recipients", "already_sent"}``.
    """

    template_fields = ("user_ids", "rejections_path", "toloka_conn_id")
    ui_color = "#eef0ff"

    def __init__(
        self,
        *,
        topic: str | Mapping[str, str],
        text: str | Mapping[str, str],
        user_ids: Sequence[str] | None = None,
        rejections_path: str | None = None,
        answerable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = _lang_map(topic, "topic")
        self.text = _lang_map(text, "text")
        if (user_ids is None) == (rejections_path is None):
            raise TolokaInputError("Give exactly one of 'user_ids' and 'rejections_path'")
        self.user_ids = user_ids
        self.rejections_path = rejections_path
        self.answerable = answerable

    def _recipients(self) -> dict[str, list[str]]:
        """``{user_id: [reason, ...]}`` in a stable order."""
        if self.user_ids is not None:
            ids = [self.user_ids] if isinstance(self.user_ids, str) else list(self.user_ids)
            if not ids or not all(isinstance(user, str) and user for user in ids):
                raise TolokaInputError(f"'user_ids' must be a non-empty list of user id strings, got {self.user_ids!r}")
            return {user: [] for user in dict.fromkeys(ids)}
        reasons: dict[str, list[str]] = {}
        if not self.rejections_path:
            raise TolokaInputError("Give 'user_ids' or 'rejections_path'")
        for row in iter_jsonl(self.rejections_path, argument="rejections_path"):
            if str(row.get("status", row.get("action"))) not in REJECTED_MARKS or not row.get("user_id"):
                continue
            comment = row.get("public_comment") or row.get("comment")
            found = reasons.setdefault(str(row["user_id"]), [])
            if comment and str(comment) not in found:
                found.append(str(comment))
        return reasons

    def threads(self, identity: RunIdentity) -> list[dict]:
        """The threads to compose: ``{"key", "topic", "text", "recipients_ids"}`` each."""
        groups: dict[tuple, list[str]] = {}
        for user_id, reasons in sorted(self._recipients().items()):
            joined = "; ".join(reasons) or "no reason given"
            text = tuple(sorted((lang, value.replace("{reasons}", joined)) for lang, value in self.text.items()))
            groups.setdefault(text, []).append(user_id)
        threads = []
        for text, users in groups.items():
            for start in range(0, len(users), 100):
                chunk = users[start : start + 100]
                digest = hashlib.sha256(repr((text, chunk, sorted(self.topic.items()))).encode()).hexdigest()
                key = identity.operation_id("message", digest).replace("-", "")[:16]
                topic = {lang: f"{value} ({MESSAGE_KEY_MARK}{key})" for lang, value in self.topic.items()}
                threads.append({"key": key, "topic": topic, "text": dict(text), "recipients_ids": chunk})
        return threads

    @staticmethod
    def _sent_keys(client: Any, keys: set[str]) -> set[str]:
        found: set[str] = set()
        for thread in client.get_message_threads(folder="OUTBOX"):
            topics = " ".join((field(thread, "topic") or {}).values())
            found.update(key for key in keys if f"({MESSAGE_KEY_MARK}{key})" in topics)
            if found == keys:
                break
        return found

    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        threads = self.threads(identity)
        result = {"threads": 0, "recipients": 0, "already_sent": 0}
        if not threads:
            self.log.info("Nobody to message")
            return result
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            sent = self._sent_keys(client, {thread["key"] for thread in threads})
            for thread in threads:
                if thread["key"] in sent:
                    result["already_sent"] += 1
                    continue
                client.compose_message_thread(
                    recipients_select_type="DIRECT", topic=thread["topic"], text=thread["text"],
                    answerable=self.answerable, recipients_ids=thread["recipients_ids"],
                )
                result["threads"] += 1
                result["recipients"] += len(thread["recipients_ids"])
        self.log.info("Sent %d threads to %d workers (%d sent by an earlier try)", result["threads"],
                      result["recipients"], result["already_sent"])
        return result


__all__ = [
    "TolokaCreateBonusesOperator",
    "TolokaRestrictWorkersOperator",
    "TolokaSendMessageOperator",
    "TolokaSetUserSkillsOperator",
    "agreement_by_worker",
    "read_statistics",
]
