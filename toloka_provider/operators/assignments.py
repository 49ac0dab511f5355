"""Operators that fetch assignments (to XCom or, for any real volume, to a JSONL file) and review them.

The review's engine (golden accuracy, verdicts, sending with bounded concurrency, 409 read back) is
``toloka_provider.steps.review``; here are the arguments, the input sources and the XCom.
"""

from __future__ import annotations

import collections
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow.sdk.exceptions import AirflowException

from toloka_provider import lineage, metrics
from toloka_provider.arguments import (
    checked_assignment,
    imported_callable,
    non_negative_int,
    positive_int,
    unit_fraction,
)
from toloka_provider.client.dates import parse_datetime
from toloka_provider.client.models import AssignmentStatus
from toloka_provider.client.pagination import ASSIGNMENTS as ASSIGNMENTS_LISTING
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.files import (
    atomic_jsonl_writer,
    dump_json_line,
    iter_jsonl_numbered,
    storage_path,
)
from toloka_provider.links import TolokaPoolLink
from toloka_provider.operators.base import TolokaBaseOperator, maps_toloka_errors
from toloka_provider.steps import review
from toloka_provider.steps.review import (
    ACCEPT,
    REJECT,
    SKIP,
    AcceptAll,
    CallableVerdict,
    Decision,
    GoldenVerdict,
    Verdict,
    golden_accuracy_by_worker,
)

__all__ = [
    "Decision",
    "TolokaGetAssignmentsOperator",
    "TolokaReviewAssignmentsOperator",
    "golden_accuracy_by_worker",
]

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


class TolokaGetAssignmentsOperator(lineage.ReportsLineage, TolokaBaseOperator):
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
    :param batch_size: assignments per page (1 to the listing's maximum; default: the client's).

    The pool is read first (it also gives the extra link): a ``pool_id`` that names no pool or training fails
    with ``TolokaApiFailure`` naming the argument, instead of succeeding with nothing.

    XCom: without ``output``, the list of assignment dicts; with it,
    ``{"path", "count", "max_submitted", "status_counts"}``.
    """

    lineage_kind = lineage.FETCH

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
        self.pool_id = pool_id
        self.statuses = statuses
        self.submitted_gte = submitted_gte
        self.submitted_lt = submitted_lt
        if use_data_interval not in (None, True, False):
            raise TolokaInputError(f"'use_data_interval' must be None, True or False, got {use_data_interval!r}")
        if not isinstance(consistency_lag, timedelta) or consistency_lag < timedelta(0):
            raise TolokaInputError(
                f"'consistency_lag' must be a datetime.timedelta >= 0, got {consistency_lag!r}"
            )
        self.use_data_interval = use_data_interval
        self.consistency_lag = consistency_lag
        self.output_path = output
        self.max_inline = non_negative_int(max_inline, "max_inline")
        # Checked here, at DAG parse time, against the listing's own bound (the client's).
        self.batch_size = None if batch_size is None else positive_int(batch_size, 'batch_size', maximum=MAX_PAGE)

    def _checked_statuses(self) -> list[str]:
        if not isinstance(self.statuses, (str, list, tuple)):  # a dict from XCom is not a list of its keys
            raise TolokaInputError(
                f"Argument 'statuses' must be a status or a list of them, got {type(self.statuses).__name__} "
                f"{self.statuses!r}"
            )
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

    @maps_toloka_errors
    def execute(self, context: Any) -> Any:
        filters = self.build_filters(context)
        # A pool that does not exist would list nothing: fail, naming 'pool_id', before writing anything.
        self.read_pool_for_link(context, self.pool_id)
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
        assert self.output_path is not None  # execute() writes only when an output was given
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
        self._lineage_result = {"path": str(path), "count": count}
        return {
            "path": str(path),
            "count": count,
            "max_submitted": max_submitted,
            "status_counts": dict(status_counts),
        }


# ==============================================================================================================
# Reviewing

GOLDEN_OPTIONS = frozenset({"golden_accuracy_threshold", "reject_comment", "no_golden", "accept_comment"})


class _JsonlAssignments:
    """A JSONL file of assignments that can be read more than once (golden scoring, then deciding)."""

    def __init__(self, path: Any, argument: str) -> None:
        self.path = path
        self.argument = argument

    def __iter__(self) -> Iterator[dict]:
        for line, item in iter_jsonl_numbered(self.path, argument=self.argument):
            yield checked_assignment(item, f"Argument {self.argument!r}: file {self.path} line {line}")


class _ListedAssignments:
    """The ``assignments`` argument (a list), checked item by item as it is read."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __iter__(self) -> Iterator[dict]:
        for index, item in enumerate(self.items):
            yield checked_assignment(item, f"Argument 'assignments': item #{index}")


#: Decisions in flight by default. 16, not 8: at 8, even a free client could not be 10x a one-at-a-time loop
#: (that takes a round trip plus ~2.6 ms per decision; 8 in flight take at least a round trip / 8 each).
DEFAULT_CONCURRENCY = 16


