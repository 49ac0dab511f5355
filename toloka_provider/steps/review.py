"""The review engine: decide accept / reject / skip for each assignment, then send the decisions.

Deciding and sending are two steps on purpose. Every verdict is computed before the first request, so a
verdict that fails (a callable that raises or returns junk) fails the review with nothing sent. Only small
:class:`Decision` tuples are kept, never the assignments (a review of 100k assignments holds 100k tuples).

Sending runs a bounded number of requests at once (threads over the sync client, which retries each one;
see ``send_decisions`` for why threads on requests and not asyncio on httpx).
A state conflict on an assignment is read back: already in the wanted status counts as ``already_done`` (a
retried task picks up where its first try stopped), in the other status as ``failed``.
"""

from __future__ import annotations

import collections
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from toloka_provider.client.dates import parse_datetime
from toloka_provider.client.errors import TolokaArgumentError
from toloka_provider.steps.status import STATE_CONFLICTS
from toloka_provider.steps.values import enum_value

ACCEPT, REJECT, SKIP = "accept", "reject", "skip"
WANTED_STATUS = {ACCEPT: "ACCEPTED", REJECT: "REJECTED"}
#: How many failures a review's error message names.
FAILURES_NAMED = 5
DEFAULT_REJECT_COMMENT = "Too many mistakes on control tasks"


class Decision(NamedTuple):
    """What the review keeps of one assignment: its id, what to send, and what the auto-accept check needs."""

    id: str
    action: str
    comment: str | None
    pool_id: str | None = None
    submitted: str | None = None
    reward: str | None = None  # what accepting it pays (the assignment's own ``reward``), for the spend metric


# --------------------------------------------------------------------------------------------------------------
# Verdicts: what the operator's ``verdict`` argument turns into once checked


class AcceptAll(NamedTuple):
    """Accept every SUBMITTED assignment."""


@dataclass(frozen=True)
class GoldenVerdict:
    """Accept workers whose golden accuracy is at least ``threshold``, reject the others.

    ``no_golden`` is what workers without golden answers get. The operator checks the values.
    """

    threshold: float
    reject_comment: str = DEFAULT_REJECT_COMMENT
    accept_comment: str | None = None
    no_golden: str = ACCEPT


@dataclass(frozen=True)
class CallableVerdict:
    """``function(assignment dict)`` returns the verdict; ``name`` is how messages name it (its dotted path)."""

    name: str
    function: Callable[[dict], Any]


Verdict = AcceptAll | GoldenVerdict | CallableVerdict


# --------------------------------------------------------------------------------------------------------------
# Golden accuracy and per-worker statistics


