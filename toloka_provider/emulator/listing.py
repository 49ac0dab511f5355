"""List endpoints: filters, ``_gt/_gte/_lt/_lte`` ranges, multi-key ``sort``, ``limit`` and ``has_more``.

A :class:`ListSpec` describes one list endpoint; :func:`list_page` answers a request with
``{"items": [...], "has_more": bool}``. Keyset paging (``sort=id&id_gt=<last>``) over a pool's objects is the
hot path (``GET /assignments?pool_id=..&status=..&id_gt=..&limit=1000``): it starts from the per-pool sorted
id list with ``bisect`` and stops after ``limit + 1`` matches, so a page costs O(limit), not O(pool).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from toloka_provider.emulator.errors import invalid_parameter
from toloka_provider.emulator.records import CompactAssignment, wire_of
from toloka_provider.emulator.router import RawResponse, Request
from toloka_provider.emulator.state import normalize_datetime

_RANGE_SUFFIXES = {"_gt": "gt", "_gte": "gte", "_lt": "lt", "_lte": "lte"}
# ASCII digits only: int() would also take "1_000", " 5", "+5" and other scripts' digits.
_INTEGER_RE = re.compile(r"-?[0-9]{1,18}")


@dataclass
class ListSpec:
    """One list endpoint.

    ``exact``: query parameter -> field path (dots for nesting) for exact-match filters (``status`` takes a
    comma list). ``ranges``: field name (as in the query, before ``_gt`` ...) -> (field path, kind) where kind
    is ``"str"`` (ids, compared as strings), ``"date"`` or ``"int"``. ``int_fields``: exact filters compared
    as integers. ``bool_fields``: exact filters given as true/false.
    """

    kind: str
    exact: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple[str, str]] = field(default_factory=dict)
    sort_fields: tuple[str, ...] = ("id", "created")
    max_limit: int = 300
    default_limit: int = 50
    int_fields: tuple[str, ...] = ()
    bool_fields: tuple[str, ...] = ()
    pool_indexed: bool = False
    id_field: str = "id"
    # query parameter -> (value -> predicate), for filters that are not a plain field match
    custom: dict[str, Callable[[str], Callable[[dict], bool]]] = field(default_factory=dict)


def _getter(path: str) -> Callable[[dict], Any]:
    if "." not in path:
        return lambda obj: obj.get(path)
    parts = path.split(".")

    def get(obj: dict) -> Any:
        value: Any = obj
        for part in parts:
            if not isinstance(value, (dict, Mapping)):
                return None
            value = value.get(part)
        return value

    return get


def parse_limit(request: Request, spec: ListSpec) -> int:
    raw = request.arg("limit")
    if raw is None or raw == "":
        return spec.default_limit
    if not _INTEGER_RE.fullmatch(raw):
        raise invalid_parameter("limit", f"expected an integer, got {_clip(raw)!r}", "INTEGER_EXPECTED")
    limit = int(raw)
    if limit < 1:
        raise invalid_parameter("limit", f"must be at least 1, got {limit}", "VALUE_LESS_THAN_MIN")
    if limit > spec.max_limit:
        raise invalid_parameter(
            "limit", f"must be at most {spec.max_limit}, got {limit}", "VALUE_GREATER_THAN_MAX"
        )
    return limit


def parse_sort(request: Request, spec: ListSpec) -> list[tuple[str, bool]]:
    """``sort=a,-b`` -> [("a", False), ("b", True)] (True = descending).

    An empty ``sort=``, an empty key (``sort=id,``), an unknown field, ``--id`` and a field named twice are
    each a 400 naming the parameter."""
    raw = request.arg("sort")
    if raw is None:
        return []
    allowed = ", ".join(spec.sort_fields)
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part[1:] if descending else part
        if not name:
            raise invalid_parameter("sort", f"empty sort key in {_clip(raw)!r}; allowed: {allowed}", "UNKNOWN_ENUM_VALUE")
        if name not in spec.sort_fields:
            raise invalid_parameter("sort", f"cannot sort by {_clip(name)!r}; allowed: {allowed}", "UNKNOWN_ENUM_VALUE")
        if any(name == seen for seen, _ in keys):
            raise invalid_parameter("sort", f"{name!r} is named twice in {_clip(raw)!r}", "INVALID_VALUE")
        keys.append((name, descending))
    return keys


def _clip(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _convert(value: str, kind: str, name: str) -> Any:
    if kind == "date":
        try:
            return normalize_datetime(value)
        except (ValueError, OverflowError):
            raise invalid_parameter(
                name, f"expected an ISO 8601 date-time, got {_clip(value)!r}", "INVALID_DATE_TIME_SYNTAX"
            ) from None
    if kind == "int":
        if not _INTEGER_RE.fullmatch(value):
            raise invalid_parameter(name, f"expected an integer, got {_clip(value)!r}", "INTEGER_EXPECTED")
        return int(value)
    return value


def build_predicates(
    request: Request, spec: ListSpec, implied: frozenset[str] = frozenset()
) -> tuple[list[Callable[[dict], bool]], dict]:
    """Predicates for the request's filters, plus the id bounds (``{"gt": .., "gte": .., ...}``) so that the
    caller can start a keyset scan at the right place. Filters named in ``implied`` are checked (their
    values parsed) but get no predicate: the caller's scan already guarantees them."""
    predicates: list[Callable[[dict], bool]] = []
    id_bounds: dict[str, str] = {}
    for name, values in request.query.items():
        if not values:
            continue
        value = values[0]
        if name in spec.custom:
            predicates.append(spec.custom[name](value))
            continue
        if name in spec.exact:
            if name in implied:
                continue
            field_path = spec.exact[name]
            get = _getter(field_path)
            if name in spec.int_fields:
                wanted_int = _convert(value, "int", name)
                predicates.append(_equals_predicate(get, wanted_int))
            elif name in spec.bool_fields:
                if value.lower() not in ("true", "false"):
                    raise invalid_parameter(name, f"expected true or false, got {_clip(value)!r}", "BOOLEAN_EXPECTED")
                wanted_bool = value.lower() == "true"
                predicates.append(_truth_predicate(get, wanted_bool))
            elif "," in value:
                allowed = frozenset(part.strip() for part in value.split(","))
                predicates.append(_member_predicate(get, allowed))
            elif "." not in field_path:  # the hot path (status=...): one call per object, not two
                predicates.append(_field_predicate(field_path, value))
            else:
                predicates.append(_equals_predicate(get, value))
            continue
        for suffix, op in _RANGE_SUFFIXES.items():
            if not name.endswith(suffix):
                continue
            base = name[: -len(suffix)]
            if base not in spec.ranges:
                break
            path, kind = spec.ranges[base]
            bound = _convert(value, kind, name)
            if base == "id" or path == spec.id_field:
                id_bounds[op] = bound
            if name not in implied:
                predicates.append(_range_predicate(_getter(path), op, bound))
            break
    return predicates, id_bounds


