"""Webhook subscriptions (``/api/v1/webhook-subscriptions``) and the delivery of their notifications.

Routes (``register(router, state)``)::

    GET    /api/v1/webhook-subscriptions            ?event_type=&pool_id=&id_*&created_*&sort&limit
    PUT    /api/v1/webhook-subscriptions            one subscription -> 200 + it; an array (toloka-kit) ->
                                                    200 + {items: {"0": ..}, validation_errors: {}}
    GET    /api/v1/webhook-subscriptions/{id}
    DELETE /api/v1/webhook-subscriptions/{id}       204 (404 when unknown)
    POST   /api/v1/webhook-subscriptions/{id}/test  201 + {success, responseReceivedAt, originalStatusCode,
                                                    uuids[, errorType]}: one TEST_EVENT push, answered once
                                                    the receiver answered (at most 2 s)

What happens
    * ``PUT`` is an upsert keyed by (webhook_url, event_type, pool_id); ``secret_key`` is kept but never sent
      back. Any invalid item refuses the whole request (400 VALIDATION_ERROR, payload keyed by field, or by
      position then field for an array). ``webhook_url`` must be ``http(s)://`` on a loopback host
      (``127.0.0.1`` or another 127.x address, ``localhost``, ``[::1]``): the emulator never calls out.
    * Events (``state.emit``): ``POOL_CLOSED`` (with ``close_reason``) when a pool closes for any reason,
      ``ASSIGNMENT_CREATED`` / ``ASSIGNMENT_SUBMITTED`` from the crowd, ``ASSIGNMENT_APPROVED`` /
      ``ASSIGNMENT_REJECTED`` from any decision. Each event is
      ``{uuid, event_time, project_id, pool_id, webhook_subscription_id, type[, close_reason][, task_suite_id,
      assignment_id]}``; ``event_time`` is the emulator clock.
    * A background thread (started and stopped with the server) POSTs ``{"events": [...]}`` (up to 100 events
      of one subscription per request) with ``Content-Type: application/json`` and, when the subscription has
      a ``secret_key``, ``Toloka-Signature: {v=1, ts=<ms>, sign=<hex>}`` where ``sign`` is
      HMAC-SHA256(secret_key, ``"<ts>.1.<body>"``) and ``ts`` the real time in milliseconds. A 2xx answer is
      success; a refused connection, a timeout (2 s) or another status is retried up to
      ``MAX_ATTEMPTS`` times in all, ``RETRY_DELAYS`` apart, then dropped. Redirects are not followed. No
      request handler ever waits for a delivery. ``GET /_emulator/webhooks`` shows what was sent.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import ipaddress
import json
import logging
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from toloka_provider.emulator.books import WebhookBook
from toloka_provider.emulator.errors import field_error, validation_error
from toloka_provider.emulator.listing import ListSpec, list_page
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State, format_datetime

__all__ = ["EVENT_TYPES", "is_loopback_url", "register", "sign", "start_service"]

log = logging.getLogger(__name__)

API = "/api/v1"
EVENT_TYPES = (
    "ASSIGNMENT_APPROVED",
    "ASSIGNMENT_CREATED",
    "ASSIGNMENT_EXPIRED",
    "ASSIGNMENT_REJECTED",
    "ASSIGNMENT_SKIPPED",
    "ASSIGNMENT_SUBMITTED",
    "DYNAMIC_OVERLAP_COMPLETED",
    "POOL_CLOSED",
    "TEST_EVENT",
)
MAX_ATTEMPTS = 5
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
TIMEOUT_SECONDS = 2.0
EVENTS_PER_REQUEST = 100

WEBHOOK_SUBSCRIPTIONS = ListSpec(
    "webhook_subscriptions",
    exact={"event_type": "event_type", "pool_id": "pool_id"},
    ranges={"id": ("id", "str"), "created": ("created", "date")},
)


def is_loopback_url(url: Any) -> bool:
    """``http(s)://`` on 127.0.0.0/8, ``::1`` or ``localhost`` (nothing else may be called)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sign(secret_key: str, timestamp_ms: int, body: bytes, version: int = 1) -> str:
    """Toloka's notification signature: hex HMAC-SHA256(secret, ``"<ts>.<v>.<body>"``)."""
    message = f"{timestamp_ms}.{version}.".encode() + body
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def _book(state: State) -> WebhookBook:
    return state.webhook_book


