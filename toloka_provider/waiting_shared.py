"""Many pool waits on one connection, answered together: one poll loop per connection (and event loop).

A wait joins the poller of its connection (``wait_shared``); the poller is made when the first wait joins and
goes when the last one leaves. Each round answers the waits that are due together: the OPEN pools (or
trainings) of the account are listed, 300 a page in id order, and a waited pool on that list is still open;
a pool not on it is read on its own (to learn how it closed, or because the listing cannot see it). Each wait
keeps its own ``PollPolicy`` (interval, deadline, error budget, progress) and ends with the Outcome that
``waiting.poll`` would give it alone. Requests run through the client's ``run_plan`` (its token is redacted).
No Airflow here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from toloka_provider.client import core
from toloka_provider.client import pagination as lists
from toloka_provider.client.errors import PaginationError, is_transient
from toloka_provider.client.protocol import Plan
from toloka_provider.waiting import (
    GAVE_UP,
    TIMEOUT,
    TRANSIENT,
    WAITING,
    ErrorBudget,
    Outcome,
    PollPolicy,
    PoolWait,
    Wait,
    attempt,
    plain,
    pool_outcome,
    progress_line,
)

log = logging.getLogger("toloka_provider.waiting_shared")

#: Pools per listing page (the API's largest page).
PAGE_SIZE = 300
#: Pages per listing in one round (90,000 open pools); the waited pools past them are read one by one.
MAX_PAGES = 300
#: Own reads (pools not on the listing, progress lines) in flight at once per poller.
READ_CONCURRENCY = 32
#: Rounds a kind is read one by one after its listing was refused (e.g. a token that may not list pools).
LISTING_PAUSE_ROUNDS = 10
#: A wait is checked up to this share of its interval early to join a round (and its listing).
EARLY_SHARE = 0.25
#: Waits settled between two yields to the event loop.
_SETTLE_BATCH = 500

_LISTINGS = {"pool": lists.POOLS, "training": lists.TRAININGS}


class ConnectionProblem(Exception):
    """The poller could not get a client for the connection; ``error`` is what ``make_client`` raised."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def can_share(wait: Wait) -> bool:
    """A wait the shared listing can answer: a pool or training wait that reads nothing but the pool."""
    return type(wait) is PoolWait and getattr(wait, "max_spend", None) is None


def list_open(new_policy: core.PolicyFactory, kind: str, max_pages: int = MAX_PAGES) -> Plan:
    """The OPEN pools (``kind="pool"``) or trainings as ``({id: item dict}, pages read, complete)``."""
    listing = _LISTINGS[kind]
    found: dict[str, dict] = {}
    after: str | None = None
    for page in range(1, max_pages + 1):
        query = {"status": "OPEN", "sort": "id", "limit": str(PAGE_SIZE)}
        if after is not None:
            query["id_gt"] = after
        response = yield from core.call(new_policy, "GET", listing.path, params=query)
        items, has_more = core.parse_page(response, listing, listing.path)
        # The client's own keyset rule: a page that repeats, goes back or lacks ids is a PaginationError (the
        # waits then read their pools alone for a while), never another request for the same cursor.
        last = lists.check_advances(listing, listing.path, items, after)
        for item in items:
            found[str(item["id"])] = item
        if not has_more:
            return found, page, True
        if not items:
            raise PaginationError(listing.path, after, "an empty page with has_more=true")
        after = str(last)
    return found, max_pages, False


def listed_outcome(wait: PoolWait, item: dict) -> Outcome:
    """What ``PoolWait.check`` would say of the pool, from its listing item."""
    status, reason = plain(item.get("status")), plain(item.get("last_close_reason"))
    outcome = pool_outcome(wait.pool_id, status, reason, wait.success_reasons, kind=wait.kind)
    details = {"pool_id": wait.pool_id, "pool_status": status, "close_reason": reason}
    return attrs.evolve(outcome, details=details)


@attrs.define(eq=False)
class _Member:
    wait: Wait
    policy: PollPolicy
    logger: Any
    future: asyncio.Future
    budget: ErrorBudget
    last_progress: float
    due: float = -math.inf
    last_line: str = ""
    # The last listing item's (status, close reason) and the Outcome made of it: an unchanged pool costs
    # no new Outcome (most rounds, for most waits).
    listed: tuple[Any, Any, Outcome] | None = None


# (connection key, event loop) -> its poller. A new triggerer process starts with none.
_pollers: dict[tuple[str, asyncio.AbstractEventLoop], SharedPoller] = {}


