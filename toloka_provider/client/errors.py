"""Exceptions raised by the Toloka client, and the mapping from an HTTP error response to them.

Every failure the client reports derives from :class:`TolokaError`:

* :class:`ApiError` and its subclasses: the server answered with an error status. The subclass is
  chosen by the ``code`` field of the error body (``{"request_id", "code", "message", "payload"}``),
  the same way toloka-kit does, so code written against toloka-kit's exception names keeps working.
* :class:`FailedOperationError`: an asynchronous operation finished with status ``FAIL``.
* :class:`OperationTimeoutError`: an operation did not finish in time (also a built-in ``TimeoutError``).
* :class:`TransportError`: no usable answer at all (connection refused or reset, read timeout) after retries.
* :class:`TolokaArgumentError`: an argument was refused before any request was sent (also a ``ValueError``).
* :class:`PaginationError`: a listing whose cursor did not advance (the server repeated or reordered a page).
* :class:`ResponseFormatError` (an :class:`ApiError`): a 2xx answer whose body is not what the endpoint
  returns (HTML from a proxy, truncated or non-JSON text, ``null``, an array for an object, a bad item).
* :class:`RedirectError` (an :class:`ApiError`): any 3xx. The client follows no redirect at all, so the
  token is never sent to another origin and a redirect loop cannot spin; the error names the ``Location``.

:func:`is_transient` is the one place that says which failures may succeed if tried again later.

Errors never receive request headers, so they cannot leak the OAuth token; text that comes from the server
(messages, payloads, body excerpts, a ``Location``) is redacted of the token when the error is built (see
:func:`redact`), so neither ``str(error)``, a log line nor a pickle carries it. All of them pickle (a scheduler may
pickle an exception to move it between processes) and keep their attributes when they do.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "INCORRECT_ACTION_CODES",
    "NON_JSON_BODY_MESSAGE_LIMIT",
    "AccessDeniedApiError",
    "ApiError",
    "AuthenticationApiError",
    "ConflictStateApiError",
    "DoesNotExistApiError",
    "FailedOperationError",
    "IncorrectActionsApiError",
    "InternalApiError",
    "OperationTimeoutError",
    "PaginationError",
    "RedirectError",
    "RemoteServiceUnavailableApiError",
    "ResponseFormatError",
    "TolokaArgumentError",
    "TolokaArgumentTypeError",
    "TolokaError",
    "TooManyRequestsApiError",
    "TransportError",
    "ValidationApiError",
    "error_from_response",
    "is_transient",
    "redact",
]

#: How many characters of a non-JSON error body (an HTML page from a proxy, say) end up in the message.
NON_JSON_BODY_MESSAGE_LIMIT = 200

# The payload is shown in str(error) because it often says what to fix (invalid fields, appropriate
# statuses, quota interval); it is cut so that a huge validation payload does not flood the logs.
_PAYLOAD_IN_MESSAGE_LIMIT = 500


class TolokaError(Exception):
    """Base class of every error raised by the Toloka client."""


class TolokaArgumentError(TolokaError, ValueError):
    """An argument was refused before anything was sent: the message names the argument, what was
    expected and what came. A ``ValueError`` too, so ``except ValueError`` keeps working."""


class TolokaArgumentTypeError(TolokaArgumentError, TypeError):
    """A :class:`TolokaArgumentError` for an argument of the wrong type; also a ``TypeError``, as it was."""


# ---------------------------------------------------------------------------------------------- redaction

#: The secrets of the client whose plan is running (set by the transports around each step of a plan).
_ACTIVE_SECRETS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("toloka_secrets", default=())

REDACTED = "***"


def secret_forms(token: str) -> tuple[str, ...]:
    """The forms in which a server may echo ``token`` back: as sent, JSON-escaped, and the bare token."""
    forms = {token}
    scheme, _, bare = token.partition(" ")
    if bare and scheme in ("OAuth", "ApiKey"):
        forms.add(bare)
    for form in list(forms):
        forms.add(json.dumps(form)[1:-1])
    # Longest first, so that "OAuth <t>" is replaced whole before "<t>" alone.
    return tuple(sorted((form for form in forms if form), key=len, reverse=True))


def use_secrets(secrets: tuple[str, ...]) -> contextvars.Token:
    """Make ``secrets`` the ones :func:`redact` removes, until ``_ACTIVE_SECRETS.reset(token)``."""
    return _ACTIVE_SECRETS.set(secrets)


def reset_secrets(token: contextvars.Token) -> None:
    _ACTIVE_SECRETS.reset(token)


def active_secrets() -> tuple[str, ...]:
    return _ACTIVE_SECRETS.get()


def redact(text: Any, secrets: Iterable[str] | None = None) -> Any:
    """``text`` with every occurrence of the active client's token replaced by ``***`` (non-str as is)."""
    if not isinstance(text, str):
        return text
    for secret in _ACTIVE_SECRETS.get() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_value(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """A JSON-like value (dicts, lists, strings) with the token redacted from every string, keys included."""
    secrets = tuple(_ACTIVE_SECRETS.get() if secrets is None else secrets)
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {redact(key, secrets): redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item, secrets) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that removes the active client's token from the formatted message.

    Attached to the ``toloka_provider.client`` logger; the core also redacts what it logs from the server, so
    this is the second line, for anything that slips through."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _ACTIVE_SECRETS.get()
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken format is the logging module's to report
                return True
            if any(secret in message for secret in secrets):
                record.msg, record.args = redact(message, secrets), None
        return True


# ---------------------------------------------------------------------------------------------- errors


class PaginationError(TolokaError):
    """A listing did not advance: a page repeated the cursor, ids went backwards, an item had no cursor
    field, or ``has_more`` stayed true without progress. Raised instead of requesting the same page again.

    ``endpoint`` is the listing's path, ``cursor`` the value the page was requested after (None for the first
    page), ``seen`` says what came back instead of progress.
    """

    def __init__(self, endpoint: str | None, cursor: Any, seen: str) -> None:
        self.endpoint = endpoint
        self.cursor = redact(cursor)
        self.seen = redact(seen)
        super().__init__(self._describe())

    def _describe(self) -> str:
        after = "the first page" if self.cursor is None else f"the page after cursor {self.cursor!r}"
        return (
            f"GET {self.endpoint}: the listing did not advance at {after}: {self.seen}; stopped instead of "
            "requesting more (a server that repeats, reorders or never ends a listing)"
        )

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):
        return (type(self), (self.endpoint, self.cursor, self.seen))


