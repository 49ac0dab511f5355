"""Webhook subscriptions over HTTP (``requests``) and their delivery to a receiver on loopback (a small
``http.server`` in the test): POOL_CLOSED with its close reason, the assignment events with their ids,
the ``Toloka-Signature`` header, retries after failures, loopback-only URLs, the test push."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from emulator_http import Api
from emulator_pools import assignments, call, control, make_pool, wait_closed, wait_for

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration

SIGNATURE = re.compile(r"^\{v=(\d+), ts=(\d+), sign=([0-9a-f]{64})\}$")


class Receiver:
    """Records every POST; answers the statuses in ``fail_with`` first (one per request), then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_with: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.fail_with.pop(0) if receiver.fail_with else 200
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "answered": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/toloka"

    def events(self, event_type: str | None = None) -> list[dict]:
        with self.lock:
            found = [
                event
                for request in self.requests
                if request["answered"] == 200
                for event in json.loads(request["body"])["events"]
            ]
        return [event for event in found if event_type is None or event["type"] == event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def api():
    with TolokaEmulator(seed=5, crowd=5, speed=5000.0) as emulator:
        yield Api(emulator)


def _valid_signature(request: dict, secret: str) -> bool:
    match = SIGNATURE.match(request["headers"]["Toloka-Signature"])
    assert match, request["headers"]["Toloka-Signature"]
    version, timestamp, signature = match.groups()
    expected = hmac.new(
        secret.encode(), f"{timestamp}.{version}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    return version == "1" and hmac.compare_digest(expected, signature)


def test_pool_closed_and_assignment_events_are_delivered_signed(api, receiver):
    pool_id = make_pool(api, real=6, overlap=2, open_pool=False)
    pool = call(api, "GET", f"/pools/{pool_id}")
    subscriptions = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json=[
            {
                "webhook_url": receiver.url,
                "event_type": "POOL_CLOSED",
                "pool_id": pool_id,
                "secret_key": "s3cret",
            },
            {
                "webhook_url": receiver.url,
                "event_type": "ASSIGNMENT_SUBMITTED",
                "pool_id": pool_id,
                "secret_key": "s3cret",
            },
            {"webhook_url": receiver.url, "event_type": "ASSIGNMENT_CREATED", "pool_id": pool_id},
        ],
    )
    assert subscriptions["validation_errors"] == {} and sorted(subscriptions["items"]) == ["0", "1", "2"]
    closed_sub, submitted_sub, created_sub = (subscriptions["items"][key] for key in ("0", "1", "2"))
    assert "secret_key" not in closed_sub and closed_sub["webhook_url"] == receiver.url

    call(api, "POST", f"/pools/{pool_id}/open", 202)
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    done = assignments(api, pool_id)
    assert len(done) == 12
    wait_for(
        lambda: receiver.events("POOL_CLOSED") and len(receiver.events("ASSIGNMENT_SUBMITTED")) == 12,
        10,
        "deliveries",
    )

    [closed] = receiver.events("POOL_CLOSED")
    assert {
        k: closed[k] for k in ("type", "pool_id", "project_id", "webhook_subscription_id", "close_reason")
    } == {
        "type": "POOL_CLOSED",
        "pool_id": pool_id,
        "project_id": pool["project_id"],
        "webhook_subscription_id": closed_sub["id"],
        "close_reason": "COMPLETED",
    }
    assert re.match(r"^[0-9a-f-]{36}$", closed["uuid"]) and closed["event_time"]
    submitted = receiver.events("ASSIGNMENT_SUBMITTED")
    assert sorted((e["assignment_id"], e["task_suite_id"]) for e in submitted) == sorted(
        (a["id"], a["task_suite_id"]) for a in done
    )
    assert {e["webhook_subscription_id"] for e in submitted} == {submitted_sub["id"]}
    assert len({e["uuid"] for e in submitted}) == 12
    wait_for(lambda: len(receiver.events("ASSIGNMENT_CREATED")) == 12, 10, "created events")
    assert {e["webhook_subscription_id"] for e in receiver.events("ASSIGNMENT_CREATED")} == {created_sub["id"]}

    with receiver.lock:
        posts = list(receiver.requests)
    assert {p["path"] for p in posts} == {"/hooks/toloka"}
    assert all(p["headers"]["Content-Type"] == "application/json" for p in posts)
    for post in posts:
        types = {event["type"] for event in json.loads(post["body"])["events"]}
        if types == {"ASSIGNMENT_CREATED"}:
            assert "Toloka-Signature" not in post["headers"]
        else:
            assert _valid_signature(post, "s3cret") and not _valid_signature(post, "wrong")


def test_decisions_and_manual_close_are_delivered(api, receiver):
    pool_id = make_pool(api, real=2, overlap=1, open_pool=False)
    for event_type in ("ASSIGNMENT_APPROVED", "ASSIGNMENT_REJECTED", "POOL_CLOSED"):
        call(
            api,
            "PUT",
            "/webhook-subscriptions",
            json={"webhook_url": receiver.url, "event_type": event_type, "pool_id": pool_id},
        )
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    wait_closed(api, pool_id)
    first, second = assignments(api, pool_id)
    call(api, "PATCH", f"/assignments/{first['id']}", json={"status": "ACCEPTED", "public_comment": "ok"})
    call(api, "PATCH", f"/assignments/{second['id']}", json={"status": "REJECTED", "public_comment": "no"})
    wait_for(
        lambda: receiver.events("ASSIGNMENT_APPROVED") and receiver.events("ASSIGNMENT_REJECTED"),
        10,
        "decisions",
    )
    assert [e["assignment_id"] for e in receiver.events("ASSIGNMENT_APPROVED")] == [first["id"]]
    assert [e["assignment_id"] for e in receiver.events("ASSIGNMENT_REJECTED")] == [second["id"]]

    manual = make_pool(api, real=50, overlap=5, open_pool=False)
    call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={"webhook_url": receiver.url, "event_type": "POOL_CLOSED", "pool_id": manual},
    )
    control(api, "POST", "/_emulator/crowd/pause")
    call(api, "POST", f"/pools/{manual}/open", 202)
    call(api, "POST", f"/pools/{manual}/close", 202)
    wait_for(
        lambda: [e for e in receiver.events("POOL_CLOSED") if e["pool_id"] == manual], 10, "manual close"
    )
    assert [e["close_reason"] for e in receiver.events("POOL_CLOSED") if e["pool_id"] == manual] == ["MANUAL"]


