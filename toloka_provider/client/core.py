"""The shared, I/O-free core: generic plans that every API method is built from.

A plan (see ``protocol``) yields ``Request``/``Sleep``/``Now``/``Emit`` effects; ``TolokaClient`` performs them with
``requests`` and ``AsyncTolokaClient`` with ``httpx``. Retry decisions, error mapping, response parsing,
keyset pagination, operation polling and idempotent bulk creation all live here, once.

Every failure leaves as a ``TolokaError``: a 3xx is a ``RedirectError`` (never success), a 2xx whose body is not
what the endpoint returns is a ``ResponseFormatError`` (method, path, status and the first bytes of the body),
a listing that does not advance is a ``PaginationError``. ``step`` is how both transports advance a plan: it
makes the client's token the one redacted from server text, and turns a stray parsing exception from a plan
(``KeyError``, ``TypeError``... on a body of the wrong shape) into a ``ResponseFormatError`` for the last answer.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import gc
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, overload

import attrs

from toloka_provider.client import dates, errors, models, pagination
from toloka_provider.client.pagination import Listing
from toloka_provider.client.protocol import Emit, Now, Plan, Request, Response, Sleep, TransportFailure
from toloka_provider.client.retry import RetryPolicy

log = logging.getLogger("toloka_provider.client")
if not any(isinstance(existing, errors.RedactingFilter) for existing in log.filters):
    log.addFilter(errors.RedactingFilter())

PolicyFactory = Callable[[], RetryPolicy]

_NO_BODY = object()


# --------------------------------------------------------------------------------------------------- bodies


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return dates.format_datetime(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    to_json_dict = getattr(value, "to_json_dict", None)
    if to_json_dict is not None:
        return to_json_dict()
    raise errors.TolokaArgumentTypeError(f"cannot send a {type(value).__name__} in a request body")


def encode_body(value: Any) -> bytes:
    """JSON-encode a request body; models, Decimals, datetimes and enums are accepted anywhere inside."""
    return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode()


def as_body(value: Any, argument: str) -> dict:
    """A model or a mapping as a JSON-ready dict (models through their ``to_json_dict``)."""
    to_json_dict = getattr(value, "to_json_dict", None)
    if to_json_dict is not None:
        return to_json_dict()
    if isinstance(value, Mapping):
        # A hand-written dict may hold Decimals, datetimes or enums (e.g. a config read with parse_float=Decimal).
        return models.to_jsonable(dict(value))
    raise errors.TolokaArgumentTypeError(f"{argument} must be a model object or a dict, got {type(value).__name__}")


@overload
def format_sort(sort: None) -> None: ...
@overload
def format_sort(sort: str | Iterable[str]) -> str: ...
def format_sort(sort: str | Iterable[str] | None) -> str | None:
    if sort is None:
        return None
    if isinstance(sort, str):
        return sort
    return ",".join(getattr(field, "value", field) for field in sort)


def flags(**values: Any) -> dict[str, str]:
    """Query flags: booleans lowercase, None dropped."""
    return {key: pagination.format_query_value(value) for key, value in values.items() if value is not None}


# --------------------------------------------------------------------------------------------------- one call


def call(
    new_policy: PolicyFactory,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    body: Any = _NO_BODY,
    idempotent: bool = True,
) -> Plan:
    """Send one logical request with retries; return the 2xx ``Response`` or raise the mapped error.

    ``idempotent=False`` is for a request that the server cannot recognise when it comes again (creating a
    project, pool or training has no idempotency key): it is retried only after a 429, which the server sends
    before doing anything. After a 5xx or a lost connection it may have been applied, and repeating it could
    create a second object, so the error is raised; the caller looks for the object before creating again.
    """
    request = Request(method, path, dict(params) if params else None, None if body is _NO_BODY else encode_body(body))
    policy = new_policy()
    retry_number = 0
    while True:
        outcome = yield request
        delay = policy.delay_for(outcome, retry_number)
        if delay is not None and not idempotent and not _surely_not_applied(outcome):
            log.warning(
                "Toloka %s %s failed (%s) and is not retried: it may have been applied, and repeating it "
                "could create a second object",
                method, path, outcome.description if isinstance(outcome, TransportFailure) else f"HTTP {outcome.status}",
            )
            delay = None
        if delay is None:
            break
        reason = outcome.description if isinstance(outcome, TransportFailure) else f"HTTP {outcome.status}"
        log.info(
            "Toloka %s %s failed (%s), retry %d of %d in %.1f s",
            method, path, reason, retry_number + 1, policy.total, delay,
        )
        yield Sleep(delay)
        retry_number += 1
    if isinstance(outcome, TransportFailure):
        raise errors.TransportError(
            outcome.description, method=method, path=path, attempts=retry_number + 1
        ) from outcome.exception
    status = outcome.status
    if 300 <= status < 400:
        location = outcome.location or "(no Location header)"
        raise errors.RedirectError(
            status, None, f"redirected to {location}, not followed", outcome.request_id, None, method, path,
            location=outcome.location,
        )
    if status >= 400 or status < 200:
        raise errors.error_from_response(
            status, outcome.body, method=method, path=path, request_id_header=outcome.request_id,
            retry_after=policy.refused_wait(outcome),
        )
    return outcome


def _surely_not_applied(outcome: Response | TransportFailure) -> bool:
    """A 429 is answered before the request is processed; any other failure may come after its effect."""
    return isinstance(outcome, Response) and outcome.status == 429


# --------------------------------------------------------------------------------------------------- answers

#: What a plan may raise when a body has the wrong shape; ``step`` and ``parse_model`` turn them into
#: ``ResponseFormatError`` (``decimal.InvalidOperation`` is an ArithmeticError).
PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError)

_JSON_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def json_kind(value: Any) -> str:
    """How a decoded JSON value is named in messages ("an array", "null"...)."""
    return _JSON_KINDS.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def format_error(response: Response, method: str, path: str, what: str) -> errors.ResponseFormatError:
    """The error for a 2xx ``response`` whose body is not what was expected (``what`` says how)."""
    return errors.ResponseFormatError(
        response.status, None, what, response.request_id, None, method, path,
        excerpt=errors.body_excerpt(response.body),
    )


try:  # msgspec is a dependency (and Airflow's); the client still works without it
    import msgspec
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads: Callable[[bytes], Any] | None = None
    _fast_page: Callable[[bytes], Any] | None = None
    _raw_page: Callable[[bytes], Any] | None = None
    _fast_item: Callable[[Any], Any] | None = None
else:

    class _PageEnvelope(msgspec.Struct):
        """A list answer as msgspec reads it: the items already checked to be objects, other keys skipped."""

        items: list[dict[str, Any]] | None = None
        content: list[dict[str, Any]] | None = None
        has_more: bool | None = None

    class _RawPageEnvelope(msgspec.Struct):
        """A list answer with its items left as undecoded JSON (slices of the body, no copy)."""

        items: list[msgspec.Raw] | None = None
        content: list[msgspec.Raw] | None = None
        has_more: bool | None = None

    _fast_loads = msgspec.json.Decoder().decode
    _fast_page = msgspec.json.Decoder(_PageEnvelope).decode
    _raw_page = msgspec.json.Decoder(_RawPageEnvelope).decode
    _fast_item = msgspec.json.Decoder(dict[str, Any]).decode
    _cursor_pages: dict[str, Callable[[bytes], Any]] = {}

    def _cursor_page(field: str) -> Callable[[bytes], Any]:
        """A decoder of a list answer that reads, of each item, only the cursor field (every item an object)."""
        decode = _cursor_pages.get(field)
        if decode is None:
            cursor = msgspec.defstruct("_Cursor", [(field, Any, None)])
            envelope = msgspec.defstruct(
                "_CursorPage",
                [("items", list[cursor] | None, None), ("content", list[cursor] | None, None)],  # type: ignore[valid-type]
            )
            decode = _cursor_pages[field] = msgspec.json.Decoder(envelope).decode
        return decode


def loads_json(body: bytes) -> Any:
    """``json.loads(body)``, same values and same errors, faster when msgspec is installed.

    msgspec's decoder reads a page of 1,000 assignments in about 0.7x the time of ``json.loads``. What it accepts
    decodes to what ``json.loads`` gives (dicts, lists, str, int, float, bool, None; the last of duplicate keys).
    Whatever it refuses (NaN/Infinity, numbers out of its range such as 1e400, lone surrogate escapes, UTF-16/32
    or a BOM, nesting deeper than it follows, malformed JSON) is decoded again by ``json``, which then decides:
    it accepts what it accepts, and raises its own error otherwise.
    """
    if _fast_loads is not None:
        try:
            return _fast_loads(body)
        except Exception:  # any refusal: json decides
            pass
    return json.loads(body)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector out of one page decode (it only allocates, and frees nothing cyclic).

    A page of 1,000 assignments is some 20,000 new containers: without the pause the collector runs dozens of
    times inside the decode, each time scanning objects that are all alive. Only a collector that was on is
    turned back on.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def decode_page(body: bytes) -> tuple[list[dict], bool | None, Any] | None:
    """A list answer decoded by msgspec straight into (items, has_more, other envelope); None if it refuses.

    What this accepts is exactly what ``json.loads`` + ``pagination.parse_page`` accept with the same result:
    an object whose ``items``/``content`` are arrays of objects and whose ``has_more`` is a boolean or null.
    Anything else (a wrong shape, NaN, a number out of msgspec's range, a lone surrogate...) returns None, and
    the caller takes the ``json`` path, which then decides and words the error.
    """
    if _fast_page is None:
        return None
    try:
        with _collector_paused():
            envelope = _fast_page(body)
    except Exception:  # any refusal: the json path decides
        return None
    return envelope.items, envelope.has_more, envelope.content


_NOT_JSON = "expected JSON, got a body that is not JSON (truncated, or a page from a proxy?)"


def decode_json(response: Response, method: str, path: str, expect: type | tuple[type, ...] | None = None) -> Any:
    """The decoded body; ``expect`` (``dict``, ``list``) is the JSON shape required, None for any (or empty)."""
    body = response.body
    if not body:
        if expect is None:
            return None
        raise format_error(response, method, path, f"expected {_expected(expect)}, got an empty body")
    try:
        data = loads_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise format_error(response, method, path, _NOT_JSON) from None
    if expect is not None and not isinstance(data, expect):
        raise format_error(response, method, path, f"expected {_expected(expect)}, got {json_kind(data)}")
    return data


def _expected(expect: type | tuple[type, ...]) -> str:
    kinds = expect if isinstance(expect, tuple) else (expect,)
    return " or ".join(f"a JSON {_JSON_KINDS.get(kind, kind.__name__).split()[-1]}" for kind in kinds)


def parse_model(model: type[models.BaseModel], data: Any, response: Response, method: str, path: str) -> Any:
    """``model.from_json_dict(data)``, a ``ResponseFormatError`` naming the model when the data does not fit."""
    try:
        return model.from_json_dict(data)
    except PARSE_ERRORS as exc:
        if isinstance(exc, errors.TolokaError):
            raise
        raise format_error(
            response, method, path, f"the answer is not a valid {model.__name__}: {type(exc).__name__}: {exc}"
        ) from None


def call_response_json(
    new_policy: PolicyFactory, method: str, path: str, *, expect: type | tuple[type, ...] | None = None,
    **kwargs: Any,
) -> Plan:
    """Like ``call_json``, returning ``(response, data)`` (the response is for error messages)."""
    response: Response = yield from call(new_policy, method, path, **kwargs)
    return response, decode_json(response, method, path, expect)


def call_json(
    new_policy: PolicyFactory, method: str, path: str, *, expect: type | tuple[type, ...] | None = None,
    **kwargs: Any,
) -> Plan:
    """Like ``call``, returning the decoded JSON body (None for an empty body, e.g. 204).

    A body that is not JSON, or (with ``expect=dict`` / ``list``) not of that shape, is a ``ResponseFormatError``.
    """
    response: Response = yield from call(new_policy, method, path, **kwargs)
    return decode_json(response, method, path, expect)


def call_model(
    new_policy: PolicyFactory, model: type[models.BaseModel], method: str, path: str, **kwargs: Any
) -> Plan:
    """One call whose answer is a JSON object read as ``model``; any other answer is a ``ResponseFormatError``."""
    response: Response = yield from call(new_policy, method, path, **kwargs)
    return parse_model(model, decode_json(response, method, path, dict), response, method, path)


# --------------------------------------------------------------------------------------------------- driving


def step(plan: Plan, value: Any, secrets: tuple[str, ...], last: Any) -> Any:
    """Advance ``plan`` by one effect (``plan.send(value)``); how both transports drive every plan.

    While the plan runs, ``secrets`` (the client's token) are the ones redacted from any error or log line it
    makes. ``last`` is the last ``(Request, Response)`` the transport performed, or None: a parsing exception
    that escapes the plan after an answer came (a body of the wrong shape met by code outside the core) becomes
    a ``ResponseFormatError`` for that answer. ``StopIteration`` passes through.
    """
    token = errors.use_secrets(secrets)
    try:
        return plan.send(value)
    except PARSE_ERRORS as exc:
        if isinstance(exc, errors.TolokaError) or last is None:
            raise
        request, response = last
        raise format_error(
            response, request.method, request.path,
            f"could not read the answer: {type(exc).__name__}: {exc}",
        ) from exc
    finally:
        errors.reset_secrets(token)


# --------------------------------------------------------------------------------------------------- lists


def find_page(
    new_policy: PolicyFactory, listing: Listing, model: type[models.BaseModel], method_name: str, path: str,
    filters: Mapping[str, Any], sort: Any, limit: int | None,
) -> Plan:
    """Eagerly validated by the caller (``prepare_find``); one GET, one ``SearchResult``."""
    response: Response = yield from call(new_policy, "GET", path, params=filters)
    items, has_more = parse_page(response, listing, path)
    built = []
    for index, item in enumerate(items):
        try:
            built.append(model.from_json_dict(item))
        except PARSE_ERRORS as exc:
            raise _item_error(response, path, model, index, exc) from None
    return models.SearchResult(items=built, has_more=has_more)


def parse_page(response: Response, listing: Listing, path: str) -> tuple[list[dict], bool]:
    """A list answer as (item dicts, has_more); anything else is a ``ResponseFormatError``.

    The body is decoded by msgspec straight into the page's shape when it can (``decode_page``), else by
    ``json`` and checked by ``pagination.parse_page``: the same items either way, and the same errors.
    """
    fast = decode_page(response.body) if response.body else None
    if fast is not None:
        items, has_more, other = fast
        if listing.envelope == "content":
            items, other = other, items
        if items is None:
            items = other
        if items is not None:
            return items, bool(has_more)
    data = decode_json(response, "GET", path, dict)
    try:
        return pagination.parse_page(data, listing)
    except pagination.PageShapeError as exc:
        raise format_error(response, "GET", path, str(exc)) from None


def parse_lazy_page(response: Response, listing: Listing) -> tuple[list[dict], list[Any], bool] | None:
    """A list answer as (cursor dicts, undecoded items, has_more), or None where ``parse_page`` must decide.

    For the typed listings: the page is split into its items without decoding them (``msgspec.Raw``, slices of
    the body), and each item is decoded when the caller's iterator reaches it (``_lazy_models``), so its dicts are
    built, read and freed while they are in the cache instead of a whole page of them first. The cursor value of
    every item (``{cursor: value}``, value None when absent or null, as ``item.get`` gives) is read at once, so the
    page is checked to advance, and every item to be an object, before anything of it is emitted.

    Only a body that msgspec reads in full this way, and that is valid UTF-8, comes through here; anything else
    (None) takes ``parse_page``, which decides and words the error as before.
    """
    body = response.body
    if _raw_page is None or not body:
        return None
    try:
        if not body.isascii():
            body.decode()  # strict UTF-8: what the item decoders will meet is then what json would decode
        envelope = _raw_page(body)
        cursors = _cursor_page(listing.cursor)(body)
    except Exception:  # any refusal: parse_page decides
        return None
    items, other = envelope.items, envelope.content
    cursor_items, cursor_other = cursors.items, cursors.content
    if listing.envelope == "content":
        items, other = other, items
        cursor_items, cursor_other = cursor_other, cursor_items
    if items is None:
        items, cursor_items = other, cursor_other
    if items is None or cursor_items is None or len(items) != len(cursor_items):
        return None
    field = listing.cursor
    return [{field: getattr(cursor, field)} for cursor in cursor_items], items, bool(envelope.has_more)


def _item_error(
    response: Response, path: str, model: type[models.BaseModel], index: int, exc: BaseException
) -> errors.ResponseFormatError:
    return format_error(
        response, "GET", path, f"item {index} is not a valid {model.__name__}: {type(exc).__name__}: {exc}"
    )


def prepare_find(
    new_policy: PolicyFactory, listing: Listing, model: type[models.BaseModel], method_name: str,
    filters: Mapping[str, Any], sort: Any, limit: int | None, path_fields: Mapping[str, str] | None = None,
) -> Plan:
    """Validate a ``find_X`` call now (before any request) and return its plan."""
    query = pagination.build_query(listing, method_name, filters)
    pagination.check_page_size(listing, "limit", limit)
    if sort is not None:
        query["sort"] = format_sort(sort)
    if limit:
        query["limit"] = str(limit)
    path = listing.path.format(**(path_fields or {}))
    return find_page(new_policy, listing, model, method_name, path, query, sort, limit)


def _walk_pages(
    new_policy: PolicyFactory, listing: Listing, path: str, query: dict[str, str], build: Any, lazy: bool = False
) -> Plan:
    """Keyset paging that always ends: every page must start past the cursor and be strictly ordered by it.

    A page that repeats or goes back, an item without the cursor field, or ``has_more=true`` on an empty page
    is a ``PaginationError`` before anything of that page is emitted, so no item is ever yielded twice and no
    cursor is asked for twice (retries of a failed request aside).
    """
    after = query.get(f"{listing.cursor}_gt")  # the caller's own lower bound, if any
    while True:
        response: Response = yield from call(new_policy, "GET", path, params=query)
        page = parse_lazy_page(response, listing) if lazy else None
        if page is None:
            items, has_more = parse_page(response, listing, path)
            payload = items
        else:  # items: the cursor values only; payload: the undecoded items
            items, payload, has_more = page
        pagination.check_advances(listing, path, items, after)
        if items:
            yield Emit(build(response, path, payload))
        if not has_more:
            return
        if not items:
            raise errors.PaginationError(path, after, "an empty page with has_more=true")
        after = items[-1][listing.cursor]
        query = pagination.next_cursor_query(listing, query, items)


def prepare_pages(
    new_policy: PolicyFactory, listing: Listing, model: type[models.BaseModel] | None, method_name: str,
    filters: Mapping[str, Any], batch_size: int | None, path_fields: Mapping[str, str] | None = None,
) -> Plan:
    """Validate a ``get_X`` call now and return its keyset-paging plan.

    With a model, each page is emitted as a lazy iterator that decodes and builds each item only when the
    caller's iterator reaches it (``parse_lazy_page``); with ``model=None`` each page is emitted whole as a list
    of plain dicts (the raw export path: decoded straight into the page's shape, no per-item work). One item at a
    time is for the garbage collector and the cache: the dicts of an item and a model the caller has dropped are
    freed at once by reference counting, in memory still warm, instead of a whole page of them (thousands of
    objects for 1,000 assignments) surviving young collections and being rescanned by the older ones until the
    page ends. The drivers only iterate ``Emit.values`` once, so an iterator serves as well as a list there.
    """
    query = pagination.build_query(listing, method_name, filters)
    limit = pagination.check_page_size(listing, "batch_size", batch_size) or listing.default_limit
    query["sort"] = listing.cursor
    query["limit"] = str(limit)
    path = listing.path.format(**(path_fields or {}))
    if model is None:
        def build(response: Response, path: str, items: list) -> Any:
            return [items]
    else:
        def build(response: Response, path: str, items: list) -> Any:
            return _lazy_models(model, items, response, path, errors.active_secrets())
    return _walk_pages(new_policy, listing, path, query, build, lazy=model is not None)


def _lazy_models(
    model: type[models.BaseModel], items: list, response: Response, path: str, secrets: tuple[str, ...]
) -> Any:
    """Build each item when the caller's iterator reaches it; a bad item is a ``ResponseFormatError`` then."""
    from_json_dict = model.from_json_dict
    if items and _raw_page is not None and type(items[0]) is msgspec.Raw:  # a lazy page: every item undecoded
        decode = _fast_item
        compiled = model._wire_direct is model  # from_json_dict is the compiled builder alone for a dict
        for index, item in enumerate(items):
            try:
                data = decode(item)  # type: ignore[misc]
            except Exception:  # refused by msgspec (NaN, 1e400...): json decides, on the item's own bytes
                data = _json_item(item, response, path, secrets)
            try:
                built = model._wire_build(data) if compiled else from_json_dict(data)
            except PARSE_ERRORS as exc:
                raise _redacted(secrets, _item_error, response, path, model, index, exc) from None
            yield built
        return
    for index, item in enumerate(items):
        try:
            built = from_json_dict(item)
        except PARSE_ERRORS as exc:
            # Raised in the caller's iteration, outside ``step``: redact with the secrets of the page's client.
            raise _redacted(secrets, _item_error, response, path, model, index, exc) from None
        yield built


def _redacted(secrets: tuple[str, ...], make: Callable[..., Exception], *args: Any) -> Exception:
    """``make(*args)`` with ``secrets`` the ones redacted (an error made in the caller's iteration, outside ``step``)."""
    token = errors.use_secrets(secrets)
    try:
        return make(*args)
    finally:
        errors.reset_secrets(token)


def _json_item(item: Any, response: Response, path: str, secrets: tuple[str, ...]) -> Any:
    """An item msgspec refused, as ``json.loads`` reads it; the page's not-JSON error if json refuses it too."""
    try:
        return json.loads(bytes(item))
    except (ValueError, RecursionError):
        raise _redacted(secrets, format_error, response, "GET", path, _NOT_JSON) from None


# --------------------------------------------------------------------------------------------------- operations


def check_id(value: Any, argument: str) -> str:
    """A path id: a non-empty str (an int is converted); never a path separator."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or "/" in value:
        raise errors.TolokaArgumentError(
            f"{argument} must be a non-empty id string without '/', got {type(value).__name__} {value!r}"
        )
    return value


def operation_path(operation_id: str) -> str:
    return f"{pagination.V1}/operations/{operation_id}"


#: Seconds between progress lines while waiting for an operation.
OPERATION_PROGRESS_INTERVAL = 10.0


def wait_operation(
    new_policy: PolicyFactory, operation: Any, timeout: float | None, poll_interval: float
) -> Plan:
    """Poll ``GET /operations/{id}`` until SUCCESS or FAIL; raise ``OperationTimeoutError`` past ``timeout``."""
    if isinstance(operation, models.Operation):
        if operation.is_completed():
            return operation
        operation_id = str(operation.id)
    elif isinstance(operation, str) and operation:
        operation_id = operation
    else:
        raise errors.TolokaArgumentTypeError(
            f"operation must be an Operation or a non-empty operation id, got {type(operation).__name__} {operation!r:.100}"
        )
    if (
        isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float))
        or not 0 < poll_interval < float("inf")
    ):
        raise errors.TolokaArgumentError(f"poll_interval must be positive finite seconds, got {poll_interval!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
    ):
        raise errors.TolokaArgumentError(f"timeout must be non-negative seconds or None, got {timeout!r}")
    started = yield Now()
    last_progress = started
    path = operation_path(operation_id)
    while True:
        current = yield from call_model(new_policy, models.Operation, "GET", path)
        if current.is_completed():
            log.info(
                "Toloka operation %s (%s) finished: %s",
                operation_id, _enum_value(current.type), _enum_value(current.status),
            )
            return current
        now = yield Now()
        if timeout is not None and now - started >= timeout:
            raise errors.OperationTimeoutError(current, timeout)
        if now - last_progress >= OPERATION_PROGRESS_INTERVAL:
            last_progress = now
            log.info(
                "Toloka operation %s (%s) is %s, progress %s%%",
                operation_id, _enum_value(current.type), _enum_value(current.status), current.progress or 0,
            )
        yield Sleep(poll_interval if timeout is None else min(poll_interval, max(started + timeout - now, 0.0)))


def completion_percentage(new_policy: PolicyFactory, pool_id: str, timeout: float | None = 60.0) -> Plan:
    """A pool's completion percentage (0..100): an analytics request, waited for."""
    body = [{"subject": "POOL", "subject_id": check_id(pool_id, "pool_id"), "name": "completion_percentage"}]
    operation = yield from call_model(new_policy, models.Operation, "POST", "/api/staging/analytics-2", body=body)
    operation = yield from wait_operation(new_policy, operation, timeout, 1.0)
    operation.raise_on_fail()
    try:
        result = (operation.details or {})["value"][0]["result"]
        return int(result["value"] if isinstance(result, Mapping) else result)
    except (KeyError, IndexError, TypeError, ValueError):
        raise ValueError(
            f"analytics operation {operation.id} has no completion_percentage result: {operation.details!r}"
        ) from None


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def run_action(
    new_policy: PolicyFactory, action_path: str, timeout: float | None = 600.0, poll_interval: float = 1.0,
    *, idempotent: bool = True,
) -> Plan:
    """POST an action: 204 means "already there" (None); otherwise wait for its Operation and raise on FAIL.

    ``idempotent=False`` for an action that makes something new each time (clone): see ``call``.
    """
    response: Response = yield from call(new_policy, "POST", action_path, idempotent=idempotent)
    if response.status == 204 or not response.body:
        return None
    data = decode_json(response, "POST", action_path, dict)
    operation = parse_model(models.Operation, data, response, "POST", action_path)
    operation = yield from wait_operation(new_policy, operation, timeout, poll_interval)
    operation.raise_on_fail()
    return operation


# --------------------------------------------------------------------------------------------------- bulk creates


@attrs.frozen
class BatchKind:
    """How one kind of object is created in bulk (tasks, task suites, user bonuses)."""

    path: str
    model: type[models.BaseModel]
    created_id_key: str  # in an operation log item's output
    sync_chunk: int  # most objects per sync-mode request
    listing: Listing  # where created objects are read back
    group_key: str | None  # read back per value of this field (pool_id), or all at once


ITEM_INDEX_KEY = "__item_idx"
CREATE_TIMEOUT = 3600.0


def _is_operation_already_exists(error: Exception) -> bool:
    return isinstance(error, errors.ApiError) and error.code == "OPERATION_ALREADY_EXISTS"


def _validation_error(payload: dict, method: str, path: str, total: int) -> errors.ValidationApiError:
    return errors.ValidationApiError(
        status_code=400,
        code="VALIDATION_ERROR",
        message=f"nothing was created: {len(payload)} of {total} item(s) failed validation",
        request_id=None,
        payload=payload,
        method=method,
        path=path,
    )


def start_batch_operation(
    new_policy: PolicyFactory, kind: BatchKind, items: list[dict], params: dict[str, str], operation_id: str
) -> Plan:
    """POST items in async mode under ``operation_id``; on OPERATION_ALREADY_EXISTS resume that operation.

    The conflict means an earlier attempt of this very request reached the server (its answer was lost),
    so reading the operation back is the idempotent outcome, not an error.
    """
    query = {"async_mode": "true", "operation_id": operation_id, **params}
    method, path = "POST", kind.path
    try:
        response, data = yield from call_response_json(
            new_policy, method, path, params=query, body=items, expect=dict
        )
    except errors.ApiError as error:
        if not _is_operation_already_exists(error):
            raise
        log.info("Toloka operation %s already exists (an earlier attempt got through); resuming it", operation_id)
        method, path = "GET", operation_path(operation_id)
        response, data = yield from call_response_json(new_policy, method, path, expect=dict)
    return parse_model(models.Operation, data, response, method, path)


def _mark(items: list[dict], offset: int) -> list[dict]:
    return [{**item, ITEM_INDEX_KEY: str(offset + position)} for position, item in enumerate(items)]


def collect_batch_operation(
    new_policy: PolicyFactory, kind: BatchKind, operation: Any, poll_interval: float, offset: int = 0
) -> Plan:
    """Wait for a bulk-create operation, read its log and return (created id by index, errors by index).

    Items are matched by their ``__item_idx`` echo; a log without it (a resumed sync-mode chunk) is matched
    by the order of its per-item entries, starting at ``offset``.
    """
    operation = yield from wait_operation(new_policy, operation, CREATE_TIMEOUT, poll_interval)
    log_path = f"{operation_path(operation.id)}/log"
    response, log_items = yield from call_response_json(new_policy, "GET", log_path, expect=(list, type(None)))
    created: dict[str, str] = {}
    validation_errors: dict[str, dict] = {}
    position = offset
    for number, entry in enumerate(log_items or ()):
        if not isinstance(entry, dict):
            raise format_error(response, "GET", log_path, f"log entry {number} is {json_kind(entry)}, not an object")
        entry_input = entry.get("input")
        entry_input = entry_input if isinstance(entry_input, dict) else {}
        output = entry.get("output")
        output = output if isinstance(output, dict) else {}
        success = bool(entry.get("success"))
        is_item = (success and kind.created_id_key in output) or str(entry.get("type", "")).endswith("_VALIDATE")
        if not is_item:
            if not success:
                log.warning(
                    "Toloka operation %s: %s failed: %s",
                    operation.id, errors.redact(str(entry.get("type"))), errors.redact(_compact(output)),
                )
            continue
        index = str(entry_input.get(ITEM_INDEX_KEY, position))
        position += 1
        if success:
            created[index] = str(output[kind.created_id_key])
        else:
            validation_errors[index] = errors.redact_value(output)
    if _enum_value(operation.status) != "SUCCESS" and not validation_errors:
        operation.raise_on_fail()
    return created, validation_errors


def _compact(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 500 else text[:500] + "..."


def collect(plan: Plan) -> Plan:
    """Run a listing plan inside another plan and return everything it emits as one list."""
    values: list = []
    sent = None
    while True:
        try:
            effect = plan.send(sent)
        except StopIteration:
            return values
        if isinstance(effect, Emit):
            values.extend(effect.values)
            sent = None
        else:
            sent = yield effect


def fetch_created(
    new_policy: PolicyFactory, kind: BatchKind, created: dict[str, str], inputs_by_index: Mapping[str, dict]
) -> Plan:
    """Read created objects back by id range (per pool for tasks and suites) and key them by input index."""
    groups: dict[Any, list[str]] = {}
    for index in created:
        group = inputs_by_index[index].get(kind.group_key) if kind.group_key else None
        groups.setdefault(group, []).append(index)
    by_id: dict[str, Any] = {}
    for group, indexes in groups.items():
        ids = [created[index] for index in indexes]
        filters: dict[str, Any] = {"id_gte": min(ids), "id_lte": max(ids)}
        if kind.group_key:
            filters[kind.group_key] = group
        pages = prepare_pages(new_policy, kind.listing, kind.model, "fetch_created", filters, kind.listing.max_limit)
        wanted = set(ids)
        for obj in (yield from collect(pages)):
            if obj.id in wanted:
                by_id[obj.id] = obj
    result = {}
    for index in sorted(created, key=int):
        obj = by_id.get(created[index])
        if obj is None:
            log.warning("Toloka created %s at index %s but it was not found when read back", created[index], index)
        else:
            result[index] = obj
    return result


def create_batch(
    new_policy: PolicyFactory,
    kind: BatchKind,
    objects: Iterable[Any],
    *,
    async_mode: bool,
    params: dict[str, str],
    open_pool: bool | None,
    operation_id: str | None,
    poll_interval: float,
) -> Plan:
    """Create many objects; return ``BatchCreateResult`` keyed by the position in ``objects`` (as a str).

    Async mode (the default, and the idempotent one): one POST under an ``operation_id`` with every item
    marked by its index, then the operation log maps indexes to created ids or to validation errors.
    Sync mode: POSTs of at most ``kind.sync_chunk`` items; each chunk has its own ``operation_id`` so that a
    retried chunk resumes instead of creating twice. ``open_pool`` is sent with the last chunk only, so the
    pool does not open on a partial upload.
    """
    inputs = [as_body(obj, "items") for obj in objects]
    if not inputs:
        return models.BatchCreateResult(items={}, validation_errors={})
    inputs_by_index = {str(index): item for index, item in enumerate(inputs)}
    created: dict[str, str] = {}
    items: dict[str, Any] = {}
    validation_errors: dict[str, dict] = {}
    if async_mode:
        op_id = operation_id or str(uuid.uuid4())
        query = {**params, **flags(open_pool=open_pool)}
        operation = yield from start_batch_operation(new_policy, kind, _mark(inputs, 0), query, op_id)
        created, validation_errors = yield from collect_batch_operation(
            new_policy, kind, operation, poll_interval
        )
    else:
        chunks = range(0, len(inputs), kind.sync_chunk)
        for number, offset in enumerate(chunks):
            chunk = inputs[offset : offset + kind.sync_chunk]
            last = number == len(chunks) - 1
            chunk_op_id = operation_id if (operation_id and len(chunks) == 1) else str(uuid.uuid4())
            query = {**params, **flags(open_pool=open_pool if last else None), "operation_id": chunk_op_id}
            try:
                response, data = yield from call_response_json(
                    new_policy, "POST", kind.path, params=query, body=chunk, expect=dict
                )
            except errors.ApiError as error:
                if not _is_operation_already_exists(error):
                    raise
                log.info("Toloka operation %s already exists; resuming it", chunk_op_id)
                operation = yield from call_model(new_policy, models.Operation, "GET", operation_path(chunk_op_id))
                chunk_created, chunk_errors = yield from collect_batch_operation(
                    new_policy, kind, operation, poll_interval, offset
                )
                created.update(chunk_created)
                validation_errors.update(chunk_errors)
                continue
            try:
                for local, obj in (data.get("items") or {}).items():
                    items[str(offset + int(local))] = kind.model.from_json_dict(obj)
                for local, problem in (data.get("validation_errors") or {}).items():
                    validation_errors[str(offset + int(local))] = errors.redact_value(problem)
            except PARSE_ERRORS as exc:
                raise format_error(
                    response, "POST", kind.path,
                    f"expected {{items: {{index: {kind.model.__name__}}}, validation_errors: {{index: ...}}}}: "
                    f"{type(exc).__name__}: {exc}",
                ) from None
            if len(chunks) > 1:
                log.info("Toloka: sent %d of %d items to %s", min(offset + len(chunk), len(inputs)), len(inputs), kind.path)
    if created:
        items.update((yield from fetch_created(new_policy, kind, created, inputs_by_index)))
    if not items and validation_errors:
        raise _validation_error(validation_errors, "POST", kind.path, len(inputs))
    ordered = {key: items[key] for key in sorted(items, key=int)}
    ordered_errors = {key: validation_errors[key] for key in sorted(validation_errors, key=int)}
    return models.BatchCreateResult(items=ordered, validation_errors=ordered_errors)


def create_one(new_policy: PolicyFactory, kind: BatchKind, obj: Any, **kwargs: Any) -> Plan:
    """Create a single object through the idempotent batch path and return it."""
    result = yield from create_batch(new_policy, kind, [obj], async_mode=True, **kwargs)
    if "0" in result.items:
        return result.items["0"]
    raise _validation_error({"0": result.validation_errors.get("0", {})}, "POST", kind.path, 1)
