"""TolokaHook: turns an Airflow connection of type ``toloka`` into a configured Toloka API client.

Connection layout (see ``get_provider_info()`` for the form the UI shows):

- ``password``: the API token (OAuth token or API key). Airflow masks it; the hook masks it again.
- ``host`` (optional): a custom API base URL, e.g. ``http://127.0.0.1:8080`` for the local emulator.
  A host without a scheme gets ``https://``; a separate ``port`` is appended when the host has none.
- extras: ``environment`` (``production`` | ``sandbox``, any case), ``act_under_account_id``,
  ``timeout`` (seconds, > 0), ``retries`` (integer >= 0). The UI stores them prefixed
  (``extra__toloka__environment``); both spellings are read. The old provider's
  ``extra__toloka__token`` / ``extra__toloka__environment`` / ``extra__toloka__url`` still work.

When neither ``host`` nor ``environment`` is set, the hook uses **production** (the public Toloka API);
the old provider refused such a connection, but production is what a bare token is issued for.

Nothing is read in ``__init__``: hooks are built at DAG parse time, and reading connections there costs a
secrets-backend round trip per parse (and fails outside a worker).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook

import toloka_provider.client as toloka_client
from toloka_provider import metrics
from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import DoesNotExistApiError, TolokaArgumentError
from toloka_provider.exceptions import TolokaInputError

ENVIRONMENTS = ("production", "sandbox")

#: Toloka web UI ("platform") per API environment; used for log lines and operator extra links.
WEB_UI_URLS = {
    "production": "https://platform.toloka.ai",
    "sandbox": "https://platform.sandbox.toloka.ai",
}

_EXTRA_PREFIX = "extra__toloka__"


class TolokaConnectionError(TolokaInputError):
    """A ``toloka`` connection is missing a field or has a value of the wrong shape.

    Like a wrong token, it cannot get better by itself: the task fails at once (no retry).
    """


@dataclass(frozen=True)
class TolokaConnectionSettings:
    """The parsed, validated content of a ``toloka`` connection. ``repr`` never shows the token."""

    conn_id: str
    token: str = field(repr=False)
    environment: str | None = None  # "production" | "sandbox"; None when ``url`` is set
    url: str | None = None
    act_under_account_id: str | None = None
    timeout: float | None = None
    retries: int | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``TolokaClient`` / ``AsyncTolokaClient`` (unset ones keep client defaults)."""
        kwargs: dict[str, Any] = {"token": self.token}
        if self.url:
            kwargs["url"] = self.url
        else:
            kwargs["environment"] = (self.environment or "production").upper()
        if self.act_under_account_id:
            kwargs["act_under_account_id"] = self.act_under_account_id
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.retries is not None:
            kwargs["retries"] = self.retries
        return kwargs

    def web_ui_base(self) -> str:
        """Base of the Toloka web UI pages for this connection (a custom URL serves its own pages)."""
        if self.url:
            return self.url
        return WEB_UI_URLS[self.environment or "production"]


def parse_toloka_connection(
    conn_id: str,
    *,
    password: str | None,
    host: str | None,
    port: int | None = None,
    extras: dict[str, Any] | None = None,
) -> TolokaConnectionSettings:
    """Validate a ``toloka`` connection's fields and return its settings.

    Pure: takes the fields, reads nothing. Raises TolokaConnectionError naming the connection, the field,
    what was expected and what came.
    """
    extras = dict(extras or {})

    def extra(name: str) -> Any:
        # Unprefixed (env-var JSON, hand-written) first, then the UI's prefixed form.
        value = extras.get(name)
        if value in (None, ""):
            value = extras.get(_EXTRA_PREFIX + name)
        return None if value == "" else value

    def fail(message: str) -> TolokaConnectionError:
        return TolokaConnectionError(f"Toloka connection {conn_id!r}: {message}")

    token = password or extra("token")  # ``extra__toloka__token``: the old provider kept the token there
    if not token:
        raise fail(
            "no API token. Put the Toloka OAuth token or API key in the connection's password "
            "field ('API token' in the UI)."
        )
    if not isinstance(token, str):
        raise fail(f"the API token must be a string, got {type(token).__name__}.")
    token = token.strip()

    url_value = host or extra("url")  # ``extra__toloka__url``: the old provider's custom URL
    url = _normalise_url(conn_id, url_value, port) if url_value else None

    environment_value = extra("environment")
    environment: str | None = None
    if environment_value is not None:
        if not isinstance(environment_value, str) or environment_value.strip().lower() not in ENVIRONMENTS:
            raise fail(
                f"extra 'environment' must be one of {', '.join(ENVIRONMENTS)} (any case), "
                f"got {environment_value!r}."
            )
        environment = environment_value.strip().lower()
    if url and environment:
        raise fail(
            f"set either host (a custom API URL) or extra 'environment', not both "
            f"(host={url!r}, environment={environment!r})."
        )
    if not url and not environment:
        environment = "production"

    account = extra("act_under_account_id")
    if account is not None and not isinstance(account, (str, int)):
        raise fail(f"extra 'act_under_account_id' must be a string, got {account!r}.")

    timeout = _parse_number(extra("timeout"), "timeout", fail, integer=False)
    if timeout is not None and timeout <= 0:
        raise fail(f"extra 'timeout' must be a number of seconds > 0, got {extra('timeout')!r}.")
    retries = _parse_number(extra("retries"), "retries", fail, integer=True)
    if retries is not None and retries < 0:
        raise fail(f"extra 'retries' must be an integer >= 0, got {extra('retries')!r}.")

    return TolokaConnectionSettings(
        conn_id=conn_id,
        token=token,
        environment=environment,
        url=url,
        act_under_account_id=str(account) if account is not None else None,
        timeout=float(timeout) if timeout is not None else None,
        retries=int(retries) if retries is not None else None,
    )


