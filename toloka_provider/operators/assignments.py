"""Operators that fetch assignments (to XCom or, for any real volume, to a JSONL file) and review them."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from airflow.sdk.exceptions import AirflowException

from toloka_provider.client.pagination import ASSIGNMENTS as ASSIGNMENTS_LISTING
from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators._common import (
    TolokaBaseOperator,
    TolokaInputError,
    atomic_jsonl_writer,
    dump_json_line,
    enum_value,
    iter_jsonl,
    storage_path,
)

# ==============================================================================================================
# Fetching

MAX_PAGE = ASSIGNMENTS_LISTING.max_limit


def _max_timestamp(current: str | None, candidate: str | None) -> str | None:
    """The later of two wire timestamps (UTC, same layout; a trailing Z is ignored for the comparison)."""
    if not candidate:
        return current
    if current is None or candidate.rstrip("Z") > current.rstrip("Z"):
        return candidate
    return current


class TolokaGetAssignmentsOperator(TolokaBaseOperator):
    """Fetch a pool's assignments by status and submission window.

    :param pool_id: the pool (templated).
    :param statuses: assignment statuses to fetch (default ``("SUBMITTED",)``; templated).
    :param submitted_gte: fetch assignments submitted at or after this time (datetime or ISO string, templated).
    :param submitted_lt: ... and before this time.
    :param use_data_interval: take the window from the run's data interval, shifted back by
        ``consistency_lag``: ``[data_interval_start - lag, data_interval_end - lag)``. The windows of consecutive
        runs tile without gaps or overlaps, backfills are exact, and the lag leaves Toloka a minute to make
        assignments submitted just before the interval's end visible. ``None`` (default): use it when the run
        has a non-empty data interval and no explicit ``submitted_*`` bound is given; ``True``: require it;
        ``False``: never.
    :param consistency_lag: the shift above (default one minute).
    :param output: a file path or ``ObjectStoragePath`` URL (templated; no scheme = local file). The assignments
        are streamed there as JSONL, page by page, without building models; it is written under a temporary
        name and renamed, so a failed try never leaves a half file.
    :param max_inline: without ``output``, the most assignments returned through XCom; more is an error.

    XCom: without ``output``, the list of assignment dicts; with it,
    ``{"path", "count", "max_submitted", "status_counts"}``.
    """

    template_fields = ("pool_id", "statuses", "submitted_gte", "submitted_lt", "output_path", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        pool_id: str,
        statuses: Sequence[str] | str = ("SUBMITTED",),
        submitted_gte: datetime | str | None = None,
        submitted_lt: datetime | str | None = None,
        use_data_interval: bool | None = None,
        consistency_lag: timedelta = timedelta(minutes=1),
        output: str | None = None,
        max_inline: int = 1000,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_PAGE
        ):
            raise TolokaInputError(
                f"'batch_size' must be an int from 1 to {MAX_PAGE} (assignments per page), got {batch_size!r}"
            )
        self.pool_id = pool_id
        self.statuses = statuses
        self.submitted_gte = submitted_gte
        self.submitted_lt = submitted_lt
        self.use_data_interval = use_data_interval
        self.consistency_lag = consistency_lag
        self.output_path = output
        self.max_inline = max_inline
        self.batch_size = batch_size

    def _checked_statuses(self) -> list[str]:
        from toloka_provider.client.models import AssignmentStatus

        statuses = [self.statuses] if isinstance(self.statuses, str) else list(self.statuses)
        known = [member.value for member in AssignmentStatus]
        unknown = [status for status in statuses if str(getattr(status, "value", status)) not in known]
        if unknown or not statuses:
            raise TolokaInputError(
                f"Argument 'statuses': {unknown or statuses!r} — each must be one of {', '.join(known)} (upper case)"
            )
        return [str(getattr(status, "value", status)) for status in statuses]

    def _checked_bound(self, argument: str) -> None:
        """A submitted_* string bound must be ISO 8601: fail here, naming the argument, not at the server."""
        from toloka_provider.client.dates import parse_datetime

        value = getattr(self, argument)
        if isinstance(value, str):
            try:
                parse_datetime(value)
            except ValueError as error:
                raise TolokaInputError(f"Argument {argument!r}: {error}") from None

    def build_filters(self, context: Mapping[str, Any]) -> dict[str, Any]:
        filters: dict[str, Any] = {"pool_id": str(self.pool_id), "status": self._checked_statuses()}
        self._checked_bound("submitted_gte")
        self._checked_bound("submitted_lt")
        explicit = self.submitted_gte is not None or self.submitted_lt is not None
        if explicit:
            if self.use_data_interval:
                raise TolokaInputError("Give either 'submitted_gte'/'submitted_lt' or use_data_interval=True, not both")
            if self.submitted_gte is not None:
                filters["submitted_gte"] = self.submitted_gte
            if self.submitted_lt is not None:
                filters["submitted_lt"] = self.submitted_lt
            return filters
        if self.use_data_interval is False:
            return filters
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None or start >= end:
            if self.use_data_interval:
                raise TolokaInputError(
                    f"use_data_interval=True but this run has no data interval (start={start}, end={end})"
                )
            return filters
        filters["submitted_gte"] = start - self.consistency_lag
        filters["submitted_lt"] = end - self.consistency_lag
        return filters

    def execute(self, context: Any) -> Any:
        filters = self.build_filters(context)
        self.push_pool_url(context, str(self.pool_id))
        self.log.info("Fetching assignments with %s", filters)
        pages = self.hook.get_conn().get_assignments_raw(**filters, batch_size=self.batch_size)
        if self.output_path is None:
            return self._collect_inline(pages)
        return self._write(pages)

    def _collect_inline(self, pages: Iterable[list[dict]]) -> list[dict]:
        collected: list[dict] = []
        for page in pages:
            collected.extend(page)
            if len(collected) > self.max_inline:
                raise TolokaInputError(
                    f"More than max_inline={self.max_inline} assignments match; XCom is not the place for them. "
                    f"Pass output='file:///some/dir/assignments.jsonl' (or an s3://... path) to write them to a "
                    f"file and get its path and counts through XCom."
                )
        self.log.info("Fetched %d assignments", len(collected))
        return collected

    def _write(self, pages: Iterable[list[dict]]) -> dict:
        path = storage_path(self.output_path)
        count = 0
        max_submitted: str | None = None
        status_counts: collections.Counter[str] = collections.Counter()
        with atomic_jsonl_writer(path) as handle:
            for page in pages:
                handle.write("".join(dump_json_line(item) for item in page))
                for item in page:
                    status_counts[str(item.get("status"))] += 1
                    max_submitted = _max_timestamp(max_submitted, item.get("submitted"))
                count += len(page)
                self.log.info("Written %d assignments so far", count)
        self.log.info("Wrote %d assignments to %s", count, path)
        return {
            "path": str(path),
            "count": count,
            "max_submitted": max_submitted,
            "status_counts": dict(status_counts),
        }


# ==============================================================================================================
# Reviewing

ACCEPT, REJECT, SKIP = "accept", "reject", "skip"
WANTED_STATUS = {ACCEPT: "ACCEPTED", REJECT: "REJECTED"}
FAILURES_NAMED = 5


class Decision(NamedTuple):
    """What the review keeps of one assignment: its id, what to send, and what the auto-accept check needs.

    The assignment itself (tasks, solutions) is not kept: a review of 100k assignments holds 100k of these
    small tuples, not 100k parsed assignments.
    """

    id: str
    action: str
    comment: str | None
    pool_id: str | None = None
    submitted: str | None = None


class _JsonlAssignments:
    """A JSONL file of assignments that can be read more than once (golden scoring, then deciding)."""

    def __init__(self, path: Any, argument: str) -> None:
        self.path = path
        self.argument = argument

    def __iter__(self) -> Iterator[dict]:
        return iter_jsonl(self.path, argument=self.argument)


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


def _decision(assignment: Mapping[str, Any], action: str, comment: str | None) -> Decision:
    pool_id, submitted = assignment.get("pool_id"), assignment.get("submitted")
    return Decision(
        str(assignment["id"]), action, comment, None if pool_id is None else str(pool_id), submitted and str(submitted)
    )


class TolokaReviewAssignmentsOperator(TolokaBaseOperator):
    """Accept or reject submitted assignments in a batch, with bounded concurrency.

    :param pool_id: fetch the pool's SUBMITTED assignments when neither ``assignments`` nor ``assignments_path``
        is given; also used to read the pool's auto-accept period (templated).
    :param assignments: a list of assignment dicts (e.g. an XCom of :class:`TolokaGetAssignmentsOperator`).
    :param assignments_path: a JSONL file written by :class:`TolokaGetAssignmentsOperator` (templated).
    :param verdict: how to decide, one of

        * ``"accept_all"``;
        * ``{"golden_accuracy_threshold": 0.8, "reject_comment": "...", "no_golden": "accept"|"skip"|"reject",
          "accept_comment": None}``: each worker's accuracy on the golden tasks (tasks with ``known_solutions``)
          in these assignments; at or above the threshold accept, below reject. Workers without golden answers
          get ``no_golden`` (default accept);
        * ``"package.module.function"``: a callable (imported by its dotted path, so the argument stays
          templatable) that takes an assignment dict and returns ``"accept"``, ``("accept", comment)``,
          ``("reject", comment)`` or ``"skip"``. All verdicts are computed before any request is sent, so a
          callable returning anything else fails the task before any assignment was touched. Only small
          :class:`Decision` tuples are kept for that; the assignments are streamed (from the list, the file, or
          a temporary spool file of the pool's SUBMITTED assignments), never held in memory all at once.
    :param concurrency: requests in flight at once (threads over the sync client; default 8).
    :param dry_run: decide and count, send nothing.
    :param progress_every: log progress every this many decisions.

    Only assignments whose status (as given) is SUBMITTED are reviewed; others count as ``skipped``.
    A 409 on an assignment that is already in the wanted state counts as ``already_done`` (a retried task
    picks up where its first try stopped); one in the other state counts as ``failed``. Failed decisions fail
    the task after the whole batch was tried, naming the first failures. Rejections of assignments whose
    pool's auto-accept period has passed are logged as a warning (Toloka will refuse them; they then fail).

    Threads rather than asyncio: the work is a few thousand independent blocking PATCH requests that the sync
    client already retries; a small thread pool bounds them without running an event loop in the worker.

    XCom: ``{"accepted", "rejected", "skipped", "already_done", "failed"}`` (plus ``"dry_run": true``).
    """

    template_fields = ("pool_id", "assignments", "assignments_path", "verdict", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        pool_id: str | None = None,
        assignments: list[dict] | None = None,
        assignments_path: str | None = None,
        verdict: str | dict | Callable[[dict], Any] = "accept_all",
        concurrency: int = 8,
        dry_run: bool = False,
        progress_every: int = 500,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if assignments is not None and assignments_path is not None:
            raise TolokaInputError("Give at most one of 'assignments' and 'assignments_path'")
        if assignments is None and assignments_path is None and pool_id is None:
            raise TolokaInputError("Give 'assignments', 'assignments_path' or 'pool_id'")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise TolokaInputError(f"'concurrency' must be a positive int, got {concurrency!r}")
        self.pool_id = pool_id
        self.assignments = assignments
        self.assignments_path = assignments_path
        self.verdict = verdict
        self.concurrency = concurrency
        self.is_dry_run = dry_run  # not self.dry_run: BaseOperator has a dry_run() method
        self.progress_every = progress_every

    # ----------------------------------------------------------------------------------------------------------
    # Inputs and decisions

    @contextlib.contextmanager
    def assignments_source(self, client: Any) -> Iterator[Iterable[dict]]:
        """The assignments to review, as something that can be iterated more than once, never all in memory.

        A list is used as it is; a file is streamed (twice for golden scoring); a pool's SUBMITTED assignments
        are streamed page by page into a temporary local JSONL file, read from there and removed afterwards,
        so that scoring and deciding see the same snapshot.
        """
        if self.assignments is not None:
            if not isinstance(self.assignments, list):
                raise TolokaInputError(f"'assignments' must be a list of dicts, got {type(self.assignments).__name__}")
            yield self.assignments
            return
        if self.assignments_path is not None:
            yield _JsonlAssignments(self.assignments_path, "assignments_path")
            return
        handle, spool = tempfile.mkstemp(prefix="toloka-review-", suffix=".jsonl")
        try:
            fetched = 0
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                for page in client.get_assignments_raw(pool_id=str(self.pool_id), status=["SUBMITTED"]):
                    stream.writelines(dump_json_line(assignment) for assignment in page)
                    fetched += len(page)
            self.log.info("Fetched %d SUBMITTED assignments of pool %s to review", fetched, self.pool_id)
            yield _JsonlAssignments(spool, "pool_id")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)

    def _callable_verdict(self) -> tuple[str, Callable[[dict], Any]]:
        if callable(self.verdict):
            return getattr(self.verdict, "__qualname__", repr(self.verdict)), self.verdict
        from airflow.sdk.module_loading import import_string

        try:
            function = import_string(self.verdict)
        except ImportError as error:
            raise TolokaInputError(
                f"verdict {self.verdict!r} is not 'accept_all', and it cannot be imported as a callable "
                f"'package.module.function': {error}"
            ) from None
        if not callable(function):
            raise TolokaInputError(f"verdict {self.verdict!r} imports a {type(function).__name__}, not a callable")
        return str(self.verdict), function

    def decide(self, assignments: Iterable[Mapping[str, Any]], scored: Iterable[Mapping[str, Any]] | None = None) -> list[Decision]:
        """A :class:`Decision` for every assignment, computed before anything is sent.

        ``assignments`` is read once, item by item; ``scored`` (default: ``assignments``, then read twice) holds
        the assignments that golden accuracy is measured on; it may hold more than the ones to decide on.
        Only the small decisions are kept, never the assignments.
        """
        verdict = self.verdict
        if verdict == "accept_all":
            return [_decision(a, ACCEPT, None) for a in assignments]
        if isinstance(verdict, Mapping):
            return self._decide_by_golden(assignments, verdict, assignments if scored is None else scored)
        if isinstance(verdict, str) or callable(verdict):
            name, function = self._callable_verdict()
            return [_decision(a, *self._normalise(name, function(a), a)) for a in assignments]
        raise TolokaInputError(
            f"verdict must be 'accept_all', a dict with 'golden_accuracy_threshold', or a dotted path to a "
            f"callable; got {type(verdict).__name__}"
        )

    @staticmethod
    def _normalise(name: str, returned: Any, assignment: Mapping[str, Any]) -> tuple[str, str | None]:
        if returned in (ACCEPT, SKIP):
            return returned, None
        if isinstance(returned, (tuple, list)) and len(returned) == 2 and returned[0] in (ACCEPT, REJECT):
            if isinstance(returned[1], str) and (returned[1] or returned[0] == ACCEPT):
                return returned[0], returned[1]
            if returned[0] == ACCEPT and returned[1] is None:
                return ACCEPT, None
        raise TolokaInputError(
            f"verdict callable {name} returned {returned!r} for assignment {assignment.get('id')}; expected "
            f"'accept', ('accept', comment), ('reject', non-empty comment) or 'skip'"
        )

    def _decide_by_golden(
        self, assignments: Iterable[Mapping[str, Any]], options: Mapping[str, Any], scored: Iterable[Mapping[str, Any]]
    ) -> list[Decision]:
        known_options = {"golden_accuracy_threshold", "reject_comment", "no_golden", "accept_comment"}
        unknown = set(options) - known_options
        if unknown or "golden_accuracy_threshold" not in options:
            raise TolokaInputError(
                f"verdict dict needs 'golden_accuracy_threshold' and may have {sorted(known_options)}; "
                f"got keys {sorted(options)}"
            )
        threshold = float(options["golden_accuracy_threshold"])
        reject_comment = options.get("reject_comment") or "Too many mistakes on control tasks"
        accept_comment = options.get("accept_comment")
        no_golden = options.get("no_golden", ACCEPT)
        if no_golden not in (ACCEPT, SKIP, REJECT):
            raise TolokaInputError(f"verdict 'no_golden' must be accept, skip or reject; got {no_golden!r}")
        scores = golden_accuracy_by_worker(scored)
        for user, (correct, total) in sorted(scores.items()):
            self.log.info("Worker %s: %d of %d golden answers right", user, correct, total)
        decisions: list[Decision] = []
        for assignment in assignments:
            correct, total = scores.get(str(assignment.get("user_id")), (0, 0))
            action = no_golden if total == 0 else ACCEPT if correct / total >= threshold else REJECT
            decisions.append(_decision(assignment, action, reject_comment if action == REJECT else accept_comment))
        return decisions

    # ----------------------------------------------------------------------------------------------------------
    # Applying

    def _warn_past_auto_accept(self, client: Any, decisions: Iterable[Decision]) -> set[str]:
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
            if periods[pool_id] is None:
                continue
            from toloka_provider.client.dates import parse_datetime

            if parse_datetime(submitted).timestamp() + periods[pool_id] < now:
                late.append(decision.id)
        if late:
            self.log.warning(
                "%d assignments to reject are past their pool's auto-accept period; Toloka will refuse to "
                "reject them (first: %s)",
                len(late),
                ", ".join(late[:FAILURES_NAMED]),
            )
        return set(late)

    def _apply(self, client: Any, assignment_id: str, action: str, comment: str | None) -> tuple[str, str | None]:
        """Send one decision; return (outcome, failure reason)."""
        try:
            if action == ACCEPT:
                client.accept_assignment(assignment_id, public_comment=comment)
            else:
                client.reject_assignment(assignment_id, public_comment=comment)
            return ("accepted" if action == ACCEPT else "rejected"), None
        except Exception as error:
            if getattr(error, "status_code", None) != 409:
                return "failed", f"{type(error).__name__}: {error}"
            try:
                current = enum_value(client.get_assignment(assignment_id).status)
            except Exception as lookup_error:
                return "failed", f"409 ({error}); then reading it failed: {lookup_error}"
            if current == WANTED_STATUS[action]:
                return "already_done", None
            return "failed", f"is {current}, wanted {WANTED_STATUS[action]}"

    def execute(self, context: Any) -> dict:
        client = self.hook.get_conn()
        if self.pool_id:
            self.push_pool_url(context, str(self.pool_id))
        counts = {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}
        with self.assignments_source(client) as source:
            seen = 0

            def submitted_only() -> Iterator[Mapping[str, Any]]:
                nonlocal seen
                for assignment in source:
                    seen += 1
                    if str(assignment.get("status", "SUBMITTED")) == "SUBMITTED":
                        yield assignment
                    else:
                        counts["skipped"] += 1

            decisions = self.decide(submitted_only(), scored=source)
        if counts["skipped"]:
            self.log.info("%d assignments are not SUBMITTED; skipping them", counts["skipped"])
        to_send = [decision for decision in decisions if decision.action != SKIP]
        counts["skipped"] += len(decisions) - len(to_send)
        del decisions
        accepting = sum(1 for decision in to_send if decision.action == ACCEPT)
        self.log.info(
            "%d assignments: %d to accept, %d to reject, %d skipped",
            seen,
            accepting,
            len(to_send) - accepting,
            counts["skipped"],
        )
        if self.is_dry_run:
            counts["accepted"] = accepting
            counts["rejected"] = len(to_send) - accepting
            return {**counts, "dry_run": True}
        late = self._warn_past_auto_accept(client, to_send)
        failures = self._send_all(client, to_send, counts)
        self.log.info("Review finished: %s", counts)
        if failures:
            named = "; ".join(f"{assignment_id}: {reason}" for assignment_id, reason in failures[:FAILURES_NAMED])
            late_failed = sum(1 for assignment_id, _ in failures if assignment_id in late)
            hint = (
                f". {late_failed} of them were rejections past the pool's auto-accept period: Toloka accepted those "
                f"by itself, and they can no longer be rejected (review sooner, or raise auto_accept_period_day)"
                if late_failed
                else ""
            )
            raise AirflowException(
                f"{counts['failed']} of {len(to_send)} review decisions failed ({counts}); first: {named}{hint}"
            )
        return counts

    def _send_all(
        self, client: Any, to_send: Sequence[Decision], counts: dict[str, int]
    ) -> list[tuple[str, str]]:
        failures: list[tuple[str, str]] = []
        done = 0
        queue = iter(to_send)
        # Keep a bounded number of futures: a 100k-assignment batch must not create 100k futures at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            pending: dict[concurrent.futures.Future, str] = {}

            def submit_more() -> None:
                for decision in queue:
                    future = pool.submit(self._apply, client, decision.id, decision.action, decision.comment)
                    pending[future] = decision.id
                    if len(pending) >= self.concurrency * 4:
                        return

            submit_more()
            while pending:
                finished, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    assignment_id = pending.pop(future)
                    outcome, reason = future.result()
                    counts[outcome] += 1
                    if reason:
                        failures.append((assignment_id, reason))
                    done += 1
                    if self.progress_every and done % self.progress_every == 0:
                        self.log.info("Reviewed %d of %d: %s", done, len(to_send), counts)
                submit_more()
        return failures
