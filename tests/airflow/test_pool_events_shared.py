"""TolokaPoolClosedEventTrigger on Airflow's shared streams: watchers of one project share one listing.

The watchers are driven through Airflow's own ``SharedStreamManager`` (``airflow.triggers.shared_stream``) the
way the triggerer's runner drives them: ``subscribe`` with the trigger's ``shared_stream_key()``, the trigger's
``filter_shared_stream`` over the returned stream, ``unsubscribe`` when a watcher stops. The listing runs
against the in-process emulator; its pause between polls is replaced by one that first lets every watcher take
the page just read and then applies the test's changes, so no test waits for a clock. On Airflow 3.2 (no shared
streams) these tests are skipped: the triggerer calls ``run()`` there, tested in test_trigger_pool_events.py.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from test_trigger_pool_events import FakeStateStore, watched_emulator

import toloka_provider.triggers.pool_events as pool_events
from toloka_provider.exceptions import TolokaApiFailure
from toloka_provider.triggers.pool_events import ClosedPoolsPage, TolokaPoolClosedEventTrigger

try:
    from airflow.triggers import shared_stream
except ImportError:  # Airflow 3.2
    shared_stream = None
needs_shared_streams = pytest.mark.skipif(
    shared_stream is None or not pool_events.SHARED_STREAMS,
    reason="Airflow 3.2 has no shared event-trigger streams: its triggerer calls run() (test_trigger_pool_events.py)",
)

PROJECT = "1"
CONN = "toloka_emu"
LISTING = "GET /api/v1/pools 200"
READ_PAGE = TolokaPoolClosedEventTrigger._poll  # the trigger's own, wrapped per test to count the listing polls


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    return watched_emulator(toloka_emulator_factory, monkeypatch)


def add_pool(emu) -> str:
    return emu.state.create("pools", {"project_id": PROJECT, "private_name": "p", "status": "OPEN"})["id"]


def close(emu, pool_id, reason="COMPLETED") -> None:
    emu.advance_clock(1)
    emu.state.set_pool_status("pools", pool_id, "OPEN")
    emu.state.set_pool_status("pools", pool_id, "CLOSED", reason)


def listings(emu) -> int:
    return emu.counters()["requests"].get(LISTING, 0)


class Watcher:
    def __init__(self, trigger_id: int, trigger: TolokaPoolClosedEventTrigger, joined_at: int) -> None:
        self.trigger_id = trigger_id
        self.trigger = trigger
        self.key = trigger.shared_stream_key()
        self.joined_at = joined_at  # pages the listing had read when this watcher subscribed
        self.done = 0  # the last page this watcher's filter finished with
        self.events: list[dict] = []
        self.error: BaseException | None = None
        self.task: asyncio.Task | None = None

    @property
    def pool_ids(self) -> list[str]:
        return [event["pool_id"] for event in self.events]


class Triggerer:
    """Watchers in one triggerer process: one ``SharedStreamManager``, watchers subscribing and leaving.

    ``steps[n]`` runs at the n-th pause of the listing (after every watcher took the page read just before);
    at pause ``polls`` the listing holds still and ``run()`` returns. ``cursors`` has the ``id_gt`` of every
    listing poll, in order. As the runner does, each event is offered to ``bind_pending_event``: the stream is on
    Airflow's fast path (no ack mode), so nothing is bound.
    """

    def __init__(self, monkeypatch, steps: dict[int, Callable[[], Any]] | None = None, polls: int = 6) -> None:
        self.manager = shared_stream.SharedStreamManager()
        self.steps = steps or {}
        self.polls_wanted = polls
        self.polls = 0
        self.pages = 0
        self.cursors: list[str | None] = []
        self.watchers: list[Watcher] = []
        self.ids = itertools.count(1)
        self.finished = asyncio.Event()

        async def counted_poll(reader, client, cursor):
            self.cursors.append(cursor)
            polled = await READ_PAGE(reader, client, cursor)
            if polled is not None:
                self.pages += 1
            return polled

        monkeypatch.setattr(TolokaPoolClosedEventTrigger, "_poll", counted_poll)
        monkeypatch.setattr(TolokaPoolClosedEventTrigger, "_sleep", staticmethod(self._pause))

    async def _pause(self, seconds: float) -> None:
        self.polls += 1
        await self._settle()
        step = self.steps.get(self.polls)
        if step is not None:
            result = step()
            if inspect.isawaitable(result):
                await result
        if self.polls >= self.polls_wanted:
            self.finished.set()
            await asyncio.Event().wait()  # the listing holds still until the test stops the group

    async def _settle(self) -> None:
        """Until every live watcher finished with the last page read (its filter asked for the next one)."""
        for _ in range(100_000):
            if all(w.done >= self.pages or w.joined_at >= self.pages or w.task.done() for w in self.watchers):
                return
            await asyncio.sleep(0)
        raise AssertionError(f"the watchers did not take page {self.pages}")

    def join(self, trigger: TolokaPoolClosedEventTrigger, store: FakeStateStore | None = None) -> Watcher:
        trigger.asset_state_store = store
        watcher = Watcher(next(self.ids), trigger, self.pages)
        stream = self.manager.subscribe(trigger_id=watcher.trigger_id, trigger=trigger, key=watcher.key)

        async def tracked():
            async for page in stream:
                yield page
                watcher.done = page.seq

        async def consume():
            try:
                async for event in trigger.filter_shared_stream(tracked()):
                    watcher.events.append(event.payload)
                    seq = self.manager.bind_pending_event(trigger_id=watcher.trigger_id, key=watcher.key)
                    assert seq is None, "the fast path: no event waits for a persist confirmation"
            except Exception as error:
                watcher.error = error

        watcher.task = asyncio.create_task(consume())
        self.watchers.append(watcher)
        return watcher

    async def leave(self, watcher: Watcher) -> None:
        """As the runner ends a trigger: cancel its task, then unsubscribe it."""
        watcher.task.cancel()
        await asyncio.gather(watcher.task, return_exceptions=True)
        self.watchers.remove(watcher)
        await self.manager.unsubscribe(watcher.trigger_id, watcher.key)

    async def run(self) -> None:
        await asyncio.wait_for(self.finished.wait(), timeout=120)  # a bound, not a clock the test relies on

    async def stop(self) -> None:
        for watcher in list(self.watchers):
            await self.leave(watcher)
        await self.manager.stop_all()


def watcher(since=None, close_reasons=None, **kwargs) -> TolokaPoolClosedEventTrigger:
    return TolokaPoolClosedEventTrigger(PROJECT, CONN, since=since, close_reasons=close_reasons, **kwargs)


# -- the key ----------------------------------------------------------------------------------------------------


@needs_shared_streams
def test_the_key_is_the_listing_and_nothing_of_the_filter():
    base = TolokaPoolClosedEventTrigger("7", "c", poll_interval=30, page_size=100)
    key = base.shared_stream_key()
    assert key == ("toloka-pool-closed", "c", "7", 30.0, 100)
    same_listing = TolokaPoolClosedEventTrigger(
        " 7 ", "c", since="2026-01-01T00:00:00", close_reasons=["MANUAL"], poll_interval=30.0, page_size=100
    )
    assert same_listing.shared_stream_key() == key
    for other in [
        TolokaPoolClosedEventTrigger("8", "c", poll_interval=30, page_size=100),
        TolokaPoolClosedEventTrigger("7", "d", poll_interval=30, page_size=100),
        TolokaPoolClosedEventTrigger("7", "c", poll_interval=31, page_size=100),
        TolokaPoolClosedEventTrigger("7", "c", poll_interval=30, page_size=300),
    ]:
        assert other.shared_stream_key() != key
    hash(key)  # the manager keys its groups by it


def test_the_key_is_there_exactly_where_airflow_shares_streams():
    from airflow.triggers.base import BaseEventTrigger

    key = TolokaPoolClosedEventTrigger("7").shared_stream_key()
    assert (key is not None) == hasattr(BaseEventTrigger, "shared_stream_key") == pool_events.SHARED_STREAMS


def test_without_shared_streams_the_key_is_none(monkeypatch):
    """The Airflow 3.2 shape (no ``shared_stream_key`` on the base): the trigger opts out and run() is used."""
    monkeypatch.setattr(pool_events, "SHARED_STREAMS", False)
    assert TolokaPoolClosedEventTrigger("7").shared_stream_key() is None


async def test_a_foreign_item_on_the_stream_is_refused():
    async def stream():
        yield {"names": []}

    with pytest.raises(TypeError, match="the shared stream must carry pages of closed pools, got dict"):
        async for _ in TolokaPoolClosedEventTrigger("7").filter_shared_stream(stream()):
            pass


# -- against the emulator ------------------------------------------------------------------------------------


@needs_shared_streams
@pytest.mark.integration
async def test_watchers_share_one_listing_and_each_gets_its_own_events(emu, monkeypatch):
    old = add_pool(emu)
    close(emu, old)  # before every watcher's start
    since_early = emu.state.now_wire()
    early = add_pool(emu)
    close(emu, early)  # after ``since_early``, before the watchers start
    since_now = emu.state.now_wire()
    done, manual, for_update, done_later = (add_pool(emu) for _ in range(4))
    steps = {
        1: lambda: (close(emu, done), close(emu, manual, "MANUAL")),
        2: lambda: close(emu, for_update, "FOR_UPDATE"),
        3: lambda: close(emu, done_later),
    }
    triggerer = Triggerer(monkeypatch, steps, polls=6)
    listed_before = listings(emu)
    any_close = triggerer.join(watcher(), FakeStateStore())  # baseline: old and early are not events
    completed_since_early = triggerer.join(watcher(since_early, ["COMPLETED"]), FakeStateStore())
    manual_since_now = triggerer.join(watcher(since_now, ["MANUAL"]), FakeStateStore())
    no_store = triggerer.join(watcher(since_early))  # Airflow without a store: in memory
    await triggerer.run()
    await triggerer.stop()

    assert [w.error for w in (any_close, completed_since_early, manual_since_now, no_store)] == [None] * 4
    assert any_close.pool_ids == [done, manual, done_later]
    assert completed_since_early.pool_ids == [early, done, done_later]
    assert manual_since_now.pool_ids == [manual]
    assert no_store.pool_ids == [early, done, manual, done_later]
    assert any_close.key == completed_since_early.key == manual_since_now.key == no_store.key
    # One listing per poll for the four watchers (a lone watcher each would have made four).
    assert listings(emu) - listed_before == triggerer.polls == len(triggerer.cursors) == 6
    assert triggerer.cursors == [None] * 6  # a project of one page: every poll is a whole pass
    for w in (any_close, completed_since_early, manual_since_now, no_store):
        assert all(e["event_key"] == f"{e['pool_id']}@{e['last_stopped']}" for e in w.events)
        assert all(e["project_id"] == PROJECT for e in w.events)


@needs_shared_streams
@pytest.mark.integration
async def test_a_watcher_joining_mid_pass_misses_nothing_and_one_leaving_stops_only_its_events(emu, monkeypatch):
    since = emu.state.now_wire()
    closed = [add_pool(emu) for _ in range(5)]
    for pool_id in closed:
        close(emu, pool_id)  # five closed pools: a pass is three pages of two
    first, second = add_pool(emu), add_pool(emu)
    triggerer = Triggerer(monkeypatch, polls=12)
    from_since = triggerer.join(watcher(since, page_size=2), FakeStateStore())
    baseline = triggerer.join(watcher(page_size=2), FakeStateStore())
    joined = {}

    async def leave_baseline():
        await triggerer.leave(baseline)

    triggerer.steps = {
        2: lambda: joined.setdefault("late", triggerer.join(watcher(since, page_size=2), FakeStateStore())),
        3: lambda: close(emu, first),  # the baseline pass ended on poll 3: the next pass sees ``first``
        7: leave_baseline,
        8: lambda: close(emu, second),
    }
    await triggerer.run()
    late = joined["late"]
    # The group's pass went on while the watchers came and went: one listing per poll, by id pages of two.
    # Passes: five pools (polls 1-3), six (4-6), seven from poll 9 on, as ``second`` closes (7-10), then 11-12.
    c = sorted(closed, key=int)
    assert triggerer.cursors == [None, c[1], c[3], None, c[1], c[3], None, c[1], c[3], first, None, c[1]]
    await triggerer.stop()
    assert [from_since.error, late.error] == [None, None]
    assert sorted(from_since.pool_ids, key=int) == sorted([*closed, first, second], key=int)
    # The late watcher joined after page 2 of a pass, skipped page 3 (a gap behind it) and began with pass 2.
    assert sorted(late.pool_ids, key=int) == sorted(from_since.pool_ids, key=int)
    assert baseline.pool_ids == [first]  # it left before ``second`` closed
    assert len(set(late.pool_ids)) == len(late.pool_ids) == 7


@needs_shared_streams
@pytest.mark.integration
async def test_a_transient_fault_on_the_shared_listing_is_polled_through_by_every_watcher(emu, monkeypatch):
    done, manual = add_pool(emu), add_pool(emu)
    steps = {
        1: lambda: emu.set_faults("503=1.0", paths=["/api/v1/pools"]),
        2: lambda: (close(emu, done), close(emu, manual, "MANUAL")),
        3: emu.clear_faults,
    }
    triggerer = Triggerer(monkeypatch, steps, polls=5)
    completed = triggerer.join(watcher(close_reasons=["COMPLETED"]), FakeStateStore())
    manual_only = triggerer.join(watcher(close_reasons="MANUAL"), FakeStateStore())
    await triggerer.run()
    await triggerer.stop()
    assert (completed.error, manual_only.error) == (None, None)
    assert (completed.pool_ids, manual_only.pool_ids) == ([done], [manual])
    requests = emu.counters()["requests"]
    assert requests.get("GET /api/v1/pools fault:503") == 2  # polls 2 and 3: one request each for both watchers
    assert requests.get(LISTING) == 3 and triggerer.pages == 3 and triggerer.polls == 5


@needs_shared_streams
@pytest.mark.integration
async def test_a_triggerer_restart_emits_nothing_twice_and_catches_up(emu, monkeypatch):
    since = emu.state.now_wire()
    pools = [add_pool(emu) for _ in range(6)]
    stores = [FakeStateStore(), FakeStateStore(), FakeStateStore()]
    first = Triggerer(monkeypatch, {1: lambda: close(emu, pools[0]), 2: lambda: close(emu, pools[1], "MANUAL")}, 4)
    before = [
        first.join(watcher(), stores[0]),
        first.join(watcher(since, ["MANUAL"]), stores[1]),
        first.join(watcher(since, ["COMPLETED"]), stores[2]),
    ]
    await first.run()
    await first.stop()
    assert [w.pool_ids for w in before] == [[pools[0], pools[1]], [pools[1]], [pools[0]]]

    close(emu, pools[2])  # while no triggerer runs
    close(emu, pools[3], "MANUAL")
    # The triggerer re-creates each watcher from its stored kwargs; the third comes back a pass later.
    again = [TolokaPoolClosedEventTrigger(**w.trigger.serialize()[1]) for w in before]
    second = Triggerer(monkeypatch, polls=5)
    late = {}
    second.steps = {
        1: lambda: late.setdefault("w", second.join(again[2], stores[2])),
        2: lambda: close(emu, pools[4]),
    }
    after = [second.join(again[0], stores[0]), second.join(again[1], stores[1])]
    await second.run()
    await second.stop()
    after.append(late["w"])
    assert [w.error for w in after] == [None] * 3
    assert [w.pool_ids for w in after] == [[pools[2], pools[3], pools[4]], [pools[3]], [pools[2], pools[4]]]

    third = Triggerer(monkeypatch, polls=3)
    last = [third.join(TolokaPoolClosedEventTrigger(**w.trigger.serialize()[1]), store) for w, store in
            zip(before, stores, strict=True)]  # fmt: skip
    await third.run()
    await third.stop()
    assert [w.pool_ids for w in last] == [[], [], []]


@needs_shared_streams
@pytest.mark.integration
async def test_a_persistent_error_on_the_listing_ends_every_watcher_without_the_token(emu, monkeypatch):
    emu.revoke_token(emu.token)
    triggerer = Triggerer(monkeypatch, polls=3)
    watchers = [triggerer.join(watcher(), FakeStateStore()), triggerer.join(watcher(close_reasons="MANUAL"))]
    await asyncio.wait_for(asyncio.gather(*(w.task for w in watchers)), timeout=60)
    await triggerer.stop()
    for w in watchers:
        assert isinstance(w.error, TolokaApiFailure) and "rejected" in str(w.error)
        assert emu.token not in str(w.error) and emu.token not in repr(w.error.__cause__)
    assert triggerer.polls == 0 and len(triggerer.cursors) == 1  # one shared request, not one per watcher


@needs_shared_streams
@pytest.mark.integration
async def test_a_missing_project_ends_the_watchers_in_the_sensors_words(emu, monkeypatch):
    triggerer = Triggerer(monkeypatch, polls=3)
    watchers = [triggerer.join(TolokaPoolClosedEventTrigger("424242", CONN)) for _ in range(2)]
    await asyncio.wait_for(asyncio.gather(*(w.task for w in watchers)), timeout=60)
    await triggerer.stop()
    for w in watchers:
        assert str(w.error).startswith("Argument 'project_id': Toloka project 424242 does not exist")


def test_pages_are_plain_immutable_values():
    page = ClosedPoolsPage(1, None, (), None, False)
    assert page._replace(seq=2).seq == 2 and page.seq == 1
    with pytest.raises(AttributeError):
        page.seq = 3  # type: ignore[misc]


def _scenario(emu):
    """A project of several pages (two pools a page) and closes for several reasons while the watchers run.

    Returns the clock marks the watchers' ``since`` is taken from and the steps, by pause."""
    marks = {"start": emu.state.now_wire()}
    pools = [add_pool(emu) for _ in range(9)]
    for pool_id in pools[:3]:
        close(emu, pool_id)
    marks["middle"] = emu.state.now_wire()
    close(emu, pools[3], "MANUAL")
    steps = {
        1: lambda: close(emu, pools[4]),
        2: lambda: (close(emu, pools[5], "MANUAL"), close(emu, pools[0], "EXPIRED")),  # pools[0] reopened
        4: lambda: close(emu, pools[6], "FOR_UPDATE"),
        6: lambda: (close(emu, pools[7]), close(emu, pools[8], "EXPIRED")),
        9: lambda: close(emu, pools[1], "MANUAL"),
    }
    return marks, steps