class TolokaReviewAssignmentsOperator(lineage.ReportsLineage, TolokaBaseOperator):
    """Accept or reject submitted assignments in a batch, with bounded concurrency.

    :param pool_id: fetch the pool's SUBMITTED assignments when neither ``assignments`` nor ``assignments_path``
        is given (templated). When given, the pool is read first (it also gives the extra link): a pool that
        does not exist fails with ``TolokaApiFailure`` naming ``pool_id``, before anything is decided.
    :param assignments: a list of assignment dicts (e.g. an XCom of :class:`TolokaGetAssignmentsOperator`).
    :param assignments_path: a JSONL file written by :class:`TolokaGetAssignmentsOperator` (templated).
    :param verdict: how to decide, one of

        * ``"accept_all"``;
        * ``{"golden_accuracy_threshold": 0.8, "reject_comment": "...", "no_golden": "accept"|"skip"|"reject",
          "accept_comment": None}``: each worker's accuracy on the golden tasks (tasks with ``known_solutions``)
          in these assignments; at or above the threshold (a number from 0 to 1) accept, below reject. Workers
          without golden answers get ``no_golden`` (default accept);
        * ``"package.module.function"``: a callable (imported by its dotted path, so the argument stays
          templatable) that takes an assignment dict and returns ``"accept"``, ``("accept", comment)``,
          ``("reject", comment)`` or ``"skip"``. All verdicts are computed before any request is sent, so a
          callable that raises or returns anything else fails the task, naming the assignment and the
          callable, before any assignment was touched.
    :param concurrency: requests in flight at once (threads over the sync client; default 16). Each decision is
        one request whose time is mostly the round trip, so the batch takes about N x round trip / concurrency;
        429 answers (the requester's quota) are waited out and retried by the client.
    :param dry_run: decide and count, send nothing.
    :param progress_every: log progress every this many decisions.
    :param worker_stats_path: also write one JSON line per worker (``user_id``, ``assignments``,
        ``golden_seen``, ``golden_correct``, ``accuracy``, ``decisions``, ``median_seconds``) to this file
        (templated; written atomically, also in a dry run). Its path is returned as ``worker_stats_path``.

    Only assignments whose status (as given) is SUBMITTED are reviewed; others count as ``skipped``.
    A state conflict on an assignment that is already in the wanted state counts as ``already_done`` (a
    retried task picks up where its first try stopped); one in the other state counts as ``failed``. Failed
    decisions fail the task after the whole batch was tried, naming the first failures. Rejections of
    assignments whose pool's auto-accept period has passed are logged as a warning (Toloka will refuse them).

    XCom: ``{"accepted", "rejected", "skipped", "already_done", "failed"}`` (plus ``"dry_run": true``, and
    ``"worker_stats_path"`` when asked for).
    """

    lineage_kind = lineage.REVIEW

    template_fields = ("pool_id", "assignments", "assignments_path", "verdict", "worker_stats_path", "toloka_conn_id")
    operator_extra_links = (TolokaPoolLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        pool_id: str | None = None,
        assignments: list[dict] | None = None,
        assignments_path: str | None = None,
        verdict: str | dict | Callable[[dict], Any] = "accept_all",
        concurrency: int = DEFAULT_CONCURRENCY,
        dry_run: bool = False,
        progress_every: int = 500,
        worker_stats_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if assignments is not None and assignments_path is not None:
            raise TolokaInputError("Give at most one of 'assignments' and 'assignments_path'")
        if assignments is None and assignments_path is None and pool_id is None:
            raise TolokaInputError("Give 'assignments', 'assignments_path' or 'pool_id'")
        self.pool_id = pool_id
        self.assignments = assignments
        self.assignments_path = assignments_path
        self.verdict = verdict
        self.concurrency = positive_int(concurrency, "concurrency")
        self.is_dry_run = dry_run  # not self.dry_run: BaseOperator has a dry_run() method
        self.progress_every = non_negative_int(progress_every, "progress_every")
        self.worker_stats_path = worker_stats_path

    # ----------------------------------------------------------------------------------------------------------
    # Arguments

    def checked_verdict(self) -> Verdict:
        """The ``verdict`` argument (after templating) as the review engine's verdict; any mistake is an error."""
        verdict = self.verdict
        if verdict == "accept_all":
            return AcceptAll()
        if isinstance(verdict, Mapping):
            return self._golden_verdict(verdict)
        if callable(verdict):
            return CallableVerdict(getattr(verdict, "__qualname__", repr(verdict)), verdict)
        if isinstance(verdict, str):
            return self._imported_verdict(verdict)
        raise TolokaInputError(
            f"verdict must be 'accept_all', a dict with 'golden_accuracy_threshold', or a dotted path to a "
            f"callable; got {type(verdict).__name__}"
        )

    @staticmethod
    def _golden_verdict(options: Mapping[str, Any]) -> GoldenVerdict:
        unknown = set(options) - GOLDEN_OPTIONS
        if unknown or "golden_accuracy_threshold" not in options:
            raise TolokaInputError(
                f"verdict dict needs 'golden_accuracy_threshold' and may have {sorted(GOLDEN_OPTIONS)}; "
                f"got keys {sorted(options)}"
            )
        threshold = unit_fraction(options["golden_accuracy_threshold"], "golden_accuracy_threshold")
        no_golden = options.get("no_golden", ACCEPT)
        if no_golden not in (ACCEPT, SKIP, REJECT):
            raise TolokaInputError(f"verdict 'no_golden' must be accept, skip or reject; got {no_golden!r}")
        for name in ("reject_comment", "accept_comment"):
            if options.get(name) is not None and not isinstance(options[name], str):
                raise TolokaInputError(f"verdict {name!r} must be a string, got {type(options[name]).__name__}")
        return GoldenVerdict(
            threshold=threshold,
            reject_comment=options.get("reject_comment") or review.DEFAULT_REJECT_COMMENT,
            accept_comment=options.get("accept_comment"),
            no_golden=no_golden,
        )

    @staticmethod
    def _imported_verdict(path: str) -> CallableVerdict:
        return CallableVerdict(path, imported_callable(path, "verdict", context=" is not 'accept_all', and it"))

    # ----------------------------------------------------------------------------------------------------------
    # Inputs

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
            yield _ListedAssignments(self.assignments)
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

    def decide(
        self, assignments: Iterable[Mapping[str, Any]], scored: Iterable[Mapping[str, Any]] | None = None
    ) -> list[Decision]:
        """A :class:`Decision` for every assignment (see ``steps.review.decide``); nothing is sent."""
        verdict = self.checked_verdict()
        with self.toloka_errors():
            return review.decide(assignments, verdict, scored=scored, log=self.log)

    # ----------------------------------------------------------------------------------------------------------
    # Running

    @maps_toloka_errors
    def execute(self, context: Any) -> dict:
        verdict = self.checked_verdict()
        stats_path = None if self.worker_stats_path is None else storage_path(self.worker_stats_path)
        client = self.hook.get_conn()
        if self.pool_id is not None:
            self.read_pool_for_link(context, self.pool_id)
        counts = {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}
        summary: dict[str, Any] = {}
        first_pool: list[Any] = []
        with self.assignments_source(client) as source:
            seen = 0

            def submitted_only() -> Iterator[Mapping[str, Any]]:
                nonlocal seen
                for assignment in source:
                    seen += 1
                    if not first_pool and assignment.get("pool_id") is not None:
                        first_pool.append(assignment["pool_id"])
                    if str(assignment.get("status", "SUBMITTED")) == "SUBMITTED":
                        yield assignment
                    else:
                        counts["skipped"] += 1

            decisions = review.decide(submitted_only(), verdict, scored=source, log=self.log)
            if stats_path is not None:
                summary["worker_stats_path"] = self._write_worker_stats(stats_path, source, decisions)
        if self.pool_id is None and first_pool:
            # Given assignments rather than a pool: the link names the pool of the first one (no XCom miss).
            self.push_pool_url(context, str(first_pool[0]))
        if counts["skipped"]:
            self.log.info("%d assignments are not SUBMITTED; skipping them", counts["skipped"])
        to_send = [decision for decision in decisions if decision.action != SKIP]
        counts["skipped"] += len(decisions) - len(to_send)
        del decisions
        accepting = sum(1 for decision in to_send if decision.action == ACCEPT)
        self.log.info(
            "%d assignments: %d to accept, %d to reject, %d skipped",
            seen, accepting, len(to_send) - accepting, counts["skipped"],
        )  # fmt: skip
        if self.is_dry_run:
            counts["accepted"] = accepting
            counts["rejected"] = len(to_send) - accepting
            return {**counts, "dry_run": True, **summary}
        late = review.late_rejections(client, to_send, log=self.log)
        failures = self._send_all(client, to_send, counts)
        self.log.info("Review finished: %s", counts)
        self._lineage_result = {**counts, **summary}
        metrics.assignments_decided(accepted=counts["accepted"], rejected=counts["rejected"], pool_id=self.pool_id)
        if failures:
            named = "; ".join(f"{assignment_id}: {reason}" for assignment_id, reason in failures[: review.FAILURES_NAMED])
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
        return {**counts, **summary}

    def _send_all(self, client: Any, decisions: Sequence[Decision], counts: dict[str, int]) -> list[tuple[str, str]]:
        """Send the decisions with the operator's concurrency (the engine the benchmark times); return failures."""
        spent: dict[str | None, Decimal] = {}
        failures = review.send_decisions(
            client, decisions, counts, concurrency=self.concurrency, progress_every=self.progress_every, log=self.log,
            spent=spent,
        )
        for pool_id, amount in spent.items():  # the rewards of what this try accepted, from the assignments
            metrics.money_spent(amount, what="assignments", pool_id=pool_id)
        return failures

    def _write_worker_stats(self, path: Any, source: Iterable[Mapping[str, Any]], decisions: Sequence[Decision]) -> str:
        """One JSON line per worker of the reviewed assignments, next to the decisions (atomic)."""
        rows = review.worker_statistics(source, decisions)
        with atomic_jsonl_writer(path, argument="worker_stats_path") as handle:
            handle.writelines(dump_json_line(row) for row in rows)
        self.log.info("Wrote statistics of %d workers to %s", len(rows), path)
        return str(path)
