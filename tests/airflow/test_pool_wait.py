"""TolokaOpenPoolOperator's wait: checked once before deferring, inputs checked before opening, timeout=0.

The fake client of ``test_op_fakes`` stands in for Toloka; the pool's state changes where a crowd would.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from test_op_fakes import install, make_context

from toloka_provider.exceptions import TolokaInputError
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


# -- issue 10: every argument checked before the pool is opened ---------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        (
            {"poll_interval": 0},
            "poll_interval must be a number >= 0.1 (seconds; 0 would poll in a busy loop), got 0",
        ),
        ({"poll_interval": -5}, "poll_interval must be a number >= 0.1"),
        ({"poll_interval": float("nan")}, "poll_interval must be a number >= 0.1"),
        ({"poll_interval": "30"}, "poll_interval must be a number >= 0.1"),
        ({"timeout": -1}, "timeout must be a number >= 0 (seconds), got -1"),
        ({"timeout": float("inf")}, "timeout must be a number >= 0"),
        ({"max_consecutive_errors": -1}, "max_consecutive_errors must be an integer >= 0, got -1"),
    ],
)
def test_bad_wait_arguments_fail_at_construction_with_tolokainputerror(kwargs, says):
    with pytest.raises(TolokaInputError) as raised:
        _open_pool_operator(**kwargs)
    assert type(raised.value) is TolokaInputError and says in str(raised.value)


@pytest.mark.parametrize("deferrable", [True, False])
def test_a_misspelt_success_reason_fails_before_the_pool_is_opened(monkeypatch, deferrable):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = _open_pool_operator(success_reasons=["COMPLETE"], deferrable=deferrable)
    with pytest.raises(TolokaInputError, match=r"unknown close reason\(s\) COMPLETE; expected some of"):
        operator.execute(make_context())
    assert fake.names() == ["create_pool"]  # the test's own setup; the operator sent nothing
    assert fake.pools["1"].status != "OPEN"


def test_success_reasons_are_not_checked_when_not_waiting(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = _open_pool_operator(wait_for_completion=False, success_reasons=["COMPLETE"])
    assert operator.execute(make_context()) == "OPEN"


# -- timeout=0: look once, in both modes ------------------------------------------------------------------


def test_timeout_zero_in_polling_mode_looks_once_then_times_out(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = _open_pool_operator(deferrable=False, timeout=0)
    operator._sleep = lambda seconds: pytest.fail("timeout=0 must not sleep")
    with pytest.raises(AirflowException, match="Pool 1 is still OPEN after waiting 0 s"):
        operator.execute(make_context())
    assert fake.names().count("get_pool") == 1


def test_timeout_zero_in_deferrable_mode_looks_once_and_does_not_defer(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    with pytest.raises(AirflowException, match="Pool 1 is still OPEN after waiting 0 s") as raised:
        _open_pool_operator(deferrable=True, timeout=0).execute(make_context())
    assert not isinstance(raised.value, TaskDeferred)


def test_a_timeout_says_the_timeout_the_last_progress_and_that_the_pool_keeps_spending(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    operator = _open_pool_operator(deferrable=False, timeout=10, poll_interval=5)
    clock = iter(range(0, 100, 4))
    operator._clock = lambda: next(clock)
    operator._sleep = lambda seconds: None
    with pytest.raises(AirflowException) as raised:
        operator.execute(make_context())
    message = str(raised.value)
    assert message.startswith("Pool 1 is still OPEN after waiting 10 s (the timeout): ")
    assert "last seen: Toloka pool 1 is OPEN" in message
    assert "The pool stays open in Toloka and keeps spending money until it closes" in message
    # Resumed from the trigger's timeout event: the same words, and the timeout.
    deferred = _open_pool_operator(timeout=10)
    with pytest.raises(AirflowException, match=r"the timeout was 10 s"):
        deferred.execute_complete(make_context(), {"status": "timeout", "message": "stays open"})
    with pytest.raises(AirflowFailException, match="NOT_ENOUGH_BALANCE"):  # a failure is not retried
        deferred.execute_complete(make_context(), {"status": "failure", "message": "closed: NOT_ENOUGH_BALANCE"})


def test_timeout_zero_accepts_a_pool_that_is_done_at_the_first_look(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    _crowd_finishes_at_once(fake, "COMPLETED")
    assert _open_pool_operator(deferrable=False, timeout=0).execute(make_context()) == "CLOSED"


def test_timeout_none_defers_without_a_deadline(monkeypatch):
    fake = install(monkeypatch)
    fake.create_pool({"project_id": "7"})
    with pytest.raises(TaskDeferred) as deferred:
        _open_pool_operator(timeout=None, poll_interval=7, max_consecutive_errors=4).execute(make_context())
    assert deferred.value.trigger.serialize()[1]["policy"] == {
        "interval": 7.0,
        "deadline": None,
        "max_consecutive_errors": 4,
        "progress_interval": 300.0,
    }


def test_polling_rides_out_transient_errors_within_the_budget(monkeypatch):
    from toloka_provider.client.protocol import Response

    fake = install(monkeypatch)
    pool = fake.create_pool({"project_id": "7"})
    original = fake._perform
    failures = iter([True, True, False])

    def flaky(effect):
        if next(failures, False):  # the server fails twice (the client's own retries are off here)
            return Response(500, b'{"code": "INTERNAL_ERROR", "message": "boom", "request_id": "r"}')
        pool.status, pool.last_close_reason = "CLOSED", "COMPLETED"
        return original(effect)

    fake._perform = flaky
    sleeps = []
    operator = _open_pool_operator(deferrable=False, poll_interval=3, max_consecutive_errors=2)
    operator._sleep = sleeps.append
    assert operator.execute(make_context()) == "CLOSED"
    assert sleeps == [3.0, 3.0]
