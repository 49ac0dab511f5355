"""TolokaHook: connection parsing (new and legacy forms), bad-input errors, laziness, test_connection."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

import toloka_provider.client as client_module
from toloka_provider.hooks.toloka import (
    TolokaConnectionError,
    TolokaHook,
    parse_toloka_connection,
)

TOKEN = "secret-token-value-123"


def set_conn(monkeypatch, conn_id="toloka_default", **fields):
    payload = {"conn_type": "toloka", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(payload))


class RecordingClient:
    """Stands in for TolokaClient / AsyncTolokaClient: records the constructor arguments."""

    instances: list[RecordingClient] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        RecordingClient.instances.append(self)

    def get_requester(self):
        return SimpleNamespace(id="requester-1", balance=Decimal("12.50"))


@pytest.fixture
def recording_clients(monkeypatch):
    RecordingClient.instances = []
    monkeypatch.setattr(client_module, "TolokaClient", RecordingClient, raising=False)
    monkeypatch.setattr(client_module, "AsyncTolokaClient", RecordingClient, raising=False)
    return RecordingClient.instances


# -- parse_toloka_connection ----------------------------------------------------------------------------


def test_token_and_environment_any_case():
    settings = parse_toloka_connection("c", password=TOKEN, host=None, extras={"environment": "SandBox"})
    assert settings.environment == "sandbox"
    assert settings.url is None
    assert settings.client_kwargs() == {"token": TOKEN, "environment": "SANDBOX"}


def test_defaults_to_production_without_host_or_environment():
    settings = parse_toloka_connection("c", password=TOKEN, host=None)
    assert settings.client_kwargs() == {"token": TOKEN, "environment": "PRODUCTION"}
    assert settings.web_ui_base() == "https://platform.toloka.ai"


def test_host_is_a_custom_url_and_all_extras_pass_through():
    settings = parse_toloka_connection(
        "c",
        password=TOKEN,
        host="http://127.0.0.1:8080/",
        extras={"act_under_account_id": "acc-1", "timeout": "12.5", "retries": 4},
    )
    assert settings.client_kwargs() == {
        "token": TOKEN,
        "url": "http://127.0.0.1:8080",
        "act_under_account_id": "acc-1",
        "timeout": 12.5,
        "retries": 4,
    }
    assert settings.web_ui_base() == "http://127.0.0.1:8080"


def test_host_without_scheme_gets_https_and_port():
    settings = parse_toloka_connection("c", password=TOKEN, host="toloka.example.com", port=8443)
    assert settings.url == "https://toloka.example.com:8443"


def test_prefixed_ui_extras_are_read():
    settings = parse_toloka_connection(
        "c",
        password=TOKEN,
        host=None,
        extras={
            "extra__toloka__environment": "sandbox",
            "extra__toloka__timeout": 3,
            "extra__toloka__retries": "0",
            "extra__toloka__act_under_account_id": "acc",
        },
    )
    assert settings.client_kwargs() == {
        "token": TOKEN,
        "environment": "SANDBOX",
        "act_under_account_id": "acc",
        "timeout": 3.0,
        "retries": 0,
    }


def test_legacy_provider_extras_keep_working():
    settings = parse_toloka_connection(
        "old",
        password=None,
        host=None,
        extras={"extra__toloka__token": TOKEN, "extra__toloka__url": "https://toloka.dev"},
    )
    assert settings.client_kwargs() == {"token": TOKEN, "url": "https://toloka.dev"}
    legacy_env = parse_toloka_connection(
        "old", password=None, host=None, extras={"extra__toloka__token": TOKEN, "extra__toloka__environment": "SANDBOX"}
    )
    assert legacy_env.environment == "sandbox"


def test_empty_strings_from_the_ui_count_as_unset():
    settings = parse_toloka_connection(
        "c", password=TOKEN, host="", extras={"environment": "", "extra__toloka__environment": "", "timeout": ""}
    )
    assert settings.client_kwargs() == {"token": TOKEN, "environment": "PRODUCTION"}


@pytest.mark.parametrize(
    ("password", "host", "extras", "expected"),
    [
        (None, None, {}, r"Toloka connection 'bad': no API token.*password"),
        (TOKEN, "https://x.dev", {"environment": "sandbox"}, r"'bad': set either host .* not both"),
        (TOKEN, None, {"environment": "staging"}, r"'bad': extra 'environment' must be one of production, sandbox.*'staging'"),
        (TOKEN, None, {"timeout": "soon"}, r"'bad': extra 'timeout' must be a number of seconds > 0, got 'soon'"),
        (TOKEN, None, {"timeout": 0}, r"'bad': extra 'timeout' must be a number of seconds > 0, got 0"),
        (TOKEN, None, {"retries": 1.5}, r"'bad': extra 'retries' must be an integer >= 0, got 1.5"),
        (TOKEN, None, {"retries": -1}, r"'bad': extra 'retries' must be an integer >= 0, got -1"),
        (TOKEN, None, {"retries": True}, r"'bad': extra 'retries' must be an integer >= 0, got True"),
        (TOKEN, "ftp://files", {}, r"'bad': host must be an http\(s\) URL"),
    ],
)
def test_bad_connections_name_the_connection_and_field(password, host, extras, expected):
    with pytest.raises(TolokaConnectionError, match=expected):
        parse_toloka_connection("bad", password=password, host=host, extras=extras)


def test_settings_repr_hides_the_token():
    settings = parse_toloka_connection("c", password=TOKEN, host=None)
    assert TOKEN not in repr(settings)


# -- the hook -------------------------------------------------------------------------------------------


def test_init_reads_nothing(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the hook read a connection in __init__")

    monkeypatch.setattr(TolokaHook, "get_connection", classmethod(forbidden))
    hook = TolokaHook(toloka_conn_id="anything")
    assert hook.toloka_conn_id == "anything"
    assert repr(hook) == "TolokaHook(toloka_conn_id='anything')"


def test_hook_attributes():
    assert TolokaHook.conn_name_attr == "toloka_conn_id"
    assert TolokaHook.default_conn_name == "toloka_default"
    assert TolokaHook.conn_type == "toloka"
    assert TolokaHook.hook_name == "Toloka"


def test_get_conn_builds_one_cached_client_from_env_connection(monkeypatch, recording_clients):
    set_conn(monkeypatch, password=TOKEN, host="http://127.0.0.1:9", extra={"retries": 2})
    hook = TolokaHook()
    first = hook.get_conn()
    assert hook.get_conn() is first
    assert len(recording_clients) == 1
    assert first.kwargs == {"token": TOKEN, "url": "http://127.0.0.1:9", "retries": 2}
    assert TOKEN not in repr(hook)


async def test_get_async_conn_reads_the_connection_with_the_async_api(monkeypatch, recording_clients):
    set_conn(monkeypatch, "toloka_async", password=TOKEN, extra={"environment": "sandbox"})

    def blocking_read(*args, **kwargs):
        raise AssertionError("blocking get_connection used on the async path")

    monkeypatch.setattr(TolokaHook, "get_connection", classmethod(blocking_read))
    hook = TolokaHook("toloka_async")
    client_a = await hook.get_async_conn()
    client_b = await hook.get_async_conn()
    assert client_a is not client_b  # a new client per call; the caller closes it
    assert client_a.kwargs == {"token": TOKEN, "environment": "SANDBOX"}


def test_invalid_extra_json_is_a_named_error(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_BROKEN", json.dumps({"conn_type": "toloka", "password": TOKEN, "extra": "{not json"})
    )
    with pytest.raises(TolokaConnectionError, match="'toloka_broken': extra is not valid JSON"):
        TolokaHook("toloka_broken").get_connection_settings()


def test_test_connection_ok(monkeypatch, recording_clients):
    set_conn(monkeypatch, password=TOKEN)
    assert TolokaHook().test_connection() == (True, "Connected as requester requester-1, balance 12.50")


def test_test_connection_failure_is_a_message(monkeypatch, recording_clients):
    set_conn(monkeypatch)  # no token
    ok, message = TolokaHook().test_connection()
    assert ok is False
    assert "TolokaConnectionError" in message and "no API token" in message


@pytest.mark.parametrize(
    ("fields", "project_id", "pool_id", "expected"),
    [
        ({"extra": {"environment": "production"}}, "7", None, "https://platform.toloka.ai/requester/project/7"),
        ({"extra": {"environment": "sandbox"}}, "7", "42", "https://platform.sandbox.toloka.ai/requester/project/7/pool/42"),
        ({"host": "http://127.0.0.1:5000"}, "7", "42", "http://127.0.0.1:5000/requester/project/7/pool/42"),
        ({}, None, None, None),
    ],
)
def test_web_ui_url(monkeypatch, fields, project_id, pool_id, expected):
    set_conn(monkeypatch, password=TOKEN, **fields)
    assert TolokaHook().web_ui_url(project_id=project_id, pool_id=pool_id) == expected


@pytest.mark.integration
def test_web_ui_url_of_a_pool_looks_up_its_project(toloka_emulator, monkeypatch):
    emu = toloka_emulator
    set_conn(monkeypatch, password=emu.token, host=emu.url, extra={"retries": 0})
    pool_id = emu.state.create("pools", {"project_id": "77", "private_name": "p", "status": "OPEN"})["id"]
    training_id = "200000001"  # not a pool id: the hook falls back to get_training
    emu.state.store("trainings", {"id": training_id, "project_id": "78", "private_name": "t", "status": "OPEN"})
    hook = TolokaHook()
    assert hook.web_ui_url(pool_id=pool_id) == f"{emu.url}/requester/project/77/pool/{pool_id}"
    assert hook.web_ui_url(pool_id=training_id) == f"{emu.url}/requester/project/78/pool/{training_id}"
    assert hook.web_ui_url(pool_id="999999") is None  # unknown pool: no link, no failure


@pytest.mark.integration
def test_test_connection_against_the_emulator(toloka_emulator, monkeypatch):
    set_conn(monkeypatch, password=toloka_emulator.token, host=toloka_emulator.url, extra={"retries": 0})
    ok, message = TolokaHook().test_connection()
    assert ok is True and message.startswith("Connected as requester ")
    set_conn(monkeypatch, "toloka_wrong", password="not-the-token", host=toloka_emulator.url, extra={"retries": 0})
    ok, message = TolokaHook("toloka_wrong").test_connection()
    assert ok is False and "401" in message and "not-the-token" not in message


# -- a connection that cannot be valid is not retried (one voice with a wrong token) ------------------------


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"environment": "sandbx"}, "extra 'environment' must be one of production, sandbox (any case), got 'sandbx'"),
        ({"timeout": "ten"}, "extra 'timeout' must be a number of seconds > 0, got 'ten'"),
        ({"retries": "-1"}, "extra 'retries' must be an integer >= 0, got '-1'"),
    ],
)
def test_a_malformed_connection_fails_the_task_at_once(monkeypatch, extra, says):
    from airflow.sdk.exceptions import AirflowFailException

    from toloka_provider.exceptions import TolokaInputError
    from toloka_provider.sensors.pool import TolokaPoolSensor

    set_conn(monkeypatch, "toloka_bad", password=TOKEN, extra=extra)
    with pytest.raises(TolokaConnectionError, match=re.escape(says)) as raised:
        TolokaHook("toloka_bad").get_conn()
    # An AirflowFailException: Airflow fails the task without its retries, as for a rejected token.
    assert isinstance(raised.value, TolokaInputError) and isinstance(raised.value, AirflowFailException)
    assert isinstance(raised.value, ValueError)  # and still what it was
    sensor = TolokaPoolSensor(task_id="wait", pool_id="7", toloka_conn_id="toloka_bad")
    with pytest.raises(TolokaConnectionError, match=re.escape(says)):
        sensor.poke({})


def test_a_value_the_client_refuses_is_a_connection_error_too(monkeypatch):
    set_conn(monkeypatch, "toloka_bad", password="OAuth two words", host="http://127.0.0.1:9")
    with pytest.raises(TolokaConnectionError, match="Toloka connection 'toloka_bad': ") as raised:
        TolokaHook("toloka_bad").get_conn()
    assert "two words" not in str(raised.value)


def test_the_hook_passes_its_observer_to_every_client(monkeypatch, recording_clients):
    set_conn(monkeypatch, password=TOKEN)
    seen = []
    hook = TolokaHook(observer=seen.append)
    hook.get_conn()
    assert recording_clients[0].kwargs["observer"] == seen.append
    assert "observer" not in TolokaHook().get_conn().kwargs  # none given: none passed


# -- the web link of a pool id ------------------------------------------------------------------------------


class _NoPool:
    def __init__(self, training_error):
        self.training_error = training_error

    def get_pool(self, pool_id):
        from toloka_provider.client.errors import DoesNotExistApiError

        raise DoesNotExistApiError(404, "DOES_NOT_EXIST", f"pool {pool_id} does not exist", "r", None, "GET", "/p")

    def get_training(self, pool_id):
        raise self.training_error


def test_the_link_warning_speaks_of_a_pool_when_given_a_pool_id(monkeypatch):
    from toloka_provider.client.errors import DoesNotExistApiError, InternalApiError

    warnings: list[str] = []
    recorder = SimpleNamespace(warning=lambda message, *args: warnings.append(message % args))
    monkeypatch.setattr(TolokaHook, "log", property(lambda self: recorder))
    set_conn(monkeypatch, password=TOKEN)
    missing = DoesNotExistApiError(404, "DOES_NOT_EXIST", "training 5 does not exist", "r", None, "GET", "/t")
    hook = TolokaHook()
    hook._client = _NoPool(missing)
    assert hook.web_ui_url(pool_id="5") is None
    assert warnings == ["No web UI link for Toloka pool 5: no pool or training has this id"]
    hook._client = _NoPool(InternalApiError(500, "INTERNAL_ERROR", "down", "r", None, "GET", "/t"))
    assert hook.web_ui_url(pool_id="5") is None
    assert warnings[1].startswith("No web UI link for Toloka pool 5: it is not a pool, and reading it as a training failed")