def _view(subscription: dict) -> dict:
    return {key: value for key, value in subscription.items() if key != "secret_key"}


# ------------------------------------------------------------------------------------------ subscriptions


def _check(item: Any, state: State) -> dict:
    if not isinstance(item, dict):
        return {"body": field_error("OBJECT_EXPECTED", "a subscription must be a JSON object")}
    errors = {}
    url = item.get("webhook_url")
    if url is None:
        errors["webhook_url"] = field_error("VALUE_REQUIRED", "webhook_url is required")
    elif not is_loopback_url(url):
        errors["webhook_url"] = field_error(
            "INVALID_URL_SYNTAX",
            f"the emulator only delivers to loopback addresses (http://127.0.0.1, localhost, [::1]); got {url!r}",
        )
    event_type = item.get("event_type")
    if event_type is None:
        errors["event_type"] = field_error("VALUE_REQUIRED", "event_type is required")
    elif event_type not in EVENT_TYPES:
        errors["event_type"] = field_error(
            "UNKNOWN_ENUM_VALUE", f"event_type must be one of {', '.join(EVENT_TYPES)}"
        )
    pool_id = item.get("pool_id")
    if pool_id is None:
        errors["pool_id"] = field_error("VALUE_REQUIRED", "pool_id is required")
    elif str(pool_id) not in state.pools:
        errors["pool_id"] = field_error("ENTITY_DOES_NOT_EXIST", f"pool {pool_id!r} does not exist")
    secret = item.get("secret_key")
    if secret is not None and (not isinstance(secret, str) or not secret):
        errors["secret_key"] = field_error("STRING_EXPECTED", "secret_key must be a non-empty string")
    return errors


def _upsert_one(state: State, item: dict) -> dict:
    book = _book(state)
    target = (str(item["pool_id"]), item["event_type"])
    subscriptions = state.objects["webhook_subscriptions"]
    for subscription_id in book.by_target.get(target, ()):
        existing = subscriptions[subscription_id]
        if existing["webhook_url"] == item["webhook_url"]:
            if item.get("secret_key"):
                existing["secret_key"] = item["secret_key"]
            else:
                existing.pop("secret_key", None)
            return existing
    subscription = {
        "webhook_url": item["webhook_url"],
        "event_type": item["event_type"],
        "pool_id": target[0],
    }
    if item.get("secret_key"):
        subscription["secret_key"] = item["secret_key"]
    state.create("webhook_subscriptions", subscription)
    book.by_target.setdefault(target, []).append(subscription["id"])
    return subscription


def upsert(request: Request) -> tuple:
    body = request.body
    state = request.state
    if not isinstance(body, (dict, list)):
        raise validation_error(
            {"body": field_error("JSON_EXPECTED", "expected a subscription or an array of them")}
        )
    with state.lock:
        if isinstance(body, dict):
            errors = _check(body, state)
            if errors:
                raise validation_error(errors)
            return 200, _view(_upsert_one(state, body))
        errors = {str(index): err for index, item in enumerate(body) if (err := _check(item, state))}
        if errors:
            raise validation_error(errors, f"{len(errors)} of {len(body)} subscriptions are invalid")
        items = {str(index): _view(_upsert_one(state, item)) for index, item in enumerate(body)}
        return 200, {"items": items, "validation_errors": {}}


def get_subscription(request: Request) -> tuple:
    with request.state.lock:
        return 200, _view(request.state.get("webhook_subscriptions", request.params["id"]))


def list_subscriptions(request: Request) -> tuple:
    status, page = list_page(request, WEBHOOK_SUBSCRIPTIONS)
    page["items"] = [_view(item) for item in page["items"]]
    return status, page