class SharedPoller:
    """One connection's poll loop; see the module docstring. Use ``wait_shared``, not this class."""

    def __init__(
        self,
        key: tuple[str, asyncio.AbstractEventLoop],
        make_client: Callable[[], Awaitable[Any]],
        sleep: Callable[[float], Awaitable[Any]],
        clock: Callable[[], float],
    ) -> None:
        self._key = key
        self._make_client = make_client
        self._sleep = sleep
        self._clock = clock
        self._members: dict[int, _Member] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        #: Pages the last listing of each kind took: a listing is used when it costs less than own reads.
        self.pages = {kind: 1 for kind in _LISTINGS}
        self._listing_paused = {kind: 0 for kind in _LISTINGS}
        self.rounds = 0

    def __len__(self) -> int:
        return len(self._members)

    def add(self, wait: Wait, policy: PollPolicy, logger: Any) -> _Member:
        member = _Member(
            wait, policy, logger or log, asyncio.get_running_loop().create_future(),
            ErrorBudget(policy.max_consecutive_errors), self._clock(),
        )
        self._members[id(member)] = member
        self._wake.set()
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return member

    def remove(self, member: _Member) -> None:
        self._members.pop(id(member), None)
        if not self._members:
            if _pollers.get(self._key) is self:
                del _pollers[self._key]
            if self._task is not None and not self._task.done():
                self._task.cancel()

    # -- the loop --------------------------------------------------------------------------------------

    def _fail_all(self, error: BaseException) -> None:
        if _pollers.get(self._key) is self:
            del _pollers[self._key]  # the next wait to join starts afresh
        for member in list(self._members.values()):
            if not member.future.done():
                member.future.set_exception(error)

    async def _run(self) -> None:
        try:
            client = await self._make_client()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._fail_all(ConnectionProblem(error))
            return
        try:
            async with client:
                slept_until = -math.inf
                while self._members:
                    self._wake.clear()
                    now = await self._round(client, slept_until)
                    pending = [m.due for m in self._members.values() if not m.future.done()]
                    if not pending:
                        await self._wake.wait()
                        continue
                    delay = min(pending) - now
                    # A sleep that ran its course makes the waits due that it was for, whatever the clock
                    # says (an injected sleep need not pass time).
                    slept_until = now + delay if delay > 0 and await self._pause(delay) else -math.inf
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a fault of the loop itself: every wait hears it, none hangs
            self._fail_all(error)

    async def _pause(self, delay: float) -> bool:
        """Sleep ``delay`` seconds, or less when a new wait joins; True when the sleep ran its course."""
        if self._wake.is_set():
            return False
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not sleeper.done():
                sleeper.cancel()
        if sleeper.done() and not sleeper.cancelled() and sleeper.exception() is not None:
            raise sleeper.exception()  # type: ignore[misc]
        return sleeper.done() and not sleeper.cancelled()

    async def _round(self, client: Any, slept_until: float) -> float:
        """Check every wait due by now (or by ``slept_until``) once; return the clock after the checks."""
        self.rounds += 1
        start = max(self._clock(), slept_until)
        # A wait due within a quarter of its interval joins this round: waits that drifted apart (read alone,
        # or joined at other moments) come back into one round, and one listing answers them all.
        due = [
            m for m in self._members.values()
            if m.due - EARLY_SHARE * m.policy.interval <= start and not m.future.done()
        ]
        results: dict[int, Any] = {}
        alone: list[_Member] = []
        for kind in _LISTINGS:
            group = [m for m in due if can_share(m.wait) and m.wait.kind == kind]  # type: ignore[attr-defined]
            found = await self._listing(client, kind, group, results) if group else None
            for member in group:
                if id(member) in results:
                    continue
                item = found.get(member.wait.pool_id) if found else None  # type: ignore[attr-defined]
                if item is None:
                    alone.append(member)
                    continue
                status, reason, seen = item.get("status"), item.get("last_close_reason"), member.listed
                if seen is not None and seen[0] == status and seen[1] == reason:
                    results[id(member)] = (seen[2], True)
                    continue
                try:
                    outcome = listed_outcome(member.wait, item)  # type: ignore[arg-type]
                except Exception as error:  # this wait's own mistake (e.g. a misspelt success reason)
                    results[id(member)] = (error, True)
                    continue
                member.listed = (status, reason, outcome)
                results[id(member)] = (outcome, True)
        alone += [m for m in due if not can_share(m.wait)]
        if alone:
            limit = asyncio.Semaphore(READ_CONCURRENCY)
            answers = await asyncio.gather(*(self._read_alone(client, m, limit) for m in alone))
            results.update(zip((id(m) for m in alone), answers, strict=True))
        now = self._clock()
        for index, member in enumerate(due):
            if id(member) in self._members and not member.future.done():
                result, listed = results[id(member)]
                line = None
                if listed and isinstance(result, Outcome) and self._progress_due(member, result, now):
                    line = result.message
                # A wait answered by the listing is due again one interval after this round began, so that
                # rounds keep their pace however long a listing takes; a wait read alone, one interval after
                # its read (as ``waiting.poll``).
                self._settle(member, result, line, now, start if listed else now)
            if index % _SETTLE_BATCH == _SETTLE_BATCH - 1:
                await asyncio.sleep(0)
        return now

    async def _listing(
        self, client: Any, kind: str, group: list[_Member], results: dict[int, Any]
    ) -> dict[str, dict] | None:
        """The OPEN items of ``kind`` when a listing is cheaper than own reads; a transient fault is noted
        for each wait of ``group`` in ``results``; any other fault: None (the waits read alone)."""
        if self._listing_paused[kind] > 0:
            self._listing_paused[kind] -= 1
            return None
        if len(group) < 2 or len(group) <= self.pages[kind]:
            return None
        try:
            found, pages, _complete = await client.run_plan(list_open(client.new_retry_policy, kind))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_transient(error):
                for member in group:
                    results[id(member)] = (
                        Outcome(
                            TRANSIENT,
                            f"{member.wait.what}: transient error: {type(error).__name__}: {error}",
                            error=error,
                        ),
                        True,
                    )
                return None
            log.warning("Listing open %ss failed, reading each waited %s alone for a while: %s", kind, kind, error)
            self._listing_paused[kind] = LISTING_PAUSE_ROUNDS
            return None
        self.pages[kind] = pages
        return found

    def _progress_due(self, member: _Member, outcome: Outcome, now: float) -> bool:
        return outcome.state == WAITING and now - member.last_progress >= member.policy.progress_interval

    async def _read_alone(self, client: Any, member: _Member, limit: asyncio.Semaphore) -> tuple[Any, bool]:
        """The wait's own check (and its progress line when due) as ``(Outcome or error, False)``."""
        async with limit:
            try:
                outcome = await client.run_plan(attempt(member.wait, client.new_retry_policy))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                return error, False
            if self._progress_due(member, outcome, self._clock()):
                line = await client.run_plan(progress_line(member.wait, client.new_retry_policy, outcome))
                return (outcome, line), False
            return outcome, False

    def _settle(self, member: _Member, result: Any, line: str | None, now: float, since: float) -> None:
        """Apply one check's result to a wait as ``waiting.poll`` does: finish it or set when it is due."""
        if isinstance(result, tuple):
            result, line = result
        if isinstance(result, BaseException):
            member.future.set_exception(result)
            return
        wait, policy = member.wait, member.policy
        outcome = member.budget.note(wait.what, result)
        if outcome.done or outcome.state == GAVE_UP:
            member.future.set_result(outcome)
            return
        if outcome.state == TRANSIENT:
            member.logger.warning(
                "%s: transient error %d of at most %d in a row, polling again: %s",
                wait.what, member.budget.in_a_row, member.budget.allowed, outcome.error,
            )
        elif line is not None:
            member.last_progress = now
            member.last_line = line
            member.logger.info("%s", line)
        if policy.deadline is not None and now >= policy.deadline:
            member.future.set_result(
                Outcome(
                    TIMEOUT,
                    f"{wait.what} did not finish before the deadline; last seen: {outcome.message}"
                    + (f"; last progress: {member.last_line}" if member.last_line else "")
                    + f".{wait.left_running}",
                    outcome.details,
                    outcome.subject,
                )
            )
            return
        delay = policy.interval if policy.deadline is None else min(policy.interval, max(policy.deadline - since, 0.0))
        member.due = since + delay


