"""The review engine's sending (``steps.review.send_decisions``): what it sends, what it counts, how it stops.

Scripted clients here (thread-safe, recording every call); ``test_review_engine_wire.py`` drives a real
``TolokaClient`` over mocked HTTP. Nothing is timed: concurrency is proven with a barrier, cancellation with
an alarm signal raised in the calling thread, as Airflow's task timeout does.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest

from toloka_provider.client.errors import (
    ConflictStateApiError,
    IncorrectActionsApiError,
    InternalApiError,
    TransportError,
)
from toloka_provider.steps import review
from toloka_provider.steps.review import Decision

LOG = logging.getLogger("test_review_engine")
WAIT = 30  # seconds: only reached when something is broken


def _counts() -> dict[str, int]:
    return {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}


def _engine_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("toloka-review-")]


class Recorder:
    """A thread-safe client: records every call; ``answer(name, id)`` may return or raise."""

    def __init__(self, answer=None, status=None):
        self.lock = threading.Lock()
        self.calls: list[tuple] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.answer = answer or (lambda name, assignment_id: None)
        self.status = status or {}

    def _call(self, name, assignment_id, comment=None):
        with self.lock:
            self.calls.append((name, assignment_id, comment))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self.answer(name, assignment_id)
        finally:
            with self.lock:
                self.in_flight -= 1

    def accept_assignment(self, assignment_id, public_comment=None):
        return self._call("accept", assignment_id, public_comment)

    def reject_assignment(self, assignment_id, public_comment):
        return self._call("reject", assignment_id, public_comment)

    def get_assignment(self, assignment_id):
        with self.lock:
            self.calls.append(("get", assignment_id, None))
        status = self.status[assignment_id]
        if isinstance(status, BaseException):
            raise status
        return SimpleNamespace(status=status)


def _decisions(count: int, reject_every: int = 0) -> list[Decision]:
    return [
        Decision(f"a{index}", "reject", f"wrong {index}") if reject_every and index % reject_every == 0
        else Decision(f"a{index}", "accept", None)
        for index in range(count)
    ]  # fmt: skip


def _error(cls, status_code, code, assignment_id):
    return cls(status_code, code, "no", "r", None, "PATCH", f"/api/v1/assignments/{assignment_id}")


# ------------------------------------------------------------------------------------------------- outcomes


def test_every_decision_is_sent_once_with_its_action_and_comment():
    client = Recorder()
    decisions = _decisions(200, reject_every=7)
    counts = _counts()
    failures = review.send_decisions(client, decisions, counts, concurrency=8, progress_every=0, log=LOG)
    assert failures == []
    assert counts == {"accepted": 171, "rejected": 29, "skipped": 0, "already_done": 0, "failed": 0}
    expected = {(d.action, d.id, d.comment) for d in decisions}
    assert len(client.calls) == 200 and set(client.calls) == expected
    assert client.most_in_flight <= 8
    assert _engine_threads() == []


def test_the_given_concurrency_is_in_flight_at_once_and_never_more():
    barrier = threading.Barrier(5, timeout=WAIT)  # breaks (and the test fails) unless 5 calls overlap

    def answer(name, assignment_id):
        if assignment_id in {f"a{index}" for index in range(5)}:
            barrier.wait()

    client = Recorder(answer)
    counts = _counts()
    failures = review.send_decisions(client, _decisions(40), counts, concurrency=5, progress_every=0, log=LOG)
    assert failures == [] and counts["accepted"] == 40
    assert client.most_in_flight == 5


def test_fewer_decisions_than_the_concurrency_start_no_idle_thread():
    started = []
    original = threading.Thread.start

    def start(thread):
        started.append(thread.name)
        original(thread)

    client = Recorder()
    counts = _counts()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Thread, "start", start)
        review.send_decisions(client, _decisions(2), counts, concurrency=8, progress_every=0, log=LOG)
    assert [name for name in started if name.startswith("toloka-review-")] == [
        "toloka-review-0",
        "toloka-review-1",
    ]
    assert counts["accepted"] == 2
    assert review.send_decisions(client, [], counts, concurrency=8, progress_every=0, log=LOG) == []


def test_a_409_is_read_back_already_decided_counts_and_the_other_status_fails():
    conflicts = {
        "a3": _error(ConflictStateApiError, 409, "CONFLICT_STATE", "a3"),
        "a5": _error(IncorrectActionsApiError, 409, "INAPPROPRIATE_STATUS", "a5"),
        "a8": _error(IncorrectActionsApiError, 409, "INAPPROPRIATE_STATUS", "a8"),
        "a9": _error(ConflictStateApiError, 409, "CONFLICT_STATE", "a9"),
    }
    lookup_down = TransportError("reset", "GET", "/api/v1/assignments/a9")

    def answer(name, assignment_id):
        if assignment_id in conflicts:
            raise conflicts[assignment_id]

    client = Recorder(
        answer, status={"a3": "ACCEPTED", "a5": "REJECTED", "a8": "ACCEPTED", "a9": lookup_down}
    )
    decisions = [Decision(f"a{index}", "accept", None) for index in range(10) if index != 8]
    decisions.append(Decision("a8", "reject", "wrong"))
    counts = _counts()
    failures = review.send_decisions(client, decisions, counts, concurrency=4, progress_every=0, log=LOG)
    assert counts == {"accepted": 6, "rejected": 0, "skipped": 0, "already_done": 1, "failed": 3}
    assert sorted(failures) == [
        ("a5", "is REJECTED, wanted ACCEPTED"),
        ("a8", "is ACCEPTED, wanted REJECTED"),
        ("a9", f"409 ({conflicts['a9']}); then reading it failed: {lookup_down}"),
    ]
    # Each conflict read back once, nothing decided twice.
    assert sorted(call[1] for call in client.calls if call[0] == "get") == ["a3", "a5", "a8", "a9"]
    sent = collections.Counter(call[1] for call in client.calls if call[0] != "get")
    assert set(sent.values()) == {1} and len(sent) == 10


def test_one_failing_decision_among_many_is_reported_and_the_others_are_sent():
    def answer(name, assignment_id):
        if assignment_id == "a77":
            raise InternalApiError(
                500, "INTERNAL_ERROR", "boom", "r", None, "PATCH", "/api/v1/assignments/a77"
            )

    client = Recorder(answer)
    counts = _counts()
    failures = review.send_decisions(
        client, _decisions(300), counts, concurrency=8, progress_every=0, log=LOG
    )
    assert counts == {"accepted": 299, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 1}
    assert failures == [
        (
            "a77",
            "InternalApiError: PATCH /api/v1/assignments/a77 failed: HTTP 500 INTERNAL_ERROR: boom (request_id=r)",
        )
    ]
    assert len(client.calls) == 300  # the failure is not read back (only a 409 is)


def test_progress_is_logged_every_n_decisions_with_the_counts_at_that_point(caplog):
    client = Recorder()
    counts = _counts()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        review.send_decisions(
            client, _decisions(35, reject_every=5), counts, concurrency=4, progress_every=10, log=LOG
        )
    progress = [record for record in caplog.records if record.msg.startswith("Reviewed ")]
    assert [record.args[:2] for record in progress] == [(10, 35), (20, 35), (30, 35)]
    for record in progress:
        logged = record.args[2]
        assert sum(logged.values()) == record.args[0]
        assert record.getMessage() == f"Reviewed {record.args[0]} of 35: {logged}"


# --------------------------------------------------------------------------------------------- stopping early


class Cancelled(BaseException):
    """What the alarm handler raises in the calling thread (Airflow's AirflowTaskTimeout plays this part)."""


def test_a_timeout_in_the_calling_thread_sends_nothing_more_and_leaves_no_thread():
    stop = threading.Event()
    in_flight = threading.Barrier(4, timeout=WAIT)

    def answer(name, assignment_id):
        in_flight.wait()  # all four threads are inside a request...
        if not stop.wait(WAIT):  # ...and stay there until the engine has been told to stop
            raise AssertionError("the engine was not stopped")

    client = Recorder(answer)

    def on_alarm(signum, frame):
        raise Cancelled

    previous = signal.signal(signal.SIGALRM, on_alarm)
    counts = _counts()
    try:
        # Fire the alarm once all four are in flight: a thread that arrives last at the barrier arms it.
        original_wait = in_flight.wait

        def wait_then_arm():
            if original_wait() == 0:
                signal.setitimer(signal.ITIMER_REAL, 0.05)

        in_flight.wait = wait_then_arm  # type: ignore[method-assign]
        with pytest.raises(Cancelled):
            review.send_decisions(
                client, _decisions(100), counts, concurrency=4, progress_every=0, log=LOG, stop=stop
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert stop.is_set()
    assert sorted(call[1] for call in client.calls) == ["a0", "a1", "a2", "a3"]  # only those in flight
    assert counts["accepted"] == 4  # they finished, and were counted, before the exception left
    assert _engine_threads() == []


def test_setting_stop_from_another_thread_ends_the_batch_after_the_requests_in_flight():
    stop = threading.Event()

    def answer(name, assignment_id):
        if assignment_id == "a9":
            stop.set()

    client = Recorder(answer)
    counts = _counts()
    failures = review.send_decisions(
        client, _decisions(1000), counts, concurrency=1, progress_every=0, log=LOG, stop=stop
    )
    assert failures == []
    assert [call[1] for call in client.calls] == [f"a{index}" for index in range(10)]
    assert counts["accepted"] == 10
    assert _engine_threads() == []


def test_an_unexpected_exception_in_a_send_stops_the_batch_and_is_raised(monkeypatch):
    class Bug(BaseException):
        pass

    taken = []
    lock = threading.Lock()
    original = review.send_one

    def send_one(client, decision):
        with lock:
            taken.append(decision.id)
        if decision.id == "a20":
            raise Bug("in the engine")
        return original(client, decision)

    monkeypatch.setattr(review, "send_one", send_one)
    counts = _counts()
    with pytest.raises(Bug, match="in the engine"):
        review.send_decisions(Recorder(), _decisions(500), counts, concurrency=3, progress_every=0, log=LOG)
    # The batch stopped: at most the other two threads' next decisions were taken after the failing one.
    assert len(taken) <= 21 + 2
    assert _engine_threads() == []


def test_spent_sums_the_rewards_of_what_this_call_accepted_by_pool():
    """Only accepts that succeeded now count: not a rejection, not one decided before (409), not a failure."""
    conflicts = {"a2": _error(ConflictStateApiError, 409, "CONFLICT_STATE", "a2")}

    def answer(name, assignment_id):
        if assignment_id in conflicts:
            raise conflicts[assignment_id]
        if assignment_id == "a3":
            raise _error(InternalApiError, 500, "INTERNAL_ERROR", "a3")

    client = Recorder(answer, status={"a2": "ACCEPTED"})
    decisions = [
        Decision("a0", "accept", None, "p1", None, "0.03"),
        Decision("a1", "accept", None, "p1", None, "0.03"),
        Decision("a2", "accept", None, "p1", None, "0.03"),  # accepted by an earlier try: paid then
        Decision("a3", "accept", None, "p2", None, "0.05"),  # failed: nothing paid
        Decision("a4", "accept", None, "p2", None, "0.05"),
        Decision("a5", "reject", "wrong", "p2", None, "0.05"),
        Decision("a6", "accept", None, "p2", None, None),  # no reward known: nothing counted
        Decision("a7", "accept", None, "p2", None, "NaN"),  # not a finite amount: nothing counted
    ]
    counts = _counts()
    spent: dict = {}
    review.send_decisions(client, decisions, counts, concurrency=4, progress_every=0, log=LOG, spent=spent)
    assert counts["accepted"] == 5 and counts["already_done"] == 1 and counts["rejected"] == 1
    assert spent == {"p1": Decimal("0.06"), "p2": Decimal("0.05")}
