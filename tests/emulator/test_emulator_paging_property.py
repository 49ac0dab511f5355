"""Property: keyset paging over ``GET /api/v1/assignments`` and ``/tasks`` returns exactly the filtered set.

Hypothesis loads random assignments and tasks (random pools, statuses, dates, overlaps) straight into the
store of one in-process emulator (no crowd), then pages over HTTP with random filters and page sizes the
way the clients do (``sort=id`` and ``id_gt=<last id>``). The concatenated pages must equal the oracle — a
plain Python filter over every stored object, in id order — with no duplicates and no gaps, and
``has_more`` must be true on every page but the last.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.state import format_datetime, parse_datetime

pytestmark = pytest.mark.integration

STATUSES = ("ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED")
POOLS = ("100000901", "100000902", "100000903")
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
OPERATORS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


@pytest.fixture(scope="module")
def emulator():
    with TolokaEmulator(seed=0, crowd=0) as emulator:
        session = requests.Session()
        session.headers["Authorization"] = f"OAuth {emulator.token}"
        emulator.test_session = session
        yield emulator


moments = st.integers(min_value=0, max_value=10 * 24 * 3600).map(lambda s: EPOCH + timedelta(seconds=s, microseconds=s % 7 * 1000))

assignment_rows = st.lists(
    st.tuples(st.sampled_from(POOLS), st.sampled_from(STATUSES), moments, st.integers(0, 3600)), max_size=40
)
task_rows = st.lists(st.tuples(st.sampled_from(POOLS), moments, st.integers(1, 5)), max_size=25)


def query_date(moment: datetime, style: int) -> str:
    """A date as a client may send it: with or without fraction, with Z or an offset."""
    if style == 0:
        return format_datetime(moment)
    if style == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
    return (moment + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+03:00"


date_filter = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(("created", "submitted")), st.sampled_from(tuple(OPERATORS)), moments, st.integers(0, 2)),
)


def load(emulator, assignments, tasks) -> None:
    state = emulator.state
    with state.lock:
        for pool_id, status, created, work_seconds in assignments:
            assignment = {
                "pool_id": pool_id,
                "task_suite_id": "000000000000--000000000000000000000000",
                "user_id": "0" * 32,
                "status": status,
                "reward": 0.01,
                "tasks": [],
                "created": format_datetime(created),
            }
            if status != "ACTIVE":
                assignment["submitted"] = format_datetime(created + timedelta(seconds=work_seconds))
            state.create("assignments", assignment)
        for pool_id, created, overlap in tasks:
            state.create("tasks", {"pool_id": pool_id, "input_values": {"x": 1}, "overlap": overlap, "created": format_datetime(created)})


def page_through(emulator, path: str, params: dict, limit: int) -> list[str]:
    ids: list[str] = []
    last_id = None
    for _ in range(10_000):
        query = {**params, "sort": "id", "limit": limit}
        if last_id is not None:
            query["id_gt"] = last_id
        response = emulator.test_session.get(emulator.url + path, params=query, timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        page_ids = [item["id"] for item in page["items"]]
        assert len(page_ids) <= limit
        assert page_ids == sorted(page_ids)
        ids += page_ids
        if not page["has_more"]:
            return ids
        assert len(page_ids) == limit, "has_more with a short page"
        last_id = page_ids[-1]
    raise AssertionError("paging did not end")


def matches_date(obj: dict, date_spec) -> bool:
    if date_spec is None:
        return True
    field, operator, moment, style = date_spec
    if style == 1:
        moment = moment.replace(microsecond=0)  # that form is sent without a fraction
    value = obj.get(field)
    return value is not None and OPERATORS[operator](parse_datetime(value), moment)


def date_params(date_spec) -> dict:
    if date_spec is None:
        return {}
    field, operator, moment, style = date_spec
    return {f"{field}_{operator}": query_date(moment, style)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    assignments=assignment_rows,
    tasks=task_rows,
    pool=st.one_of(st.none(), st.sampled_from(POOLS)),
    statuses=st.one_of(st.none(), st.sets(st.sampled_from(STATUSES), min_size=1, max_size=3)),
    date_spec=date_filter,
    start_after=st.one_of(st.none(), st.integers(0, 60)),
    limit=st.integers(1, 25),
)
def test_assignment_pages_are_exactly_the_filtered_set(emulator, assignments, tasks, pool, statuses, date_spec, start_after, limit):
    load(emulator, assignments, tasks)
    params = date_params(date_spec)
    if pool is not None:
        params["pool_id"] = pool
    if statuses is not None:
        params["status"] = ",".join(sorted(statuses))
    with emulator.state.lock:
        stored = sorted(emulator.state.assignments.values(), key=lambda a: a["id"])
    # Some queries start in the middle, as a resumed export does.
    lower = stored[start_after]["id"] if start_after is not None and start_after < len(stored) else None
    if lower is not None:
        params["id_gte"] = lower
    expected = [
        a["id"]
        for a in stored
        if (pool is None or a["pool_id"] == pool)
        and (statuses is None or a["status"] in statuses)
        and (lower is None or a["id"] >= lower)
        and matches_date(a, date_spec)
    ]
    got = page_through(emulator, "/api/v1/assignments", params, limit)
    assert len(got) == len(set(got))
    assert got == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    tasks=task_rows,
    pool=st.one_of(st.none(), st.sampled_from(POOLS)),
    overlap=st.one_of(st.none(), st.tuples(st.sampled_from(tuple(OPERATORS)), st.integers(1, 5))),
    created=st.one_of(st.none(), st.tuples(st.just("created"), st.sampled_from(tuple(OPERATORS)), moments, st.integers(0, 2))),
    limit=st.integers(1, 25),
)
def test_task_pages_are_exactly_the_filtered_set(emulator, tasks, pool, overlap, created, limit):
    load(emulator, [], tasks)
    params = date_params(created)
    if pool is not None:
        params["pool_id"] = pool
    if overlap is not None:
        params[f"overlap_{overlap[0]}"] = overlap[1]
    with emulator.state.lock:
        stored = sorted(emulator.state.tasks.values(), key=lambda t: t["id"])
    expected = [
        t["id"]
        for t in stored
        if (pool is None or t["pool_id"] == pool)
        and (overlap is None or OPERATORS[overlap[0]](t["overlap"], overlap[1]))
        and matches_date(t, created)
    ]
    got = page_through(emulator, "/api/v1/tasks", params, limit)
    assert len(got) == len(set(got))
    assert got == expected
