"""TolokaOpenPoolOperator's wait: checked once before deferring, inputs checked before opening, timeout=0.

The fake client of ``test_op_fakes`` stands in for Toloka; the pool's state changes where a crowd would.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from test_op_fakes import install, make_context

from toloka_provider.links import POOL_URL_XCOM_KEY
from toloka_provider.operators.pool import TolokaOpenPoolOperator


def _open_pool_operator(**kwargs):
    kwargs.setdefault("wait_for_completion", True)
    kwargs.setdefault("deferrable", True)
    return TolokaOpenPoolOperator(task_id="task", pool_id="1", **kwargs)


def _crowd_finishes_at_once(fake, reason):
    """Opening the pool makes the crowd do all the work before the operator's first look."""
    original = fake.open_pool

    def open_pool(pool_id):
        result = original(pool_id)
        fake.pools[pool_id].status, fake.pools[pool_id].last_close_reason = "CLOSED", reason
        return result

    fake.open_pool = open_pool


# -- issue 12: a deferrable wait looks once before deferring ---------------------------------------------


def test_deferrable_wait_does_not_defer_when_the_pool_already_closed_with_success(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    _crowd_finishes_at_once(fake, "COMPLETED")
    context = make_context()
    assert _open_pool_operator(timeout=100).execute(context) == "CLOSED"  # no TaskDeferred
    assert context["ti"].xcom[POOL_URL_XCOM_KEY] == "https://ui//1"


def test_deferrable_wait_fails_at_once_when_the_pool_already_closed_for_a_failure_reason(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    _crowd_finishes_at_once(fake, "NOT_ENOUGH_BALANCE")
    with pytest.raises(AirflowFailException, match="pool 1 closed with reason NOT_ENOUGH_BALANCE"):
        _open_pool_operator().execute(make_context())


def test_deferrable_wait_defers_when_the_pool_is_still_open(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    with pytest.raises(TaskDeferred):
        _open_pool_operator(timeout=100).execute(make_context())
    assert fake.names()[-1] == "get_pool"  # looked once (after opening), then deferred