def _equals_predicate(get: Callable[[dict], Any], wanted: Any) -> Callable[[dict], bool]:
    return lambda obj: get(obj) == wanted


def _truth_predicate(get: Callable[[dict], Any], wanted: bool) -> Callable[[dict], bool]:
    return lambda obj: bool(get(obj)) == wanted


def _member_predicate(get: Callable[[dict], Any], allowed: frozenset[str]) -> Callable[[dict], bool]:
    return lambda obj: get(obj) in allowed


def _field_predicate(field: str, wanted: str) -> Callable[[dict], bool]:
    return lambda obj: obj.get(field) == wanted


def _range_predicate(get: Callable[[dict], Any], op: str, bound: Any) -> Callable[[dict], bool]:
    if op == "gt":
        return lambda obj: (v := get(obj)) is not None and v > bound
    if op == "gte":
        return lambda obj: (v := get(obj)) is not None and v >= bound
    if op == "lt":
        return lambda obj: (v := get(obj)) is not None and v < bound
    return lambda obj: (v := get(obj)) is not None and v <= bound


def _sorted(items: list[dict], sort: list[tuple[str, bool]]) -> list[dict]:
    # Stable sorts from the last key to the first give multi-key order with per-key direction.
    for name, descending in reversed(sort):
        get = _getter(name)
        present = [item for item in items if get(item) is not None]
        missing = [item for item in items if get(item) is None]
        present.sort(key=get, reverse=descending)
        items = present + missing
    return items


def select(
    request: Request,
    spec: ListSpec,
    source: Iterable[dict] | None = None,
) -> tuple[list[dict], bool]:
    """The page of objects (shallow copies, safe to serialise outside the lock) and ``has_more``.

    ``source`` replaces the default candidates (all objects of ``spec.kind``, or one pool's when the spec is
    pool-indexed and ``pool_id`` is given); it must be in id order.
    """
    state = request.state
    with state.lock:
        page, has_more = _select_stored(request, spec, source)
        return [dict(obj) for obj in page], has_more