class ApiError(TolokaError):
    """The Toloka API answered with an error status.

    Attributes mirror the error body: ``code`` (e.g. ``"DOES_NOT_EXIST"``), ``message``, ``request_id``
    (quote it to Toloka support) and ``payload`` (details whose shape depends on the code), plus the HTTP
    ``status_code`` and the request's ``method`` and ``path``.

    When the body is not a JSON object (an HTML page from a proxy, an empty body), ``code`` is ``None``,
    ``payload`` is ``None`` and ``message`` holds the start of the body on one line (see
    :func:`error_from_response`).
    """

    #: What the user can change, appended to the message for errors whose cause is on the caller's side.
    hint: str | None = None

    def __init__(
        self,
        status_code: int | None,
        code: str | None,
        message: str | None,
        request_id: str | None,
        payload: Any = None,
        method: str | None = None,
        path: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        # Server text is redacted of the running client's token here, once, before anything can print it.
        self.message = redact(message)
        self.request_id = redact(request_id)
        self.payload = redact_value(payload)
        self.method = method
        self.path = path
        #: The server's wait hint in seconds (``Retry-After`` or a quota interval) when the client refused
        #: to wait that long (see ``max_retry_after``); None otherwise.
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = " ".join(part for part in (self.method, self.path) if part)
        parts = [f"{where} failed:" if where else "Toloka API error:"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        parts.append(self.code if self.code else "(no error code)")
        text = " ".join(parts)
        if self.message:
            text += f": {self.message}"
        if self.payload not in (None, {}, []):
            text += f"; payload: {_compact_json(self.payload, _PAYLOAD_IN_MESSAGE_LIMIT)}"
        if self.request_id:
            text += f" (request_id={self.request_id})"
        if self.retry_after is not None:
            text += f"; the server asked to wait {self.retry_after:g} s, more than the client's max_retry_after"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __str__(self) -> str:
        # Built from the attributes, so that a caller who adjusts e.g. `path` sees it in the message.
        return self._describe()

    def __reduce__(self):
        # Exception's default pickling replays `self.args` (the one formatted message) into __init__,
        # which needs the separate fields; replay the fields instead, and the rest of __dict__ as state.
        return (
            type(self),
            (self.status_code, self.code, self.message, self.request_id, self.payload, self.method, self.path),
            dict(self.__dict__),
        )


class ResponseFormatError(ApiError):
    """A 2xx answer whose body is not what the endpoint returns: not JSON (an HTML page from a proxy, a
    truncated body), ``null`` or an array where an object is expected, an item that is not an object or that
    the model cannot read. ``message`` says what was expected; ``excerpt`` holds the first bytes of the body
    (redacted, on one line). Not transient: asking again gets the same answer."""

    def __init__(
        self,
        status_code: int | None,
        code: str | None,
        message: str | None,
        request_id: str | None,
        payload: Any = None,
        method: str | None = None,
        path: str | None = None,
        *,
        retry_after: float | None = None,
        excerpt: str | None = None,
    ) -> None:
        self.excerpt = redact(excerpt)
        super().__init__(status_code, code, message, request_id, payload, method, path, retry_after=retry_after)

    def _describe(self) -> str:
        text = super()._describe()
        if self.excerpt is not None:
            text += f"; body starts: {self.excerpt}"
        return text


class RedirectError(ApiError):
    """A 3xx answer. The client follows no redirects (the token must not travel to another origin, and a
    redirect loop must not spin), so the base URL is probably wrong: ``location`` is where the server pointed."""

    def __init__(
        self,
        status_code: int | None,
        code: str | None,
        message: str | None,
        request_id: str | None,
        payload: Any = None,
        method: str | None = None,
        path: str | None = None,
        *,
        retry_after: float | None = None,
        location: str | None = None,
    ) -> None:
        self.location = redact(location)
        super().__init__(status_code, code, message, request_id, payload, method, path, retry_after=retry_after)

    hint = "The client follows no redirects: check the url/environment (http vs https, the host, a proxy)"


class ValidationApiError(ApiError):
    """``VALIDATION_ERROR``: the request body or query is invalid; ``payload`` maps field paths to errors."""

    @property
    def invalid_fields(self) -> list[str]:
        """The field paths named in the payload (``["input_values.image", ...]``), in payload order."""
        return list(self.payload) if isinstance(self.payload, Mapping) else []


class InternalApiError(ApiError):
    """``INTERNAL_ERROR``: the server failed."""


class AuthenticationApiError(ApiError):
    """``AUTHENTICATION_ERROR``: the token is missing, malformed or revoked."""

    hint = (
        "Check the API token (the connection's password): it must be a valid, unrevoked OAuth token or API key "
        "issued for this environment (sandbox and production tokens differ)"
    )


class AccessDeniedApiError(ApiError):
    """``ACCESS_DENIED``: the token is valid but may not do this."""

    hint = "The token is valid but its account may not do this: check the account's role and act_under_account_id"


class DoesNotExistApiError(ApiError):
    """``DOES_NOT_EXIST``: the object is not there (or not visible to this requester)."""


class ConflictStateApiError(ApiError):
    """``CONFLICT_STATE``: the object's state forbids the action (e.g. opening an archived pool)."""


class TooManyRequestsApiError(ApiError):
    """``TOO_MANY_REQUESTS``: a rate limit or quota was hit; ``payload["interval"]`` names a quota."""


class RemoteServiceUnavailableApiError(ApiError):
    """``REMOTE_SERVICE_UNAVAILABLE``: a service behind the API is temporarily unavailable."""


class IncorrectActionsApiError(ApiError):
    """One of Toloka's "internal" action codes (see :data:`INCORRECT_ACTION_CODES`).

    Notably ``OPERATION_ALREADY_EXISTS`` (a retried idempotent create: resume the existing operation)
    and ``INAPPROPRIATE_STATUS`` (``payload["appropriate_statuses"]`` lists what would have been accepted).
    """


#: The codes toloka-kit lists as ``InternalErrorCodes``; all of them map to IncorrectActionsApiError.
INCORRECT_ACTION_CODES: frozenset[str] = frozenset(
    {
        "ACCOUNT_ALREADY_USED", "ACCOUNT_MUST_BE_IDENTIFIED", "ADJUSTER_NOT_FOUND", "ALL_ASSIGNMENTS_EXHAUSTED",
        "ASSIGNMENTS_AGGREGATION_DENIED", "ASSIGNMENTS_COUNT_CONFLICT", "BATCH_INITIALIZATION_ERROR",
        "BATCH_REJECTED", "BILLING_NOT_SYNCHRONIZED", "CAPTCHA_REQUIRED", "DELETE_ALL_TASKS_CONFLICT",
        "EMPTY_POOL", "INAPPROPRIATE_STATUS", "INCORRECT_RECIPIENTS", "INVALID_OPERATION_TYPE",
        "INVALID_REFERRAL_CODE", "INVALID_WORKER_STATUS_ERROR", "MIXER_CONFIG_REQUIRED",
        "NEED_PHONE_CONFIRMATION", "NOT_ENOUGH_BALANCE", "OAUTH_AUTHENTICATION_ERROR", "OPERATION_ALREADY_EXISTS",
        "OPERATION_EXECUTION_ERROR", "OPERATION_LOGS_ARCHIVED", "PAYONEER_ACCOUNT_NOT_ACTIVE",
        "PAYPAL_AUTH_CODE_INVALID", "PAYPAL_UNVERIFIED_USER", "POOL_ASSIGNMENTS_COUNT_EXCEEDED",
        "POOL_ASSIGNMENTS_EXHAUSTED", "POOL_INAPPROPRIATE_STATUS", "POOL_INVALID_FILTER_FOR_MAP_ISSUING",
        "POOL_IS_TRAINING", "POOL_LOCKED_BY_ANOTHER_OPERATION", "POOL_TASKS_COUNT_EXCEEDED",
        "POOL_TASK_SUITES_COUNT_EXCEEDED", "POOL_TASK_TYPE_CONFLICT", "PROJECT_INAPPROPRIATE_STATUS",
        "RESULTS_EXPIRED", "SECURE_PHONE_DUPLICATION", "SECURE_PHONE_MISSING", "SECURE_PHONE_WAS_CHANGED",
        "SKILL_IS_TRAINING", "SKILL_IS_USED", "SKILL_IS_USED_BY_PROJECTS", "SKILL_REMOVED",
        "SUBMITTED_ASSIGNMENTS_CONFLICT", "SYNC_POOL_CLONE_ERROR", "SYSTEM_SCOPE_MODIFICATION",
        "TASK_VALIDATION_ERROR", "THERE_IS_ACTIVE_ASSIGNMENT", "THERE_IS_REJECTED_ASSIGNMENT",
        "TOO_MANY_ACTIVE_ASSIGNMENTS", "TRAINING_ARCHIVE_CONFLICT", "UNABLE_TO_UPLOAD_FILE",
        "UNARCHIVED_POOLS_CONFLICT", "UNSUPPORTED_ALGORITHM", "UNSUPPORTED_REGION", "USER_ALREADY_REGISTERED",
        "USER_HAS_PDD_ALIAS", "WITHDRAWAL_TRANSACTION_CANNOT_BE_CANCELLED",
        "WITHDRAWAL_TRANSACTION_CANNOT_BE_CANCELLED_DUE_TO_TIME_LIMIT", "WORKER_SKILL_EXISTS",
        "WRONG_FILE_FORMAT", "WRONG_REVISION",
    }
)

_CLASS_BY_CODE: dict[str, type[ApiError]] = {
    "VALIDATION_ERROR": ValidationApiError,
    "INTERNAL_ERROR": InternalApiError,
    "AUTHENTICATION_ERROR": AuthenticationApiError,
    "ACCESS_DENIED": AccessDeniedApiError,
    "DOES_NOT_EXIST": DoesNotExistApiError,
    "CONFLICT_STATE": ConflictStateApiError,
    "TOO_MANY_REQUESTS": TooManyRequestsApiError,
    "REMOTE_SERVICE_UNAVAILABLE": RemoteServiceUnavailableApiError,
    **dict.fromkeys(INCORRECT_ACTION_CODES, IncorrectActionsApiError),
}


def error_from_response(
    status: int,
    body: bytes,
    *,
    method: str,
    path: str,
    request_id_header: str | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """Build the exception for an error response (the caller raises it).

    A JSON object body gives its ``code``, ``message``, ``request_id`` and ``payload``, and the class
    is picked by ``code`` (unknown codes give a plain :class:`ApiError`). Any other body — an HTML page
    from a proxy, plain text, an empty body, a JSON array — gives a plain :class:`ApiError` with
    ``code=None``, ``payload=None`` and, as ``message``, the first
    :data:`NON_JSON_BODY_MESSAGE_LIMIT` characters of the body on a single line (``"(empty body)"``
    when there is none). It never raises a JSON decoding error.

    ``request_id_header`` (the value of a request-id response header, if the transport saw one) is
    used when the body carries no ``request_id``. ``retry_after`` is the server's wait hint the client
    refused to honour (see ``ApiError.retry_after``).
    """
    document = _decode_json_object(body)
    if document is None:
        error_class = TooManyRequestsApiError if status == 429 else ApiError
        return error_class(
            status, None, _one_line_excerpt(body), request_id_header, None, method, path, retry_after=retry_after
        )
    code = document.get("code")
    code = str(code) if code is not None else None
    message = document.get("message")
    message = str(message) if message is not None else None
    request_id = document.get("request_id") or request_id_header
    request_id = str(request_id) if request_id is not None else None
    error_class = _CLASS_BY_CODE.get(code, ApiError) if code else ApiError
    if status == 429 and error_class is ApiError:
        error_class = TooManyRequestsApiError  # a 429 is a rate limit whatever the body says
    return error_class(
        status, code, message, request_id, document.get("payload"), method, path, retry_after=retry_after
    )


class FailedOperationError(TolokaError):
    """An asynchronous operation finished with status ``FAIL``.

    ``operation`` is the failed :class:`~toloka_provider.client.models.Operation` (or the raw dict the
    caller had); the message names its id, type and the failure details the server gave.
    """

    def __init__(self, operation: Any) -> None:
        self.operation = _redacted_operation(operation)
        super().__init__(self._describe())

    @property
    def operation_id(self) -> str | None:
        return _field(self.operation, "id")

    def _describe(self) -> str:
        op_type = _field(self.operation, "type")
        details = _field(self.operation, "details")
        text = f"Toloka operation {self.operation_id} ({_plain(op_type) or 'unknown type'}) failed"
        if details:
            text += f": {_compact_json(details, _PAYLOAD_IN_MESSAGE_LIMIT)}"
        else:
            text += " (the server gave no failure details)"
        return text

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):
        return (type(self), (self.operation,))


class OperationTimeoutError(TolokaError, TimeoutError):
    """An operation did not complete within the time the caller allowed.

    ``operation`` is the last state seen (an Operation, a dict, or just the operation id as a str);
    ``timeout`` the allowed seconds. Also a built-in :class:`TimeoutError`, as toloka-kit raises.
    """

    def __init__(self, operation: Any, timeout: float | None = None) -> None:
        self.operation = operation
        self.timeout = timeout
        super().__init__(self._describe())

    @property
    def operation_id(self) -> str | None:
        return self.operation if isinstance(self.operation, str) else _field(self.operation, "id")

    def _describe(self) -> str:
        within = f" within {self.timeout:g} s" if self.timeout is not None else ""
        text = f"Toloka operation {self.operation_id} did not complete{within}"
        if not isinstance(self.operation, str) and self.operation is not None:
            status = _plain(_field(self.operation, "status"))
            progress = _field(self.operation, "progress")
            text += f"; last status {status or 'unknown'}"
            if progress is not None:
                text += f", progress {progress}%"
        return text

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):
        return (type(self), (self.operation, self.timeout))


class TransportError(TolokaError):
    """No usable HTTP answer: the connection failed, was reset, or timed out (after all retries).

    ``method``/``path`` name the request, ``attempts`` how many tries were made. The underlying
    library's exception is chained as ``__cause__`` by the raiser (``raise ... from exc``).
    """

    def __init__(
        self,
        message: str,
        method: str | None = None,
        path: str | None = None,
        attempts: int | None = None,
    ) -> None:
        self.message = redact(message)
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = " ".join(part for part in (self.method, self.path) if part)
        text = f"{where} failed: {self.message}" if where else self.message
        if self.attempts is not None:
            text += f" (after {self.attempts} attempt{'s' if self.attempts != 1 else ''})"
        return text

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):
        return (type(self), (self.message, self.method, self.path, self.attempts))


