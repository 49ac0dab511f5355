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

The rules (who is banned, skill values, which bonuses are still to pay, message threads) are in
``steps/quality.py``. Every operator is safe to retry (a retry never bans, pays or messages twice), checks its
arguments before any request that changes anything (a bad argument is ``TolokaInputError``), and returns a
small XCom. A Toloka refusal a retry cannot change (4xx) is ``TolokaApiFailure``; transient errors pass through
so that Airflow's task retries cover an outage. What a retry and a re-run with changed inputs do is in
``docs/money.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from toloka_provider import lineage, metrics
from toloka_provider.arguments import imported_callable
from toloka_provider.client.errors import TolokaArgumentError, ValidationApiError
from toloka_provider.client.errors import is_transient as may_have_been_applied
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError, toloka_error_mapping
from toloka_provider.files import iter_jsonl
from toloka_provider.links import TolokaPoolLink, TolokaProjectLink
from toloka_provider.operators.base import TolokaBaseOperator
from toloka_provider.run_identity import RunIdentity
from toloka_provider.steps import budget as budgets
from toloka_provider.steps import quality as rules
from toloka_provider.steps.values import field
from toloka_provider.steps.votes import label_key

#: How many entries of a list (banned workers, ...) an XCom carries at most; the counts are always complete.
XCOM_LIST_LIMIT = 100

SCOPES = ("POOL", "PROJECT", "ALL_PROJECTS")


def api_errors(conn_id: str) -> contextlib.AbstractContextManager[None]:
    """Map client errors the way every operator does (``exceptions.toloka_error_mapping``): bad arguments
    fail as input errors, transient ones pass through (Airflow retries), persistent ones fail at once."""
    return toloka_error_mapping(conn_id)


@contextlib.contextmanager
def refused_as_input() -> Iterator[None]:
    """A rule's ``TolokaArgumentError`` (raised while checking arguments) as the operators' ``TolokaInputError``."""
    try:
        yield
    except TolokaArgumentError as error:
        raise TolokaInputError(str(error)) from error


def read_statistics(path: Any, *, argument: str = "statistics_path") -> list[dict]:
    """The per-worker statistics of ``path`` (see the module docstring), checked by ``steps.quality``."""
    if not path:
        raise TolokaInputError(f"Give {argument!r}: a per-worker statistics JSONL file")
    with refused_as_input():
        return rules.statistics_rows(iter_jsonl(path, argument=argument), argument, path)


