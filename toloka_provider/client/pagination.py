"""List endpoints: their filters, page-size limits, query formatting and the keyset cursor. Pure, no I/O.

``find_X`` sends one request; ``get_X`` pages with ``sort=<cursor>`` and ``<cursor>_gt=<last value>``,
keeping the caller's filters and ``limit`` on every page, and stops when ``has_more`` is false.

Paging always ends: ``check_advances`` requires every page to be strictly ordered by the cursor and to start
past the previous page (ids compare as numbers when they are digit strings, else as strings, which is the
server's order for Toloka's fixed-width ids); anything else is a ``PaginationError``.

Default page sizes are chosen for throughput, not the server's default of 50: every page costs a round trip,
so the biggest page the server is known to accept is used. For assignments that is 1,000 (toloka-kit's own
streaming cursor asks for it, so the real server accepts it; the docs name 300 as the general maximum, which
is what the other v1 lists default to). Callers who know their server accepts more (the local emulator does)
may ask for up to 100,000 assignments per page with ``batch_size``.
"""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from toloka_provider.client import dates, models
from toloka_provider.client.errors import PaginationError, TolokaArgumentError, TolokaArgumentTypeError

RANGE_SUFFIXES = ("_lt", "_lte", "_gt", "_gte")

#: Range filters over these fields take datetimes; a string value is checked before the request, so a typo
#: ("yesterday", "2024-13-01") fails here, naming the filter, instead of as a 400 from the server.
DATE_FIELDS = frozenset({"created", "submitted", "accepted", "rejected", "skipped", "expired", "finished",
                         "last_started"})


def _ranged(*fields: str) -> frozenset[str]:
    return frozenset(f"{field}{suffix}" for field in fields for suffix in RANGE_SUFFIXES)


@attrs.frozen
class Listing:
    """One listable resource: where it lives, what it filters on, how it is paged."""

    name: str  # used in messages, e.g. "assignments"
    path: str  # relative to the base URL; may contain "{...}" fields filled by the caller
    filters: frozenset[str]
    max_limit: int
    default_limit: int
    cursor: str = "id"
    envelope: str = "items"  # v1 lists use "items", the Apps API uses "content"
    #: The enum of the ``status`` filter. A plain string must name one of its members (a misspelt status
    #: would otherwise match nothing, silently); an enum instance is sent as it is, so a status this client
    #: does not list yet can still be asked for with e.g. ``AssignmentStatus("NEW_STATUS")``.
    status_enum: type[enum.Enum] | None = None


V1 = "/api/v1"
APPS = "/api/app/v0"

