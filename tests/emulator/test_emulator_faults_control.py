"""Fault injection, control endpoints under /_emulator/, concurrency, and the command line."""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from toloka_provider.emulator.faults import FaultInjector, parse_fault_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.02)


def auth(emu) -> dict:
    return {"Authorization": f"ApiKey {emu.token}"}


def raw_request(emu, method: str, path: str, body: bytes | None = None):
    """One request on a fresh connection; returns (status, headers, body) or the exception raised."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    headers = dict(auth(emu))
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except (http.client.RemoteDisconnected, ConnectionError) as error:
        return error
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------- fault spec


def test_parse_fault_spec():
    assert parse_fault_spec("500=0.1, drop=0.02,lost=0") == {"500": 0.1, "drop": 0.02, "lost": 0.0}
    assert parse_fault_spec({"429quota": 1}) == {"429quota": 1.0}
    assert parse_fault_spec(None) == {} and parse_fault_spec("") == {}
    for bad, words in (("600=0.1", "unknown fault kind '600'"), ("500", "not KIND=RATE"), ("500=x", "must be a number"),
                       ("500=2", "in [0, 1]"), ("500=0.6,503=0.6", "add up to")):
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            parse_fault_spec(bad)


def test_fault_draws_are_reproducible_for_a_seed():
    def draws(seed):
        injector = FaultInjector(seed)
        injector.configure("500=0.3,drop=0.2")
        return [injector.pick("GET", "/api/v1/pools") for _ in range(200)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    counts = draws(7)
    assert 30 < counts.count("500") < 90 and 15 < counts.count("drop") < 65


# ------------------------------------------------------------------------------------------ fault kinds


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("500", 500, "INTERNAL_ERROR"), ("503", 503, "REMOTE_SERVICE_UNAVAILABLE"), ("429", 429, "TOO_MANY_REQUESTS"),
     ("429quota", 429, "TOO_MANY_REQUESTS")],
)
def test_json_faults_happen_before_the_effect(emu, kind, status, code):
    emu.set_faults({kind: 1.0})
    response = requests.post(emu.url + "/api/v1/projects", json={"public_name": "p"}, headers=auth(emu), timeout=5)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and body["request_id"]
    if kind == "429":
        assert response.headers["Retry-After"] == "1"
    if kind == "429quota":
        assert body["payload"] == {"interval": "MIN"}
    assert emu.state.projects == {}
    assert emu.counters()["requests"][f"POST /api/v1/projects fault:{kind}"] == 1


def test_502_answers_html(emu):
    emu.set_faults("502=1")
    response = requests.get(emu.url + "/api/v1/requester", headers=auth(emu), timeout=5)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html" and response.text.startswith("<html>")


def _bonus_to_a_worker(emu) -> bytes:
    worker = requests.get(emu.url + "/_emulator/workers", timeout=5).json()["items"][0]["user_id"]
    return json.dumps({"user_id": worker, "amount": 1, "without_message": True}).encode()


def test_drop_closes_without_answer_and_without_effect(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=1, operation_delay=0.02)
    emu.set_faults("drop=1")
    result = raw_request(emu, "POST", "/api/v1/user-bonuses", _bonus_to_a_worker(emu))
    assert isinstance(result, (http.client.RemoteDisconnected, ConnectionError))
    assert emu.state.user_bonuses == {}


def test_lost_applies_the_effect_then_drops(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=1, operation_delay=0.02)
    body = _bonus_to_a_worker(emu)
    emu.set_faults("lost=1")
    result = raw_request(emu, "POST", "/api/v1/user-bonuses", body)
    assert isinstance(result, (http.client.RemoteDisconnected, ConnectionError))
    assert [b["user_id"] for b in emu.state.user_bonuses.values()] == [json.loads(body)["user_id"]]
    assert emu.counters()["balance"] == 999.0


def test_faults_can_be_limited_to_paths_and_methods(emu):
    emu.set_faults("500=1", paths=["/api/v1/pools"], methods=["GET"])
    assert requests.get(emu.url + "/api/v1/pools", headers=auth(emu), timeout=5).status_code == 500
    assert requests.get(emu.url + "/api/v1/pools/1", headers=auth(emu), timeout=5).status_code == 500
    assert requests.get(emu.url + "/api/v1/projects", headers=auth(emu), timeout=5).status_code == 200
    assert requests.post(emu.url + "/api/v1/pools", json={}, headers=auth(emu), timeout=5).status_code == 400
    # control endpoints never fail
    assert requests.get(emu.url + "/_emulator/health", timeout=5).status_code == 200
    emu.clear_faults()
    assert requests.get(emu.url + "/api/v1/pools", headers=auth(emu), timeout=5).status_code == 200


def test_faults_from_the_constructor_and_latency(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=0, faults="503=1", latency_ms=50)
    started = time.monotonic()
    assert requests.get(emu.url + "/api/v1/requester", headers=auth(emu), timeout=5).status_code == 503
    assert time.monotonic() - started >= 0.05


# ------------------------------------------------------------------------------------- control endpoints


def test_control_endpoints(emu):
    control = emu.url + "/_emulator"
    assert requests.get(control + "/health", timeout=5).json()["status"] == "ok"

    described = requests.put(control + "/faults", json={"spec": "500=0.5", "paths": ["/api/v1/tasks"], "methods": ["post"]}, timeout=5).json()
    assert described["rates"] == {"500": 0.5} and described["paths"] == ["/api/v1/tasks"] and described["methods"] == ["POST"]
    assert requests.get(control + "/faults", timeout=5).json()["rates"] == {"500": 0.5}
    bad = requests.put(control + "/faults", json={"spec": "900=1"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"
    assert requests.delete(control + "/faults", timeout=5).json()["rates"] == {}

    before = emu.state.now()
    now = requests.post(control + "/clock/advance", json={"seconds": 86400}, timeout=5).json()["now"]
    assert now > (before.replace(tzinfo=None).isoformat())
    assert (emu.state.now() - before).total_seconds() >= 86400
    assert requests.post(control + "/clock/advance", json={"seconds": -1}, timeout=5).status_code == 400

    assert requests.post(control + "/crowd/pause", timeout=5).json() == {"crowd": "paused"}
    assert requests.post(control + "/crowd/resume", timeout=5).json() == {"crowd": "running"}

    with emu.state.lock:
        project = emu.state.create("projects", {"public_name": "p"})
        pool = emu.state.create("pools", {"project_id": project["id"], "reward_per_assignment": 0.02})
    loaded = requests.post(control + "/bulk-load", json={"pool_id": pool["id"], "count": 30}, timeout=5).json()
    assert loaded["created"] == 30
    assert requests.post(control + "/bulk-load", json={"pool_id": pool["id"], "count": -1}, timeout=5).status_code == 400
    assert requests.post(control + "/bulk-load", json={"pool_id": "nope", "count": 1}, timeout=5).status_code == 404

    requests.get(emu.url + "/api/v1/assignments", params={"pool_id": pool["id"]}, headers=auth(emu), timeout=5)
    counters = requests.get(control + "/counters", timeout=5).json()
    assert counters["requests"]["GET /api/v1/assignments 200"] == 1
    assert counters["created"]["assignment"] == 30 and counters["double_decisions"] == 0


def test_two_hundred_concurrent_connections(emu):
    with emu.state.lock:
        project = emu.state.create("projects", {"public_name": "p"})
        pool = emu.state.create("pools", {"project_id": project["id"], "reward_per_assignment": 0.02})
    emu.bulk_load_assignments(pool["id"], 300)
    start = threading.Barrier(200)
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=20)
        try:
            start.wait(timeout=20)
            for _ in range(3):
                connection.request("GET", f"/api/v1/assignments?pool_id={pool['id']}&limit=100", headers=auth(emu))
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or not body.startswith(b'{"items":'):
                    failures.append(f"{response.status} {body[:80]!r}")
        except Exception as error:  # collected and asserted below
            failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert emu.counters()["requests"]["GET /api/v1/assignments 200"] == 600


def test_emulator_object_api(toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=0)
    assert emu.url.startswith("http://127.0.0.1:") and repr(emu) == f"TolokaEmulator({emu.url})"
    emu.advance_clock(10)
    emu.pause_crowd()
    emu.resume_crowd()
    from toloka_provider.emulator import TolokaEmulator

    with pytest.raises(ValueError, match="accuracy"):
        TolokaEmulator(accuracy=(0.9, 0.1))
    with pytest.raises(ValueError, match="unknown fault kind"):
        TolokaEmulator(faults="999=1")
    with TolokaEmulator(crowd=0) as other:
        assert requests.get(other.url + "/_emulator/health", timeout=5).ok
    with pytest.raises(RuntimeError, match="not running"):
        _ = other.url


# ----------------------------------------------------------------------------------------- command line


def test_command_prints_its_url_serves_and_exits_0_on_sigterm():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "toloka_provider.emulator", "--port", "0", "--token", "cli-token", "--crowd", "0", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env,
    )
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=5), "no URL line within 5 s"
        line = process.stdout.readline().decode()
        assert line.startswith("TOLOKA_EMULATOR_URL=http://127.0.0.1:") and line.endswith("\n")
        url = line.strip().split("=", 1)[1]
        response = requests.get(url + "/api/v1/requester", headers={"Authorization": "OAuth cli-token"}, timeout=5)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == b""  # exactly one line
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_help_documents_every_flag():
    result = subprocess.run([sys.executable, "-m", "toloka_provider.emulator", "--help"], capture_output=True, text=True, cwd=REPO, check=True)
    for flag in ("--host", "--port", "--token", "--seed", "--crowd", "--accuracy", "--spammers", "--speed", "--truth",
                 "--balance", "--faults", "--latency"):
        assert flag in result.stdout
    bad = subprocess.run([sys.executable, "-m", "toloka_provider.emulator", "--accuracy", "0.9:0.1"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "--accuracy" in bad.stderr
