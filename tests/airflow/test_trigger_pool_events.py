"""TolokaPoolClosedEventTrigger (triggers/pool_events.py): the AssetWatcher trigger for closed pools.

Run against the in-process emulator; pools change state between polls through the emulator's own state (the
trigger's sleep is replaced, so no test waits for a clock). A "restart" is a new trigger built from the first
one's ``serialize()`` kwargs, as the triggerer builds it, sharing the asset state store (a dict here).
"""

from __future__ import annotations

import json

import pytest
from airflow.triggers.base import BaseEventTrigger

from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.triggers.pool_events import ScanState, TolokaPoolClosedEventTrigger

PROJECT = "1"


class _Stop(Exception):
    """Ends a test's run of the (endless) trigger."""


class FakeStateStore:
    """The asset state store's async accessors, over a dict (Airflow 3.3's triggerer injects the real one)."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.writes = 0

    async def aget(self, key, default=None):
        return self.data.get(key, default)

    async def aset(self, key, value):
        json.dumps(value)  # the store keeps JSON
        self.data[key] = value
        self.writes += 1


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    return watched_emulator(toloka_emulator_factory, monkeypatch)


def watched_emulator(toloka_emulator_factory, monkeypatch):
    """An emulator with no crowd, the watched project, and the connection ``toloka_emu`` to it."""
    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    # The watched project exists (a missing one ends the trigger: test_a_missing_project_ends_the_trigger).
    emulator.state.store("projects", {"id": PROJECT, "public_name": "watched", "status": "ACTIVE"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_EMU",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url, "extra": {"retries": 0}}),
    )
    return emulator


def add_pool(emu, project_id=PROJECT) -> str:
    return emu.state.create("pools", {"project_id": project_id, "private_name": "p", "status": "OPEN"})["id"]


def close(emu, pool_id, reason="COMPLETED") -> None:
    emu.advance_clock(1)  # distinct close times; ties are covered by their own test
    emu.state.set_pool_status("pools", pool_id, "OPEN")
    emu.state.set_pool_status("pools", pool_id, "CLOSED", reason)


def close_only(emu, pool_id, reason="COMPLETED") -> None:
    """Close an open pool (its ``last_started`` stays as it was)."""
    emu.advance_clock(1)
    emu.state.set_pool_status("pools", pool_id, "CLOSED", reason)


async def collect(trigger, steps=None, polls=6) -> list[dict]:
    """Run ``trigger`` for ``polls`` pauses; ``steps[n]`` runs at the n-th pause. Returns the event payloads."""
    pauses = []

    async def fake_sleep(seconds):
        pauses.append(seconds)
        if steps and len(pauses) in steps:
            steps[len(pauses)]()
        if len(pauses) >= polls:
            raise _Stop

    trigger._sleep = fake_sleep
    events = []
    with pytest.raises(_Stop):
        async for event in trigger.run():
            events.append(event.payload)
    return events


def test_serialize_round_trip_and_argument_checks():
    trigger = TolokaPoolClosedEventTrigger(project_id="7", toloka_conn_id="c", since="2026-01-02T03:04:05Z",
                                           close_reasons=["completed"], poll_interval=5)
    path, kwargs = trigger.serialize()
    assert path == "toloka_provider.triggers.pool_events.TolokaPoolClosedEventTrigger"
    assert kwargs == {"project_id": "7", "toloka_conn_id": "c", "since": "2026-01-02T03:04:05.000000",
                      "close_reasons": ["COMPLETED"], "poll_interval": 5.0, "page_size": 300}
    again = TolokaPoolClosedEventTrigger(**kwargs)
    assert again.serialize() == (path, kwargs) and isinstance(again, BaseEventTrigger)
    assert json.loads(json.dumps(kwargs)) == kwargs
    # The Airflow hash of an event trigger (how the scheduler identifies a watcher) is stable too.
    assert BaseEventTrigger.hash(path, kwargs) == BaseEventTrigger.hash(*again.serialize())
    for bad, message in [
        ({"project_id": ""}, "project_id must be a Toloka project id"),
        ({"project_id": "None"}, "project_id must be a Toloka project id"),
        ({"project_id": "1", "poll_interval": 0}, r"poll_interval must be a number >= 0.1 \(seconds"),
        ({"project_id": "1", "poll_interval": 0.0005}, r"poll_interval must be a number >= 0.1 \(seconds"),
        ({"project_id": "1", "close_reasons": ["COMPLETE"]}, r"unknown close reason\(s\) COMPLETE"),
        ({"project_id": "1", "page_size": 301}, "page_size must be an integer from 1 to 300"),
        ({"project_id": "1", "since": "yesterday"}, "since must be an ISO 8601 date-time"),
        ({"project_id": "1", "close_reasons": []}, "close_reasons must name at least one"),
    ]:
        with pytest.raises(TolokaInputError, match=message):  # not retried, as the sensors' argument errors
            TolokaPoolClosedEventTrigger(**bad)


def test_scan_state_json_round_trip():
    since = TolokaPoolClosedEventTrigger(project_id="1", since="2026-01-01T00:00:00").since
    state = ScanState(since, cursor="42")
    assert state.observe("a", since) is True and state.observe("a", since) is False
    assert state.to_json() == {
        "version": 2, "horizon": "2026-01-01T00:00:00.000000", "pending": "2026-01-01T00:00:00.000000",
        "newest": "2026-01-01T00:00:00.000000", "seen": ["a@2026-01-01T00:00:00.000000"], "cursor": "42",
        "baseline": False,
    }  # fmt: skip
    assert ScanState.from_json(state.to_json()).to_json() == state.to_json()
    assert ScanState.from_json(ScanState.start_baseline().to_json()).baseline is True
    for garbage in ("garbage", None, {"version": 99}, {"version": 2, "horizon": "yesterday"}):
        assert ScanState.from_json(garbage) is None


@pytest.mark.integration
async def test_one_event_per_closed_pool(emu):
    already = add_pool(emu)
    close(emu, already)  # closed before the watcher started: the baseline, not an event
    first, second, for_update, other_project = add_pool(emu), add_pool(emu), add_pool(emu), add_pool(emu, "2")
    steps = {
        1: lambda: close(emu, first),
        2: lambda: (close(emu, second, "MANUAL"), close(emu, for_update, "FOR_UPDATE"), close(emu, other_project)),
    }
    events = await collect(TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu", poll_interval=10), steps, polls=6)
    assert [(e["pool_id"], e["close_reason"]) for e in events] == [(first, "COMPLETED"), (second, "MANUAL")]
    assert all(e["project_id"] == PROJECT and e["event_key"] == f"{e['pool_id']}@{e['last_stopped']}" for e in events)


@pytest.mark.integration
async def test_a_pool_reopened_and_closed_again_is_a_new_event(emu):
    pool_id = add_pool(emu)
    steps = {1: lambda: close(emu, pool_id), 3: lambda: close(emu, pool_id)}
    events = await collect(TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu"), steps, polls=5)
    assert [e["pool_id"] for e in events] == [pool_id, pool_id]
    assert events[0]["event_key"] != events[1]["event_key"]


@pytest.mark.integration
async def test_pools_closed_at_the_same_instant_are_each_emitted_once(emu):
    a, b = add_pool(emu), add_pool(emu)

    def close_both():
        emu.advance_clock(1)
        for pool_id in (a, b):
            emu.state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")
        with emu.state.lock:  # the emulator clock runs on: give both the same close time, as Toloka may
            emu.state.get("pools", b)["last_stopped"] = emu.state.get("pools", a)["last_stopped"]

    store = FakeStateStore()
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu")
    trigger.asset_state_store = store
    events = await collect(trigger, {1: close_both}, polls=3)
    assert sorted(e["pool_id"] for e in events) == sorted([a, b])
    assert events[0]["last_stopped"] == events[1]["last_stopped"]
    restarted = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])
    restarted.asset_state_store = store
    assert await collect(restarted, polls=3) == []


@pytest.mark.integration
async def test_none_twice_across_a_triggerer_restart(emu):
    store = FakeStateStore()
    before, during, after = add_pool(emu), add_pool(emu), add_pool(emu)
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu", poll_interval=1)
    trigger.asset_state_store = store
    first_run = await collect(trigger, {1: lambda: close(emu, before)}, polls=4)
    assert [e["pool_id"] for e in first_run] == [before]

    close(emu, during)  # while the triggerer is down
    restarted = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])  # as the triggerer re-creates it
    restarted.asset_state_store = store
    second_run = await collect(restarted, {2: lambda: close(emu, after)}, polls=4)
    assert [e["pool_id"] for e in second_run] == [during, after]
    assert store.data[restarted.state_key]["seen"][-1].startswith(f"{after}@")

    third = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])
    third.asset_state_store = store
    assert await collect(third, polls=3) == []


@pytest.mark.integration
async def test_without_a_state_store_since_gives_at_least_once(emu):
    """Airflow 3.2 (no asset state store): with ``since`` a restart emits the same closes again, same keys."""
    clock = emu.state.now_wire()
    pool_id = add_pool(emu)
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu", since=clock)
    assert trigger.asset_state_store is None
    first = await collect(trigger, {1: lambda: close(emu, pool_id)}, polls=3)
    again = await collect(TolokaPoolClosedEventTrigger(**trigger.serialize()[1]), polls=2)
    assert [e["event_key"] for e in first] == [e["event_key"] for e in again] and len(first) == 1


@pytest.mark.integration
async def test_close_reasons_filter(emu):
    done, manual = add_pool(emu), add_pool(emu)
    steps = {1: lambda: (close(emu, manual, "MANUAL"), close(emu, done, "COMPLETED"))}
    events = await collect(TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu", close_reasons="COMPLETED"), steps, 3)
    assert [e["pool_id"] for e in events] == [done]


@pytest.mark.integration
async def test_a_persistent_error_ends_the_trigger(emu):
    emu.revoke_token(emu.token)
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu")
    with pytest.raises(TolokaApiFailure, match="rejected"):
        await collect(trigger, polls=3)


async def test_a_missing_project_ends_the_trigger_in_the_sensors_words(emu):
    trigger = TolokaPoolClosedEventTrigger("424242", "toloka_emu")
    with pytest.raises(TolokaApiFailure) as failure:
        await collect(trigger, polls=3)
    assert str(failure.value).startswith(
        "Argument 'project_id': Toloka project 424242 does not exist for this account and environment; check the "
        "id and the environment of Airflow connection 'toloka_emu' (not retried): GET /api/v1/projects/424242"
    )


@pytest.mark.integration
async def test_transient_errors_are_polled_through(emu):
    pool_id = add_pool(emu)
    emu.set_faults("503=1.0", paths=["/api/v1/pools"])
    steps = {1: emu.clear_faults, 2: lambda: close(emu, pool_id)}
    events = await collect(TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu"), steps, polls=4)
    assert [e["pool_id"] for e in events] == [pool_id]


# -- a project bigger than one page: the cursor across polls ------------------------------------------------


class FakePoolsClient:
    """``find_pools`` over a dict of pools, as Toloka pages them (``sort=id``, ``id_gt``, ``limit``, ``has_more``)."""

    def __init__(self, count: int) -> None:
        self.pools = {f"{n:04d}": {"status": "OPEN", "last_stopped": None, "reason": None} for n in range(1, count + 1)}
        self.requests: list[dict] = []
        self.clock = 0

    def close(self, pool_id: str, reason: str = "COMPLETED") -> None:
        self.clock += 1
        self.pools[pool_id].update(status="CLOSED", reason=reason, last_stopped=f"2026-01-01T00:{self.clock // 60:02d}:{self.clock % 60:02d}")

    async def find_pools(self, **filters):
        from types import SimpleNamespace

        self.requests.append(filters)
        assert filters.keys() <= {"project_id", "status", "sort", "limit", "id_gt"}
        assert (filters["project_id"], filters["status"], filters["sort"]) == (PROJECT, "CLOSED", "id")
        ids = sorted(i for i, p in self.pools.items() if p["status"] == "CLOSED" and i > filters.get("id_gt", ""))
        page = ids[: filters["limit"]]
        items = [SimpleNamespace(id=i, last_stopped=self.pools[i]["last_stopped"], last_close_reason=self.pools[i]["reason"])
                 for i in page]  # fmt: skip
        return SimpleNamespace(items=items, has_more=len(ids) > len(page))


@pytest.fixture
def fake_toloka(monkeypatch):
    """The trigger's hook replaced by one whose async client is a FakePoolsClient (set ``.client``)."""
    import toloka_provider.triggers.pool_events as module

    holder = {}

    class Conn:
        async def __aenter__(self):
            return holder["client"]

        async def __aexit__(self, *exc):
            return False

    class Hook:
        def __init__(self, toloka_conn_id):
            assert toloka_conn_id == "fake"

        async def get_async_conn(self):
            return Conn()

    monkeypatch.setattr(module, "TolokaHook", Hook)
    return holder


