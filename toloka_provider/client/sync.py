"""``TolokaClient``: the Toloka API over ``requests`` (pooled, keep-alive connections).

This module performs the plans' effects (``run_plan``, the client's one runner); all API knowledge is in
``api.TolokaApi`` and ``core``. Each attempt is bounded: redirects are never followed, and a watchdog thread cuts
an attempt's socket when its total deadline passes. One client may be shared by threads (a ``requests.Session``
per thread). Listings request the next page while the caller reads the current one (``prefetch``), in a short
thread that sends exactly that request; the plan itself is only advanced in the caller's thread.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from toloka_provider.client import protocol
from toloka_provider.client.api import TolokaApi
from toloka_provider.client.config import DEADLINE_GRACE, ClientConfig, make_config
from toloka_provider.client.core import step
from toloka_provider.client.environment import Environment
from toloka_provider.client.errors import reset_secrets, use_secrets
from toloka_provider.client.observe import AttemptWatch, Observer, check_observer
from toloka_provider.client.pagination import check_prefetch
from toloka_provider.client.protocol import (
    CloseStream,
    Emit,
    Now,
    OpenStream,
    Plan,
    ReadStream,
    Request,
    Response,
    Sleep,
    StreamedResponse,
    TransportFailure,
)
from toloka_provider.client.retry import DEFAULT_MAX_RETRY_AFTER, RetryPolicy

# requests raises these when there is no usable answer (connection, timeout, broken body); all are worth a
# retry. The lower layers' errors are listed too, so that nothing raw escapes an attempt that was cut off.
_TRANSPORT_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)

# Bodies are read in chunks of this size (the deadline and the size limit are checked between them). Large:
# each read is a socket receive that gives up and takes back the GIL, and a prefetch thread that must take it
# back from a caller busy building models waits a switch interval (5 ms) each time; 1 MiB chunks make that a few
# times per page instead of dozens. The watchdog does not depend on it: it cuts the socket in any phase.
_CHUNK = 1024 * 1024

# ---- the per-attempt deadline ---------------------------------------------------------------------------


class _Attempt:
    """One HTTP attempt under a deadline: the connection it uses, and whether the watchdog cut it off."""

    __slots__ = ("conn", "deadline_at", "done", "expired")

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at
        self.conn: Any = None
        self.done = False
        self.expired = False  # past its deadline, or cut off because its listing was abandoned


_current = threading.local()  # the attempt the calling thread is making (set around session.request)


class _Watchdog:
    """One daemon thread per process that cuts off attempts past their deadline.

    Cutting off = ``shutdown()`` of the attempt's socket, which wakes a ``recv`` blocked in any phase (status
    line, headers, body) with end-of-file; requests then raises, and the attempt fails as a timeout. The
    socket is shut down with ``socket.socket.shutdown`` (the plain fd), not ``SSLSocket.shutdown``, which
    would change the TLS object under the reading thread.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the thread does not survive a fork (task runners fork)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, attempt: _Attempt) -> None:
        with self._lock:
            heapq.heappush(self._heap, (attempt.deadline_at, next(self._order), attempt))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="toloka-client-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is attempt:
                self._wake.notify()

    def finish(self, attempt: _Attempt) -> None:
        with self._lock:  # under the lock: the watchdog never shuts a connection that has been handed back
            attempt.done = True

    def _loop(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline_at, _, attempt = self._heap[0]
                now = time.monotonic()
                if now < deadline_at:
                    self._wake.wait(deadline_at - now)
                    continue
                heapq.heappop(self._heap)
                attempt.expired = True
                if not _cut(attempt.conn):
                    # Not connected yet (still in the connect phase): look again shortly.
                    heapq.heappush(self._heap, (now + 0.05, next(self._order), attempt))


def _cut(conn: Any) -> bool:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: nothing left to wake
    return True


_watchdog = _Watchdog()


class _WatchedPoolMixin:
    """Records which connection the current attempt uses, so that the watchdog can cut it off."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        attempt = getattr(_current, "attempt", None)
        if attempt is not None:
            attempt.conn = conn
        return conn


class _WatchedHTTPPool(_WatchedPoolMixin, urllib3.HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPoolMixin, urllib3.HTTPSConnectionPool):
    pass


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose pools report their connections to the attempt in progress."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(getattr(manager, "pool_classes_by_scheme", None), dict) and not proxy.startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager

_JSON_CONTENT_TYPE = {"Content-Type": "application/json"}
# A request path requests would send unchanged (nothing to percent-encode): such requests skip its preparation.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/._~-]*")

_END = object()  # a plan's end, from ``_advance``


def _advance(plan: Plan, sent: Any, secrets: tuple[str, ...], last: Any) -> Any:
    """``core.step``, with the plan's end as ``_END`` instead of ``StopIteration``."""
    try:
        return step(plan, sent, secrets, last)
    except StopIteration:
        return _END


class _Ahead:
    """The next page's request, sent by a thread of its own while the caller reads the current page.

    The thread sends exactly one request (``_send_request`` never raises for a transport problem: it returns a
    ``TransportFailure``, which the plan retries in the caller's thread as usual) and ends. ``cancel()`` is for
    a listing abandoned while the request is in flight: no request starts after it, the one in flight is cut
    off, and the thread is joined before it returns.
    """

    __slots__ = ("attempt", "cancelled", "error", "result", "thread")

    def __init__(self, client: TolokaClient, request: Request) -> None:
        self.attempt: _Attempt | None = None
        self.cancelled = False
        self.result: Any = None
        self.error: BaseException | None = None
        # Daemon: a thread blocked on a dead server must not keep the interpreter alive at exit.
        self.thread = threading.Thread(
            target=self._send, args=(client, request), name="toloka-client-prefetch", daemon=True
        )
        self.thread.start()

    def _send(self, client: TolokaClient, request: Request) -> None:
        session = None
        try:
            session = client._borrow_session()
            self.result = client._send_request(request, session, self)
        except BaseException as exc:  # handed to the caller's thread by wait(), as if raised there
            self.error = exc
        finally:
            if session is not None:
                client._give_back_session(session)

    def wait(self) -> Any:
        self.thread.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.result

    def cancel(self) -> None:
        with _watchdog._lock:  # the same lock as the watchdog: an attempt is never cut after it has finished
            self.cancelled = True
            attempt = self.attempt
            if attempt is not None and not attempt.done:
                attempt.expired = True
                _cut(attempt.conn)
        self.thread.join()


def _read_body(response: Any, attempt: _Attempt | None) -> bytes | None:
    """The whole body of ``response`` (opened with ``stream=True``); None if it exceeds ``MAX_RESPONSE_BYTES``.

    A body whose length the headers declare and that is sent as is (``protocol.declared_length``) is refused unread
    when it is too long, else read in one call: the buffered reader under it then makes one socket read per
    arrival of data rather than per chunk, and the bytes come back as one object, not chunks to join. Each socket
    read gives up the GIL and must take it back, which a prefetch thread waits for while the caller is busy:
    fewer reads, a page ready sooner. Any other body (chunked; compressed, where the limit is on the decoded
    size) is read in ``_CHUNK`` pieces with the limit checked between them. The deadline is the watchdog's (it
    cuts the socket in any phase), checked again once the body is in.
    """
    headers = response.headers
    length = protocol.declared_length(headers.get("Content-Length"), headers.get("Content-Encoding"))
    if length is not None and length > protocol.MAX_RESPONSE_BYTES:
        return None
    raw = response.raw
    if length is not None and type(getattr(raw, "length_remaining", None)) is int:
        # urllib3 reads exactly the declared length and raises if the connection ends short of it.
        body = raw.read(decode_content=False)
    else:
        chunks = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > protocol.MAX_RESPONSE_BYTES:
                return None
            if attempt is not None and (attempt.expired or time.monotonic() > attempt.deadline_at):
                raise TimeoutError("deadline")
        body = b"".join(chunks)
    if attempt is not None and (attempt.expired or time.monotonic() > attempt.deadline_at):
        raise TimeoutError("deadline")
    return body


class _SyncStream:
    """A streamed body being read: the response, its chunk iterator and the connection (for the deadline)."""

    def __init__(self, response: Any, conn: Any) -> None:
        self.response = response
        self.chunks = response.iter_content(protocol.STREAM_CHUNK_SIZE)
        self.conn = conn
        self.closed = False

    def abandon(self) -> None:
        if not self.closed:
            self.closed = True
            self.response.close()


# What breaks a stream being opened or read (requests' own; the lower layers' errors come wrapped in these).
_STREAM_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class TolokaClient(TolokaApi):
    """Synchronous Toloka client.

    ``TolokaClient(token, environment="PRODUCTION")`` or ``TolokaClient(token, url="http://127.0.0.1:8080")``.
    See the README section "The client" for every argument. ``timeout``: a number is the most one attempt may
    take in total (connect to the last body byte) and the connect timeout; a ``(connect, read)`` pair bounds
    connecting, each read, and the attempt in total by ``connect + read`` (see ``config``). ``max_retry_after``
    (keyword, default 300 s): the longest server-requested wait (``Retry-After``, a quota interval) that is
    slept; a longer one raises at once, with the hint in the error's ``retry_after``. ``sleep`` (keyword)
    replaces ``time.sleep`` and ``clock`` replaces ``time.monotonic`` (tests inject both). ``prefetch``
    (keyword, default True): listings request the next page while the caller reads this one (module docstring);
    False pages strictly one after the other.
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
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        prefetch: bool = True,
        observer: Observer | None = None,
    ) -> None:
        check_prefetch(prefetch)
        config = make_config(
            token, environment, retries, timeout, url, retry_quotas, retryer_factory, act_under_account_id, verify,
            max_retry_after=max_retry_after,
        )
        super().__init__(config, clock)
        self._timeout = config.timeout
        self._deadline = config.deadline
        self._secrets = config.secrets
        self._sleep = sleep or time.sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._spare_sessions: list[requests.Session] = []  # for the prefetch threads, one at a time each
        self._sessions_lock = threading.Lock()
        self._plain_base_url: bool | None = None
        self._prefetch = prefetch
        self._observer = check_observer(observer)

    @property
    def config(self) -> ClientConfig:
        """The validated settings (URL, headers, timeouts, retries); its repr never shows the token."""
        return self._config

    def new_retry_policy(self) -> RetryPolicy:
        """A fresh retry policy for one logical request, as the client's own calls use."""
        return self._config.new_retry_policy()

    # ---- connections ----------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self._config.headers)
        session.verify = self._config.verify
        self._read_environment_once(session)
        # Retries are ours (see retry.py); urllib3 must not retry underneath us.
        adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        with self._sessions_lock:
            self._sessions.append(session)
        return session

    def _borrow_session(self) -> requests.Session:
        """A session no other thread is using, for one prefetch thread; kept across pages for its connections."""
        with self._sessions_lock:
            if self._spare_sessions:
                return self._spare_sessions.pop()
        return self._new_session()

    def _give_back_session(self, session: requests.Session) -> None:
        with self._sessions_lock:
            if any(open_session is session for open_session in self._sessions):  # not closed meanwhile
                self._spare_sessions.append(session)

    def _read_environment_once(self, session: requests.Session) -> None:
        """Proxies and the CA bundle from the environment, read when the session is made, not per request.

        With requests' default ``trust_env``, every request looks up the proxy variables, ``no_proxy`` and
        ``~/.netrc`` again: about a quarter of the client's CPU per accept. A ``.netrc`` entry for the API host
        would also replace our ``Authorization`` header. So the session does not trust the environment; what
        it would have taken from there (``HTTP(S)_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` covers the API host,
        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` when ``verify`` is left at True) is set once here instead.
        """
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(self.url))
        if session.verify is True:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                session.verify = bundle

    def close(self) -> None:
        """Close the pooled connections of every thread's session."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
            self._spare_sessions = []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> TolokaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- performing effects ---------------------------------------------------------------------------

    def _send_request(
        self, request: Request, session: requests.Session | None = None, ahead: _Ahead | None = None
    ) -> Response | TransportFailure:
        """Send one attempt. ``session``/``ahead``: from a prefetch thread (its own session, cancellable)."""
        deadline = self._deadline
        if session is None:
            session = self._session()
        if deadline is None and ahead is None:
            attempt = None
        else:
            attempt = _Attempt(math.inf if deadline is None else time.monotonic() + deadline + DEADLINE_GRACE)
            if ahead is not None:
                with _watchdog._lock:
                    if ahead.cancelled:  # the listing was abandoned before this request started
                        return TransportFailure("Cancelled: the listing was closed")
                    ahead.attempt = attempt
            _current.attempt = attempt
            if deadline is not None:
                _watchdog.watch(attempt)
        response = None
        try:
            if not request.params and self._plain_base() and _PLAIN_PATH.fullmatch(request.path):
                response = self._send_prepared(session, request)
            else:
                response = session.request(
                    request.method,
                    self.url + request.path,
                    params=request.params,
                    data=request.body,
                    headers=_JSON_CONTENT_TYPE if request.body is not None else None,
                    timeout=self._timeout,
                    allow_redirects=False,  # never send the token elsewhere; a 3xx is an error (core.call)
                    stream=True,  # the body is read by _read_body, under the size limit
                )
            body = _read_body(response, attempt)
            if body is None:
                response.close()
                return TransportFailure(f"ResponseTooLarge: the body exceeds {protocol.MAX_RESPONSE_BYTES} bytes; not read")
        except _TRANSPORT_ERRORS as exc:
            if response is not None:
                response.close()
            if ahead is not None and ahead.cancelled:
                return TransportFailure("Cancelled: the listing was closed", exc)
            if attempt is not None and (attempt.expired or time.monotonic() > attempt.deadline_at):
                return TransportFailure(
                    f"TimeoutError: no complete answer within the total timeout of {deadline:g} s per attempt", exc
                )
            return TransportFailure(f"{type(exc).__name__}: {exc}", exc)
        finally:
            if attempt is not None:
                _current.attempt = None
                _watchdog.finish(attempt)
        headers = response.headers
        status = response.status_code
        return Response(
            status, body, headers.get("Retry-After"), headers.get("X-Request-Id"),
            headers.get("Location") if 300 <= status < 400 else None,
        )

    def _plain_base(self) -> bool:
        """Whether ``self.url`` is already what requests would make of it (then the prepared path may be used)."""
        plain = self._plain_base_url
        if plain is None:
            probe = self.url + "/api/x"
            plain = self._plain_base_url = requests.Request("GET", probe).prepare().url == probe
        return plain

    def _send_prepared(self, session: requests.Session, request: Request) -> requests.Response:
        """The request without ``Session.request``'s preparation: a path with no query and nothing to quote.

        ``Session.request`` merges settings, cookies and hooks and re-parses the URL on every call: about 40% of
        the client's CPU for a small request such as an accept (1.1 vs 0.7 ms, measured). Here the session's
        headers, proxies and TLS settings are used as they are, and the adapter (the same connection pool, and
        the same ``requests.adapters.HTTPAdapter.send`` that test mocks patch) sends it. No cookies are sent or
        kept (the API authenticates with the token alone). The headers are those ``Session.request`` sends.
        """
        headers: requests.structures.CaseInsensitiveDict[str | bytes] = requests.structures.CaseInsensitiveDict(
            session.headers
        )
        body = request.body
        if body is not None:
            headers.update(_JSON_CONTENT_TYPE)
            headers["Content-Length"] = str(len(body))
        elif request.method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        prepared = requests.PreparedRequest()
        prepared.method = request.method
        prepared.url = url = self.url + request.path
        prepared.headers = headers
        prepared.body = body
        prepared.hooks = {"response": []}
        return session.get_adapter(url).send(
            prepared, stream=True, timeout=self._timeout, verify=session.verify, cert=session.cert,
            proxies=session.proxies,
        )

    def _perform(self, effect: Any) -> Any:
        if type(effect) is Request:
            return self._send_request(effect)
        if type(effect) is Sleep:
            self._sleep(effect.seconds)
            return None
        if type(effect) is Now:
            return self._clock()
        if type(effect) in (OpenStream, ReadStream, CloseStream):  # streamed bodies (the TSV export)
            return self._perform_stream(effect)
        raise TypeError(f"unexpected effect {effect!r}")

    # ---- streamed bodies --------------------------------------------------------------------------------

    def _watched(self, conn: Any = None) -> _Attempt | None:
        """An attempt under the total deadline, watched by the watchdog (None: no deadline)."""
        if self._deadline is None:
            return None
        attempt = _Attempt(time.monotonic() + self._deadline + DEADLINE_GRACE)
        attempt.conn = conn
        _current.attempt = attempt
        _watchdog.watch(attempt)
        return attempt

    @staticmethod
    def _unwatch(attempt: _Attempt | None) -> None:
        if attempt is not None:
            _current.attempt = None
            _watchdog.finish(attempt)

    def _stream_failure(self, attempt: _Attempt | None, exc: BaseException, what: str) -> TransportFailure:
        if attempt is not None and (attempt.expired or time.monotonic() > attempt.deadline_at):
            return TransportFailure(f"TimeoutError: {what} within the total timeout of {self._deadline:g} s", exc)
        return TransportFailure(f"{type(exc).__name__}: {exc}", exc)

    def _perform_stream(self, effect: Any) -> Any:
        """Open, read or close a streamed body.

        Opening (status line, headers, an error body) is one attempt under the total deadline; then each chunk
        must arrive within that deadline too, so a server that drips or stalls cannot hold the export, while a
        long export that keeps flowing is not cut off.
        """
        if type(effect) is OpenStream:
            request = effect.request
            attempt = self._watched()
            try:
                response = self._session().request(
                    request.method,
                    self.url + request.path,
                    params=request.params,
                    data=request.body,
                    headers=_JSON_CONTENT_TYPE if request.body is not None else None,
                    timeout=self._timeout,
                    stream=True,
                    allow_redirects=False,  # the token is never sent elsewhere; a 3xx is not the body
                )
                headers = response.headers
                retry_after, request_id = headers.get("Retry-After"), headers.get("X-Request-Id")
                if not 200 <= response.status_code < 300:
                    try:
                        body = protocol.bounded(response.iter_content(protocol.STREAM_CHUNK_SIZE))
                    finally:
                        response.close()
                    return Response(response.status_code, body, retry_after, request_id)
            except _STREAM_ERRORS as exc:
                return self._stream_failure(attempt, exc, "no answer")
            finally:
                self._unwatch(attempt)
            stream = _SyncStream(response, attempt.conn if attempt is not None else None)
            return StreamedResponse(response.status_code, b"", retry_after, request_id, stream=stream)
        stream = effect.stream
        if type(effect) is CloseStream:
            stream.abandon()
            return None
        attempt = self._watched(stream.conn) if stream.conn is not None else None
        try:
            chunk = next(stream.chunks, b"")
        except _STREAM_ERRORS as exc:
            stream.abandon()
            return self._stream_failure(attempt, exc, f"no chunk of the export ({protocol.STREAM_CHUNK_SIZE} bytes)")
        finally:
            self._unwatch(attempt)
        if not chunk:
            stream.abandon()
        return chunk

    def run_plan(
        self,
        plan: Plan,
        *,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Any:
        """Run ``plan`` to its result: the one way this client performs a plan's effects.

        Every step goes through ``core.step`` (the client's token is redacted from what the plan raises or
        logs); requests are sent under the client's timeouts; ``Sleep`` and ``Now`` go to ``sleep`` and
        ``clock`` when given, else to the client's own.
        """
        sleep = sleep or self._sleep
        clock = clock or self._clock
        secrets = self._secrets
        watch = AttemptWatch(self._observer) if self._observer is not None else None
        # The token is the active secret while effects are performed too: what the transport's libraries
        # log (httpcore logs response headers at debug level) is redacted like the plan's own lines.
        active = use_secrets(secrets)
        try:
            return self._drive(plan, sleep, clock, secrets, watch)
        finally:
            reset_secrets(active)

    def _drive(self, plan: Plan, sleep: Any, clock: Any, secrets: tuple[str, ...], watch: Any) -> Any:
        sent: Any = None
        last = None
        while True:
            try:
                effect = step(plan, sent, secrets, last)
            except StopIteration as stop:
                if watch is not None:
                    watch.next(None)
                return stop.value
            except BaseException:
                if watch is not None:
                    watch.next(None)
                raise
            if watch is not None:
                watch.next(effect)
            kind = type(effect)
            if kind is Request:
                started = time.monotonic()
                sent = self._send_request(effect)
                if type(sent) is Response:
                    last = (effect, sent)
                if watch is not None:
                    watch.sent(effect, sent, time.monotonic() - started)
            elif kind is Sleep:
                sent = sleep(effect.seconds)
            elif kind is Now:
                sent = clock()
            elif kind is OpenStream and watch is not None:
                started = time.monotonic()
                sent = self._perform_stream(effect)
                watch.sent(effect.request, sent, time.monotonic() - started)
            else:
                sent = self._perform(effect)

    def _run(self, plan: Plan) -> Any:
        return self.run_plan(plan)

    def _iterate(self, plan: Plan) -> Iterator[Any]:
        prefetch = self._prefetch

        def drive() -> Iterator[Any]:
            secrets = self._secrets
            last = None
            ahead: _Ahead | None = None
            watch = AttemptWatch(self._observer) if self._observer is not None else None
            try:
                effect = _advance(plan, None, secrets, None)
                while effect is not _END:
                    if watch is not None:
                        watch.next(effect)
                    if type(effect) is not Emit:
                        started = time.monotonic()
                        active = use_secrets(secrets)  # as in run_plan (no yield while it is set)
                        try:
                            sent = self._perform(effect)
                        finally:
                            reset_secrets(active)
                        if type(sent) is Response:
                            last = (effect, sent)
                        if watch is not None and type(effect) is Request:
                            watch.sent(effect, sent, time.monotonic() - started)
                        effect = _advance(plan, sent, secrets, last)
                        continue
                    values = effect.values
                    if not prefetch:
                        yield from values
                        effect = _advance(plan, None, secrets, last)
                        continue
                    # Look one effect ahead now: the next page's request, sent while the caller reads this page.
                    # An error of the plan here is raised where the caller would have met it: after this page.
                    failure = None
                    try:
                        effect = _advance(plan, None, secrets, last)
                    except Exception as exc:
                        failure, effect = exc, _END
                    if type(effect) is Request:
                        ahead = _Ahead(self, effect)
                        started = time.monotonic()
                    yield from values
                    if failure is not None:
                        raise failure
                    if ahead is not None:
                        sent = ahead.wait()
                        ahead = None
                        if type(sent) is Response:
                            last = (effect, sent)
                        if watch is not None:
                            watch.next(effect)
                            watch.sent(effect, sent, time.monotonic() - started)
                        effect = _advance(plan, sent, secrets, last)
            finally:
                if watch is not None:
                    watch.next(None)
                if ahead is not None:  # the caller stopped early: nothing more is sent, no thread is left
                    ahead.cancel()
                plan.close()

        return drive()