PROJECTS = Listing(
    "projects",
    f"{V1}/projects",
    frozenset({"status", "owner"}) | _ranged("id", "created"),
    300,
    300,
    status_enum=models.ProjectStatus,
)
POOLS = Listing(
    "pools",
    f"{V1}/pools",
    frozenset({"status", "project_id"}) | _ranged("id", "created", "last_started"),
    300,
    300,
    status_enum=models.PoolStatus,
)
TRAININGS = Listing(
    "trainings",
    f"{V1}/trainings",
    frozenset({"status", "project_id"}) | _ranged("id", "created", "last_started"),
    300,
    300,
    status_enum=models.PoolStatus,
)
TASKS = Listing("tasks", f"{V1}/tasks", frozenset({"pool_id", "overlap"}) | _ranged("id", "created", "overlap"), 300, 300)
TASK_SUITES = Listing(
    "task_suites",
    f"{V1}/task-suites",
    frozenset({"task_id", "pool_id", "overlap"}) | _ranged("id", "created", "overlap"),
    300,
    300,
)
ASSIGNMENTS = Listing(
    "assignments",
    f"{V1}/assignments",
    frozenset({"status", "task_id", "task_suite_id", "pool_id", "user_id"})
    | _ranged("id", "created", "submitted", "accepted", "rejected", "skipped", "expired"),
    100_000,
    1_000,
    status_enum=models.AssignmentStatus,
)
ATTACHMENTS = Listing(
    "attachments",
    f"{V1}/attachments",
    frozenset({"name", "type", "user_id", "assignment_id", "pool_id", "owner_id", "owner_company_id"})
    | _ranged("id", "created"),
    100,
    100,
)
OPERATIONS = Listing(
    "operations",
    f"{V1}/operations",
    frozenset({"type", "status"}) | _ranged("id", "submitted", "finished"),
    300,
    300,
    status_enum=models.OperationStatus,
)
USER_BONUSES = Listing(
    "user_bonuses",
    f"{V1}/user-bonuses",
    frozenset({"user_id", "assignment_id", "private_comment"}) | _ranged("id", "created"),
    300,
    300,
)
AGGREGATED_SOLUTIONS = Listing(
    "aggregated_solutions",
    f"{V1}/aggregated-solutions/{{operation_id}}",
    _ranged("task_id"),
    300,
    300,
    cursor="task_id",
)
APP_PROJECTS = Listing(
    "app_projects",
    f"{APPS}/app-projects",
    frozenset({"app_id", "parent_app_project_id", "status", "scope", "requester_ids", "after_id", "name"})
    | _ranged("id", "name", "created"),
    5_000,
    5_000,
    envelope="content",
    status_enum=models.AppProjectStatus,
)
APP_BATCHES = Listing(
    "app_batches",
    f"{APPS}/app-projects/{{app_project_id}}/batches",
    frozenset({"status", "after_id", "name"}) | _ranged("id", "name", "created"),
    1_000,
    1_000,
    envelope="content",
    status_enum=models.AppBatchStatus,
)
APP_ITEMS = Listing(
    "app_items",
    f"{APPS}/app-projects/{{app_project_id}}/items",
    frozenset({"batch_id", "status", "after_id"}) | _ranged("id", "created", "finished"),
    1_000,
    1_000,
    envelope="content",
    status_enum=models.AppItemStatus,
)


def format_query_value(value: Any) -> str:
    """Wire form of one query value: enums by value, lists comma-joined, datetimes in UTC, booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return format_query_value(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return dates.format_datetime(value)
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(format_query_value(item) for item in value)
    raise TolokaArgumentTypeError(f"cannot send a {type(value).__name__} as a query value: {value!r:.100}")


def build_query(listing: Listing, method_name: str, filters: Mapping[str, Any]) -> dict[str, str]:
    """Check filter names against the listing and format their values; None values are dropped."""
    unknown = sorted(set(filters) - listing.filters)
    if unknown:
        raise TolokaArgumentTypeError(
            f"{method_name}() got unknown filter(s) {', '.join(unknown)}; "
            f"allowed for {listing.name}: {', '.join(sorted(listing.filters))}"
        )
    query = {}
    for key, value in filters.items():
        if value is None:
            continue
        try:
            if key == "status" and listing.status_enum is not None:
                check_status_names(listing, value)
            elif isinstance(value, str) and key.rpartition("_")[0] in DATE_FIELDS and key.endswith(RANGE_SUFFIXES):
                dates.parse_datetime(value)  # checked only (ValueError naming the value); sent as given
            query[key] = format_query_value(value)
        except (TypeError, ValueError) as exc:
            error_class = TolokaArgumentTypeError if isinstance(exc, TypeError) else TolokaArgumentError
            raise error_class(f"{method_name}(): filter {key}: {exc}") from None
    return query


def check_status_names(listing: Listing, value: Any) -> None:
    """Raise ValueError when a plain-string status (or one in a list) is not a known status of the listing."""
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    known = [member.value for member in listing.status_enum]  # type: ignore[union-attr]
    for item in values:
        # Enum instances pass: that is how a caller asks for a status newer than this client.
        if type(item) is str and item not in known:
            hint = f" (did you mean {item.upper()!r}?)" if item.upper() in known else ""
            raise TolokaArgumentError(
                f"unknown {listing.name} status {item!r}{hint}; expected one of {', '.join(known)}"
            )


def check_page_size(listing: Listing, argument: str, value: int | None) -> int | None:
    """Validate ``limit`` / ``batch_size`` before any request: a positive int not above the listing's maximum."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TolokaArgumentTypeError(f"{argument} must be an int, got {type(value).__name__} {value!r:.100}")
    if value < 1 or value > listing.max_limit:
        raise TolokaArgumentError(
            f"{argument} for {listing.name} must be between 1 and {listing.max_limit}, got {value}"
        )
    return value