def delete_subscription(request: Request) -> tuple:
    state = request.state
    with state.lock:
        subscription = state.get("webhook_subscriptions", request.params["id"])
        del state.objects["webhook_subscriptions"][subscription["id"]]
        ids = _book(state).by_target.get((subscription["pool_id"], subscription["event_type"]), [])
        if subscription["id"] in ids:
            ids.remove(subscription["id"])
        return 204, None


# ------------------------------------------------------------------------------------------ events


def _event(state: State, subscription: dict, event_type: str, fields: dict) -> dict:
    pool = state.pools.get(subscription["pool_id"]) or {}
    event = {
        "uuid": str(uuid.uuid4()),
        "event_time": format_datetime(state.now()),
        "project_id": pool.get("project_id"),
        "pool_id": subscription["pool_id"],
        "webhook_subscription_id": subscription["id"],
        "type": event_type,
    }
    for key in ("close_reason", "task_suite_id", "assignment_id"):
        if fields.get(key) is not None:
            event[key] = fields[key]
    return event


def _listener(state: State):
    book = _book(state)

    def on_event(event_type: str, fields: dict) -> None:
        ids = book.by_target.get((str(fields.get("pool_id")), event_type))
        if not ids:
            return
        subscriptions = state.objects["webhook_subscriptions"]
        events = [
            (sid, _event(state, subscriptions[sid], event_type, fields))
            for sid in ids
            if sid in subscriptions
        ]
        with book.lock:
            book.outbox.extend(events)
            book.lock.notify_all()

    return on_event


def _post(url: str, body: bytes, secret: str | None) -> tuple[int | None, str | None]:
    """One POST; (status, None) when the receiver answered, (None, error type) otherwise."""
    if not is_loopback_url(url):  # checked at subscription time too; never call out
        return None, "CONNECTION_ERROR"
    parts = urlsplit(url)
    if parts.hostname is None:  # a loopback URL has a host; the test tells the type checker
        return None, "CONNECTION_ERROR"
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/json", "User-Agent": "TolokaEmulator-Webhooks/1"}
    if secret:
        timestamp = int(time.time() * 1000)
        headers["Toloka-Signature"] = f"{{v=1, ts={timestamp}, sign={sign(secret, timestamp, body)}}}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except TimeoutError:
        return None, "REQUEST_TIMEOUT"
    except OSError:
        return None, "CONNECTION_ERROR"
    except http.client.HTTPException:
        return None, "CONNECTION_ERROR"
    finally:
        connection.close()


def _encode(events: list[dict]) -> bytes:
    return json.dumps({"events": events}, separators=(",", ":"), ensure_ascii=False).encode()


