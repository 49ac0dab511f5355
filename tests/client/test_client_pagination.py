"""Keyset pagination of both clients (sync over ``responses``, async over ``httpx.MockTransport``)."""

from __future__ import annotations

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import models
from toloka_provider.client.errors import PaginationError

PATH = "/api/v1/assignments"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def assignment(assignment_id: str) -> dict:
    return {"id": assignment_id, "pool_id": "21", "status": "SUBMITTED"}


def three_pages() -> ScriptedServer:
    server = ScriptedServer()
    server.reply(200, {"items": [assignment("a1"), assignment("a2")], "has_more": True})
    server.reply(200, {"items": [assignment("a3"), assignment("a4")], "has_more": True})
    server.reply(200, {"items": [assignment("a5")], "has_more": False})
    return server


def test_three_pages_follow_id_gt_cursor_with_filters_and_batch_size_on_every_page(mode):
    server = three_pages()
    with Harness(mode, server) as harness:
        result = harness.call("get_assignments", pool_id="21", status=["SUBMITTED", models.AssignmentStatus.ACCEPTED], batch_size=2)
    assert [item.id for item in result] == ["a1", "a2", "a3", "a4", "a5"]
    assert all(isinstance(item, models.Assignment) for item in result)
    base = {"pool_id": "21", "status": "SUBMITTED,ACCEPTED", "sort": "id", "limit": "2"}
    assert [call["query"] for call in server.calls] == [base, {**base, "id_gt": "a2"}, {**base, "id_gt": "a4"}]
    assert {call["path"] for call in server.calls} == {PATH}


def test_raw_pages_are_plain_dict_lists(mode):
    server = three_pages()
    with Harness(mode, server) as harness:
        pages = harness.call("get_assignments_raw", pool_id="21", batch_size=2)
    assert pages == [[assignment("a1"), assignment("a2")], [assignment("a3"), assignment("a4")], [assignment("a5")]]
    assert [call["query"].get("id_gt") for call in server.calls] == [None, "a2", "a4"]
    assert all(call["query"]["limit"] == "2" for call in server.calls)


def test_empty_first_page_yields_nothing(mode):
    server = ScriptedServer().reply(200, {"items": [], "has_more": False})
    with Harness(mode, server) as harness:
        assert harness.call("get_assignments", pool_id="21") == []
    assert server.calls[0]["query"] == {"pool_id": "21", "sort": "id", "limit": "1000"}


def test_has_more_with_empty_page_raises_instead_of_looping(mode):
    server = ScriptedServer().reply(200, {"items": [], "has_more": True})
    with Harness(mode, server) as harness, pytest.raises(PaginationError, match="empty page with has_more=true"):
        harness.call("get_pools")
    assert len(server.calls) == 1


@pytest.mark.parametrize(
    ("method", "argument", "value", "maximum"),
    [
        ("get_assignments", "batch_size", 100_001, 100_000),
        ("get_assignments_raw", "batch_size", 100_001, 100_000),
        ("get_pools", "batch_size", 301, 300),
        ("get_tasks", "batch_size", 301, 300),
        ("find_pools", "limit", 301, 300),
        ("get_app_items", "batch_size", 1001, 1000),
    ],
)
def test_over_limit_page_size_raises_before_any_request(mode, method, argument, value, maximum):
    server = ScriptedServer()
    args = ("ap1",) if "app" in method else ()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(ValueError) as caught:
            getattr(client, method)(*args, **{argument: value})  # raises at call time, not on iteration
    message = str(caught.value)
    assert argument in message and str(maximum) in message and str(value) in message
    assert server.calls == []


def test_attachments_need_pool_or_assignment_and_cap_at_100(mode):
    with Harness(mode, ScriptedServer()) as harness:
        client = harness.make_client()
        with pytest.raises(ValueError, match="pool_id or assignment_id"):
            client.get_attachments()
        with pytest.raises(ValueError, match="100"):
            client.get_attachments(pool_id="1", batch_size=101)


def test_unknown_filter_is_a_clear_type_error(mode):
    # Filters are explicit keyword parameters: a misspelt one is Python's own TypeError, before any request.
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TypeError, match=r"find_pools\(\) got an unexpected keyword argument 'pool_status'"):
            client.find_pools(pool_status="OPEN")
    assert server.calls == []


def test_datetimes_and_booleans_in_filters(mode):
    import datetime

    server = ScriptedServer().reply(200, {"items": [], "has_more": False})
    aware = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3)))
    with Harness(mode, server) as harness:
        harness.call("find_assignments", submitted_gte=aware, created_lt=datetime.datetime(2024, 2, 1, 0, 0, 0, 5))
    assert server.calls[0]["query"] == {"submitted_gte": "2024-01-01T09:00:00", "created_lt": "2024-02-01T00:00:00.000005"}


def test_find_sends_sort_and_limit_only_when_given(mode):
    server = ScriptedServer().reply(200, {"items": [assignment("a1")], "has_more": True})
    with Harness(mode, server) as harness:
        result = harness.call("find_assignments", pool_id="21")
    assert server.calls[0]["query"] == {"pool_id": "21"}
    assert result.has_more is True and result.items[0].id == "a1"


def test_sync_get_is_lazy_and_stops_fetching_when_abandoned():
    server = three_pages()
    with Harness("sync", server) as harness:
        # Serial paging; with prefetch the next page is in flight too (tests/client/test_client_prefetch.py).
        iterator = harness.make_client(prefetch=False).get_assignments(pool_id="21", batch_size=2)
        assert server.calls == []  # nothing sent until iteration starts
        assert next(iterator).id == "a1"
        iterator.close()
    assert len(server.calls) == 1