def check_prefetch(prefetch: object) -> bool:
    """The clients' ``prefetch`` keyword: True (request the next page while the caller reads this one) or False."""
    if type(prefetch) is not bool:
        raise TolokaArgumentTypeError(f"prefetch must be True or False, got {type(prefetch).__name__} {prefetch!r:.100}")
    return prefetch


class PageShapeError(ValueError):
    """A decoded list answer of the wrong shape (the core turns it into a ``ResponseFormatError``)."""


def parse_page(data: Any, listing: Listing) -> tuple[list[dict], bool]:
    """Split a decoded list answer into (plain item dicts, has_more); ``PageShapeError`` if it is not one.

    ``data`` may also be the raw body (bytes or str), as before. The answer must be an object with the
    listing's envelope (``items``; Apps lists ``content``, either is accepted) holding an array of objects, and
    ``has_more`` must be a boolean when present.
    """
    if isinstance(data, (bytes, bytearray, str)):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise PageShapeError(f"expected a page object {{{listing.envelope}: [...], has_more}}, got {_kind(data)}")
    items = data.get(listing.envelope)
    if items is None:
        # Tolerate the other envelope: some Apps answers use "items" and vice versa.
        other = "items" if listing.envelope == "content" else "content"
        items = data.get(other)
        if items is None:
            raise PageShapeError(f"expected a page object with {listing.envelope!r}, got an object without it")
    if type(items) is not list:
        raise PageShapeError(f"expected {listing.envelope!r} to be an array, got {_kind(items)}")
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise PageShapeError(f"item {index} of {listing.name} is {_kind(item)}, not an object")
    has_more = data.get("has_more")
    if has_more is not None and type(has_more) is not bool:
        raise PageShapeError(f"expected has_more to be true or false, got {_kind(has_more)} {has_more!r:.50}")
    return items, bool(has_more)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def cursor_order(value: Any) -> tuple:
    """The sort key of a cursor value in the server's order: digit strings and numbers as numbers, else text."""
    if type(value) is str:
        if value.isdigit() and value.isascii() and len(value) <= 40:
            return (0, int(value), value)
        return (1, 0, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    raise TypeError(f"a cursor value must be a string or a number, got {_kind(value)}")


def check_advances(listing: Listing, endpoint: str, items: list[dict], after: Any) -> Any:
    """Check that a page is strictly ordered by the cursor and starts past ``after``; return the last value.

    Raises ``PaginationError`` (endpoint, cursor, what was seen) for an item without the cursor field, a value
    that is not past the previous one (a repeated page, ids going backwards, a duplicate). Returns the cursor
    value of the last item (``after`` for an empty page).
    """
    field = listing.cursor
    previous_value = after
    for index, item in enumerate(items):
        value = item.get(field)
        # Fast path: Toloka's ids are fixed-width strings, for which string order is the server's order
        # (digit strings included); anything else goes through ``cursor_order``.
        if type(value) is str and type(previous_value) is str and len(value) == len(previous_value):
            if value > previous_value:
                previous_value = value
                continue
            advanced = False
        elif value is None:
            raise PaginationError(endpoint, after, f"item {index} of the page has no {field!r}")
        else:
            try:
                key = cursor_order(value)
            except TypeError as exc:
                raise PaginationError(endpoint, after, f"item {index}: {exc}") from None
            advanced = previous_value is None or key > cursor_order(previous_value)
            if advanced:
                previous_value = value
                continue
        where = "the cursor" if index == 0 else f"item {index - 1}"
        relation = "the same as" if value == previous_value else "before"
        raise PaginationError(
            endpoint, after,
            f"item {index} has {field} {value!r}, {relation} {where} ({previous_value!r}): the page does not advance",
        )
    return previous_value


def next_cursor_query(listing: Listing, query: dict[str, str], items: list[dict]) -> dict[str, str]:
    """The query for the next page: the same filters, the cursor moved past the last item of this page."""
    following = dict(query)
    following[f"{listing.cursor}_gt"] = format_query_value(items[-1][listing.cursor])
    return following
