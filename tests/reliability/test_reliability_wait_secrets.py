"""No path that talks to Toloka hands the token back: a server that echoes it everywhere it can.

The server (a real socket on 127.0.0.1) answers every request with the caller's token in the error message, in
the body's request id, in the ``X-Request-Id`` header and in a redirect ``Location``. Each path the provider has
to Toloka runs against it -- plain calls on both clients, a sensor poke (poke and reschedule mode), a trigger run
and its event, the waiting operator resuming from that event, the sync wait the operator runs, the TSV export,
the review threads and the pool-closed event trigger -- and the token must not appear in any exception (text,
repr, args, pickle, causes), event payload, XCom or log record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from toloka_provider import waiting
from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.sensors.pool import TolokaPoolSensor
from toloka_provider.steps.review import Decision, send_decisions
from toloka_provider.triggers.pool import TolokaPoolTrigger
from toloka_provider.triggers.pool_events import TolokaPoolClosedEventTrigger

TOKEN = "echoed-secret-T0KEN-4242"
CONN_ID = "toloka_echo"
KINDS = ("missing", "refused", "redirect")


class _Echo(BaseHTTPRequestHandler):
    kind = "missing"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        token = (self.headers.get("Authorization") or "").split(" ", 1)[-1]
        said = f"token {token} is not allowed here (Authorization: OAuth {token})"
        kind = type(self).kind
        if kind == "redirect":
            status, body = 302, {"message": said}
        elif kind == "refused":
            status, body = 403, {"code": "ACCESS_DENIED", "message": said, "request_id": token}
        else:
            status, body = 404, {"code": "DOES_NOT_EXIST", "message": said, "request_id": token}
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Request-Id", token)
        self.send_header("X-Echo", f"OAuth {token}")
        if status == 302:
            self.send_header("Location", f"http://127.0.0.1:9/steal?token={token}")
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer


@pytest.fixture(params=KINDS)
def echo(request, monkeypatch):
    handler = type("Echo", (_Echo,), {"kind": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps({"conn_type": "toloka", "password": TOKEN, "host": url, "extra": {"retries": 0}}),
    )
    yield url
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _texts(value: Any, seen: set[int] | None = None) -> list[str]:
    """Everything a value can say: text, repr, args, a pickled copy, and the same for its causes."""
    seen = set() if seen is None else seen
    if value is None or id(value) in seen:
        return []
    seen.add(id(value))
    if not isinstance(value, BaseException):
        return [repr(value), json.dumps(value, default=repr)]
    texts = [str(value), repr(value), repr(value.args), repr(vars(value))]
    try:
        copy = pickle.loads(pickle.dumps(value))
    except Exception:  # an exception that does not pickle says nothing more
        pass
    else:
        texts += [str(copy), repr(copy.args)]
    return texts + _texts(value.__cause__, seen) + _texts(value.__context__, seen)


def assert_clean(caplog, *values: Any) -> None:
    said = [text for value in values for text in _texts(value)]
    for record in caplog.records:
        said.append(record.getMessage())
        said.append(repr(record.args))
        if record.exc_info:
            said += _texts(record.exc_info[1])
    leaks = [text for text in said if TOKEN in text]
    assert not leaks, leaks[:3]


def _raised(call: Any) -> BaseException:
    try:
        call()
    except BaseException as error:
        return error
    raise AssertionError("expected an exception")


@pytest.fixture(autouse=True)
def _all_logs(caplog):
    caplog.set_level(logging.DEBUG)


class _TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def test_plain_calls_on_both_clients(echo, caplog):
    sync_error = _raised(lambda: TolokaClient(TOKEN, url=echo, retries=0).get_pool("7"))

    async def call() -> None:
        async with AsyncTolokaClient(TOKEN, url=echo, retries=0) as client:
            await client.get_pool("7")

    async_error = _raised(lambda: asyncio.run(call()))
    assert_clean(caplog, sync_error, async_error)


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_poke(echo, caplog, mode):
    sensor = TolokaPoolSensor(task_id="wait", pool_id="7", toloka_conn_id=CONN_ID, mode=mode, poke_interval=1)
    assert_clean(caplog, _raised(lambda: sensor.poke({})))


async def test_trigger_event_and_the_waiting_operator_resuming_from_it(echo, caplog):
    trigger = TolokaPoolTrigger("7", CONN_ID, policy={"interval": 1, "deadline": None})
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1 and events[0]["status"] == "error"
    operator = TolokaOpenPoolOperator(task_id="open", pool_id="7", toloka_conn_id=CONN_ID, wait_for_completion=True)
    resumed = _raised(lambda: operator.execute_complete({"ti": _TaskInstance()}, events[0]))
    sensor = TolokaPoolSensor(task_id="wait", pool_id="7", toloka_conn_id=CONN_ID)
    sensor_resumed = _raised(lambda: sensor.execute_complete({}, events[0]))
    assert_clean(caplog, events, resumed, sensor_resumed)


def test_the_sync_wait_the_operator_runs(echo, caplog):
    client = TolokaClient(TOKEN, url=echo, retries=0)
    policy = waiting.PollPolicy(interval=0.1, deadline=None, max_consecutive_errors=0)
    error = _raised(lambda: waiting.wait_for(client, waiting.PoolWait("7"), policy, sleep=lambda s: None))
    assert_clean(caplog, error)


def test_tsv_export_on_both_clients(echo, caplog):
    sync_error = _raised(lambda: list(TolokaClient(TOKEN, url=echo, retries=0).iter_assignments_table("7")))

    async def read() -> None:
        async with AsyncTolokaClient(TOKEN, url=echo, retries=0) as client:
            async for _ in client.iter_assignments_table("7"):
                pass

    async_error = _raised(lambda: asyncio.run(read()))
    assert_clean(caplog, sync_error, async_error)


def test_review_threads(echo, caplog):
    client = TolokaClient(TOKEN, url=echo, retries=0)
    counts: dict[str, int] = {"accepted": 0, "rejected": 0, "already_done": 0, "failed": 0}
    decisions = [Decision("a1", "ACCEPT", "ok"), Decision("a2", "REJECT", "bad")]
    failures = send_decisions(
        client, decisions, counts, concurrency=2, progress_every=1, log=logging.getLogger("review")
    )
    assert counts["failed"] == 2 and len(failures) == 2
    assert_clean(caplog, failures, counts)


async def test_pool_closed_event_trigger(echo, caplog):
    trigger = TolokaPoolClosedEventTrigger("9", CONN_ID, poll_interval=1)

    async def run() -> None:
        async for _ in trigger.run():
            pass

    try:
        await asyncio.wait_for(run(), timeout=30)
    except Exception as error:
        raised: BaseException = error
    else:  # pragma: no cover - the trigger never ends by itself
        raise AssertionError("the event trigger kept polling a server that refuses it")
    assert not isinstance(raised, asyncio.TimeoutError)
    assert_clean(caplog, raised)
