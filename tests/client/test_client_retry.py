"""Retry behaviour of both clients (sync over ``responses``, async over ``httpx.MockTransport``).

Sleeps are injected and recorded, so nothing here waits in real time.
"""

from __future__ import annotations

import logging
import random

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client import (
    ApiError,
    ConflictStateApiError,
    DoesNotExistApiError,
    RetryPolicy,
    TooManyRequestsApiError,
    TransportError,
)
from toloka_provider.client.protocol import Response
from toloka_provider.client.retry import parse_retry_after

POOL = {"id": "21", "status": "OPEN"}
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def error_body(code: str, **extra) -> dict:
    return {"request_id": "req-1", "code": code, "message": f"{code} happened", **extra}


def run(mode: str, server: ScriptedServer, method: str = "get_pool", *args, **client_kwargs):
    harness = Harness(mode, server, **client_kwargs)
    with harness:
        try:
            return harness.call(method, *(args or ("21",))), harness.sleeps
        except Exception as exc:
            exc.sleeps = harness.sleeps  # type: ignore[attr-defined]
            raise


def test_503_503_200_succeeds_with_backoff(mode):
    server = ScriptedServer().reply(503, error_body("REMOTE_SERVICE_UNAVAILABLE")).reply(503).reply(200, POOL)
    pool, sleeps = run(mode, server)
    assert pool.id == "21"
    assert len(server.calls) == 3
    # jittered exponential backoff: retry n waits within [step/2, step], step = 1 s * 2**n
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_429_with_retry_after_sleeps_that_long(mode):
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS"), headers={"Retry-After": "2"}).reply(200, POOL)
    pool, sleeps = run(mode, server)
    assert pool.id == "21" and sleeps == [2.0]


def test_quota_429_min_is_waited_out_for_60_seconds(mode):
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS", payload={"interval": "MIN"})).reply(200, POOL)
    pool, sleeps = run(mode, server)
    assert pool.id == "21" and sleeps == [60.0]


def test_quota_429_day_not_in_retry_quotas_raises_at_once(mode):
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS", payload={"interval": "DAY"}))
    with pytest.raises(TooManyRequestsApiError) as caught:
        run(mode, server)
    assert caught.value.status_code == 429 and caught.value.payload == {"interval": "DAY"}
    assert len(server.calls) == 1 and caught.value.sleeps == []


def test_quota_429_day_in_retry_quotas_waits_a_day_and_warns(mode, caplog):
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS", payload={"interval": "DAY"})).reply(200, POOL)
    with caplog.at_level(logging.WARNING, logger="toloka_provider.client"):
        _, sleeps = run(mode, server, retry_quotas=["MIN", "DAY"], max_retry_after=86400)
    assert sleeps == [86400.0]
    assert any("DAY quota" in record.getMessage() for record in caplog.records)


def test_retry_quotas_none_raises_on_min_quota(mode):
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS", payload={"interval": "MIN"}))
    with pytest.raises(TooManyRequestsApiError):
        run(mode, server, retry_quotas=None)
    assert len(server.calls) == 1


def test_html_502_then_200_succeeds(mode):
    server = ScriptedServer().reply(502, raw=HTML_502).reply(200, POOL)
    pool, _ = run(mode, server)
    assert pool.id == "21" and len(server.calls) == 2


def test_html_502_on_every_try_raises_api_error_with_status_502(mode):
    server = ScriptedServer()
    for _ in range(4):
        server.reply(502, raw=HTML_502)
    with pytest.raises(ApiError) as caught:
        run(mode, server)
    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in caught.value.message
    assert "GET /api/v1/pools/21" in str(caught.value)
    assert len(server.calls) == 4  # retries=3 -> four attempts


def test_connection_error_is_retried(mode):
    server = ScriptedServer().fail_connection().reply(200, POOL)
    pool, sleeps = run(mode, server)
    assert pool.id == "21" and len(sleeps) == 1


