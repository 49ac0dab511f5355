"""What a client tells an observer after each HTTP attempt: a small event, never the token or query values.

``TolokaClient(..., observer=callback)`` (and the async client alike) calls ``callback(AttemptEvent)`` once per
attempt, from its one plan runner, after it knows whether the attempt will be retried. An observer that raises
is ignored (logged once at debug level): it never changes a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from toloka_provider.client.protocol import Response, Sleep, TransportFailure

log = logging.getLogger("toloka_provider.client")

# Collections whose next path segment is an object id (``/pools/123``, ``/app-projects/ap1/batches/b2``).
_COLLECTIONS = frozenset(
    {
        "aggregated-solutions", "app-projects", "apps", "assignments", "attachments", "batches", "items",
        "message-threads", "operations", "pools", "projects", "skills", "task-suites", "tasks", "trainings",
        "user-bonuses", "user-metadata", "user-restrictions", "user-skills", "webhook-subscriptions",
    }
)  # fmt: skip


@attrs.frozen(slots=True)
class AttemptEvent:
    """One HTTP attempt.

    ``endpoint``: the path with object ids replaced by ``{id}`` (``/api/v1/pools/{id}``); ``status``: the HTTP
    status, None when no answer came; ``attempt``: 1 for the first try of a request, 2 for its first retry...;
    ``retried``: whether the client will try again; ``retry_after``: the seconds the server asked to wait (None
    if it did not say); ``elapsed``: seconds the attempt took.
    """

    method: str
    endpoint: str
    status: int | None
    attempt: int
    retried: bool
    retry_after: float | None
    elapsed: float


Observer = Callable[[AttemptEvent], Any]

_reported: set[int] = set()  # observers whose failure was logged already (once each)


def endpoint_of(path: str) -> str:
    """The path as a template: ``/api/v1/pools/123/open`` -> ``/api/v1/pools/{id}/open``."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join(
        "{id}" if index > 0 and parts[index - 1] in _COLLECTIONS and part else part
        for index, part in enumerate(parts)
    )


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(float(value), 0.0)
    except ValueError:  # an HTTP date: not converted here
        return None


def check_observer(observer: Any) -> Observer | None:
    if observer is not None and not callable(observer):
        raise TypeError(f"observer must be a callable taking an AttemptEvent, or None, got {observer!r}")
    return observer


class AttemptWatch:
    """Turns a runner's effects into ``AttemptEvent``s: ``sent`` after an attempt, ``next`` with the plan's next
    effect (a ``Sleep`` right after a failed attempt means it will be retried; None: the plan ended)."""

    __slots__ = ("_attempt", "_last_request", "_observer", "_pending")

    def __init__(self, observer: Observer) -> None:
        self._observer = observer
        self._pending: tuple[Any, Response | TransportFailure, float] | None = None
        self._last_request: Any = None
        self._attempt = 0

    def sent(self, request: Any, result: Any, elapsed: float) -> None:
        # core.call yields the same Request object again for each retry of one logical request.
        self._attempt = self._attempt + 1 if request is self._last_request else 1
        self._last_request = request
        self._pending = (request, result, elapsed)

    def next(self, effect: Any) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        request, result, elapsed = pending
        response = result if isinstance(result, Response) else None
        event = AttemptEvent(
            method=request.method,
            endpoint=endpoint_of(request.path),
            status=None if response is None else response.status,
            attempt=self._attempt,
            retried=type(effect) is Sleep,
            retry_after=None if response is None else _seconds(response.retry_after),
            elapsed=elapsed,
        )
        try:
            self._observer(event)
        except Exception as error:  # an observer never affects a request
            if id(self._observer) not in _reported:
                _reported.add(id(self._observer))
                log.debug("The client's observer raised %s: %s (ignored)", type(error).__name__, error)