class _Deliverer:
    """The background thread that sends the outbox, with bounded retries."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.book = _book(state)
        self._stopping = False
        self._retries: list[tuple[float, int, dict]] = []  # (due monotonic time, tie-breaker, batch)
        self._sequence = 0
        self._thread = threading.Thread(target=self._run, name="toloka-emulator-webhooks", daemon=True)

    def start(self) -> _Deliverer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self.book.lock:
            self._stopping = True
            self.book.lock.notify_all()
        self._thread.join(timeout)

    def _next_batches(self) -> list[dict]:
        """Wait for work; return the batches due now (new events grouped per subscription, due retries)."""
        book = self.book
        with book.lock:
            while not self._stopping:
                now = time.monotonic()
                due = []
                while self._retries and self._retries[0][0] <= now:
                    due.append(heapq.heappop(self._retries)[2])
                if book.outbox:
                    grouped: dict[str, list[dict]] = {}
                    while book.outbox:
                        subscription_id, event = book.outbox.popleft()
                        grouped.setdefault(subscription_id, []).append(event)
                    for subscription_id, events in grouped.items():
                        for start in range(0, len(events), EVENTS_PER_REQUEST):
                            due.append(
                                {
                                    "subscription_id": subscription_id,
                                    "events": events[start : start + EVENTS_PER_REQUEST],
                                    "attempts": 0,
                                }
                            )
                if due:
                    return due
                wait = self._retries[0][0] - now if self._retries else None
                book.lock.wait(wait)
            return []

    def _run(self) -> None:
        while True:
            batches = self._next_batches()
            if not batches:
                return
            for batch in batches:
                try:
                    self._deliver(batch)
                except Exception:  # a bad batch must not stop the deliveries of others
                    log.exception("webhook delivery failed")

    def _deliver(self, batch: dict) -> None:
        state = self.state
        with state.lock:
            subscription = state.objects["webhook_subscriptions"].get(batch["subscription_id"])
            subscription = dict(subscription) if subscription is not None else None
        if subscription is None:
            return  # deleted since: nothing to send
        body = _encode(batch["events"])
        status, error = _post(subscription["webhook_url"], body, subscription.get("secret_key"))
        batch["attempts"] += 1
        ok = status is not None and 200 <= status < 300
        record = {
            "subscription_id": subscription["id"],
            "webhook_url": subscription["webhook_url"],
            "event_types": sorted({event["type"] for event in batch["events"]}),
            "events": len(batch["events"]),
            "attempt": batch["attempts"],
            "status": status,
            "error": None if ok else (error or "WRONG_STATUS_CODE"),
            "at": format_datetime(state.now()),
        }
        with self.book.lock:
            self.book.deliveries.append(record)
            if ok:
                self.book.sent_events += len(batch["events"])
                return
            if batch["attempts"] >= MAX_ATTEMPTS or self._stopping:
                self.book.failed_events += len(batch["events"])
                log.info(
                    "webhook %s: giving up after %d attempts", subscription["webhook_url"], batch["attempts"]
                )
                return
            delay = RETRY_DELAYS[min(batch["attempts"] - 1, len(RETRY_DELAYS) - 1)]
            self._sequence += 1
            heapq.heappush(self._retries, (time.monotonic() + delay, self._sequence, batch))
            self.book.lock.notify_all()


def start_service(state: State) -> _Deliverer:
    """Start the delivery thread for ``state`` (the server calls this in ``start()``; ``stop()`` ends it)."""
    return _Deliverer(state).start()


def delivery_report(state: State) -> dict:
    """What ``GET /_emulator/webhooks`` shows: counts, pending events, the last deliveries (newest last)."""
    book = _book(state)
    with book.lock:
        return {
            "sent_events": book.sent_events,
            "failed_events": book.failed_events,
            "pending_events": len(book.outbox),
            "deliveries": list(book.deliveries),
        }


# ------------------------------------------------------------------------------------------ test push


def test_subscription(request: Request) -> tuple:
    state = request.state
    with state.lock:
        subscription = dict(state.get("webhook_subscriptions", request.params["id"]))
        event = _event(state, subscription, "TEST_EVENT", {})
    # The push happens outside the lock: the receiver may take up to TIMEOUT_SECONDS.
    status, error = _post(subscription["webhook_url"], _encode([event]), subscription.get("secret_key"))
    result: dict[str, Any] = {"success": status is not None and 200 <= status < 300, "uuids": [event["uuid"]]}
    if status is not None:
        result["originalStatusCode"] = status
        result["responseReceivedAt"] = state.now_wire()
    if not result["success"]:
        result["errorType"] = error or "WRONG_STATUS_CODE"
    return 201, result


def register(router: Router, state: State) -> None:
    state.event_listeners.append(_listener(state))
    router.add("GET", f"{API}/webhook-subscriptions", list_subscriptions)
    router.add("PUT", f"{API}/webhook-subscriptions", upsert)
    router.add("GET", f"{API}/webhook-subscriptions/{{id}}", get_subscription)
    router.add("DELETE", f"{API}/webhook-subscriptions/{{id}}", delete_subscription)
    router.add("POST", f"{API}/webhook-subscriptions/{{id}}/test", test_subscription)