WATCHERS = {  # name -> kwargs of the trigger, from the scenario's clock marks
    "baseline": lambda marks: {},
    "since_start": lambda marks: {"since": marks["start"]},
    "since_middle_completed": lambda marks: {"since": marks["middle"], "close_reasons": ["COMPLETED"]},
    "manual_or_expired": lambda marks: {"close_reasons": ["MANUAL", "EXPIRED"]},
    "for_update_too": lambda marks: {"since": marks["start"], "close_reasons": ["COMPLETED", "FOR_UPDATE"]},
}
POLLS = 14


async def _lone(trigger: TolokaPoolClosedEventTrigger, steps) -> list[tuple[str, str]]:
    pauses = 0
    events: list[tuple[str, str]] = []

    class Stop(Exception):
        pass

    async def pause(seconds):
        nonlocal pauses
        pauses += 1
        if pauses in steps:
            steps[pauses]()
        if pauses >= POLLS:
            raise Stop

    trigger._sleep = pause
    with pytest.raises(Stop):
        async for event in trigger.run():
            events.append((event.payload["pool_id"], event.payload["close_reason"]))
    return events


@needs_shared_streams
@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(WATCHERS))
async def test_each_shared_watcher_gets_exactly_what_it_gets_alone(toloka_emulator_factory, monkeypatch, name):
    """The same history on two emulators: one watcher alone (its own ``run()``), and all five sharing a stream."""

    def fresh():
        emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
        emulator.state.store("projects", {"id": PROJECT, "public_name": "watched", "status": "ACTIVE"})
        monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_EMU", json.dumps(
            {"conn_type": "toloka", "password": emulator.token, "host": emulator.url, "extra": {"retries": 0}}
        ))  # fmt: skip
        return emulator

    alone_emu = fresh()
    marks, steps = _scenario(alone_emu)
    alone = await _lone(watcher(page_size=2, **WATCHERS[name](marks)), steps)

    shared_emu = fresh()
    marks, steps = _scenario(shared_emu)
    triggerer = Triggerer(monkeypatch, steps, polls=POLLS)
    group = {other: triggerer.join(watcher(page_size=2, **kwargs(marks)), FakeStateStore())
             for other, kwargs in WATCHERS.items()}  # fmt: skip
    before = listings(shared_emu)
    await triggerer.run()
    await triggerer.stop()
    assert group[name].error is None
    assert [(e["pool_id"], e["close_reason"]) for e in group[name].events] == alone
    assert listings(shared_emu) - before == POLLS  # the five watchers: one listing per poll
    assert alone, "the scenario gives every watcher at least one event"


