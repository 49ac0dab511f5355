"""TolokaPoolClosedEventTrigger: an event trigger for ``AssetWatcher`` -- one event per close of a pool of a project.

Used for event-driven scheduling::

    pools_closed = Asset("toloka-pools-closed", watchers=[AssetWatcher(
        name="toloka_pool_closed", trigger=TolokaPoolClosedEventTrigger(project_id="123"))])

An event is ``{"pool_id", "project_id", "close_reason", "last_stopped", "event_key"}``; ``event_key`` is
``"<pool_id>@<last_stopped>"``, stable, for consumers to dedupe on. One request per poll walks the project's
closed pools in id order (a cursor across polls, a new pass after the last page); what was emitted is kept in the
asset state store (Airflow 3.3+) or in memory. The guarantees and their reasons are in docs/architecture.md
("The pool-closed event trigger"). Arguments are checked as the sensors check theirs; a persistent error (a bad
token, a missing project) ends the trigger with an exception, transient ones are polled through.

Where Airflow shares event-trigger streams (3.3), the watchers of one project on one connection with the same
interval and page size share one listing in a triggerer (``shared_stream_key``); each applies the pages to its
own state, ``since`` and ``close_reasons``, and joins at the next pass start. The stream uses Airflow's fast path,
not ack mode: each watcher writes its state right after the triggerer takes an event, as ``run()`` does, so a
restart emits nothing twice (the other side: a triggerer stopped within the second between taking an event
and its next sync with the supervisor loses that close, on both paths). Ack mode would hold that write until Airflow confirms the event stored, and a
triggerer stopped in between (the next state sync) repeats the event. Toloka keeps listing the pools and each
watcher's state decides what was emitted, so there is nothing to acknowledge or reject, and no cohort grace is
needed: a late watcher reads every close in its first whole pass. ``run()`` is what Airflow 3.2 calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from toloka_provider.client import pagination as lists
from toloka_provider.client.errors import TolokaArgumentError, is_transient
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError, explain_error
from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.waiting import check_poll_interval, check_success_reasons

#: Pools fetched per poll (Toloka's page limit for pools is 300).
DEFAULT_PAGE_SIZE = 300
STATE_KEY_PREFIX = "toloka_pool_closed_watermark"
STATE_VERSION = 2
#: Whether the running Airflow shares event-trigger streams (3.3+); without it the triggerer calls ``run()``.
SHARED_STREAMS = hasattr(BaseEventTrigger, "shared_stream_key")
#: ``(last_stopped, pool_id, close_reason)`` of one closed pool.
Close = tuple[datetime, str, "str | None"]


def _parse_time(value: Any, name: str) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime or ISO string (Toloka's times are UTC without an offset)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} must be an ISO 8601 date-time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an ISO 8601 date-time string or a datetime, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _wire(value: datetime) -> str:
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def _wire_or_none(value: datetime | None) -> str | None:
    return None if value is None else _wire(value)


def _plain(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def event_key(pool_id: str, stopped: datetime) -> str:
    """What identifies one close of one pool (also the events' ``event_key``)."""
    return f"{pool_id}@{_wire(stopped)}"


def _key_time(key: str) -> datetime | None:
    try:
        return _parse_time(key.rsplit("@", 1)[1], "key")
    except (IndexError, ValueError):
        return None


class ScanState:
    """Where the walk over a project's closed pools is, and which closes were handled (see the module docstring).

    ``horizon``: closes before it were seen in an earlier pass (skipped); None only during the baseline pass.
    ``pending``: the newest close known when the current pass began (the next pass's horizon).
    ``newest``: the newest close seen so far. ``seen``: keys of the handled closes at or after the horizon.
    ``cursor``: the id of the last pool of the previous page of this pass (None: the pass starts).
    ``baseline``: this pass records the pools already closed without emitting them.
    """

    def __init__(
        self,
        horizon: datetime | None = None,
        *,
        pending: datetime | None = None,
        newest: datetime | None = None,
        seen: Iterable[str] = (),
        cursor: str | None = None,
        baseline: bool = False,
    ) -> None:
        self.horizon = horizon
        self.pending = horizon if pending is None else pending
        self.newest = self.pending if newest is None else newest
        self.seen = set(seen)
        self.cursor = cursor
        self.baseline = baseline

    @classmethod
    def start_baseline(cls) -> ScanState:
        return cls(baseline=True)

    def observe(self, pool_id: str, stopped: datetime) -> bool:
        """Record a pool seen closed at ``stopped``; True when this close was not handled before."""
        if self.newest is None or stopped > self.newest:
            self.newest = stopped
        if self.horizon is not None and stopped < self.horizon:
            return False
        key = event_key(pool_id, stopped)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def end_page(self, last_id: str | None, has_more: bool) -> None:
        """After a page: move the cursor on, or end the pass (a new pass starts from the lowest id)."""
        if has_more and last_id is not None:
            self.cursor = last_id
            return
        self.cursor = None
        if self.baseline:
            # Everything the baseline pass saw is taken as already closed.
            self.baseline = False
            self.horizon = self.pending = self.newest
        else:
            # ``pending`` is a Toloka timestamp seen before this pass began, so not after Toloka's clock at its
            # first request: every close before it stayed on a page of this pass until it was read.
            self.horizon, self.pending = self.pending, self.newest
        if self.horizon is not None:
            horizon = self.horizon
            self.seen = {key for key in self.seen if (_key_time(key) or horizon) >= horizon}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "horizon": _wire_or_none(self.horizon),
            "pending": _wire_or_none(self.pending),
            "newest": _wire_or_none(self.newest),
            "seen": sorted(self.seen),
            "cursor": self.cursor,
            "baseline": self.baseline,
        }

    @classmethod
    def from_json(cls, data: Any) -> ScanState | None:
        """The state from the store, or None when there is none or it cannot be read (the trigger starts over)."""
        if not isinstance(data, dict):
            return None
        try:
            if "version" not in data and "last_stopped" in data:
                # The first format (one page by last_started): the newest close emitted and its pools.
                stopped = _parse_time(data.get("last_stopped"), "watermark")
                if stopped is None:
                    return None
                return cls(stopped, seen=[event_key(str(i), stopped) for i in data.get("pool_ids") or ()])
            if data.get("version") != STATE_VERSION:
                return None
            cursor = data.get("cursor")
            state = cls(
                _parse_time(data.get("horizon"), "horizon"),
                pending=_parse_time(data.get("pending"), "pending"),
                newest=_parse_time(data.get("newest"), "newest"),
                seen=[str(key) for key in data.get("seen") or ()],
                cursor=None if cursor is None else str(cursor),
                baseline=bool(data.get("baseline")),
            )
        except (ValueError, TypeError):
            return None
        return state  # horizon None after the baseline: the project had no closed pool then


