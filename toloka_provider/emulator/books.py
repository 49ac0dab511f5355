"""Bookkeeping the store keeps beside its objects: indexes and queues of the apps, quality, messages and
webhooks modules. The :class:`~toloka_provider.emulator.state.State` owns one of each (``state.apps_book`` ...),
so that one State object holds all of the emulator's world; these classes only hold data."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime
from typing import Any

__all__ = ["DELIVERY_LOG_SIZE", "AppsBook", "QualityBook", "WebhookBook"]

DELIVERY_LOG_SIZE = 1000


class AppsBook:
    """The Apps API's indexes: items per batch and per project, items being worked on, readiness times."""

    def __init__(self) -> None:
        self.items_by_batch: dict[str, list[str]] = {}
        self.items_by_project: dict[str, list[str]] = {}
        self.in_progress: dict[str, list[str]] = {}  # batch id -> item ids started last tick
        self.ready_at: dict[str, float] = {}  # app project id -> monotonic time it becomes READY
        self.next_item: dict[str, int] = {}  # batch id -> position of the first item that may be NEW
        self.archived_from: dict[str, str] = {}  # archived batch id -> its status before archiving
        self.answerer: Any = None  # answers the items of sync batches (workers.Answerer)


class QualityBook:
    """Skills and restrictions per worker, parsed restriction expiries, the crowd's worker profiles."""

    def __init__(self) -> None:
        self.skills_by_user: dict[str, dict[str, str]] = {}  # user id -> skill id -> user skill id
        self.restrictions_by_user: dict[str, list[str]] = {}  # user id -> restriction ids
        self.expiry: dict[str, datetime | None] = {}  # restriction id -> parsed will_expire
        self.profiles: dict[str, dict] | None = None  # user id -> profile (workers.worker_profiles)


class WebhookBook:
    """Webhook delivery: the subscription index, the outbox, the delivery log and its counts."""

    def __init__(self) -> None:
        self.by_target: dict[tuple[str, str], list[str]] = {}  # (pool id, event type) -> subscription ids
        self.lock = threading.Condition(threading.Lock())
        self.outbox: deque[tuple[str, dict]] = deque(maxlen=1_000_000)  # (subscription id, event)
        self.deliveries: deque[dict] = deque(maxlen=DELIVERY_LOG_SIZE)
        self.sent_events = 0
        self.failed_events = 0