def _normalise_url(conn_id: str, value: Any, port: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TolokaConnectionError(
            f"Toloka connection {conn_id!r}: host must be an API URL such as https://toloka.dev, got {value!r}."
        )
    url = value.strip()
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TolokaConnectionError(
            f"Toloka connection {conn_id!r}: host must be an http(s) URL such as https://toloka.dev, got {value!r}."
        )
    if port and parts.port is None:
        url = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return url.rstrip("/")


def _parse_number(value: Any, name: str, fail, *, integer: bool) -> float | int | None:
    expected = "an integer >= 0" if integer else "a number of seconds > 0"
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int subclass; True retries is a mistake, not 1
        raise fail(f"extra {name!r} must be {expected}, got {value!r}.")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float | int = int(text) if integer else float(text)
        except ValueError:
            raise fail(f"extra {name!r} must be {expected}, got {value!r}.") from None
    elif isinstance(value, int) or (isinstance(value, float) and not integer):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise fail(f"extra {name!r} must be {expected}, got {value!r}.")
    if isinstance(number, float) and not math.isfinite(number):
        raise fail(f"extra {name!r} must be {expected}, got {value!r}.")
    return number


class TolokaHook(BaseHook):
    """Interact with the Toloka API through a connection of type ``toloka``.

    :param toloka_conn_id: the Airflow connection id (default ``toloka_default``).
    :param observer: passed to every client the hook builds: called after each HTTP attempt with an
        ``AttemptEvent`` (``toloka_provider.client.observe``), e.g. for metrics.

    ``get_conn()`` returns a cached synchronous :class:`~toloka_provider.client.TolokaClient`;
    ``await get_async_conn()`` returns a new :class:`~toloka_provider.client.AsyncTolokaClient` that the
    caller closes (``async with await hook.get_async_conn() as client:``). The async path reads the
    connection with Airflow's async API, so it is safe inside a trigger's event loop.
    """

    conn_name_attr = "toloka_conn_id"
    default_conn_name = "toloka_default"
    conn_type = "toloka"
    hook_name = "Toloka"

    def __init__(
        self,
        toloka_conn_id: str = default_conn_name,
        *,
        observer: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id
        self.observer = observer
        self._settings: TolokaConnectionSettings | None = None
        self._client: TolokaClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(toloka_conn_id={self.toloka_conn_id!r})"

    # -- connection -----------------------------------------------------------------------------------

    def get_connection_settings(self) -> TolokaConnectionSettings:
        """Read and validate the connection (blocking; cached on the hook)."""
        if self._settings is None:
            conn = self.get_connection(self.toloka_conn_id)
            settings = parse_toloka_connection(
                self.toloka_conn_id,
                password=conn.password,
                host=conn.host,
                port=conn.port,
                extras=_extras_of(conn),
            )
            _mask(settings.token)
            self._settings = settings
        return self._settings

    async def aget_connection_settings(self) -> TolokaConnectionSettings:
        """Read and validate the connection without blocking the event loop (cached on the hook).

        Reads in flight are shared: the triggers of one event loop that start together (a triggerer resuming
        many deferred tasks) read a connection once. Nothing is kept after the read ends, so an edited
        connection is seen by the next trigger that starts.
        """
        if self._settings is None:
            self._settings = await _shared_read(self.toloka_conn_id)
        return self._settings

    def _client_kwargs(self, settings: TolokaConnectionSettings) -> dict[str, Any]:
        kwargs = settings.client_kwargs()
        if self.observer is not None:
            kwargs["observer"] = self.observer
        elif metrics.enabled():  # API request metrics only where Airflow sends metrics: no cost otherwise
            kwargs["observer"] = metrics.request_observer
        return kwargs

    def get_conn(self) -> TolokaClient:
        """The synchronous client for this connection, built on first use and cached on the hook."""
        if self._client is None:
            settings = self.get_connection_settings()
            self._client = _build(toloka_client.TolokaClient, settings, self._client_kwargs(settings))
        return self._client

    async def get_async_conn(self) -> AsyncTolokaClient:
        """A new asynchronous client for this connection; the caller closes it."""
        settings = await self.aget_connection_settings()
        return _build(toloka_client.AsyncTolokaClient, settings, self._client_kwargs(settings))

    # -- helpers --------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Call ``get_requester()``: ``(True, "Connected as requester <id>, balance <b>")`` or ``(False, why)``."""
        try:
            requester = self.get_conn().get_requester()
        except Exception as error:  # the UI wants a message, not a traceback
            return False, f"{type(error).__name__}: {error}"
        return True, f"Connected as requester {requester.id}, balance {requester.balance}"

    def web_ui_url(self, project_id: str | None = None, pool_id: str | None = None) -> str | None:
        """The Toloka web UI page of a project or of a pool, or None when it cannot be told.

        Production and sandbox link to platform.toloka.ai / platform.sandbox.toloka.ai; a custom URL (e.g.
        the emulator) links to that URL's own ``/requester/project/...`` pages. A pool page lives under its
        project: given only ``pool_id``, the hook looks the project up (one ``get_pool`` request, then
        ``get_training`` for a training); if that fails, it logs why and returns None, since a missing link
        must not fail the task.
        """
        if pool_id and not project_id:
            project_id = self._project_of(str(pool_id))
        if not project_id:
            return None
        base = self.get_connection_settings().web_ui_base()
        url = f"{base}/requester/project/{quote(str(project_id), safe='')}"
        if pool_id:
            url += f"/pool/{quote(str(pool_id), safe='')}"
        return url

    def _project_of(self, pool_id: str) -> str | None:
        client = self.get_conn()
        failures = []
        for getter in (client.get_pool, client.get_training):
            try:
                return getattr(getter(pool_id), "project_id", None)
            except Exception as error:  # 404 for the wrong kind, or the API is down: no link
                failures.append(error)
        pool_error, training_error = failures
        if isinstance(pool_error, DoesNotExistApiError) and isinstance(training_error, DoesNotExistApiError):
            reason = "no pool or training has this id"
        elif isinstance(pool_error, DoesNotExistApiError):  # not a pool; the training read failed otherwise
            reason = f"it is not a pool, and reading it as a training failed: {training_error}"
        else:
            reason = f"reading the pool failed: {pool_error}"
        self.log.warning("No web UI link for Toloka pool %s: %s", pool_id, reason)
        return None


def _build(client_class: Any, settings: TolokaConnectionSettings, kwargs: dict[str, Any]) -> Any:
    """A client from the settings; a value the client refuses is a connection error (not retried)."""
    try:
        return client_class(**kwargs)
    except (TolokaArgumentError, TypeError, ValueError) as error:
        if isinstance(error, TolokaConnectionError):
            raise
        raise TolokaConnectionError(f"Toloka connection {settings.conn_id!r}: {error}") from None


async def _read_settings(conn_id: str) -> TolokaConnectionSettings:
    conn = await _aget_connection(conn_id)
    settings = parse_toloka_connection(
        conn_id, password=conn.password, host=conn.host, port=conn.port, extras=_extras_of(conn)
    )
    await _amask(settings.token)
    return settings


# (loop, conn_id) -> the connection read in flight, shared by the callers that ask while it runs.
_reads_in_flight: dict[tuple[int, str], asyncio.Future[Any]] = {}


async def _shared_read(conn_id: str) -> TolokaConnectionSettings:
    loop = asyncio.get_running_loop()
    key = (id(loop), conn_id)
    read = _reads_in_flight.get(key)
    if read is None or read.get_loop() is not loop:
        read = asyncio.ensure_future(_read_settings(conn_id))
        _reads_in_flight[key] = read

        def forget(done: asyncio.Future[Any], key: tuple[int, str] = key) -> None:
            if _reads_in_flight.get(key) is done:
                del _reads_in_flight[key]

        read.add_done_callback(forget)
    # Shielded: one caller cancelled while it waits must not cancel the read for the others.
    return await asyncio.shield(read)


def _extras_of(conn: Any) -> dict[str, Any]:
    # Parse ``conn.extra`` ourselves: ``extra_dejson`` calls the blocking ``mask_secret``, which a trigger's
    # event loop must not do. Invalid JSON is a configuration error worth naming, not an empty dict.
    raw = getattr(conn, "extra", None)
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        extras = json.loads(raw)
    except ValueError as error:
        raise TolokaConnectionError(
            f"Toloka connection {conn.conn_id!r}: extra is not valid JSON ({error})."
        ) from None
    if not isinstance(extras, dict):
        raise TolokaConnectionError(
            f"Toloka connection {conn.conn_id!r}: extra must be a JSON object, got {type(extras).__name__}."
        )
    return extras


async def _aget_connection(conn_id: str) -> Any:
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    # Airflow without the async connection API: read it in a worker thread
    return await asyncio.to_thread(BaseHook.get_connection, conn_id)


def _mask(token: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDK layouts
        return
    mask_secret(token)


async def _amask(token: str) -> None:
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:
        # Airflow 3.2 has no async masker (it arrives in 3.3). The derived token must be masked all the
        # same, so call the sync one in a worker thread: there, telling the triggerer's supervisor is a
        # plain cross-thread request instead of a blocking call on the event loop.
        await asyncio.to_thread(_mask, token)
        return
    await amask_secret(token)
