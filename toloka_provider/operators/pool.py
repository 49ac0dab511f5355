"""Operators for Toloka pools: create once per task instance, open (and optionally wait), close, archive."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from toloka_provider import lineage, metrics
from toloka_provider import waiting as waits
from toloka_provider.arguments import load_json_config
from toloka_provider.client.errors import TolokaArgumentError, TolokaError
from toloka_provider.exceptions import TolokaInputError, toloka_error_mapping
from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators.base import TolokaBaseOperator, default_deferrable, maps_toloka_errors
from toloka_provider.operators.status import PoolStatusOperator, change_status
from toloka_provider.run_identity import RunIdentity, tag_metadata
from toloka_provider.steps import budget, spend
from toloka_provider.steps.find_or_create import find_or_create_tagged
from toloka_provider.triggers.pool import TolokaPoolTrigger


class TolokaCreatePoolOperator(TolokaBaseOperator):
    """Create a pool and return its id.

    :param pool_config: the pool config: a dict, a JSON string, or a path/URL of a JSON file (templated).
        (Not ``pool``: that argument of every operator names the Airflow pool the task runs in.)
    :param project_id: sets ``project_id`` in the config (templated).
    :param training_id: sets ``quality_control.training_requirement.training_pool_id`` (templated). The config
        must already have ``quality_control.training_requirement`` (it says which training score passes).
    :param expires_in: sets ``will_expire`` to now (UTC) + this delta.

    Idempotent: tagged ``metadata``; a retry returns the pool its earlier try created (searched among the
    project's pools). Pushes the pool page for the "Toloka pool" extra link. XCom: the pool id (str).
    """

    template_fields = ("pool_config", "project_id", "training_id", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#d8f0ff"

    def __init__(
        self,
        *,
        pool_config: dict | str,
        project_id: str | None = None,
        training_id: str | None = None,
        expires_in: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if expires_in is not None and not isinstance(expires_in, timedelta):
            raise TolokaInputError(f"'expires_in' must be a datetime.timedelta, got {type(expires_in).__name__}")
        self.pool_config = pool_config
        self.project_id = project_id
        self.training_id = training_id
        self.expires_in = expires_in

    def build_config(self, identity: RunIdentity) -> dict:
        config = tag_metadata(load_json_config(self.pool_config, argument="pool_config"), identity)
        if self.project_id:
            config["project_id"] = str(self.project_id)
        if not config.get("project_id"):
            raise TolokaInputError("Give 'project_id', or set 'project_id' in the 'pool_config'")
        if self.training_id:
            requirement = (config.get("quality_control") or {}).get("training_requirement")
            if not isinstance(requirement, dict):
                raise TolokaInputError(
                    "'training_id' was given but 'pool_config' has no quality_control.training_requirement; "
                    'add e.g. {"quality_control": {"training_requirement": {"training_passing_skill_value": 70}}}'
                )
            requirement["training_pool_id"] = str(self.training_id)
        if self.expires_in is not None:
            will_expire = datetime.now(timezone.utc) + self.expires_in
            config["will_expire"] = will_expire.replace(tzinfo=None).isoformat(timespec="seconds")
        return config

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        identity = RunIdentity.from_context(context)
        config = self.build_config(identity)
        client = self.hook.get_conn()
        pool = find_or_create_tagged(
            kind="pool",
            is_ours=identity.is_tagged,
            candidates=lambda: client.get_pools(project_id=config["project_id"]),
            create=lambda: client.create_pool(config),
            argument="pool_config",
            log=self.log,
        )
        pool_id = str(pool.id)
        self.push_pool_url(context, pool_id)
        return pool_id


class TolokaOpenPoolOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Open a pool (opening an open pool is fine) and optionally wait until it closes.

    :param pool_id: the pool (templated).
    :param wait_for_completion: wait until the pool closes for one of ``success_reasons``. It fails at once
        when the pool is archived or closes for NOT_ENOUGH_BALANCE, BLOCKED or ASSIGNMENTS_LIMIT_EXCEEDED,
        or for any other reason not in ``success_reasons``; CLOSED/FOR_UPDATE keeps waiting (the same check
        as ``TolokaPoolSensor``: ``toloka_provider.waiting.PoolWait``).
    :param success_reasons: close reasons that mean success (default COMPLETED; add MANUAL or EXPIRED to
        accept them); checked before the pool is opened.
    :param deferrable: wait in the triggerer (``TolokaPoolTrigger``) instead of a worker slot; defaults to
        ``[operators] default_deferrable``. The pool is looked at once first: no deferral when it is done.
    :param poll_interval: seconds between checks, at least 0.1 (``waits.MIN_POLL_INTERVAL``).
    :param timeout: seconds to wait at most (None: no limit; 0: look once, and fail with a timeout if the
        pool is not closed yet, in both modes).
    :param max_consecutive_errors: transient API errors tolerated in a row while waiting.
    :param max_spend: a cap in USD (Decimal, str, int or float): before opening, the pool's remaining work is
        estimated (``toloka_provider.steps.spend``) and, above the cap, the task fails with nothing opened.
        With ``wait_for_completion``, the wait also watches the pool's spend (``waits.PoolWait``) and closes
        the pool, failing with what was spent, when this opening's spend reaches the cap.
    :param run_budget: the DAG run's budget in USD (or the DAG param ``toloka_run_budget``): before opening, what
        the run has spent or committed (read from Toloka: ``toloka_provider.steps.budget``) plus this pool's
        estimate must fit it, or the task fails with nothing opened. The pool joins the run's ledger.
    :param fee_rate: Toloka's fee as a fraction of the rewards (``"0.3"`` for 30%) in the estimate (default 0,
        as the local emulator charges).

    XCom: the pool status after the operator: ``"OPEN"``, or ``"CLOSED"`` when it waited.
    """

    lineage_kind = lineage.OPEN

    template_fields = ("pool_id", "success_reasons", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#e8f7e4"

    def __init__(
        self,
        *,
        pool_id: str,
        wait_for_completion: bool = False,
        success_reasons: Sequence[str] = ("COMPLETED",),
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        timeout: float | None = None,
        max_consecutive_errors: int = waits.DEFAULT_MAX_CONSECUTIVE_ERRORS,
        max_spend: Decimal | str | int | float | None = None,
        fee_rate: Decimal | str | int | float = 0,
        run_budget: Decimal | str | int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_spend, self.fee_rate = spend_arguments(max_spend, fee_rate)
        self.run_budget = budget_argument(run_budget)
        self.pool_id = pool_id
        self.wait_for_completion = wait_for_completion
        self.success_reasons = success_reasons
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        try:
            self.poll_interval = waits.check_poll_interval(poll_interval)
            self.timeout = waits.check_timeout(timeout)
            self.max_consecutive_errors = waits.check_error_budget(max_consecutive_errors)
        except TolokaArgumentError as error:
            raise TolokaInputError(str(error)) from error

    # Injectable for tests: the non-deferrable wait sleeps and reads the clock through these.
    _sleep = staticmethod(time.sleep)
    _clock = staticmethod(time.monotonic)

    def _pool_wait(self, pool_id: str, max_spend: Decimal | None = None) -> waits.PoolWait:
        try:
            reasons = waits.check_success_reasons(self.success_reasons, f"Toloka pool {pool_id}")
            return waits.PoolWait(pool_id, reasons, max_spend=max_spend)
        except TolokaArgumentError as error:
            raise TolokaInputError(str(error)) from error

    def _wait_cap(self, pool_id: str) -> Decimal | None:
        """The wait's cap on the pool's total spend: what it cost before this opening + ``max_spend``."""
        if self.max_spend is None or not self.wait_for_completion:
            return None
        client = self.hook.get_conn()
        with toloka_error_mapping(self.toloka_conn_id, what=f"Toloka pool {pool_id}", argument="pool_id"):
            pool = client.get_pool(pool_id)
            before = client.run_plan(waits.pool_spend(client.new_retry_policy, pool_id, pool.reward_per_assignment))
        if before.total:
            self.log.info("Pool %s cost %s USD before this opening; the wait's cap is that + max_spend", pool_id, before.total)
        return before.total + self.max_spend

    @maps_toloka_errors  # explicit: a refusal that a retry cannot change fails at once
    def execute(self, context: Any) -> str:
        pool_id = str(self.pool_id)
        # Every argument is known good before anything is sent.
        wait = self._pool_wait(pool_id) if self.wait_for_completion else None
        self.push_pool_url(context, pool_id)
        self.check_spend(pool_id, context)
        draw_on_run_budget(self, context, pool_id)
        cap = self._wait_cap(pool_id)
        if cap is not None:
            wait = self._pool_wait(pool_id, cap)
        with toloka_error_mapping(self.toloka_conn_id, what=f"Toloka pool {pool_id}", argument="pool_id"):
            status = change_status(self, "pool", "open", pool_id)
        if wait is None:
            return status
        client = self.hook.get_conn()
        started = self._clock()
        if self.deferrable:
            # Look once first: a crowd that finished already (or a pool closed for lack of money) is known
            # now, without a round trip through the triggerer.
            outcome = waits.check(client, wait)
            if outcome.state == waits.WAITING and self.timeout == 0:
                outcome = waits.Outcome(waits.TIMEOUT, f"{outcome.message}.{wait.left_running}", outcome.details)
            finished = self._finish(wait, outcome)
            if finished is not None:
                return finished
            policy = waits.PollPolicy(
                interval=self.poll_interval,
                deadline=None if self.timeout is None else time.time() + self.timeout,
                max_consecutive_errors=self.max_consecutive_errors,
            )
            self.defer(
                trigger=TolokaPoolTrigger(**wait.kwargs(), toloka_conn_id=self.toloka_conn_id, policy=policy.to_dict()),
                method_name="execute_complete",
            )
        policy = waits.PollPolicy(
            interval=self.poll_interval,
            deadline=None if self.timeout is None else started + self.timeout,
            max_consecutive_errors=self.max_consecutive_errors,
        )
        outcome = waits.wait_for(client, wait, policy, sleep=self._sleep, clock=self._clock, logger=self.log)
        metrics.wait_finished("pool", self._clock() - started, outcome=str(outcome.state), pool_id=pool_id)
        return self._finish(wait, outcome) or "CLOSED"

    def _finish(self, wait: waits.PoolWait, outcome: waits.Outcome) -> str | None:
        """The XCom for a finished wait; raises for a failed one; None while it is not finished."""
        if outcome.state == waits.SUCCESS:
            self.log.info("%s", outcome.message)
            return str(outcome.details["pool_status"])
        if outcome.state == waits.FAILURE:
            raise AirflowFailException(outcome.message)
        if outcome.state == waits.TIMEOUT:
            raise AirflowException(
                f"Pool {wait.pool_id} is still {outcome.details.get('pool_status')} after waiting "
                f"{self._timeout_text()} (the timeout): {outcome.message}"
            )
        if outcome.state == waits.GAVE_UP:
            raise AirflowException(outcome.message) from outcome.error
        return None

    def _timeout_text(self) -> str:
        return "without a limit" if self.timeout is None else f"{self.timeout:g} s"

    @maps_toloka_errors
    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        status = event.get("status")
        message = f"Waiting for pool {self.pool_id} ended with {status}: {event.get('message')}"
        if status == "timeout":
            raise AirflowException(f"{message} (the timeout was {self._timeout_text()})")
        if status == "failure" or (status == "error" and not event.get("retryable")):
            raise AirflowFailException(message)
        if status != "success":
            raise AirflowException(message)
        self.log.info("Pool %s closed: %s", self.pool_id, event.get("close_reason"))
        return str(event.get("pool_status") or "CLOSED")

    def check_spend(self, pool_id: str, context: Any = None) -> None:
        """With ``max_spend``: estimate the pool's cost and refuse, before opening, above the cap.

        The estimate within the cap goes to XCom under the key ``spend_estimate`` (amounts as strings).
        """
        self._spend_estimate = check_spend_cap(self, pool_id)
        if self._spend_estimate is not None and context is not None:
            context["ti"].xcom_push(
                key="spend_estimate", value={**self._spend_estimate.to_json_dict(), "max_spend": str(self.max_spend)}
            )


def spend_arguments(max_spend: Any, fee_rate: Any) -> tuple[Decimal | None, Decimal]:
    """``max_spend`` (None: no cap) and ``fee_rate`` as Decimals, or TolokaInputError naming the argument."""
    try:
        cap = None if max_spend is None else spend.money(max_spend, "max_spend")
        return cap, spend.money(fee_rate, "fee_rate")
    except ValueError as error:
        raise TolokaInputError(str(error)) from None


def budget_argument(run_budget: Any) -> Decimal | None:
    """``run_budget`` as a Decimal (None: the DAG param, if any, decides), or TolokaInputError naming it."""
    try:
        return None if run_budget is None else spend.money(run_budget, "run_budget")
    except ValueError as error:
        raise TolokaInputError(str(error)) from None


def draw_on_run_budget(operator: Any, context: Any, pool_id: str) -> None:
    """With a run budget: refuse to open ``pool_id`` when the run's commitment + its estimate is over it; else
    put the pool in the run's ledger (its metadata) before it spends. The figures go to XCom ``run_budget``."""
    try:
        cap = budget.budget_from(operator.run_budget, context.get("params"))
    except ValueError as error:
        raise TolokaInputError(str(error)) from None
    if cap is None:
        return
    identity = RunIdentity.from_context(context)
    client = operator.hook.get_conn()
    with toloka_error_mapping(operator.toloka_conn_id, what=f"Toloka pool {pool_id}", argument="pool_id"):
        pool = client.get_pool(pool_id)
        in_run = budget.pool_in_run(pool.to_json_dict().get("metadata"), identity.dag_id, identity.run_id)
        if waits.plain(pool.status) == "OPEN" and not in_run:
            raise AirflowFailException(
                f"Argument 'run_budget': pool {pool_id} is open already and not in this DAG run's ledger, so its "
                f"spend cannot be counted; close it, or create it in this run"
            )
        try:
            estimate = getattr(operator, "_spend_estimate", None) or spend.estimate_pool_cost(
                client, pool_id, fee_rate=operator.fee_rate
            )
            commitment = budget.draw(
                client, identity.dag_id, identity.run_id, cap, estimate.total, f"opening pool {pool_id}",
                skip_remaining=[pool_id], fee_rate=operator.fee_rate,
            )
        except budget.RunBudgetExceeded as error:
            raise AirflowFailException(str(error)) from None
        except TolokaError:
            raise
        except ValueError as error:
            raise AirflowFailException(f"Argument 'run_budget': {error}") from None
        if waits.plain(pool.status) != "OPEN":
            budget.tag_pool_for_run(client, pool, identity.dag_id, identity.run_id)
    operator.log.info(
        "Run budget %s USD: committed %s USD (%s) + pool %s estimate %s USD",
        cap, commitment.total, commitment.explain(), pool_id, estimate.total,
    )
    context["ti"].xcom_push(
        key="run_budget",
        value={"budget": str(cap), "committed": str(commitment.total), "draw": str(estimate.total),
               "commitment": commitment.to_json_dict()},
    )


def check_spend_cap(operator: Any, pool_id: str) -> spend.SpendEstimate | None:
    """Estimate ``pool_id``'s cost when ``operator.max_spend`` is set; fail at once above the cap."""
    if operator.max_spend is None:
        return None
    try:
        estimate = spend.estimate_pool_cost(operator.hook.get_conn(), pool_id, fee_rate=operator.fee_rate)
    except TolokaError:
        raise  # the client's errors (a missing pool, an argument) keep their own mapping
    except ValueError as error:
        raise AirflowFailException(f"Argument 'max_spend': {error}") from None
    refused = estimate.total > operator.max_spend
    metrics.spend_estimated(estimate.total, cap=operator.max_spend, pool_id=pool_id, refused=refused)
    try:
        spend.check_cap(estimate, operator.max_spend)
    except spend.SpendCapExceeded as error:
        raise AirflowFailException(str(error)) from None
    operator.log.info("Pool %s: estimated cost within max_spend=%s USD: %s", pool_id, operator.max_spend, estimate.explain())
    return estimate


class TolokaClosePoolOperator(PoolStatusOperator):
    """Close a pool; closing a closed (or archived) pool is fine. XCom: the new status."""

    action = "close"
    operator_extra_links = (TolokaPoolLink(),)


class TolokaArchivePoolOperator(PoolStatusOperator):
    """Archive a closed pool; archiving an archived pool is fine. XCom: the new status (``"ARCHIVED"``)."""

    action = "archive"
    operator_extra_links = (TolokaPoolLink(),)
