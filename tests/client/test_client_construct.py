"""Constructor semantics and request headers of both clients (async requests go through ``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider import __version__
from toloka_provider.client import AsyncTolokaClient, Environment, TolokaClient
from toloka_provider.client.environment import authorization_header

API_KEY = "a" * 23 + "." + "b" * 10 + "." + "c" * 5  # first dot at index 23, two dots


@pytest.fixture(params=[TolokaClient, AsyncTolokaClient])
def client_class(request):
    return request.param


@pytest.mark.parametrize(
    ("environment", "url"),
    [("PRODUCTION", "https://toloka.dev"), ("sandbox", "https://sandbox.toloka.dev"), (Environment.SANDBOX, "https://sandbox.toloka.dev")],
)
def test_environment_selects_base_url(client_class, environment, url):
    assert client_class(TOKEN, environment).url == url


def test_custom_url_loses_its_trailing_slash(client_class):
    assert client_class(TOKEN, url="http://127.0.0.1:8080/").url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("kwargs", [{}, {"environment": "PRODUCTION", "url": "http://x"}])
def test_exactly_one_of_environment_and_url(client_class, kwargs):
    with pytest.raises(ValueError, match="exactly one of environment"):
        client_class(TOKEN, **kwargs)


def test_unknown_environment_is_named(client_class):
    with pytest.raises(ValueError, match="'staging'"):
        client_class(TOKEN, "staging")


@pytest.mark.parametrize("timeout", [0, -1, "10", (1, 2, 3), float("inf")])
def test_bad_timeout_is_rejected(client_class, timeout):
    with pytest.raises(ValueError, match="timeout"):
        client_class(TOKEN, url="http://x", timeout=timeout)


@pytest.mark.parametrize(
    ("timeout", "connect_read"),
    [(5, (5.0, 5.0)), (2.5, (2.5, 2.5)), ((1.0, 30.0), (1.0, 30.0)), ((None, 30.0), (None, 30.0)), (None, (None, None))],
)
def test_good_timeouts_are_accepted(client_class, timeout, connect_read):
    client = client_class(TOKEN, url="http://x", timeout=timeout)
    assert client._config.timeout == connect_read
    if client_class is AsyncTolokaClient:  # what httpx is given: read also bounds writes, connect the pool wait
        connect, read = connect_read
        assert client._timeout == httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def test_bad_retry_quotas_and_retries(client_class):
    with pytest.raises(ValueError, match="retry_quotas"):
        client_class(TOKEN, url="http://x", retry_quotas="WEEK")
    with pytest.raises(TypeError, match="retries"):
        client_class(TOKEN, url="http://x", retries="3")
    with pytest.raises(ValueError, match="non-negative"):
        client_class(TOKEN, url="http://x", retries=-1)


def test_repr_never_shows_the_token(client_class):
    client = client_class(TOKEN, url="http://x")
    assert TOKEN not in repr(client) and "http://x" in repr(client)
    assert TOKEN not in repr(client._config)


@pytest.mark.parametrize(
    ("token", "header"),
    [
        (API_KEY, f"ApiKey {API_KEY}"),
        ("y0_AgAAAAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "OAuth y0_AgAAAAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("a.b.c", "OAuth a.b.c"),  # two dots, but the first is not at 22..24
        ("ApiKey already-prefixed", "ApiKey already-prefixed"),
        ("OAuth already-prefixed", "OAuth already-prefixed"),
    ],
)
def test_authorization_scheme_by_token_shape(token, header):
    assert authorization_header(token) == header


def test_other_scheme_prefix_is_rejected_without_echoing_the_token():
    with pytest.raises(ValueError) as caught:
        authorization_header("Bearer secret-value")
    assert "secret-value" not in str(caught.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_headers_sent(mode):
    server = ScriptedServer().reply(200, {"id": "21"}).reply(201, {"id": "21"})
    with Harness(mode, server, act_under_account_id="acc-7") as harness:
        harness.call("get_pool", "21")
        harness.call("create_pool", {"project_id": "1"})
    get_headers = {key.lower(): value for key, value in server.calls[0]["headers"].items()}
    post_headers = {key.lower(): value for key, value in server.calls[1]["headers"].items()}
    assert get_headers["authorization"] == f"OAuth {TOKEN}"
    assert get_headers["user-agent"] == f"toloka-airflow-provider/{__version__}"
    assert get_headers["x-act-under-account-id"] == "acc-7"
    assert "content-type" not in get_headers
    assert post_headers["content-type"] == "application/json"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_act_under_header_by_default(mode):
    server = ScriptedServer().reply(200, {"id": "21"})
    with Harness(mode, server) as harness:
        harness.call("get_pool", "21")
    assert "x-act-under-account-id" not in {key.lower() for key in server.calls[0]["headers"]}


def test_async_client_works_across_event_loops():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"id": "21"})

    client = AsyncTolokaClient(TOKEN, url="http://x", transport=httpx.MockTransport(handler))

    async def use() -> str:
        pool = await client.get_pool("21")
        await client.aclose()
        return pool.id

    assert asyncio.run(use()) == "21"
    assert asyncio.run(use()) == "21"  # a second, different loop
    assert calls == ["/api/v1/pools/21", "/api/v1/pools/21"]


def test_sync_client_context_manager_closes_sessions():
    with TolokaClient(TOKEN, url="http://x") as client:
        session = client._session()
        assert client._sessions == [session]
    assert client._sessions == []


def test_sync_client_uses_one_session_per_thread():
    import threading

    client = TolokaClient(TOKEN, url="http://x")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(client._session()))
    thread.start()
    thread.join()
    assert client._session() is client._session()
    assert seen[0] is not client._session()
    client.close()