async def test_the_cursor_walks_every_page_and_each_close_is_emitted_once(fake_toloka):
    """700 closed pools, 300 a page: one request per poll, ``id_gt`` from the last page, a new pass after the last."""
    client = fake_toloka["client"] = FakePoolsClient(710)
    for n in range(1, 701):
        client.close(f"{n:04d}")  # the baseline
    low, middle, high = "0705", "0706", "0707"  # opened before, closed while the trigger runs
    reopened = "0005"
    steps = {
        # poll 4 read ids 1-300 (a new pass): 0707 now closes first, then 0005 is reopened and closed again
        4: lambda: (client.close(high), client.close(reopened)),
        5: lambda: client.close(low),
        7: lambda: client.close(middle, "FOR_UPDATE"),
    }
    store = FakeStateStore()
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "fake", page_size=300)
    trigger.asset_state_store = store
    events = await collect(trigger, steps, polls=12)
    cursors = [request.get("id_gt") for request in client.requests]
    assert cursors == [None, "0300", "0600"] * 4
    assert all(request["limit"] == 300 for request in client.requests)
    assert sorted(e["pool_id"] for e in events) == sorted([high, reopened, low])  # FOR_UPDATE: not an event
    assert len({e["event_key"] for e in events}) == 3
    # A restart (same store) re-emits nothing; the seen keys stay few.
    again = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])
    again.asset_state_store = store
    assert await collect(again, polls=6) == []
    assert len(store.data[trigger.state_key]["seen"]) <= 4


