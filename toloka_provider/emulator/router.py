"""Request routing for the emulator: route templates, the request object, the handler contract.

Contract for modules that add routes (``crowd.py``, ``analytics.py``, ``apps.py`` and the server's own):

* A module exposes ``register(router: Router, state: State) -> None`` and calls, for example::

      router.add("POST", "/api/staging/analytics-2", handle_analytics)
      router.add("GET", "/api/app/v0/app-projects/{app_project_id}/batches/{batch_id}", get_batch)

  ``{name}`` matches one path segment (no ``/``), given to the handler in ``request.params["name"]``.
  Routes need ``Authorization: ApiKey|OAuth <token>`` unless added with ``auth=False``.
* A handler is ``handler(request: Request) -> tuple``: ``(status, body)`` or ``(status, body, headers)``.
  ``body`` is anything ``json.dumps`` takes (sent as ``application/json``), ``None`` (empty body, e.g. 204),
  or a :class:`RawResponse` (bytes with its own content type: downloads, HTML pages).
* To answer with an error, raise :class:`toloka_provider.emulator.errors.ApiError`; the server adds the
  ``request_id`` and sends ``{request_id, code, message[, payload]}``. Any other exception is a 500
  ``INTERNAL_ERROR`` (and is logged).
* ``request.query`` is a multi-dict (``dict[str, list[str]]``); ``request.arg(name)`` gives the first value,
  ``request.flag(name)`` reads a ``true``/``false`` flag. ``request.body`` is the parsed JSON body (None when
  empty); the server already answered 400 for a body that is not JSON. ``request.state`` is the store.
* Counters use the route template, e.g. ``"GET /api/v1/pools/{id} 200"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toloka_provider.emulator.errors import invalid_parameter


@dataclass(frozen=True)
class RawResponse:
    """A non-JSON response body."""

    content: bytes
    content_type: str = "application/octet-stream"


class Request:
    """One HTTP request as a handler sees it."""

    __slots__ = ("body", "headers", "method", "params", "path", "query", "raw_body", "route", "state")

    def __init__(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
        raw_body: bytes,
        headers: Any,
        route: Route,
        state: Any,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.query = query
        self.body = body
        self.raw_body = raw_body
        self.headers = headers
        self.route = route
        self.state = state

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query flag; anything but true/false is a 400 naming the parameter."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise invalid_parameter(name, f"expected true or false, got {value!r}", "BOOLEAN_EXPECTED")


Handler = Callable[[Request], tuple]

_PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool
    pattern: re.Pattern | None  # None for a static template


class Router:
    """Method + path -> handler. Static paths resolve with one dict lookup; templates with a regex each,
    checked only against routes with the same number of segments."""

    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: dict[tuple[str, int], list[Route]] = {}
        self._templates: set[str] = set()

    def add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        method = method.upper()
        if not template.startswith("/"):
            raise ValueError(f"route template must start with '/': {template!r}")
        self._templates.add(template)
        if "{" not in template:
            self._static[(method, template)] = Route(method, template, handler, auth, None)
            return
        regex = "^" + _PARAM_RE.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        route = Route(method, template, handler, auth, re.compile(regex))
        self._dynamic.setdefault((method, template.count("/")), []).append(route)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._static.get((method, path))
        if route is not None:
            return route, {}
        for candidate in self._dynamic.get((method, path.count("/")), ()):
            match = candidate.pattern.match(path)  # type: ignore[union-attr]
            if match:
                return candidate, match.groupdict()
        return None

    def has_path(self, path: str) -> bool:
        """Whether any method serves ``path`` (to tell 405 from 404)."""
        return bool(self.allowed_methods(path))

    def allowed_methods(self, path: str) -> list[str]:
        """The methods that serve ``path`` (HEAD wherever GET is), for a 405's ``Allow`` header."""
        allowed = [method for method in ("GET", "POST", "PUT", "PATCH", "DELETE") if self.resolve(method, path)]
        if "GET" in allowed:
            allowed.insert(1, "HEAD")
        return allowed

    def routes(self) -> list[tuple[str, str, bool]]:
        """Every route as (method, template, needs auth), sorted: the route table, for tests and docs."""
        every = list(self._static.values()) + [route for routes in self._dynamic.values() for route in routes]
        return sorted((route.method, route.template, route.auth) for route in every)

    @property
    def templates(self) -> set[str]:
        return set(self._templates)