def test_connection_error_on_every_try_raises_transport_error(mode):
    server = ScriptedServer()
    for _ in range(3):
        server.fail_connection()
    with pytest.raises(TransportError) as caught:
        run(mode, server, retries=2)
    assert caught.value.attempts == 3 and "/api/v1/pools/21" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [(404, "DOES_NOT_EXIST", DoesNotExistApiError), (409, "CONFLICT_STATE", ConflictStateApiError)],
)
def test_404_and_409_are_not_retried(mode, status, code, error_class):
    server = ScriptedServer().reply(status, error_body(code))
    with pytest.raises(error_class) as caught:
        run(mode, server)
    assert len(server.calls) == 1 and caught.value.sleeps == []
    assert caught.value.request_id == "req-1" and caught.value.code == code


def test_posts_are_retried_too(mode):
    server = ScriptedServer().reply(500, error_body("INTERNAL_ERROR")).reply(204).reply(200, POOL)
    _, sleeps = run(mode, server, "open_pool", "21")
    assert [call["method"] for call in server.calls[:2]] == ["POST", "POST"]
    assert len(sleeps) == 1


@pytest.mark.parametrize("method", ["create_project", "create_pool", "create_training"])
def test_creates_without_an_idempotency_key_are_retried_only_after_a_429(mode, method):
    # A 429 is answered before anything happens: safe to repeat.
    server = ScriptedServer().reply(429, error_body("TOO_MANY_REQUESTS"), headers={"Retry-After": "1"}).reply(201, POOL)
    created, sleeps = run(mode, server, method, {"project_id": "11"})
    assert created.id == "21" and sleeps == [1.0]
    assert [call["method"] for call in server.calls] == ["POST", "POST"]
    # A 500 may come after the object was created: repeating the POST could create a second one.
    server = ScriptedServer().reply(500, error_body("INTERNAL_ERROR")).reply(201, POOL)
    with pytest.raises(ApiError) as caught:
        run(mode, server, method, {"project_id": "11"})
    assert caught.value.status_code == 500 and len(server.calls) == 1 and caught.value.sleeps == []


def test_retries_zero_means_one_attempt(mode):
    server = ScriptedServer().reply(503)
    with pytest.raises(ApiError):
        run(mode, server, retries=0)
    assert len(server.calls) == 1


def test_retryer_factory_gives_a_fresh_policy_per_call(mode):
    made = []

    def factory():
        made.append(1)
        return RetryPolicy(total=1, statuses={503}, rng=random.Random(0))

    server = ScriptedServer().reply(503).reply(200, POOL).reply(500, error_body("INTERNAL_ERROR"))
    harness = Harness(mode, server, retryer_factory=factory)
    with harness:
        client = harness.make_client()
        assert harness.call("get_pool", "21", client=client).id == "21"
        with pytest.raises(ApiError):  # 500 is not in this policy's statuses
            harness.call("get_pool", "21", client=client)
    assert len(made) == 2 and len(server.calls) == 3


def test_urllib3_retry_object_is_accepted(mode):
    from urllib3.util.retry import Retry

    server = ScriptedServer().reply(503).reply(503).reply(200, POOL)
    pool, _ = run(mode, server, retries=Retry(total=2, backoff_factor=0.5, status_forcelist=[503]))
    assert pool.id == "21"


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_policy_gives_up_after_total_even_with_retry_after():
    policy = RetryPolicy(total=1)
    response = Response(429, b"{}", retry_after="1")
    assert policy.delay_for(response, 0) == 1.0
    assert policy.delay_for(response, 1) is None


def test_backoff_is_capped():
    policy = RetryPolicy(total=50, backoff_factor=1.0, backoff_cap=30.0, rng=random.Random(1))
    assert all(15.0 <= policy.backoff(n) <= 30.0 for n in range(5, 40))


def test_token_never_in_errors_or_logs(mode, caplog):
    server = ScriptedServer().reply(503).reply(503).reply(503).reply(401, error_body("AUTHENTICATION_ERROR"))
    with caplog.at_level(logging.DEBUG), pytest.raises(ApiError) as caught:
        run(mode, server)
    assert server.calls[0]["headers"].get("Authorization", server.calls[0]["headers"].get("authorization")) == f"OAuth {TOKEN}"
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert caplog.records, "retries should be logged"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


def test_token_never_in_transport_errors_or_logs(mode, caplog):
    server = ScriptedServer().fail_connection().fail_connection()
    with caplog.at_level(logging.DEBUG), pytest.raises(TransportError) as caught:
        run(mode, server, retries=1)
    assert TOKEN not in str(caught.value)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