def _redacted_operation(operation: Any) -> Any:
    """The operation with the active token removed from its details (the server's text), if it is there."""
    secrets = _ACTIVE_SECRETS.get()
    if not secrets or operation is None:
        return operation
    if isinstance(operation, Mapping):
        return redact_value(dict(operation), secrets)
    to_json_dict = getattr(operation, "to_json_dict", None)
    if to_json_dict is None:
        return redact(operation, secrets) if isinstance(operation, str) else operation
    try:
        data = to_json_dict()
        text = json.dumps(data, default=str)
    except Exception:
        return operation
    if not any(secret in text for secret in secrets):
        return operation
    try:
        return type(operation).from_json_dict(redact_value(data, secrets))
    except Exception:
        return redact_value(data, secrets)  # a plain dict is still a faithful, token-free record


def _decode_json_object(body: bytes | str | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


# Control characters of a body (NUL, terminal escapes) must not reach a terminal or a log line as they are.
_CONTROL_TO_QUESTION_MARK = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], "?")


def body_excerpt(body: bytes | str | None) -> str:
    """The first bytes of a body on one line, redacted of the active token (for error messages)."""
    return _one_line_excerpt(body)


def _one_line_excerpt(body: bytes | str | None) -> str:
    if not body:
        return "(empty body)"
    # Decode a little more than the limit so that cutting multi-byte characters cannot matter (and so that a
    # token straddling the limit is still whole when it is redacted, before the cut), then collapse all
    # whitespace (HTML pages are multi-line) so that log lines stay single lines.
    head = body[: NON_JSON_BODY_MESSAGE_LIMIT * 4 + 4096]
    text = head.decode("utf-8", errors="replace") if isinstance(head, bytes) else head
    text = " ".join(redact(text).split()).translate(_CONTROL_TO_QUESTION_MARK)
    if not text:
        return "(blank body)"
    if len(text) > NON_JSON_BODY_MESSAGE_LIMIT or len(body) > len(head):
        text = text[:NON_JSON_BODY_MESSAGE_LIMIT].rstrip() + "..."
    return text


def _compact_json(value: Any, limit: int) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _plain(value: Any) -> str | None:
    """An enum member's value, or the value itself, as text."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


#: HTTP statuses that mean "not now" rather than "never" (besides every 5xx).
_TRANSIENT_STATUSES = frozenset({408, 429})


def is_transient(error: BaseException) -> bool:
    """True when the same call may succeed later: 5xx, 408, 429, no answer at all, a timeout.

    The client has retried these already; a long wait may tolerate a few more in a row. Everything else
    (401, 403, 404, 409, validation, bad arguments, a broken listing) is persistent: retrying cannot help.
    """
    if isinstance(error, TransportError):
        return True
    if isinstance(error, ApiError):
        status = error.status_code
        return status is None or status in _TRANSIENT_STATUSES or status >= 500
    if isinstance(error, TolokaError):
        return False
    import asyncio

    return isinstance(error, (ConnectionError, TimeoutError, asyncio.TimeoutError))