def _select_stored(
    request: Request, spec: ListSpec, source: Iterable[Any] | None
) -> tuple[list[Any], bool]:
    """The page as the stored objects themselves (compact assignments included; read them, do not change
    them, and only while holding the lock unless compact), and ``has_more``."""
    state = request.state
    limit = parse_limit(request, spec)
    sort = parse_sort(request, spec)
    pool_id = request.arg("pool_id")
    implied: frozenset[str] = frozenset()
    if source is None and spec.pool_indexed and pool_id:
        # The scan below walks the pool's own sorted id list from the id bound on: the pool filter and that
        # bound hold for every object it sees, so they cost nothing per object.
        start_bound = "id_gt" if request.query.get("id_gt") else "id_gte"  # as the bisect below picks
        implied = frozenset(("pool_id", start_bound))
    predicates, id_bounds = build_predicates(request, spec, implied)
    id_order = not sort or sort == [(spec.id_field, False)]
    with state.lock:
        if source is None:
            # The stored values as they are (dict's own methods: the assignment table would copy a compact
            # assignment into a record on every read).
            objects = state.objects[spec.kind]
            if spec.pool_indexed and pool_id:
                ids = state.pool_index(spec.kind, pool_id)
                start = 0
                if "gt" in id_bounds:
                    start = bisect.bisect_right(ids, id_bounds["gt"])
                elif "gte" in id_bounds:
                    start = bisect.bisect_left(ids, id_bounds["gte"])
                source = _stored_from(objects, ids, start)
            else:
                source = dict.values(objects)
        matches_all = _combine(predicates)
        if id_order:
            page: list[Any] = []
            for obj in source:
                if matches_all(obj):
                    page.append(obj)
                    if len(page) > limit:
                        break
        else:
            matches = [obj for obj in source if matches_all(obj)]
            page = _sorted(matches, sort)[: limit + 1]
        has_more = len(page) > limit
        return page[:limit], has_more


def _combine(predicates: list[Callable[[dict], bool]]) -> Callable[[dict], bool]:
    # The hot path has one or two predicates; avoid a generator per object for those.
    if not predicates:
        return lambda obj: True
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda obj: first(obj) and second(obj)
    return lambda obj: all(predicate(obj) for predicate in predicates)


def _stored_from(objects: dict, ids: list[str], start: int) -> Iterator[Any]:
    """The stored objects of ``ids[start:]`` in order, looked up a slice at a time (C loops, no per-id
    Python frame; a slice, unlike islice, does not walk the ids before ``start``)."""
    lookup = dict.__getitem__
    step = 1001
    while start < len(ids):
        chunk = ids[start : start + step]
        start += step
        yield from map(lookup, repeat(objects, len(chunk)), chunk)


def list_page(request: Request, spec: ListSpec, source: Iterable[dict] | None = None) -> tuple[int, dict]:
    items, has_more = select(request, spec, source)
    return 200, {"items": items, "has_more": has_more}


def list_page_wire(request: Request, spec: ListSpec) -> tuple[int, RawResponse]:
    """:func:`list_page` for the hot listings (assignments): the same body, joined from each object's
    cached JSON bytes (``records.Record.wire``) or formatted ones (``records.CompactAssignment``) instead of
    encoding a tree of dicts per request."""
    state = request.state
    with state.lock:
        page, has_more = _select_stored(request, spec, None)
        # Records and dicts change under the lock: take their bytes now. Compact ones never change.
        parts: list = [obj if type(obj) is CompactAssignment else wire_of(obj) for obj in page]
    # Runs of consecutive compact assignments of one bulk load are formatted in one loop each.
    pieces: list[bytes] = [b'{"items":[']
    run: list[CompactAssignment] = []
    for part in parts:
        if type(part) is CompactAssignment:
            if run and part.batch is not run[0].batch:
                pieces += (_run_bytes(run), b",")
                run = []
            run.append(part)
            continue
        if run:
            pieces += (_run_bytes(run), b",")
            run = []
        pieces += (part, b",")
    if run:
        pieces.append(_run_bytes(run))
    elif len(pieces) > 1:
        pieces.pop()  # the last comma
    pieces.append(b'],"has_more":true}' if has_more else b'],"has_more":false}')
    return 200, RawResponse(b"".join(pieces), "application/json")


def _run_bytes(run: list[CompactAssignment]) -> bytes:
    return run[0].batch.text_of_run(run).encode("utf-8", "backslashreplace")