def test_failed_deliveries_are_retried_then_given_up(api, receiver):
    pool_id = make_pool(api, real=1, overlap=1, open_pool=False)
    call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={"webhook_url": receiver.url, "event_type": "POOL_CLOSED", "pool_id": pool_id},
    )
    receiver.fail_with = [500, 503]
    control(api, "POST", "/_emulator/crowd/pause")
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    call(api, "POST", f"/pools/{pool_id}/close", 202)
    wait_for(lambda: receiver.events("POOL_CLOSED"), 15, "delivery after two failures")
    with receiver.lock:
        assert [r["answered"] for r in receiver.requests] == [500, 503, 200]
    report = control(api, "GET", "/_emulator/webhooks")
    assert [(d["attempt"], d["status"], d["error"]) for d in report["deliveries"]] == [
        (1, 500, "WRONG_STATUS_CODE"),
        (2, 503, "WRONG_STATUS_CODE"),
        (3, 200, None),
    ]
    assert (report["sent_events"], report["failed_events"]) == (1, 0)

    # A receiver that never answers 2xx: five attempts in all, then the events are dropped.
    second = make_pool(api, real=1, overlap=1, open_pool=False)
    call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={"webhook_url": receiver.url, "event_type": "POOL_CLOSED", "pool_id": second},
    )
    receiver.fail_with = [500] * 10
    call(api, "POST", f"/pools/{second}/open", 202)
    call(api, "POST", f"/pools/{second}/close", 202)
    wait_for(lambda: control(api, "GET", "/_emulator/webhooks")["failed_events"] == 1, 20, "giving up")
    with receiver.lock:
        assert [r["answered"] for r in receiver.requests][3:] == [500] * 5


