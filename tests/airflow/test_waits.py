"""``toloka_provider.waiting``: the poll policy, the one loop, and each check run by both clients.

The loop is driven here by a scripted driver (a fake clock that sleeps advance), so every timing rule is
exact and instant. The checks run against the in-process emulator with the real sync and async clients.
"""

from __future__ import annotations

import asyncio

import attrs
import pytest

from toloka_provider import waiting as waits
from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import DoesNotExistApiError, InternalApiError, TolokaArgumentError
from toloka_provider.client.protocol import Now, Sleep

# -- the policy ------------------------------------------------------------------------------------------


def test_policy_round_trips_as_one_plain_dict():
    policy = waits.PollPolicy(interval=7, deadline=123.5, max_consecutive_errors=2, progress_interval=60)
    assert policy.to_dict() == {
        "interval": 7.0,
        "deadline": 123.5,
        "max_consecutive_errors": 2,
        "progress_interval": 60.0,
    }
    assert waits.PollPolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"interval": -1}, "poll_interval must be a number >= 0 (seconds), got -1"),
        ({"interval": float("inf")}, "poll_interval must be a number >= 0"),
        ({"deadline": "soon"}, "deadline must be a number >= 0"),
        ({"max_consecutive_errors": 1.5}, "max_consecutive_errors must be an integer >= 0, got 1.5"),
        ({"max_consecutive_errors": True}, "max_consecutive_errors must be an integer >= 0, got True"),
        ({"progress_interval": float("nan")}, "progress_interval must be a number >= 0"),
    ],
)
def test_policy_refuses_bad_values_naming_them(kwargs, says):
    with pytest.raises(TolokaArgumentError) as raised:
        waits.PollPolicy(**kwargs)
    assert says in str(raised.value)


def test_task_interval_has_a_floor_and_timeout_zero_is_allowed():
    assert waits.check_poll_interval(waits.MIN_POLL_INTERVAL) == 0.1
    with pytest.raises(
        TolokaArgumentError, match=r"poll_interval must be a number >= 0.1 \(seconds; 0 would poll"
    ):
        waits.check_poll_interval(0)
    assert waits.check_timeout(0) == 0.0 and waits.check_timeout(None) is None


def test_policy_from_a_dict_refuses_unknown_keys():
    assert waits.PollPolicy.from_dict({"interval": 5.0}) == waits.PollPolicy(5.0)
    with pytest.raises(TolokaArgumentError, match="unknown key"):
        waits.PollPolicy.from_dict({"interval": 1, "retries": 3})


# -- the loop, driven by a script --------------------------------------------------------------------------


@attrs.define
class Scripted(waits.Wait):
    """A check whose looks return (or raise) the given items in turn."""

    script: list
    looks: int = 0

    what = "the thing"

    def check(self, new_policy):
        item = self.script[min(self.looks, len(self.script) - 1)]
        self.looks += 1
        if isinstance(item, BaseException):
            raise item
        return waits.Outcome(item, f"the thing is {item}", {"look": self.looks})
        yield

    def progress(self, new_policy, outcome):
        return f"progress at look {outcome.details['look']}"
        yield


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)

    def warning(self, message, *args):
        self.lines.append("WARNING " + message % args)


def drive(plan, start=1000.0):
    """Run a plan with a fake clock; sleeps advance it. Returns (result, sleeps)."""
    now, sleeps, sent = [start], [], None
    while True:
        try:
            effect = plan.send(sent)
        except StopIteration as stop:
            return stop.value, sleeps
        if type(effect) is Sleep:
            sleeps.append(effect.seconds)
            now[0] += effect.seconds
            sent = None
        elif type(effect) is Now:
            sent = now[0]
        else:
            raise AssertionError(f"unexpected effect {effect!r}")


def _500():
    return InternalApiError(500, "INTERNAL_ERROR", "boom", "r1", method="GET", path="/x")


def test_poll_returns_the_first_final_outcome_and_sleeps_the_interval():
    wait = Scripted(["waiting", "waiting", "success"])
    outcome, sleeps = drive(waits.poll(wait, waits.PollPolicy(interval=5), None, logger=Log()))
    assert outcome.state == waits.SUCCESS and outcome.details == {"look": 3}
    assert sleeps == [5.0, 5.0]


def test_poll_checks_once_even_past_the_deadline_and_never_oversleeps_it():
    outcome, sleeps = drive(
        waits.poll(Scripted(["waiting"]), waits.PollPolicy(interval=5, deadline=10.0), None)
    )
    assert outcome.state == waits.TIMEOUT and sleeps == []
    assert outcome.message == "the thing did not finish before the deadline; last seen: the thing is waiting."
    outcome, sleeps = drive(
        waits.poll(Scripted(["waiting"]), waits.PollPolicy(interval=600, deadline=1100.0), None)
    )
    assert outcome.state == waits.TIMEOUT and sleeps == [100.0]