def _solution_matches(output_values: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """A worker's answer is right when every field of a known solution has the same value."""
    return all(output_values.get(name) == value for name, value in known.items())


def golden_accuracy_by_worker(assignments: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """``{user_id: (correct, golden_answered)}`` over the golden tasks (those with known_solutions)."""
    scores: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for assignment in assignments:
        tasks = assignment.get("tasks") or []
        solutions = assignment.get("solutions") or []
        for task, solution in zip(tasks, solutions, strict=False):
            known = [k.get("output_values") or {} for k in task.get("known_solutions") or []]
            if not known:
                continue
            answer = (solution or {}).get("output_values") or {}
            score = scores[str(assignment.get("user_id"))]
            score[0] += int(any(_solution_matches(answer, k) for k in known))
            score[1] += 1
    return {user: (correct, total) for user, (correct, total) in scores.items()}


def _seconds_spent(assignment: Mapping[str, Any]) -> float | None:
    """Seconds from ``created`` (taken) to ``submitted``, when both are readable and in order."""
    created, submitted = assignment.get("created"), assignment.get("submitted")
    if not created or not submitted:
        return None
    try:
        start, end = parse_datetime(str(created)), parse_datetime(str(submitted))
    except (ValueError, TypeError):
        return None
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


def worker_statistics(
    assignments: Iterable[Mapping[str, Any]], decisions: Iterable[Decision]
) -> list[dict[str, Any]]:
    """One row per worker: assignments, golden seen / correct, accuracy, decisions, median seconds each.

    ``assignments`` are those the review saw (every status); ``decisions`` what it decided (by id).
    Sorted by worker id, so two runs over the same input write the same file.
    """
    action_of = {decision.id: decision.action for decision in decisions}
    rows: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = collections.defaultdict(list)
    for assignment in assignments:
        user = str(assignment.get("user_id"))
        row = rows.setdefault(
            user,
            {"user_id": user, "assignments": 0, "golden_seen": 0, "golden_correct": 0,
             "decisions": {ACCEPT: 0, REJECT: 0, SKIP: 0}},
        )  # fmt: skip
        row["assignments"] += 1
        correct, seen = golden_accuracy_by_worker([assignment]).get(user, (0, 0))
        row["golden_correct"] += correct
        row["golden_seen"] += seen
        action = action_of.get(str(assignment.get("id")))
        if action is not None:
            row["decisions"][action] += 1
        seconds = _seconds_spent(assignment)
        if seconds is not None:
            durations[user].append(seconds)
    result = []
    for user in sorted(rows):
        row = rows[user]
        row["accuracy"] = round(row["golden_correct"] / row["golden_seen"], 6) if row["golden_seen"] else None
        row["median_seconds"] = statistics.median(durations[user]) if durations[user] else None
        result.append(row)
    return result


# --------------------------------------------------------------------------------------------------------------
# Deciding


def _money(value: str) -> Decimal:
    """An assignment's reward as a Decimal; one that is not a number counts as nothing (a metric, not a payment)."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


def _decision(assignment: Mapping[str, Any], action: str, comment: str | None) -> Decision:
    pool_id, submitted, reward = assignment.get("pool_id"), assignment.get("submitted"), assignment.get("reward")
    return Decision(
        str(assignment["id"]),
        action,
        comment,
        None if pool_id is None else str(pool_id),
        submitted and str(submitted),
        None if reward is None else str(reward),
    )


def _normalise(name: str, returned: Any, assignment: Mapping[str, Any]) -> tuple[str, str | None]:
    if returned in (ACCEPT, SKIP):
        return returned, None
    if isinstance(returned, (tuple, list)) and len(returned) == 2 and returned[0] in (ACCEPT, REJECT):
        if isinstance(returned[1], str) and (returned[1] or returned[0] == ACCEPT):
            return returned[0], returned[1]
        if returned[0] == ACCEPT and returned[1] is None:
            return ACCEPT, None
    raise TolokaArgumentError(
        f"verdict callable {name} returned {returned!r} for assignment {assignment.get('id')}; expected "
        f"'accept', ('accept', comment), ('reject', non-empty comment) or 'skip'. No decision was sent"
    )


def _call(verdict: CallableVerdict, assignment: Mapping[str, Any]) -> tuple[str, str | None]:
    try:
        returned = verdict.function(dict(assignment))
    except Exception as error:
        raise TolokaArgumentError(
            f"verdict callable {verdict.name} raised {type(error).__name__}: {error} for assignment "
            f"{assignment.get('id')}. No decision was sent (all verdicts are computed before the first request)"
        ) from error
    return _normalise(verdict.name, returned, assignment)


def decide(
    assignments: Iterable[Mapping[str, Any]],
    verdict: Verdict,
    *,
    scored: Iterable[Mapping[str, Any]] | None = None,
    log: Any,
) -> list[Decision]:
    """A :class:`Decision` for every assignment, computed before anything is sent.

    ``assignments`` is read once, item by item; ``scored`` (default: ``assignments``, then read twice) holds
    the assignments golden accuracy is measured on; it may hold more than the ones to decide on.
    """
    if isinstance(verdict, AcceptAll):
        return [_decision(a, ACCEPT, None) for a in assignments]
    if isinstance(verdict, CallableVerdict):
        return [_decision(a, *_call(verdict, a)) for a in assignments]
    scores = golden_accuracy_by_worker(assignments if scored is None else scored)
    for user, (correct, total) in sorted(scores.items()):
        log.info("Worker %s: %d of %d golden answers right", user, correct, total)
    decisions: list[Decision] = []
    for assignment in assignments:
        correct, total = scores.get(str(assignment.get("user_id")), (0, 0))
        action = (
            verdict.no_golden if total == 0 else ACCEPT if correct / total >= verdict.threshold else REJECT
        )
        comment = verdict.reject_comment if action == REJECT else verdict.accept_comment
        decisions.append(_decision(assignment, action, comment))
    return decisions


# --------------------------------------------------------------------------------------------------------------
# Sending


def late_rejections(client: Any, decisions: Iterable[Decision], *, log: Any) -> set[str]:
    """Toloka accepts by itself after ``auto_accept_period_day``; rejecting later is refused.

    Returns the ids of the rejections that are past that point (they are still sent: the server decides).
    """
    now = time.time()
    late: list[str] = []
    periods: dict[str, float | None] = {}
    for decision in decisions:
        pool_id, submitted = decision.pool_id, decision.submitted
        if decision.action != REJECT or not pool_id or not submitted:
            continue
        if pool_id not in periods:
            days = getattr(client.get_pool(str(pool_id)), "auto_accept_period_day", None)
            periods[pool_id] = float(days) * 86400 if days else None
        period = periods[pool_id]
        submitted_at = parse_datetime(submitted)
        if period is not None and submitted_at is not None and submitted_at.timestamp() + period < now:
            late.append(decision.id)
    if late:
        log.warning(
            "%d assignments to reject are past their pool's auto-accept period; Toloka will refuse to "
            "reject them (first: %s)",
            len(late), ", ".join(late[:FAILURES_NAMED]),
        )  # fmt: skip
    return set(late)


def send_one(client: Any, decision: Decision) -> tuple[str, str | None]:
    """Send one decision; return (outcome, failure reason). A state conflict is read back, never raised."""
    try:
        if decision.action == ACCEPT:
            client.accept_assignment(decision.id, public_comment=decision.comment)
        else:
            client.reject_assignment(decision.id, public_comment=decision.comment)
        return ("accepted" if decision.action == ACCEPT else "rejected"), None
    except STATE_CONFLICTS as error:
        try:
            current = enum_value(client.get_assignment(decision.id).status)
        except Exception as lookup_error:
            return "failed", f"409 ({error}); then reading it failed: {lookup_error}"
        if current == WANTED_STATUS[decision.action]:
            return "already_done", None
        return "failed", f"is {current}, wanted {WANTED_STATUS[decision.action]}"
    except Exception as error:  # counted, and the review fails after the whole batch was tried
        return "failed", f"{type(error).__name__}: {error}"


def send_decisions(
    client: Any,
    decisions: Sequence[Decision],
    counts: dict[str, int],
    *,
    concurrency: int,
    progress_every: int,
    log: Any,
    stop: threading.Event | None = None,
    spent: dict[str | None, Decimal] | None = None,
) -> list[tuple[str, str]]:
    """Send every decision with at most ``concurrency`` in flight; add outcomes to ``counts``; return failures.

    ``spent``, when given, gets the rewards of the assignments this call accepted, by pool (an assignment
    already decided before is not counted: it was paid by whoever decided it).

    ``concurrency`` threads each take the next decision from one shared queue and send it with the sync client
    (each thread has its own session, so its own kept-alive connection). No futures and no dispatching thread:
    with futures, the calling thread woke for every completion and re-armed a wait on every pending future,
    which cost more CPU per decision than the request itself spent outside ``requests``.

    If the calling thread is interrupted (Airflow's task timeout or SIGTERM raise in it), no thread takes
    another decision; the ones in flight finish (each bounded by the client's timeout and retries) and are
    counted before the exception propagates, so nothing is sent after the task stopped and nothing sent goes
    uncounted. The calling thread waits on an event each thread sets as it finishes, not on ``Thread.join``:
    before Python 3.13 a ``join`` interrupted by a signal can mark a still-running thread as stopped, so a
    second ``join`` returns at once and the thread's last answer would be lost. An exception
    ``send_one`` does not turn into an outcome (a bug, not an API error) stops the batch the same way and is
    raised here. ``stop``, when given, is the event that stops the batch (another thread may set it too; the
    decisions not taken by then are not sent, and the call returns the failures so far). Failures are listed in
    the order the answers came.
    """
    total = len(decisions)
    failures: list[tuple[str, str]] = []
    queue: Iterator[Decision] = iter(decisions)
    lock = threading.Lock()  # guards queue, counts, failures, done and errors
    halt = threading.Event() if stop is None else stop
    errors: list[BaseException] = []
    done = 0

    def work(finished: threading.Event) -> None:
        try:
            take_and_send()
        finally:
            finished.set()

    def take_and_send() -> None:
        nonlocal done
        while not halt.is_set():
            with lock:
                decision = next(queue, None)
            if decision is None:
                return
            try:
                outcome, reason = send_one(client, decision)
            except BaseException as error:  # handed to the calling thread, which raises it
                with lock:
                    errors.append(error)
                halt.set()
                return
            with lock:
                counts[outcome] += 1
                if spent is not None and outcome == "accepted" and decision.reward is not None:
                    spent[decision.pool_id] = spent.get(decision.pool_id, Decimal(0)) + _money(decision.reward)
                if reason:
                    failures.append((decision.id, reason))
                done += 1
                if progress_every and done % progress_every == 0:  # under the lock: the lines come in order
                    log.info("Reviewed %d of %d: %s", done, total, dict(counts))

    finished = [threading.Event() for _ in range(min(concurrency, total))]
    threads = [
        threading.Thread(target=work, args=(event,), name=f"toloka-review-{index}", daemon=True)
        for index, event in enumerate(finished)
    ]
    try:
        for thread in threads:
            thread.start()
        for event in finished:
            event.wait()  # interruptible: a signal handler that raises (task timeout, SIGTERM) lands here
        for thread in threads:
            thread.join()  # each has set its event: only its exit is left
    except BaseException:
        halt.set()
        for thread, event in zip(threads, finished, strict=True):
            if thread.ident is not None:
                event.wait()
                thread.join()
        raise
    if errors:
        raise errors[0]
    return failures