async def test_a_restart_in_the_middle_of_a_pass_resumes_from_the_stored_cursor(fake_toloka):
    client = fake_toloka["client"] = FakePoolsClient(20)
    for n in range(1, 16):
        client.close(f"{n:04d}")
    store = FakeStateStore()
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "fake", page_size=5)
    trigger.asset_state_store = store
    assert await collect(trigger, {3: lambda: client.close("0016")}, polls=5) == []  # baseline: 3 polls; then 2
    assert store.data[trigger.state_key]["cursor"] == "0010" and client.requests[-1].get("id_gt") == "0005"
    client.close("0002", "MANUAL")  # reopened and closed while the triggerer is down (behind the cursor)
    again = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])
    again.asset_state_store = store
    events = await collect(again, polls=6)
    assert client.requests[5].get("id_gt") == "0010"  # resumed where it was
    assert [(e["pool_id"], e["close_reason"]) for e in events] == [("0016", "COMPLETED"), ("0002", "MANUAL")]


def test_state_of_the_first_format_is_read():
    """The state the one-page trigger wrote (newest close emitted + its pools) carries over: no close twice."""
    state = ScanState.from_json({"last_stopped": "2026-01-01T00:00:05.000000", "pool_ids": ["7"]})
    assert state.horizon.isoformat() == "2026-01-01T00:00:05+00:00" and not state.baseline
    assert state.observe("7", state.horizon) is False and state.observe("8", state.horizon) is True