@pytest.mark.integration
async def test_the_state_is_written_as_run_writes_it(emu, monkeypatch):
    """The filter writes the state right after the triggerer takes each event, before the listing goes on, as
    ``run()`` does: a restart after that emits nothing twice (driven here directly, without the manager)."""
    since = emu.state.now_wire()
    pool_id = add_pool(emu)
    trigger = watcher(since)
    store = trigger.asset_state_store = FakeStateStore()
    pauses = 0
    waiting = asyncio.Event()

    async def pause(seconds):
        nonlocal pauses
        pauses += 1
        if pauses == 1:
            close(emu, pool_id)
            return
        waiting.set()
        await asyncio.Event().wait()  # the listing holds still (and is cancelled here, not inside a request)

    monkeypatch.setattr(TolokaPoolClosedEventTrigger, "_sleep", staticmethod(pause))
    pages: list[ClosedPoolsPage] = []

    async def tracked():
        async for page in TolokaPoolClosedEventTrigger.open_shared_stream(trigger.serialize()[1]):
            pages.append(page)
            yield page

    events = trigger.filter_shared_stream(tracked())
    event = await asyncio.wait_for(events.__anext__(), timeout=60)
    assert event.payload["pool_id"] == pool_id and store.data == {}  # not yet: the runner has the event now
    writing = asyncio.ensure_future(events.__anext__())  # the runner asks for the next event: the state is written
    await asyncio.wait_for(waiting.wait(), timeout=60)  # ... before the listing waits for its next poll
    assert store.data[trigger.state_key]["seen"] == [event.payload["event_key"]]
    writing.cancel()
    await asyncio.gather(writing, return_exceptions=True)
    assert [page.seq for page in pages] == [1, 2]
