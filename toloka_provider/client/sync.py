"""``TolokaClient``: the Toloka API over ``requests`` (pooled, keep-alive connections).

All API knowledge is in ``api.TolokaApi`` and ``core``; this module only performs the plans' effects:
it sends a ``Request`` with a ``requests.Session`` and sleeps.

Thread safety: one client may be shared by many threads. Each thread gets its own ``requests.Session``
(a Session is not documented as thread-safe), and each session keeps its own connection pool, so
connections are reused within a thread. ``close()`` closes every session the client opened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from toloka_provider.client import streaming
from toloka_provider.client.api import TolokaApi
from toloka_provider.client.config import make_config
from toloka_provider.client.environment import Environment
from toloka_provider.client.protocol import Emit, Now, Plan, Request, Response, Sleep, TransportFailure

# requests raises these when there is no usable answer; all are worth a retry.
_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_JSON_CONTENT_TYPE = {"Content-Type": "application/json"}


class TolokaClient(TolokaApi):
    """Synchronous Toloka client.

    ``TolokaClient(token, environment="PRODUCTION")`` or ``TolokaClient(token, url="http://127.0.0.1:8080")``.
    See the README section "The client" for every argument. ``sleep`` (keyword) replaces ``time.sleep`` and
    ``clock`` replaces ``time.monotonic`` (tests inject both).
    """

    def __init__(
        self,
        token: str,
        environment: Environment | str | None = None,
        retries: int | object = 3,
        timeout: float | tuple[float | None, float | None] | None = 10.0,
        url: str | None = None,
        retry_quotas: str | Iterable[str] | None = "MIN",
        retryer_factory: Callable[[], object] | None = None,
        act_under_account_id: str | None = None,
        verify: bool | str = True,
        *,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        config = make_config(
            token, environment, retries, timeout, url, retry_quotas, retryer_factory, act_under_account_id, verify
        )
        super().__init__(config, clock)
        self._timeout = config.timeout
        self._sleep = sleep or time.sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    # ---- connections ----------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._config.headers)
            session.verify = self._config.verify
            # Retries are ours (see retry.py); urllib3 must not retry underneath us.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the pooled connections of every thread's session."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> TolokaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- performing effects ---------------------------------------------------------------------------

    def _send_request(self, request: Request) -> Response | TransportFailure:
        try:
            response = self._session().request(
                request.method,
                self.url + request.path,
                params=request.params,
                data=request.body,
                headers=_JSON_CONTENT_TYPE if request.body is not None else None,
                timeout=self._timeout,
            )
            body = response.content
        except _TRANSPORT_ERRORS as exc:
            return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
        headers = response.headers
        return Response(response.status_code, body, headers.get("Retry-After"), headers.get("X-Request-Id"))

    def _perform(self, effect: Any) -> Any:
        if type(effect) is Request:
            return self._send_request(effect)
        if type(effect) is Sleep:
            self._sleep(effect.seconds)
            return None
        if type(effect) is Now:
            return self._clock()
        if isinstance(effect, streaming.StreamEffect):  # streamed bodies (the TSV export)
            return streaming.perform_sync(self, effect)
        raise TypeError(f"unexpected effect {effect!r}")

    def _run(self, plan: Plan) -> Any:
        sent = None
        while True:
            try:
                effect = plan.send(sent)
            except StopIteration as stop:
                return stop.value
            sent = self._perform(effect)

    def _iterate(self, plan: Plan) -> Iterator[Any]:
        def drive() -> Iterator[Any]:
            sent = None
            try:
                while True:
                    try:
                        effect = plan.send(sent)
                    except StopIteration:
                        return
                    if type(effect) is Emit:
                        yield from effect.values
                        sent = None
                    else:
                        sent = self._perform(effect)
            finally:
                plan.close()

        return drive()
