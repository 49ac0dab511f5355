"""Each client's one runner: ``run_plan`` with injected sleep and clock, and the observer it calls per attempt."""

from __future__ import annotations

import asyncio
import logging

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client import core, models
from toloka_provider.client.errors import DoesNotExistApiError
from toloka_provider.client.observe import AttemptEvent, endpoint_of
from toloka_provider.client.protocol import Now, Sleep


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def run(harness: Harness, client, plan, **kwargs):
    if harness.mode == "sync":
        return client.run_plan(plan, **kwargs)
    return asyncio.run(client.run_plan(plan, **kwargs))


def test_run_plan_uses_the_given_sleep_and_clock_else_the_clients(mode):
    def plan():
        first = yield Now()
        yield Sleep(2.5)
        second = yield Now()
        return first, second

    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)

    async def asleep(seconds):
        slept.append(seconds)

    ticks = iter([100.0, 107.0])
    with Harness(mode, ScriptedServer()) as harness:
        client = harness.make_client()
        given = run(harness, client, plan(), sleep=sleep if mode == "sync" else asleep, clock=lambda: next(ticks))
        assert given == (100.0, 107.0) and slept == [2.5] and harness.sleeps == []
        harness.now = 5.0
        assert run(harness, client, plan()) == (5.0, 7.5) and harness.sleeps == [2.5]


def test_run_plan_redacts_what_a_plan_raises(mode):
    server = ScriptedServer().reply(404, {"code": "DOES_NOT_EXIST", "message": f"no pool for {TOKEN}"})
    with Harness(mode, server, retries=0) as harness, pytest.raises(DoesNotExistApiError) as raised:
        client = harness.make_client()
        run(harness, client, core.call_model(client.new_retry_policy, models.Pool, "GET", "/api/v1/pools/7"))
    assert TOKEN not in str(raised.value) and "no pool for ***" in str(raised.value)


def test_the_observer_hears_every_attempt_without_the_token_or_query_values(mode):
    events: list[AttemptEvent] = []
    server = (
        ScriptedServer()
        .reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE", "message": "busy"}, headers={"Retry-After": "2"})
        .fail_connection()
        .reply(200, {"id": "7", "project_id": "1", "private_name": "p", "status": "OPEN"})
        .reply(200, {"items": [], "has_more": False})
    )
    with Harness(mode, server, retries=3, observer=events.append) as harness:
        client = harness.make_client()
        harness.call("get_pool", "7", client=client)
        harness.call("find_pools", client=Harness(mode, server).make_client(observer=events.append), project_id=TOKEN)
    assert [(e.method, e.endpoint, e.status, e.attempt, e.retried, e.retry_after) for e in events] == [
        ("GET", "/api/v1/pools/{id}", 503, 1, True, 2.0),
        ("GET", "/api/v1/pools/{id}", None, 2, True, None),
        ("GET", "/api/v1/pools/{id}", 200, 3, False, None),
        ("GET", "/api/v1/pools", 200, 1, False, None),
    ]
    assert all(e.elapsed >= 0 for e in events)
    assert all(TOKEN not in repr(e) for e in events)


def test_an_observer_that_raises_never_affects_the_request(mode, caplog):
    def broken(event):
        raise RuntimeError("observer bug")

    server = ScriptedServer()
    for _ in range(2):
        server.reply(200, {"id": "7", "project_id": "1", "private_name": "p", "status": "OPEN"})
    caplog.set_level(logging.DEBUG, logger="toloka_provider.client")
    with Harness(mode, server, observer=broken) as harness:
        client = harness.make_client()
        assert harness.call("get_pool", "7", client=client).id == "7"
        assert harness.call("get_pool", "7", client=client).id == "7"
    lines = [r.getMessage() for r in caplog.records if "observer raised" in r.getMessage()]
    assert len(lines) <= 1  # logged once, at debug level


def test_observer_must_be_callable():
    from toloka_provider.client import TolokaClient

    with pytest.raises(TypeError, match="observer must be a callable"):
        TolokaClient(TOKEN, url="http://127.0.0.1:9", observer="metrics")


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/api/v1/pools/123/open", "/api/v1/pools/{id}/open"),
        ("/api/v1/assignments", "/api/v1/assignments"),
        ("/api/app/v0/app-projects/ap1/batches/b-2", "/api/app/v0/app-projects/{id}/batches/{id}"),
        ("/api/v1/operations/0e6b4b4a-3d5e-4c5c-9c4f-2b8e4d9c1a11", "/api/v1/operations/{id}"),
        ("/api/new/requester/pools/7/assignments.tsv", "/api/new/requester/pools/{id}/assignments.tsv"),
        ("/api/staging/analytics-2", "/api/staging/analytics-2"),
    ],
)
def test_endpoint_templates(path, endpoint):
    assert endpoint_of(path) == endpoint
