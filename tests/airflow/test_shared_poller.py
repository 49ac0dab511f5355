"""The shared poller: pool triggers on one connection share one poll loop, and each gets a lone trigger's event."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from toloka_provider import waiting_shared
from toloka_provider.triggers.pool import TolokaPoolTrigger

TOKEN = "scripted-secret-token-5f3a"
FAR = time.time() + 3600


class Scripted:
    """A Toloka stand-in: pools by id, a request log, scripted faults; ``on_listing(n)`` runs before the n-th
    listing pass (its first page) is answered."""

    def __init__(self):
        self.pools: dict[str, dict] = {}
        self.hidden: set[str] = set()  # pools the listing does not show (another account, permissions)
        self.refused: dict[str, int] = {}  # pool id -> status of its own read (403, 404)
        self.listing_faults = 0  # the next N listing pages answer 503
        self.echo_token = False  # error bodies quote the Authorization header
        self.log: list[str] = []
        self.passes = 0
        self.on_listing = None
        self.pages: list[dict] = []  # when given, listing pages are answered from here, in turn, as they are
        self.lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with scripted.lock:
                    status, body = scripted.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, status="OPEN", reason=None, kind="pool"):
        pool_id = str(100 + len(self.pools))
        self.pools[pool_id] = {"id": pool_id, "kind": kind, "project_id": "1", "private_name": "p",
                               "status": status, "last_close_reason": reason}
        return pool_id

    def close(self, pool_id, reason="COMPLETED", status="CLOSED"):
        self.pools[pool_id].update(status=status, last_close_reason=reason)

    def error(self, status, code, auth):
        message = f"{code} (you sent {auth})" if self.echo_token else code
        return status, {"code": code, "message": message}

    def answer(self, path, auth):
        url = urlsplit(path)
        self.log.append(path)
        if auth != f"ApiKey {TOKEN}" and auth != f"OAuth {TOKEN}":
            return 401, {"code": "AUTHENTICATION_ERROR", "message": "bad token"}
        parts = url.path.strip("/").split("/")  # api v1 pools [id]
        kind = "training" if parts[2] == "trainings" else "pool"
        if len(parts) == 3:
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if "id_gt" not in query:
                self.passes += 1
                if self.on_listing:
                    self.on_listing(self.passes)
            if self.pages:
                return 200, self.pages.pop(0)
            if self.listing_faults:
                self.listing_faults -= 1
                return self.error(503, "REMOTE_SERVICE_UNAVAILABLE", auth)
            limit, after = int(query.get("limit", 300)), int(query.get("id_gt", 0))
            items = sorted(
                (p for p in self.pools.values()
                 if p["kind"] == kind and p["status"] == query["status"] and int(p["id"]) > after
                 and p["id"] not in self.hidden),
                key=lambda p: int(p["id"]),
            )
            return 200, {"items": [public(p) for p in items[:limit]], "has_more": len(items) > limit}
        pool_id = parts[3]
        if pool_id in self.refused:
            code = {403: "ACCESS_DENIED", 404: "DOES_NOT_EXIST"}[self.refused[pool_id]]
            return self.error(self.refused[pool_id], code, auth)
        pool = self.pools.get(pool_id)
        if pool is None or pool["kind"] != kind:
            return 404, {"code": "DOES_NOT_EXIST", "message": "not found"}
        return 200, public(pool)

    def listings(self):
        return [p for p in self.log if "?" in p]

    def reads(self):
        return [p for p in self.log if "?" not in p]


def public(pool):
    return {k: v for k, v in pool.items() if k != "kind" and v is not None}


@pytest.fixture
def api(monkeypatch):
    server = Scripted()
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_SCRIPTED",
        json.dumps({"conn_type": "toloka", "password": TOKEN, "host": server.url, "extra": {"retries": 0}}),
    )
    yield server
    server.server.shutdown()
    server.server.server_close()


def trigger(pool_id, interval=0.1, deadline=FAR, **kwargs):
    policy = {"interval": interval, "deadline": deadline, **kwargs.pop("policy", {})}
    return TolokaPoolTrigger(pool_id, "toloka_scripted", policy=policy, **kwargs)


async def event_of(t):
    events = [event.payload async for event in t.run()]
    assert len(events) == 1
    return events[0]


async def lone_event(t):
    """The event the same trigger gets polling alone (the per-wait path)."""
    t.shared_polling = False
    return await event_of(t)


async def bounded(coro, seconds=30):
    return await asyncio.wait_for(coro, seconds)


async def until_passes(api, count, seconds=30):
    """Until the server has answered ``count`` listing passes (bounded)."""
    async def wait():
        while api.passes < count:
            await asyncio.sleep(0.02)

    await bounded(wait(), seconds)


@pytest.mark.integration
async def test_each_wait_gets_the_event_a_lone_wait_gets_under_mixed_outcomes(api):
    completed, manual, manual_ok, balance = (api.add() for _ in range(4))
    deleted, forbidden, late, still_open = (api.add() for _ in range(4))
    archived, training = api.add(), api.add(kind="training")
    api.add(kind="training")  # another open training: the trainings listing pays for itself
    bad_reason = api.add()

    def script(n):
        if n == 2:
            api.close(completed)
            api.close(manual, "MANUAL")
            api.close(manual_ok, "MANUAL")
            api.close(balance, "NOT_ENOUGH_BALANCE")
            api.close(archived, "MANUAL", status="ARCHIVED")
            api.close(training, "COMPLETED")
            api.pools.pop(deleted)
            api.refused[forbidden] = 403
        if n == 4:
            api.close(late, "EXPIRED")

    api.on_listing = script
    triggers = {
        completed: trigger(completed),
        manual: trigger(manual),
        manual_ok: trigger(manual_ok, success_reasons=["COMPLETED", "MANUAL"]),
        balance: trigger(balance),
        deleted: trigger(deleted),
        forbidden: trigger(forbidden),
        late: trigger(late, success_reasons="EXPIRED"),
        still_open: trigger(still_open, deadline=time.time() + 0.5),
        archived: trigger(archived),
        training: trigger(training, kind="training"),
        bad_reason: trigger(bad_reason, success_reasons="COMPLETE", deadline=time.time() + 0.5),
    }
    shared = await bounded(asyncio.gather(*(event_of(t) for t in triggers.values())))
    assert waiting_shared.active_pollers() == {}  # gone with its last wait
    assert api.passes >= 4 and len(api.listings()) >= 4  # the open pools were listed, not read one by one

    got = dict(zip(triggers, shared, strict=True))
    assert got[completed] == {"status": "success", "pool_id": completed, "pool_status": "CLOSED", "close_reason": "COMPLETED"}
    assert got[manual_ok] == {"status": "success", "pool_id": manual_ok, "pool_status": "CLOSED", "close_reason": "MANUAL"}
    assert got[late] == {"status": "success", "pool_id": late, "pool_status": "CLOSED", "close_reason": "EXPIRED"}
    assert got[training]["status"] == "success"
    assert got[manual]["status"] == "failure" and "closed with reason MANUAL" in got[manual]["message"]
    assert got[balance]["status"] == "failure" and "top up the Toloka account balance" in got[balance]["message"]
    assert got[archived]["status"] == "failure" and "ARCHIVED" in got[archived]["message"]
    assert got[deleted]["status"] == "error" and f"Toloka pool {deleted} does not exist" in got[deleted]["message"]
    assert got[forbidden]["status"] == "error" and got[forbidden]["retryable"] is False
    assert got[still_open]["status"] == "timeout"
    assert f"Toloka pool {still_open} did not finish before the deadline" in got[still_open]["message"]
    assert got[bad_reason]["status"] == "error" and "unknown close reason(s) COMPLETE" in got[bad_reason]["message"]

    # The same triggers, rebuilt from their kwargs, polling alone against the final state: the same events
    # (a timeout's message names its own deadline, so those are compared on their status).
    for pool_id, shared_event in got.items():
        _path, kwargs = triggers[pool_id].serialize()
        alone = await bounded(lone_event(TolokaPoolTrigger(**kwargs)))
        if shared_event["status"] == "timeout":
            assert alone["status"] == "timeout"
        else:
            assert alone == shared_event, pool_id


@pytest.mark.integration
async def test_requests_per_round_are_the_listing_plus_one_read_per_pool_that_left_it(api):
    pools = [api.add() for _ in range(700)]  # three pages of 300
    to_close = pools[::100]

    def script(n):
        if n == 2:
            for pool_id in to_close:
                api.close(pool_id)
        if n == 3:
            for pool_id in pools:
                if api.pools[pool_id]["status"] == "OPEN":
                    api.close(pool_id, "MANUAL")

    api.on_listing = script
    events = await bounded(asyncio.gather(*(event_of(trigger(p, interval=0.2)) for p in pools)), 120)
    assert sum(e["status"] == "success" for e in events) == len(to_close)
    assert sum(e["status"] == "failure" for e in events) == len(pools) - len(to_close)
    # Round 1: the first wait alone reads its pool, then the rest join: listings of 3 pages each; a read per
    # pool only once it has left the list.
    own_reads = api.reads()
    assert len(own_reads) <= len(pools) + 2 * 1  # each pool read at most once after it closed (+ first round)
    assert len(api.listings()) <= 3 * api.passes
    assert waiting_shared.active_pollers() == {}


@pytest.mark.integration
async def test_a_pool_the_listing_cannot_see_is_read_alone(api):
    visible, hidden = api.add(), api.add()
    api.hidden.add(hidden)

    def script(n):
        if n == 3:
            api.close(visible)
            api.close(hidden)

    api.on_listing = script
    events = await bounded(asyncio.gather(event_of(trigger(visible)), event_of(trigger(hidden))))
    assert [e["status"] for e in events] == ["success", "success"]
    assert api.reads().count(f"/api/v1/pools/{hidden}") >= 3  # its own reads, round after round
    assert api.reads().count(f"/api/v1/pools/{visible}") <= 2  # first round alone, then once after it closed


@pytest.mark.integration
async def test_faults_on_the_shared_listing_are_transient_for_every_wait(api):
    pools = [api.add() for _ in range(3)]
    api.listing_faults = 2

    def script(n):
        if n == 4:
            for pool_id in pools:
                api.close(pool_id)

    api.on_listing = script
    events = await bounded(asyncio.gather(*(event_of(trigger(p)) for p in pools)))
    assert [e["status"] for e in events] == ["success"] * 3  # two transient errors each, within the budget

    # With a budget of one transient error, the same faults give each wait a retryable error, not a failure.
    api.passes, api.listing_faults, api.on_listing = 0, 50, None
    for pool_id in pools:
        api.pools[pool_id].update(status="OPEN", last_close_reason=None)
    strict = [trigger(p, policy={"max_consecutive_errors": 1}) for p in pools]
    events = await bounded(asyncio.gather(*(event_of(t) for t in strict)))
    for event in events:
        assert event["status"] == "error" and event["retryable"] is True
        assert "2 transient errors in a row" in event["message"]


@pytest.mark.integration
async def test_waits_join_and_leave_mid_poll(api):
    first, second, third = api.add(), api.add(), api.add()
    tasks = {pool_id: asyncio.ensure_future(event_of(trigger(pool_id))) for pool_id in (first, second)}
    await until_passes(api, 2)
    assert waiting_shared.active_pollers() == {"toloka_scripted": 2}
    tasks[third] = asyncio.ensure_future(event_of(trigger(third)))  # joins the running loop
    tasks[second].cancel()  # the triggerer drops a trigger: it leaves, the others go on
    with pytest.raises(asyncio.CancelledError):
        await tasks[second]
    await until_passes(api, api.passes + 2)
    assert waiting_shared.active_pollers() == {"toloka_scripted": 2}
    api.close(first)
    api.close(third, "MANUAL")
    assert (await bounded(tasks[first]))["status"] == "success"
    assert (await bounded(tasks[third]))["status"] == "failure"
    assert waiting_shared.active_pollers() == {}


def test_a_restarted_triggerer_resumes_from_the_kwargs(api):
    pools = [api.add() for _ in range(3)]
    triggers = [trigger(p) for p in pools]

    async def until_stopped():  # the first triggerer process runs a few rounds and stops
        tasks = [asyncio.ensure_future(event_of(t)) for t in triggers]
        await until_passes(api, 2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return waiting_shared.active_pollers()

    assert asyncio.run(until_stopped()) == {}
    for pool_id in pools:
        api.close(pool_id)

    async def resumed():  # a new process: a new loop, triggers rebuilt from their serialized kwargs
        rebuilt = [TolokaPoolTrigger(**t.serialize()[1]) for t in triggers]
        return await bounded(asyncio.gather(*(event_of(t) for t in rebuilt)))

    events = asyncio.run(resumed())
    assert [e["status"] for e in events] == ["success"] * 3


@pytest.mark.integration
async def test_the_token_is_redacted_on_the_shared_path(api):
    api.echo_token = True
    pools = [api.add() for _ in range(3)]
    api.refused[pools[0]] = 403
    api.listing_faults = 50
    events = await bounded(asyncio.gather(*(
        event_of(trigger(p, policy={"max_consecutive_errors": 1})) for p in pools
    )))
    assert api.listings()  # the echoing listing was asked
    for event in events:
        assert event["status"] == "error"
        assert TOKEN not in json.dumps(event)


@pytest.mark.integration
async def test_a_bad_connection_gives_each_wait_the_connection_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_NOTOKEN", json.dumps({"conn_type": "toloka", "host": "http://127.0.0.1:9"}))
    events = await bounded(asyncio.gather(*(event_of(TolokaPoolTrigger(p, "toloka_notoken")) for p in ("1", "2"))))
    for event in events:
        assert event["status"] == "error" and event["retryable"] is False
        assert "Toloka connection 'toloka_notoken': no API token" in event["message"]
    assert waiting_shared.active_pollers() == {}


@pytest.mark.integration
async def test_many_waits_on_the_emulator(toloka_emulator_factory, monkeypatch):
    emu = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_EMU",
        json.dumps({"conn_type": "toloka", "password": emu.token, "host": emu.url, "extra": {"retries": 0}}),
    )
    ids = [emu.state.create("pools", {"project_id": "1", "private_name": "p", "status": "OPEN"})["id"] for _ in range(40)]
    reasons = ["COMPLETED", "MANUAL", "NOT_ENOUGH_BALANCE", "EXPIRED"]
    tasks = [asyncio.ensure_future(event_of(TolokaPoolTrigger(i, "toloka_emu", policy={"interval": 0.1}))) for i in ids]
    await asyncio.sleep(0.3)
    for n, pool_id in enumerate(ids):
        emu.state.set_pool_status("pools", pool_id, "CLOSED", reasons[n % 4])
    events = await bounded(asyncio.gather(*tasks))
    for n, event in enumerate(events):
        if reasons[n % 4] == "COMPLETED":
            assert event == {"status": "success", "pool_id": ids[n], "pool_status": "CLOSED", "close_reason": "COMPLETED"}
        else:
            assert event["status"] == "failure" and reasons[n % 4] in event["message"]


def test_only_plain_pool_waits_are_answered_by_the_listing():
    from toloka_provider.waiting import OperationWait, PoolWait

    assert waiting_shared.can_share(PoolWait("1"))
    assert waiting_shared.can_share(PoolWait("1", kind="training"))
    assert not waiting_shared.can_share(PoolWait("1", max_spend="5"))  # reads its spend: alone, in the same loop
    assert not waiting_shared.can_share(OperationWait("op-1"))


# ------------------------------------------------------------------------------------- the listing's paging


def _listing_client(api, pages):
    from toloka_provider.client import TolokaClient

    api.pages = list(pages)
    return TolokaClient(TOKEN, url=api.url, retries=0)


@pytest.mark.parametrize(
    ("second_page", "seen"),
    [
        ({"items": [{"id": "2", "status": "OPEN"}], "has_more": True}, "2"),  # repeats the cursor
        ({"items": [{"id": "1", "status": "OPEN"}], "has_more": True}, "1"),  # goes back
        ({"items": [{"status": "OPEN"}], "has_more": True}, "id"),  # no id
        ({"items": [], "has_more": True}, "empty page"),
    ],
)
def test_a_listing_that_does_not_advance_is_a_pagination_error_not_another_request(api, second_page, seen):
    from toloka_provider.client.errors import PaginationError

    first = {"items": [{"id": "1", "status": "OPEN"}, {"id": "2", "status": "OPEN"}], "has_more": True}
    client = _listing_client(api, [first, second_page, second_page])
    with client, pytest.raises(PaginationError, match=seen):
        client.run_plan(waiting_shared.list_open(client.new_retry_policy, "pool"))
    assert api.listings() == ["/api/v1/pools?status=OPEN&sort=id&limit=300", "/api/v1/pools?status=OPEN&sort=id&limit=300&id_gt=2"]


def test_a_listing_follows_the_id_cursor_to_its_last_page(api):
    pages = [
        {"items": [{"id": "1", "status": "OPEN"}, {"id": "5", "status": "OPEN"}], "has_more": True},
        {"items": [{"id": "7", "status": "OPEN"}], "has_more": False},
    ]
    client = _listing_client(api, pages)
    with client:
        found, read, complete = client.run_plan(waiting_shared.list_open(client.new_retry_policy, "pool"))
    assert (sorted(found), read, complete) == (["1", "5", "7"], 2, True)
    assert api.listings() == ["/api/v1/pools?status=OPEN&sort=id&limit=300", "/api/v1/pools?status=OPEN&sort=id&limit=300&id_gt=5"]