@pytest.mark.integration
async def test_a_project_of_700_pools_against_the_emulator(emu):
    """The gap of one page by ``-last_started``: a pool started before 700 others closes; it is emitted too."""
    early = add_pool(emu)
    emu.state.set_pool_status("pools", early, "OPEN")  # started first: the oldest last_started of the project
    pools = [add_pool(emu) for _ in range(700)]
    for pool_id in pools:
        close(emu, pool_id)  # started and closed after ``early``: the baseline
    late = add_pool(emu)
    store = FakeStateStore()
    trigger = TolokaPoolClosedEventTrigger(PROJECT, "toloka_emu", poll_interval=1)
    trigger.asset_state_store = store
    steps = {
        3: lambda: close_only(emu, early),  # the baseline pass ended at poll 3; ``early`` keeps its old start
        5: lambda: (close(emu, late), close(emu, pools[10]), close(emu, pools[650])),  # behind and ahead
    }
    events = await collect(trigger, steps, polls=12)
    assert sorted(e["pool_id"] for e in events) == sorted([early, late, pools[10], pools[650]])
    assert len({e["event_key"] for e in events}) == 4
    again = TolokaPoolClosedEventTrigger(**trigger.serialize()[1])
    again.asset_state_store = store
    assert await collect(again, polls=4) == []


@pytest.mark.parametrize("answer", [["0002", "0003"], ["0004", "0004"], ["0005", "0004"]])
async def test_a_page_that_does_not_move_past_the_cursor_fails_instead_of_repeating_for_ever(answer):
    """A broken server answering ``id_gt=0003`` with the cursor's own, earlier or unordered ids is an error."""
    from types import SimpleNamespace

    from toloka_provider.client.errors import PaginationError

    class Broken:
        async def find_pools(self, **filters):
            items = [SimpleNamespace(id=i, last_stopped="2026-01-01T00:00:01", last_close_reason="COMPLETED")
                     for i in answer]  # fmt: skip
            return SimpleNamespace(items=items, has_more=True)

    trigger = TolokaPoolClosedEventTrigger(project_id=PROJECT, toloka_conn_id="c")
    with pytest.raises(PaginationError, match="/api/v1/pools"):
        await trigger._page(Broken(), "0003")
    # Not retried as transient: the poll fails the trigger, naming the project.
    with pytest.raises(TolokaApiFailure, match=PROJECT) as failure:
        await trigger._poll(Broken(), "0003")
    assert isinstance(failure.value.__cause__, PaginationError)


async def test_ids_past_the_cursor_in_order_are_a_good_page():
    from types import SimpleNamespace

    class Good:
        async def find_pools(self, **filters):
            assert filters["id_gt"] == "9"  # digit ids compare as numbers: 10 and 11 come after 9
            items = [SimpleNamespace(id=i, last_stopped=None, last_close_reason=None) for i in ("10", "11")]
            return SimpleNamespace(items=items, has_more=True)

    trigger = TolokaPoolClosedEventTrigger(project_id=PROJECT, toloka_conn_id="c")
    assert await trigger._page(Good(), "9") == ([], "11", True)