def test_poll_tolerates_the_error_budget_then_gives_up_with_the_last_error():
    log = Log()
    wait = Scripted([_500(), _500(), "waiting", _500(), _500(), _500()])
    outcome, sleeps = drive(
        waits.poll(wait, waits.PollPolicy(interval=1, max_consecutive_errors=2), None, logger=log)
    )
    assert outcome.state == waits.GAVE_UP and isinstance(outcome.error, InternalApiError)
    assert outcome.message.startswith(
        "the thing: 3 transient errors in a row, giving up (last: InternalApiError"
    )
    assert wait.looks == 6 and len(sleeps) == 5  # the waiting look in between reset the count
    assert sum(line.startswith("WARNING the thing: transient error") for line in log.lines) == 4


def test_poll_lets_a_persistent_error_raise():
    missing = DoesNotExistApiError(404, "DOES_NOT_EXIST", "no such pool", "r", method="GET", path="/x")
    with pytest.raises(DoesNotExistApiError):
        drive(waits.poll(Scripted(["waiting", missing]), waits.PollPolicy(interval=1), None))


def test_poll_logs_progress_every_progress_interval_from_the_start():
    log = Log()
    policy = waits.PollPolicy(interval=100, progress_interval=250)
    drive(waits.poll(Scripted(["waiting"] * 7 + ["failure"]), policy, None, logger=log))
    assert log.lines == [
        "progress at look 4",
        "progress at look 7",
    ]  # 300 s after the start, then 300 s later


def test_a_failing_progress_read_does_not_end_the_wait():
    @attrs.define
    class NoProgress(Scripted):
        def progress(self, new_policy, outcome):
            raise _500()
            yield

    log = Log()
    outcome, _ = drive(
        waits.poll(NoProgress(["waiting", "success"]), waits.PollPolicy(1, None, 0, 0), None, logger=log)
    )
    assert outcome.state == waits.SUCCESS
    assert len(log.lines) == 1 and log.lines[0].startswith(
        "the thing: could not read progress: InternalApiError"
    )


# -- the same checks on both clients, against the emulator -----------------------------------------------------


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.0)


def both(emu, wait_factory):
    """The outcome of one look by the sync client and by the async client."""
    sync_outcome = waits.check(TolokaClient(emu.token, url=emu.url, retries=0), wait_factory())

    async def look():
        async with AsyncTolokaClient(emu.token, url=emu.url, retries=0) as client:
            return await waits.check(client, wait_factory())

    return sync_outcome, asyncio.run(look())


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "reason", "state"),
    [
        ("OPEN", None, "waiting"),
        ("CLOSED", "COMPLETED", "success"),
        ("CLOSED", "NOT_ENOUGH_BALANCE", "failure"),
        ("CLOSED", "FOR_UPDATE", "waiting"),
        ("ARCHIVED", None, "failure"),
    ],
)
def test_pool_check_is_the_same_on_both_clients(emu, status, reason, state):
    pool = {"project_id": "1", "private_name": "p", "status": status}
    if reason:
        pool["last_close_reason"] = reason
    pool_id = emu.state.create("pools", pool)["id"]
    sync_outcome, async_outcome = both(emu, lambda: waits.PoolWait(pool_id))
    assert sync_outcome == async_outcome
    assert sync_outcome.state == state
    assert sync_outcome.details == {"pool_id": pool_id, "pool_status": status, "close_reason": reason}


@pytest.mark.integration
def test_operation_and_app_batch_and_assignments_checks_are_the_same_on_both_clients(emu):
    done = emu.state.create_operation("POOL.OPEN", {"pool_id": "1"}, delay=0)
    sync_outcome, async_outcome = both(emu, lambda: waits.OperationWait(done["id"]))
    assert sync_outcome == async_outcome and sync_outcome.state == waits.SUCCESS
    assert sync_outcome.details["operation"]["status"] == "SUCCESS"

    emu.state.app_projects["ap1"] = {
        "id": "ap1",
        "app_id": "a",
        "name": "p",
        "status": "READY",
        "parameters": {},
    }
    emu.state.app_batches["b1"] = {"id": "b1", "app_project_id": "ap1", "name": "b", "status": "PROCESSING"}
    sync_outcome, async_outcome = both(emu, lambda: waits.AppBatchWait("ap1", "b1"))
    assert sync_outcome == async_outcome and sync_outcome.state == waits.WAITING

    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    emu.bulk_load_assignments(pool_id, 2)
    sync_outcome, async_outcome = both(
        emu, lambda: waits.AssignmentsWait(pool_id, min_count=2, consistency_lag=0)
    )
    assert sync_outcome == async_outcome and sync_outcome.state == waits.SUCCESS
    assert sync_outcome.details["count"] == 2


@pytest.mark.integration
def test_transient_and_persistent_errors_by_class(emu):
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    emu.set_faults("503=1.0")
    sync_outcome, async_outcome = both(emu, lambda: waits.PoolWait(pool_id))
    assert sync_outcome.state == async_outcome.state == waits.TRANSIENT
    emu.clear_faults()
    with pytest.raises(DoesNotExistApiError):
        waits.check(TolokaClient(emu.token, url=emu.url, retries=0), waits.PoolWait("424242"))


@pytest.mark.integration
def test_a_misspelt_success_reason_is_refused_by_the_check(emu):
    pool_id = emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"]
    with pytest.raises(TolokaArgumentError, match=r"unknown close reason\(s\) COMPLETE"):
        waits.check(
            TolokaClient(emu.token, url=emu.url, retries=0), waits.PoolWait(pool_id, ["COMPLETE"])
        )
