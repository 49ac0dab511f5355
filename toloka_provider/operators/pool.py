"""Operators for Toloka pools: create once per task instance, open (and optionally wait), close, archive."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowException

from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators.base import (
    TolokaBaseOperator,
    TolokaInputError,
    default_deferrable,
    maps_toloka_errors,
)
from toloka_provider.operators.identity import RunIdentity, tag_metadata
from toloka_provider.operators.inputs import load_json_config
from toloka_provider.operators.status import PoolStatusOperator, change_status
from toloka_provider.steps.find_or_create import find_or_create_tagged
from toloka_provider.steps.values import enum_value
from toloka_provider.triggers.outcomes import FAILURE, SUCCESS, pool_outcome
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


class TolokaOpenPoolOperator(TolokaBaseOperator):
    """Open a pool (opening an open pool is fine) and optionally wait until it closes.

    :param pool_id: the pool (templated).
    :param wait_for_completion: wait until the pool closes for one of ``success_reasons``. It fails at once
        when the pool is archived or closes for NOT_ENOUGH_BALANCE, BLOCKED or ASSIGNMENTS_LIMIT_EXCEEDED,
        or for any other reason not in ``success_reasons``; CLOSED/FOR_UPDATE keeps waiting (the same rules
        as ``TolokaPoolSensor``: ``toloka_provider.triggers.outcomes.pool_outcome``).
    :param success_reasons: close reasons that mean success (default COMPLETED; add MANUAL or EXPIRED to accept them).
    :param deferrable: wait in the triggerer (``TolokaPoolTrigger``) instead of a worker slot;
        defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between checks.
    :param timeout: seconds to wait at most (None: no limit).

    XCom: the pool status after the operator: ``"OPEN"``, or ``"CLOSED"`` when it waited.
    """

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_id = pool_id
        self.wait_for_completion = wait_for_completion
        self.success_reasons = success_reasons
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout

    # Injectable for tests: the non-deferrable wait sleeps through these.
    _sleep = staticmethod(time.sleep)
    _clock = staticmethod(time.monotonic)

    @maps_toloka_errors
    def execute(self, context: Any) -> str:
        pool_id = str(self.pool_id)
        self.push_pool_url(context, pool_id)
        status = change_status(self, "pool", "open", pool_id)
        if not self.wait_for_completion:
            return status
        if self.deferrable:
            self.defer(
                trigger=TolokaPoolTrigger(
                    pool_id=pool_id,
                    toloka_conn_id=self.toloka_conn_id,
                    success_reasons=tuple(self.success_reasons),
                    kind="pool",
                    poll_interval=self.poll_interval,
                    deadline=time.time() + self.timeout if self.timeout else None,
                ),
                method_name="execute_complete",
            )
        return self._wait(pool_id)

    def _wait(self, pool_id: str) -> str:
        client = self.hook.get_conn()
        started = self._clock()
        while True:
            pool = client.get_pool(pool_id)
            # The same rules as the sensor and the trigger, so all waiting paths agree.
            outcome = pool_outcome(pool_id, pool.status, pool.last_close_reason, self.success_reasons)
            if outcome.state == SUCCESS:
                self.log.info("%s", outcome.message)
                return enum_value(pool.status)
            if outcome.state == FAILURE:
                raise AirflowException(outcome.message)
            if self.timeout is not None and self._clock() - started >= self.timeout:
                raise AirflowException(
                    f"Pool {pool_id} is still {enum_value(pool.status)} after waiting {self.timeout} s"
                )
            self._sleep(self.poll_interval)

    @maps_toloka_errors
    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        if event.get("status") != "success":
            raise AirflowException(
                f"Waiting for pool {self.pool_id} ended with {event.get('status')}: {event.get('message')}"
            )
        self.log.info("Pool %s closed: %s", self.pool_id, event.get("close_reason"))
        return str(event.get("pool_status") or "CLOSED")


class TolokaClosePoolOperator(PoolStatusOperator):
    """Close a pool; closing a closed (or archived) pool is fine. XCom: the new status."""

    action = "close"
    operator_extra_links = (TolokaPoolLink(),)


class TolokaArchivePoolOperator(PoolStatusOperator):
    """Archive a closed pool; archiving an archived pool is fine. XCom: the new status (``"ARCHIVED"``)."""

    action = "archive"
    operator_extra_links = (TolokaPoolLink(),)