def test_only_loopback_urls_are_accepted(api, receiver):
    pool_id = make_pool(api, real=1, open_pool=False)
    for url in (
        "http://example.com/hook",
        "http://10.0.0.1/hook",
        "ftp://127.0.0.1/x",
        "http://user:pw@127.0.0.1/",
        "not a url",
    ):
        error = call(
            api,
            "PUT",
            "/webhook-subscriptions",
            400,
            json={"webhook_url": url, "event_type": "POOL_CLOSED", "pool_id": pool_id},
        )
        assert (
            error["code"] == "VALIDATION_ERROR"
            and error["payload"]["webhook_url"]["code"] == "INVALID_URL_SYNTAX"
        ), url
    error = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        400,
        json=[
            {"webhook_url": receiver.url, "event_type": "POOL_CLOSED", "pool_id": pool_id},
            {"webhook_url": "https://hooks.example.org/x", "event_type": "POOL_CLOSED", "pool_id": pool_id},
        ],
    )
    assert (
        list(error["payload"]) == ["1"]
        and error["payload"]["1"]["webhook_url"]["code"] == "INVALID_URL_SYNTAX"
    )
    assert call(api, "GET", "/webhook-subscriptions")["items"] == []  # nothing stored from the refused array
    for url in ("http://localhost:1/x", "http://[::1]:1/x", "http://127.0.0.2:1/x"):
        call(
            api,
            "PUT",
            "/webhook-subscriptions",
            json={"webhook_url": url, "event_type": "POOL_CLOSED", "pool_id": pool_id},
        )
    error = call(
        api, "PUT", "/webhook-subscriptions", 400, json={"event_type": "SOMETHING", "pool_id": "404"}
    )
    assert {k: v["code"] for k, v in error["payload"].items()} == {
        "webhook_url": "VALUE_REQUIRED",
        "event_type": "UNKNOWN_ENUM_VALUE",
        "pool_id": "ENTITY_DOES_NOT_EXIST",
    }


def test_upsert_get_list_delete_and_the_test_push(api, receiver):
    pool_id = make_pool(api, real=1, open_pool=False)
    other_pool = make_pool(api, real=1, open_pool=False)
    first = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={
            "webhook_url": receiver.url,
            "event_type": "POOL_CLOSED",
            "pool_id": pool_id,
            "secret_key": "k",
        },
    )
    same = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={
            "webhook_url": receiver.url,
            "event_type": "POOL_CLOSED",
            "pool_id": pool_id,
            "secret_key": "k2",
        },
    )
    assert same["id"] == first["id"]
    other = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={"webhook_url": receiver.url, "event_type": "ASSIGNMENT_SUBMITTED", "pool_id": other_pool},
    )
    assert call(api, "GET", f"/webhook-subscriptions/{first['id']}") == first
    assert [s["id"] for s in call(api, "GET", "/webhook-subscriptions", params={"sort": "id"})["items"]] == [
        first["id"],
        other["id"],
    ]
    assert [
        s["id"] for s in call(api, "GET", "/webhook-subscriptions", params={"pool_id": other_pool})["items"]
    ] == [other["id"]]
    assert [
        s["id"]
        for s in call(api, "GET", "/webhook-subscriptions", params={"event_type": "POOL_CLOSED"})["items"]
    ] == [first["id"]]

    result = call(api, "POST", f"/webhook-subscriptions/{first['id']}/test", 201)
    assert (result["success"], result["originalStatusCode"], len(result["uuids"])) == (True, 200, 1)
    with receiver.lock:
        push = receiver.requests[-1]
    [event] = json.loads(push["body"])["events"]
    assert (event["type"], event["uuid"], event["webhook_subscription_id"]) == (
        "TEST_EVENT",
        result["uuids"][0],
        first["id"],
    )
    assert _valid_signature(push, "k2")

    call(api, "DELETE", f"/webhook-subscriptions/{first['id']}", 204)
    assert call(api, "GET", f"/webhook-subscriptions/{first['id']}", 404)["code"] == "DOES_NOT_EXIST"
    assert call(api, "DELETE", f"/webhook-subscriptions/{first['id']}", 404)["code"] == "DOES_NOT_EXIST"

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = call(
        api,
        "PUT",
        "/webhook-subscriptions",
        json={
            "webhook_url": f"http://127.0.0.1:{dead_port}/",
            "event_type": "POOL_CLOSED",
            "pool_id": pool_id,
        },
    )
    result = call(api, "POST", f"/webhook-subscriptions/{dead['id']}/test", 201)
    assert (result["success"], result["errorType"]) == (
        False,
        "CONNECTION_ERROR",
    ) and "originalStatusCode" not in result
