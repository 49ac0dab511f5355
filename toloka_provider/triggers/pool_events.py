"""TolokaPoolClosedEventTrigger: an event trigger for ``AssetWatcher`` — one event per pool of a project that closes.

Used for event-driven scheduling (Airflow 3)::

    pools_closed = Asset("toloka-pools-closed", watchers=[AssetWatcher(
        name="toloka_pool_closed", trigger=TolokaPoolClosedEventTrigger(project_id="123"))])

    with DAG("consumer", schedule=[pools_closed]): ...   # one run per finished pool

How it polls
    One request per poll: ``find_pools(project_id=..., status="CLOSED", sort="-last_started", limit=...)``
    through the async client. A pool whose ``last_stopped`` is newer than the watermark is emitted, oldest first,
    as ``{"pool_id", "project_id", "close_reason", "last_stopped", "event_key"}``; ``event_key`` is
    ``"<pool_id>@<last_stopped>"`` (stable: a consumer may dedupe on it). A pool that is opened and closed again
    is a new close and is emitted again.

Why the watermark is not in the kwargs
    An AssetWatcher's trigger is built from the DAG file at parse time and re-created from its serialized kwargs
    whenever the triggerer (re)starts it, so the kwargs are fixed: they cannot carry what was already emitted
    (and a kwarg that changes per parse, like ``since=datetime.now()``, would make a new trigger at every
    parse). The watermark — the newest ``last_stopped`` emitted and the pool ids closed at that instant — lives in
    Toloka's own timestamps plus:

    * **Airflow 3.3+**: the asset state store, which the triggerer gives every watcher
      (``self.asset_state_store``); the watermark is written after each event, so a restarted triggerer resumes
      from it: nothing is emitted twice, and pools that closed while it was down are emitted when it is back.
      The one window left: the triggerer dies after yielding an event and before the watermark is written;
      that pool is emitted once more (at-least-once), hence ``event_key``.
    * **Airflow 3.2** (no store): the watermark is in memory. A new trigger starts from ``since`` when given
      (pools closed after it are emitted again after a restart: at-least-once, consumers must be idempotent),
      otherwise from the pools already closed at start (nothing is emitted twice, but a pool that closes while
      the triggerer is down is never emitted: at-most-once).

    ``since`` must be a constant in the DAG file (e.g. ``"2026-01-01T00:00:00"``).

Errors: transient ones (5xx, 429, no answer) are logged and the next poll tries again; a persistent one (a bad
token, a missing project) ends the trigger with an exception, which the triggerer logs, rather than an event that
would start a consumer run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from toloka_provider.client.errors import is_transient
from toloka_provider.client.waits import describe_persistent_error, normalise_names
from toloka_provider.hooks.toloka import TolokaHook

#: Pools fetched per poll (Toloka's page limit for pools is 300).
DEFAULT_PAGE_SIZE = 300
STATE_KEY_PREFIX = "toloka_pool_closed_watermark"


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


def _plain(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


class Watermark:
    """The newest close emitted (``last_stopped``) and the ids of the pools that closed at that very instant."""

    def __init__(self, last_stopped: datetime | None = None, pool_ids: Iterable[str] = ()) -> None:
        self.last_stopped = last_stopped
        self.pool_ids = set(pool_ids)

    def is_new(self, pool_id: str, stopped: datetime) -> bool:
        if self.last_stopped is None or stopped > self.last_stopped:
            return True
        return stopped == self.last_stopped and pool_id not in self.pool_ids

    def advance(self, pool_id: str, stopped: datetime) -> None:
        if self.last_stopped is None or stopped > self.last_stopped:
            self.last_stopped, self.pool_ids = stopped, {pool_id}
        elif stopped == self.last_stopped:
            self.pool_ids.add(pool_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "last_stopped": None if self.last_stopped is None else _wire(self.last_stopped),
            "pool_ids": sorted(self.pool_ids),
        }

    @classmethod
    def from_json(cls, data: Any) -> Watermark | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(_parse_time(data.get("last_stopped"), "watermark"), [str(i) for i in data.get("pool_ids") or ()])
        except ValueError:
            return None


class TolokaPoolClosedEventTrigger(BaseEventTrigger):
    """Emit one event per pool of ``project_id`` that closes (see the module docstring for the guarantees).

    :param project_id: the project whose pools are watched.
    :param toloka_conn_id: the Toloka connection.
    :param since: emit pools closed after this instant (an ISO string or a datetime; a constant, not ``now()``).
        None: start from the pools already closed when the trigger first starts (they are not emitted).
    :param close_reasons: emit only pools closed for one of these reasons (e.g. ``["COMPLETED"]``); None: any
        close except ``FOR_UPDATE`` (a pool closed to be edited has not finished).
    :param poll_interval: seconds between polls.
    :param page_size: pools fetched per poll (at most 300): more closes than this between two polls in one
        project would be missed.
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
        if not project_id or not isinstance(project_id, str):
            raise ValueError(f"project_id must be a non-empty string, got {project_id!r}")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
            raise ValueError(f"poll_interval must be a number > 0 (seconds), got {poll_interval!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 300:
            raise ValueError(f"page_size must be an integer from 1 to 300, got {page_size!r}")
        self.project_id = project_id
        self.toloka_conn_id = toloka_conn_id
        self.since = _parse_time(since, "since")
        self.close_reasons = None if close_reasons is None else normalise_names(close_reasons, "close_reasons")
        self.poll_interval = float(poll_interval)
        self.page_size = page_size
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

    # -- the watermark ----------------------------------------------------------------------------------

    async def _load_watermark(self) -> Watermark | None:
        store = self.asset_state_store
        if store is None:
            return None
        try:
            return Watermark.from_json(await store.aget(self.state_key))
        except Exception as error:  # the store is an aid; without it the trigger still works (in memory)
            self.log.warning("Cannot read the watermark from the asset state store: %s", error)
            return None

    async def _save_watermark(self, watermark: Watermark) -> None:
        store = self.asset_state_store
        if store is None:
            return
        try:
            await store.aset(self.state_key, watermark.to_json())
        except Exception as error:
            self.log.warning("Cannot write the watermark to the asset state store: %s", error)

    # -- polling ----------------------------------------------------------------------------------------

    async def _closed_pools(self, client: Any) -> list[tuple[datetime, str, str | None]]:
        """``[(last_stopped, pool_id, close_reason)]`` of the project's closed pools, oldest close first."""
        page = await client.find_pools(
            project_id=self.project_id, status="CLOSED", sort="-last_started", limit=self.page_size
        )
        closed = []
        for pool in page.items or ():
            stopped = _parse_time(pool.last_stopped, "last_stopped")
            if stopped is not None:
                closed.append((stopped, str(pool.id), _plain(pool.last_close_reason)))
        closed.sort()
        return closed

    def _wanted(self, reason: str | None) -> bool:
        if self.close_reasons is None:
            return reason != "FOR_UPDATE"
        return reason in self.close_reasons

    async def _poll(self, client: Any) -> list[tuple[datetime, str, str | None]] | None:
        try:
            return await self._closed_pools(client)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_transient(error):
                raise RuntimeError(
                    describe_persistent_error(error, f"Toloka project {self.project_id}'s pools", self.toloka_conn_id)
                ) from error
            self.log.warning("Polling the pools of project %s failed (will poll again): %s", self.project_id, error)
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = TolokaHook(toloka_conn_id=self.toloka_conn_id)
        async with await hook.get_async_conn() as client:
            watermark = await self._load_watermark()
            if watermark is None and self.since is not None:
                watermark = Watermark(self.since)
            while watermark is None:  # no state, no since: what is closed now is the baseline
                closed = await self._poll(client)
                if closed is not None:
                    watermark = Watermark()
                    for stopped, pool_id, _ in closed:
                        watermark.advance(pool_id, stopped)
                    await self._save_watermark(watermark)
                    self.log.info("Watching project %s for pools closed after %s", self.project_id,
                                  watermark.to_json()["last_stopped"])
                    break
                await self._sleep(self.poll_interval)
            while True:
                for stopped, pool_id, reason in await self._poll(client) or ():
                    if not watermark.is_new(pool_id, stopped):
                        continue
                    watermark.advance(pool_id, stopped)
                    if self._wanted(reason):
                        stamp = _wire(stopped)
                        self.log.info("Pool %s closed (%s) at %s", pool_id, reason, stamp)
                        yield TriggerEvent({
                            "pool_id": pool_id, "project_id": self.project_id, "close_reason": reason,
                            "last_stopped": stamp, "event_key": f"{pool_id}@{stamp}",
                        })
                    await self._save_watermark(watermark)
                await self._sleep(self.poll_interval)