def _count(value: Any, argument: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TolokaInputError(f"{argument!r} must be an integer >= {minimum}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------------------
# Bans


class TolokaRestrictWorkersOperator(TolokaBaseOperator):
    """Ban workers by a rule over the per-worker statistics (see the module docstring for the file).

    :param statistics_path: the per-worker statistics JSONL (templated).
    :param scope: ``"POOL"`` (needs ``pool_id``), ``"PROJECT"`` (needs ``project_id``) or ``"ALL_PROJECTS"``.
    :param pool_id: the pool of a POOL ban (templated).
    :param project_id: the project of a PROJECT ban (templated).
    :param accuracy_below: ban a worker whose golden accuracy (a fraction in [0, 1]) is below this ...
    :param min_golden: ... once they answered at least this many golden tasks (default 5; fewer says too little).
    :param rule: instead of the threshold, a callable or its dotted path ``"package.module.function"`` called
        with each statistics row; a true result bans the worker (a non-empty string is also the reason).
    :param duration: how long the ban lasts (a timedelta of at most 36,500 days, sets ``will_expire``); None
        bans until lifted.
    :param private_comment: the ban's private comment; the reason is appended.
    :param dry_run: only report whom the rule would ban; send nothing.

    Idempotent: before banning, the worker's bans in that scope are looked up (``find_user_restrictions``). An
    active ban that lasts at least as long as the one asked for counts as ``already_restricted`` (one that ends
    less than a tenth of ``duration``, at most a day, earlier is taken as the same ban: a retry computes its
    end from a later "now"); an active ban that ends earlier still is extended (replaced by the longer one;
    counted in ``extended``). XCom: ``{"scope",
    "dry_run", "banned_count", "already_restricted", "extended", "banned": [{"user_id", "reason"}, ...]}`` (the
    list holds at most 100 entries; ``banned_count`` counts new and extended bans). Pushes the pool or project
    page for the extra link.
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
        with refused_as_input():
            if accuracy_below is not None:
                rules.fraction(accuracy_below, "accuracy_below")
            rules.ban_expiry(duration)
        _count(min_golden, "min_golden", minimum=1)
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
            with refused_as_input():
                return {"pool_id": rules.text_id(str(self.pool_id), "pool_id", "a pool id")}
        if self.scope == "PROJECT":
            if not self.project_id:
                raise TolokaInputError("scope 'PROJECT' needs 'project_id'")
            with refused_as_input():
                return {"project_id": rules.text_id(str(self.project_id), "project_id", "a project id")}
        return {}

    def candidates(self, rows: Sequence[dict]) -> list[tuple[str, str]]:
        """``[(user_id, reason)]`` of the workers the rule bans, in file order."""
        rule = imported_callable(self.rule, "rule") if self.rule is not None else None
        with refused_as_input():
            return rules.ban_candidates(rows, accuracy_below=self.accuracy_below, min_golden=self.min_golden,
                                        rule=rule)

    def execute(self, context: Any) -> dict:
        where = self._scope_filter()
        chosen = self.candidates(read_statistics(self.statistics_path))
        with refused_as_input():
            will_expire = rules.ban_expiry(self.duration)
        result: dict[str, Any] = {"scope": self.scope, "dry_run": bool(self.is_dry_run), "banned_count": 0,
                                  "already_restricted": 0, "extended": 0, "banned": []}
        if self.scope == "POOL":
            self.push_pool_url(context, where["pool_id"])
        elif self.scope == "PROJECT":
            self.push_project_url(context, where["project_id"])
        if self.is_dry_run:
            self.log.info("Dry run: the rule would ban %d workers (%s)", len(chosen), self.scope)
            result["banned_count"] = len(chosen)
            result["banned"] = [{"user_id": u, "reason": r} for u, r in chosen[:XCOM_LIST_LIMIT]]
            return result
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            for user_id, reason in chosen:
                existing = client.find_user_restrictions(scope=self.scope, user_id=user_id, limit=50, **where)
                action = rules.ban_action(list(field(existing, "items") or ()), will_expire, self.duration)
                if action == "keep":
                    result["already_restricted"] += 1
                    continue
                body: dict[str, Any] = {"scope": self.scope, "user_id": user_id,
                                        "private_comment": f"{self.private_comment}: {reason}"[:1000], **where}
                if will_expire:
                    body["will_expire"] = will_expire
                client.set_user_restriction(body)  # an upsert: repeating it after a lost answer is harmless
                result["banned_count"] += 1
                if action == "extend":
                    result["extended"] += 1
                if len(result["banned"]) < XCOM_LIST_LIMIT:
                    result["banned"].append({"user_id": user_id, "reason": reason})
        self.log.info(
            "Banned %d workers (%s; %d of them extended a shorter ban), %d were already banned",
            result["banned_count"], self.scope, result["extended"], result["already_restricted"],
        )
        return result


# --------------------------------------------------------------------------------------------------------------
# Skills


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

    Accuracies are fractions in [0, 1]; a value outside 0..100 is refused, never clamped. Idempotent:
    ``set_user_skill`` is an upsert and the skill is looked up by name before it is created.
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
                seen, accuracy = rules.golden(row)
                scores[row["user_id"]] = (accuracy if accuracy is not None else float("nan"), seen)
        else:
            names = [self.fields] if isinstance(self.fields, str) else list(self.fields) if isinstance(
                self.fields, (list, tuple)) else []
            if not names or not all(isinstance(name, str) and name for name in names):
                raise TolokaInputError(f"source 'agreement' needs 'fields': the output field names, got {self.fields!r}")
            if not self.labels_path or not self.assignments_path:
                raise TolokaInputError("source 'agreement' needs 'labels_path' and 'assignments_path'")
            labels = {}
            for row in iter_jsonl(self.labels_path, argument="labels_path"):
                key = label_key(row.get("output_values") or {}, names)
                if row.get("task_id") is not None and key is not None:
                    labels[str(row["task_id"])] = key
            agreement = rules.agreement_by_worker(
                iter_jsonl(self.assignments_path, argument="assignments_path"), labels, names
            )
            scores = {user: (agree / total, total) for user, (agree, total) in agreement.items()}
        with refused_as_input():
            return rules.skill_values(scores, scale=self.scale, min_answers=self.min_answers)

    def _find_skill(self, client: Any, name: str) -> Any:
        page = client.find_skills(name=name, limit=100)
        matches = [skill for skill in (field(page, "items") or ()) if field(skill, "name") == name]
        return min(matches, key=lambda skill: str(field(skill, "id"))) if matches else None

    def execute(self, context: Any) -> dict:
        with refused_as_input():
            name = rules.text_id(self.skill_name, "skill_name", "a skill name")
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


class TolokaCreateBonusesOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Pay bonuses, from a file or from a rule over the per-worker statistics, at most ``max_total`` in all.

    :param max_total: the spending cap in USD (required): when the bonuses add up to more, the task fails
        before anything is sent.
    :param bonuses_path: a JSONL of ``{"user_id", "amount", "public_title", "public_message",
        "assignment_id"?}`` (title and message: a string or ``{LANG: text}``) (templated) ...
    :param statistics_path: ... or the per-worker statistics, with ``top_n`` and ``amount``: the ``top_n``
        workers by golden accuracy (ties: more golden answers first, then user id) who answered at least
        ``min_golden`` golden tasks and reach ``min_accuracy`` each get ``amount``.
    :param public_title: / :param public_message: for the rule's bonuses (a string or ``{LANG: text}``).
    :param run_budget: the DAG run's budget in USD (or the DAG param ``toloka_run_budget``): what the run has
        spent or committed (``toloka_provider.steps.budget``) plus the bonuses still to pay must fit it, or
        nothing is paid.

    Money is ``Decimal`` throughout. Every bonus of one task instance carries the same ``private_comment``
    (``airflow bonus <dag>/<run>/<task>``), so each try first reads back what the task instance already paid
    and pays exactly the difference: a retry or a re-run with a grown file pays only the bonuses not yet paid;
    a changed bonus (same user and assignment, other amount, title or message) is refused naming what changed;
    bonuses paid earlier and no longer asked for are reported in ``not_in_inputs`` (Toloka cannot take a bonus
    back). Before paying, the requester's balance must cover what is to pay, or nothing is paid. The payment is
    one bulk create in async mode under an ``operation_id`` derived from the run identity and the inputs, so a
    retry while it runs resumes it. A bonus Toloka refuses (an unknown user, ...) fails the task, naming the
    user; nothing of that batch is paid.

    XCom, read back from Toloka after paying: ``{"operation_id", "count", "total", "created", "already_paid",
    "not_in_inputs", "paid_count", "paid_total", "failed", "errors_sample"}``: ``count``/``total`` are the
    bonuses asked for, ``created`` those this try paid, ``paid_count``/``paid_total`` everything this task
    instance has paid in all (amounts as strings).
    """

    lineage_kind = lineage.BONUSES

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
        run_budget: Decimal | str | int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            self.run_budget = budgets.budget_from(run_budget, None)
        except ValueError as error:
            raise TolokaInputError(str(error)) from None
        with refused_as_input():
            self.max_total = rules.money(max_total, "max_total")
            if self.max_total < 0:
                raise TolokaInputError(f"'max_total' must not be negative, got {max_total!r}")
            if (bonuses_path is None) == (statistics_path is None):
                raise TolokaInputError(
                    "Give exactly one of 'bonuses_path' and 'statistics_path' (with 'top_n', 'amount')"
                )
            if statistics_path is not None:
                if top_n is None or amount is None:
                    raise TolokaInputError("'statistics_path' needs 'top_n' and 'amount'")
                _count(top_n, "top_n", minimum=1)
                self.amount: Decimal | None = rules.bonus_amount(rules.money(amount, "amount"), "amount")
            else:
                self.amount = None
            _count(min_golden, "min_golden")
            rules.fraction(min_accuracy, "min_accuracy")
            self.public_title = rules.lang_map(public_title, "public_title")
            self.public_message = rules.lang_map(public_message, "public_message")
        self.bonuses_path = bonuses_path
        self.statistics_path = statistics_path
        self.top_n = top_n
        self.min_golden = min_golden
        self.min_accuracy = min_accuracy

    @property
    def _argument(self) -> str:
        return "bonuses_path" if self.bonuses_path is not None else "statistics_path"

    def bonuses(self, identity: RunIdentity) -> list[dict]:
        """The bonus bodies asked for (checked, before any request)."""
        comment = rules.bonus_tag(identity.dag_id, identity.run_id, identity.task_id, identity.map_index)
        items = []
        with refused_as_input():
            if self.bonuses_path is not None:
                for number, row in enumerate(iter_jsonl(self.bonuses_path, argument="bonuses_path"), start=1):
                    where = f"bonuses_path object {number}"
                    user_id = row.get("user_id")
                    if not isinstance(user_id, str) or not user_id:
                        raise TolokaInputError(f"{where} has no 'user_id' string")
                    rules.text_id(user_id, f"{where} user_id")
                    if "amount" not in row:
                        raise TolokaInputError(f"{where} has no 'amount'")
                    item = {
                        "user_id": user_id,
                        "amount": rules.bonus_amount(rules.money(row["amount"], f"{where} amount"), where),
                        "public_title": rules.lang_map(row.get("public_title", self.public_title),
                                                       f"{where} public_title"),
                        "public_message": rules.lang_map(row.get("public_message", self.public_message),
                                                         f"{where} public_message"),
                        "private_comment": comment,
                        "without_message": False,
                    }
                    if row.get("assignment_id"):
                        item["assignment_id"] = rules.text_id(str(row["assignment_id"]), f"{where} assignment_id",
                                                              "an assignment id")
                    items.append(item)
            else:
                ranked = []
                for row in read_statistics(self.statistics_path):
                    seen, accuracy = rules.golden(row)
                    if accuracy is not None and seen >= self.min_golden and accuracy >= self.min_accuracy:
                        ranked.append((-accuracy, -seen, row["user_id"]))
                for _, _, user_id in sorted(ranked)[: self.top_n]:
                    items.append({"user_id": user_id, "amount": self.amount, "public_title": self.public_title,
                                  "public_message": self.public_message, "private_comment": comment,
                                  "without_message": False})
            rules.refuse_repeated_bonuses(items, self._argument)
        return items

    def _paid(self, client: Any, comment: str) -> list[Any]:
        # Filtered here as well: the API documents the private_comment filter only through toloka-kit.
        return [b for b in client.get_user_bonuses(private_comment=comment) if field(b, "private_comment") == comment]

    def _check_balance(self, client: Any, plan: rules.BonusPlan) -> None:
        balance = field(client.get_requester(), "balance")
        balance = Decimal(str(balance if balance is not None else 0))
        if plan.total_to_pay > balance:
            raise TolokaInputError(
                f"Argument {self._argument!r}: the {len(plan.to_pay)} bonuses to pay add up to {plan.total_to_pay} "
                f"USD, more than the requester's balance {balance} USD; nothing was paid"
            )

    def _draw_on_run_budget(self, client: Any, identity: RunIdentity, plan: rules.BonusPlan, context: Any) -> None:
        """With a run budget (argument or DAG param): what the run spent or committed + these bonuses must fit."""
        try:
            cap = budgets.budget_from(self.run_budget, context.get("params"))
            if cap is not None:
                budgets.draw(client, identity.dag_id, identity.run_id, cap, plan.total_to_pay,
                             f"paying {len(plan.to_pay)} bonuses")
        except budgets.RunBudgetExceeded as error:
            raise TolokaInputError(f"{error} Nothing was paid.") from None
        except ValueError as error:
            raise TolokaInputError(str(error)) from None

    def _refused(self, error: ValidationApiError, batch: Sequence[Mapping[str, Any]]) -> TolokaApiFailure:
        payload = error.payload if isinstance(error.payload, Mapping) else {}
        named = []
        for key, problem in list(payload.items())[:5]:
            user = batch[int(key)]["user_id"] if str(key).isdigit() and int(key) < len(batch) else key
            named.append(f"user {user}: {problem}")
        detail = "; ".join(named) or str(error)
        return TolokaApiFailure(
            f"Argument {self._argument!r}: Toloka refused {len(payload) or 'some'} of the {len(batch)} bonuses to "
            f"pay, and paid none of them (not retried): {detail}", error,
        )

    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        items = self.bonuses(identity)
        total = sum((item["amount"] for item in items), Decimal("0"))
        if total > self.max_total:
            raise TolokaInputError(
                f"The {len(items)} bonuses add up to {total} USD, more than max_total {self.max_total} USD; "
                f"nothing was sent"
            )
        comment = rules.bonus_tag(identity.dag_id, identity.run_id, identity.task_id, identity.map_index)
        fingerprint = hashlib.sha256(
            repr(sorted((rules.bonus_identity(item), rules.bonus_content(item)) for item in items)).encode()
        ).hexdigest()
        result: dict[str, Any] = {"operation_id": None, "count": len(items), "total": str(total), "created": 0,
                                  "already_paid": 0, "not_in_inputs": 0, "paid_count": 0, "paid_total": "0",
                                  "failed": 0, "errors_sample": {}}
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            plan = rules.plan_bonuses(items, self._paid(client, comment), self._argument)
            result["already_paid"] = len(plan.already_paid)
            result["not_in_inputs"] = len(plan.not_in_inputs)
            if plan.to_pay:
                self._draw_on_run_budget(client, identity, plan, context)
                self._check_balance(client, plan)
                operation_id = identity.operation_id("user_bonuses", fingerprint)
                result["operation_id"] = operation_id
                try:
                    created = client.create_user_bonuses(plan.to_pay, async_mode=True, operation_id=operation_id)
                except ValidationApiError as error:
                    raise self._refused(error, plan.to_pay) from error
                errors = dict(field(created, "validation_errors") or {})
                result["created"] = len(field(created, "items") or {})
                result["failed"] = len(errors)
                result["errors_sample"] = {key: errors[key] for key in list(errors)[:5]}
            paid = self._paid(client, comment) if plan.to_pay else [*plan.already_paid, *plan.not_in_inputs]
        result["paid_count"] = len(paid)
        paid_total = sum((Decimal(str(field(bonus, "amount"))) for bonus in paid), Decimal("0"))
        result["paid_total"] = str(paid_total.quantize(Decimal("0.01")) if paid else paid_total)
        if plan.not_in_inputs:
            self.log.warning(
                "%d bonuses paid by an earlier try of this task are no longer in the inputs; Toloka cannot take "
                "them back: %s", len(plan.not_in_inputs),
                ", ".join(f"{field(b, 'user_id')} {field(b, 'amount')} USD" for b in plan.not_in_inputs[:10]),
            )
        paid_before = sum(
            (Decimal(str(field(bonus, "amount"))) for bonus in [*plan.already_paid, *plan.not_in_inputs]), Decimal("0")
        )
        metrics.money_spent(paid_total - paid_before, what="bonuses")  # read back from Toloka, not the inputs
        self._lineage_result = result
        self.log.info(
            "Bonuses: %d paid now, %d paid by an earlier try; this task has paid %d bonuses, %s USD in all",
            result["created"], result["already_paid"], result["paid_count"], result["paid_total"],
        )
        return result


# --------------------------------------------------------------------------------------------------------------
# Messages


class TolokaSendMessageOperator(TolokaBaseOperator):
    """Message workers directly: a list of user ids, or the workers whose work was rejected, with the reason.

    :param topic: the thread topic (a string or ``{LANG: text}``; not blank).
    :param text: the message (a string or ``{LANG: text}``; not blank); ``{reasons}`` in it is replaced by the
        worker's distinct rejection comments joined by ``"; "`` (only with ``rejections_path``).
    :param user_ids: the recipients: a list of user ids (templated; a dict, a blank id, ``"None"`` or a list
        rendered as a string are refused) ...
    :param rejections_path: ... or a JSONL of decisions or assignments: lines whose ``status`` or ``action`` is
        REJECTED/REJECT, each with ``user_id`` and optionally ``public_comment`` (or ``comment``) (templated).
    :param answerable: whether workers may reply.

    Workers with the same text share a thread (at most 100 recipients each). Each thread's topic ends with
    ``(ref <key>)``, a key that starts with one derived from the run identity; before sending, the requester's
    OUTBOX is read (``get_message_threads``) and a worker whom a thread of this task instance already reached
    is not messaged again: a retry sends nothing twice, a re-run with more recipients messages only the new
    ones (``already_sent`` counts the earlier threads that reached some of the recipients). A thread Toloka refuses (an unknown user, ...) fails the task, naming the
    recipients. XCom: ``{"threads", "recipients", "already_sent"}``.
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
        with refused_as_input():
            self.topic = rules.lang_map(topic, "topic")
            self.text = rules.lang_map(text, "text")
        if (user_ids is None) == (rejections_path is None):
            raise TolokaInputError("Give exactly one of 'user_ids' and 'rejections_path'")
        self.user_ids = user_ids
        self.rejections_path = rejections_path
        self.answerable = answerable

    def _recipients(self) -> dict[str, list[str]]:
        """``{user_id: [reason, ...]}`` in a stable order."""
        with refused_as_input():
            if self.user_ids is not None:
                return {user: [] for user in rules.user_ids(self.user_ids, "user_ids")}
            if not self.rejections_path:
                raise TolokaInputError("Give 'user_ids' or 'rejections_path'")
            return rules.rejection_reasons(iter_jsonl(self.rejections_path, argument="rejections_path"),
                                           "rejections_path")

    @staticmethod
    def run_key(identity: RunIdentity) -> str:
        """The key every thread of this task instance carries in its topic."""
        return identity.operation_id("message").replace("-", "")[:16]

    def threads(self, identity: RunIdentity, recipients: Mapping[str, list[str]] | None = None) -> list[dict]:
        """The threads to compose: ``{"key", "topic", "text", "recipients_ids"}`` each."""
        recipients = self._recipients() if recipients is None else recipients
        return rules.message_threads(recipients, self.topic, self.text, self.run_key(identity))

    def execute(self, context: Any) -> dict:
        identity = RunIdentity.from_context(context)
        recipients = self._recipients()
        result = {"threads": 0, "recipients": 0, "already_sent": 0}
        if not recipients:
            self.log.info("Nobody to message")
            return result
        with api_errors(self.toloka_conn_id):
            client = self.hook.get_conn()
            earlier = rules.earlier_recipients(client.get_message_threads(folder="OUTBOX"), self.run_key(identity))
            messaged = set().union(*earlier)
            result["already_sent"] = sum(1 for users in earlier if users & recipients.keys())
            pending = {user: reasons for user, reasons in recipients.items() if user not in messaged}
            for thread in self.threads(identity, pending):
                try:
                    client.compose_message_thread(
                        recipients_select_type="DIRECT", topic=thread["topic"], text=thread["text"],
                        answerable=self.answerable, recipients_ids=thread["recipients_ids"],
                    )
                except ValidationApiError as error:
                    raise TolokaApiFailure(
                        f"Toloka refused the message to {', '.join(thread['recipients_ids'][:10])} "
                        f"(not retried; {result['threads']} earlier threads were sent): {error}", error,
                    ) from error
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
    "read_statistics",
]