class TolokaPoolClosedEventTrigger(BaseEventTrigger):
    """Emit one event per close of a pool of ``project_id`` (see the module docstring for the guarantees).

    :param project_id: the project whose pools are watched.
    :param toloka_conn_id: the Toloka connection.
    :param since: emit pools closed at or after this instant (an ISO string or a datetime; a constant, not
        ``now()``). None: start from the pools already closed when the trigger first starts (not emitted).
    :param close_reasons: emit only pools closed for one of these reasons (e.g. ``["COMPLETED"]``); None: any
        close except ``FOR_UPDATE`` (a pool closed to be edited has not finished).
    :param poll_interval: seconds between polls (one request each).
    :param page_size: closed pools read per poll (at most 300). A pass over the project takes
        ``ceil(closed pools / page_size)`` polls; nothing is missed with a smaller page, it only takes longer.
    """

    _sleep = staticmethod(asyncio.sleep)  # injectable for tests

    def __init__(
        self,
        project_id: str,
        toloka_conn_id: str = "toloka_default",
        since: str | datetime | None = None,
        close_reasons: Iterable[str] | str | None = None,
        poll_interval: float = 60.0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        super().__init__()
        if not isinstance(project_id, str) or project_id.strip() in ("", "None", "null"):
            raise TolokaInputError(
                f"project_id must be a Toloka project id (a non-empty string), got {project_id!r}"
            )
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 300:
            raise TolokaInputError(f"page_size must be an integer from 1 to 300, got {page_size!r}")
        try:
            interval = check_poll_interval(poll_interval)
            reasons = None if close_reasons is None else check_success_reasons(close_reasons, "the pools", "close_reasons")
            self.since = _parse_time(since, "since")
        except (TolokaArgumentError, ValueError) as error:
            raise TolokaInputError(str(error)) from error
        self.project_id = project_id.strip()
        self.toloka_conn_id = toloka_conn_id
        self.close_reasons = reasons
        self.poll_interval = interval
        self.page_size = page_size
        self._project_seen = False
        # Airflow 3.3+ injects the store before run(); on 3.2 the attribute may not exist at all.
        if not hasattr(self, "asset_state_store"):
            self.asset_state_store = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            "project_id": self.project_id,
            "toloka_conn_id": self.toloka_conn_id,
            "since": None if self.since is None else _wire(self.since),
            "close_reasons": None if self.close_reasons is None else list(self.close_reasons),
            "poll_interval": self.poll_interval,
            "page_size": self.page_size,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.serialize()[1]!r}>"

    @property
    def state_key(self) -> str:
        # Per project and connection: one asset may have several watchers.
        return f"{STATE_KEY_PREFIX}:{self.toloka_conn_id}:{self.project_id}"

    # -- the state --------------------------------------------------------------------------------------

    async def _load_state(self) -> ScanState | None:
        store = self.asset_state_store
        if store is None:
            return None
        try:
            return ScanState.from_json(await store.aget(self.state_key))
        except Exception as error:  # the store is an aid; without it the trigger still works (in memory)
            self.log.warning("Cannot read the watcher state from the asset state store: %s", error)
            return None

    async def _save_state(self, state: ScanState) -> None:
        store = self.asset_state_store
        if store is None:
            return
        try:
            await store.aset(self.state_key, state.to_json())
        except Exception as error:
            self.log.warning("Cannot write the watcher state to the asset state store: %s", error)

    # -- polling ----------------------------------------------------------------------------------------

    async def _page(self, client: Any, cursor: str | None) -> tuple[list[Close], str | None, bool]:
        """One page of the pass: ``([(last_stopped, pool_id, close_reason)] oldest first, last id, has_more)``."""
        filters: dict[str, Any] = {
            "project_id": self.project_id, "status": "CLOSED", "sort": "id", "limit": self.page_size,
        }  # fmt: skip
        if cursor is not None:
            filters["id_gt"] = cursor
        page = await client.find_pools(**filters)
        items = list(page.items or ())
        # The client's keyset rule: ids past the cursor, strictly increasing, else PaginationError (not transient:
        # a server answering ``id_gt`` with the same or earlier pools would hold the watcher on one page for ever).
        lists.check_advances(lists.POOLS, lists.POOLS.path, [{"id": str(pool.id)} for pool in items], cursor)
        closed = []
        for pool in items:
            stopped = _parse_time(pool.last_stopped, "last_stopped")
            if stopped is not None:  # a pool never started is CLOSED without a close
                closed.append((stopped, str(pool.id), _plain(pool.last_close_reason)))
        closed.sort()
        return closed, (str(items[-1].id) if items else None), bool(page.has_more) and bool(items)

    def _wanted(self, reason: str | None) -> bool:
        if self.close_reasons is None:
            return reason != "FOR_UPDATE"
        return reason in self.close_reasons

    async def _poll(self, client: Any, cursor: str | None) -> tuple[list[Close], str | None, bool] | None:
        try:
            page = await self._page(client, cursor)
            if not page[0] and page[1] is None and not self._project_seen:
                # A project that does not exist lists no pools: without this read it would be polled for ever.
                await client.get_project(self.project_id)
                self._project_seen = True
            return page
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_transient(error):
                raise TolokaApiFailure(
                    explain_error(
                        error, self.toloka_conn_id, what=f"Toloka project {self.project_id}", argument="project_id"
                    ),
                    error,
                ) from error
            self.log.warning("Polling the pools of project %s failed (will poll again): %s", self.project_id, error)
            return None

    # -- one page against this watcher's state -----------------------------------------------------------

    async def _start_state(self) -> ScanState:
        state = await self._load_state()
        if state is None:
            state = ScanState(self.since) if self.since is not None else ScanState.start_baseline()
        self.log.info(
            "Watching project %s for closed pools (%s)", self.project_id,
            "baseline pass" if state.baseline else f"closes from {_wire_or_none(state.horizon)}",
        )  # fmt: skip
        return state

    async def _apply_page(
        self, state: ScanState, closed: Iterable[Close], last_id: str | None, has_more: bool
    ) -> AsyncIterator[TriggerEvent]:
        """The events of one page for this watcher; its state is written after each event and after the page."""
        before = state.to_json()
        for stopped, pool_id, reason in closed:
            if not state.observe(pool_id, stopped) or state.baseline or not self._wanted(reason):
                continue
            stamp = _wire(stopped)
            self.log.info("Pool %s closed (%s) at %s", pool_id, reason, stamp)
            yield TriggerEvent({
                "pool_id": pool_id, "project_id": self.project_id, "close_reason": reason,
                "last_stopped": stamp, "event_key": event_key(pool_id, stopped),
            })  # fmt: skip
            await self._save_state(state)
        was_baseline = state.baseline
        state.end_page(last_id, has_more)
        if was_baseline and not state.baseline:
            self.log.info("Baseline of project %s taken: closes from %s on are emitted", self.project_id,
                          _wire_or_none(state.horizon) or "now")  # fmt: skip
        if state.to_json() != before:
            await self._save_state(state)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """This watcher's own loop (Airflow 3.2, or a triggerer that does not share the stream)."""
        hook = TolokaHook(toloka_conn_id=self.toloka_conn_id)
        async with await hook.get_async_conn() as client:
            state = await self._start_state()
            while True:
                polled = await self._poll(client, state.cursor)
                if polled is not None:
                    async for event in self._apply_page(state, *polled):
                        yield event
                await self._sleep(self.poll_interval)

    # -- the shared stream (Airflow 3.3+) ---------------------------------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one project on one connection, polling alike, share one listing in a triggerer."""
        if not SHARED_STREAMS:
            return None
        return ("toloka-pool-closed", self.toloka_conn_id, self.project_id, self.poll_interval, self.page_size)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The one listing of a group: a ``ClosedPoolsPage`` per successful poll, until cancelled or an error.

        Only the fields of the key (connection, project, interval, page size) of one watcher's kwargs matter.
        Pages are read exactly as ``run()`` reads them (the client from the hook, the same transient/persistent
        split: a transient fault is logged and polled again, a persistent one ends the stream and so every
        watcher of the group, as it ends a lone watcher) and walk the project in passes: the page after one with
        ``has_more: false`` starts a new pass.
        """
        reader = cls(**kwargs)
        hook = TolokaHook(toloka_conn_id=reader.toloka_conn_id)
        async with await hook.get_async_conn() as client:
            reader.log.info("Listing the closed pools of project %s for the watchers that share it", reader.project_id)
            cursor: str | None = None
            seq = 0
            while True:
                polled = await reader._poll(client, cursor)
                if polled is not None:
                    closed, last_id, has_more = polled
                    seq += 1
                    yield ClosedPoolsPage(seq, cursor, tuple(closed), last_id, has_more)
                    cursor = last_id if has_more and last_id is not None else None
                await cls._sleep(reader.poll_interval)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared pages, with its own state, ``since`` and ``close_reasons``.

        A page is used when it continues this watcher's pass without a gap (it starts a pass, or it starts at or
        before this watcher's cursor); a watcher that joins in the middle of the group's pass waits for the next
        pass to begin. Every page used is applied exactly as ``run()`` applies its own (the state written after
        each event and page).
        """
        state = await self._start_state()
        async for page in shared_stream:
            if not isinstance(page, ClosedPoolsPage):
                raise TypeError(f"the shared stream must carry pages of closed pools, got {type(page).__name__}")
            if not _continues(state.cursor, page.cursor):
                continue
            async for event in self._apply_page(state, page.closes, page.last_id, page.has_more):
                yield event


class ClosedPoolsPage(NamedTuple):
    """One page of a shared listing: the closes on it, oldest first, and where the listing goes on from."""

    seq: int  #: 1 for the first page of this stream
    cursor: str | None  #: the ``id_gt`` it was read with (None: the first page of a pass)
    closes: tuple[Close, ...]
    last_id: str | None
    has_more: bool


def _continues(mine: str | None, page_cursor: str | None) -> bool:
    """Whether a page read from ``page_cursor`` leaves no gap after a pass read up to ``mine``."""
    if page_cursor is None:
        return True  # a pass start: this watcher's pass (re)starts from the lowest id
    return mine is not None and _id_key(page_cursor) <= _id_key(mine)


def _id_key(pool_id: str) -> tuple[int, int | str]:
    return (0, int(pool_id)) if pool_id.isdigit() else (1, pool_id)