async def wait_shared(
    key: str,
    wait: Wait,
    policy: PollPolicy,
    make_client: Callable[[], Awaitable[Any]],
    *,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    clock: Callable[[], float] | None = None,
    logger: Any = None,
) -> Outcome:
    """Wait in the shared poller of ``key`` (a connection id) until ``wait`` ends; the Outcome ``poll`` gives.

    ``make_client`` (a coroutine function) makes the async client when this wait starts the poller; its error
    is raised as ``ConnectionProblem``. Persistent API errors of this wait's own reads raise, as from ``poll``.
    ``sleep`` and ``clock`` (epoch seconds) are used by the poller this wait starts.
    """
    loop = asyncio.get_running_loop()
    poller = _pollers.get((key, loop))
    if poller is None:
        poller = _pollers[(key, loop)] = SharedPoller((key, loop), make_client, sleep or asyncio.sleep, clock or time.time)
    member = poller.add(wait, policy, logger)
    try:
        return await member.future
    finally:
        poller.remove(member)


def active_pollers() -> dict[str, int]:
    """Waits per connection in this process's pollers (for tests and the benchmark)."""
    counts: dict[str, int] = {}
    for (key, _loop), poller in _pollers.items():
        counts[key] = counts.get(key, 0) + len(poller)
    return counts


__all__ = ["ConnectionProblem", "SharedPoller", "active_pollers", "can_share", "list_open", "wait_shared"]
