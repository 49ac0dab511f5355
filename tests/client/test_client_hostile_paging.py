"""Hostile listings: paging always ends, never asks for a cursor twice, never yields an item twice.

Each case runs on both clients (``client_harness``: ``responses`` for sync, ``httpx.MockTransport`` for async)
and asserts the exact exception class, what its message names, and that no token is in it.
"""

from __future__ import annotations

import pickle

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client.errors import PaginationError, ResponseFormatError, TolokaError

PATH = "/api/v1/assignments"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def page(*ids: str, has_more: bool = True) -> dict:
    return {
        "items": [{"id": item_id, "status": "SUBMITTED", "pool_id": "21"} for item_id in ids],
        "has_more": has_more,
    }


def cursors(server: ScriptedServer) -> list[str | None]:
    return [call["query"].get("id_gt") for call in server.calls]


def drain(harness: Harness, method: str, seen: list) -> None:
    """Consume a listing item by item into ``seen`` (so what came before an error is visible)."""
    client = harness.make_client()
    if harness.mode == "sync":
        for item in getattr(client, method)(pool_id="21"):
            seen.append(item)
        return

    import asyncio

    async def run() -> None:
        async with client:
            async for item in getattr(client, method)(pool_id="21"):
                seen.append(item)

    asyncio.run(run())


def ids_of(seen: list) -> list[str]:
    return [item["id"] if isinstance(item, dict) else item.id for item in seen]


def flat(seen: list, method: str) -> list:
    return [item for chunk in seen for item in chunk] if method == "get_assignments_raw" else seen


def assert_clean(error: BaseException, *parts: str) -> None:
    text = str(error)
    for part in parts:
        assert part in text, (part, text)
    assert TOKEN not in text and TOKEN not in repr(error)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == text


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
def test_server_repeating_a_page_ends_after_two_requests_for_that_cursor(mode, method):
    # Acceptance: the same page again (has_more=true forever, no progress) ends at the second request.
    server = ScriptedServer()
    for _ in range(10):
        server.reply(200, page("a1", "a2"))
    seen: list = []
    with Harness(mode, server) as harness, pytest.raises(PaginationError) as caught:
        drain(harness, method, seen)
    assert cursors(server) == [None, "a2"]  # the page after a2 repeated: no third request
    assert ids_of(flat(seen, method)) == ["a1", "a2"]  # nothing yielded twice
    assert_clean(caught.value, f"GET {PATH}", "'a2'", "item 0 has id 'a1'", "does not advance")
    assert caught.value.endpoint == PATH and caught.value.cursor == "a2"


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
def test_ids_going_backwards_across_pages(mode, method):
    server = ScriptedServer().reply(200, page("a5", "a6")).reply(200, page("a3", "a7"))
    seen: list = []
    with Harness(mode, server) as harness, pytest.raises(PaginationError) as caught:
        drain(harness, method, seen)
    assert len(server.calls) == 2 and ids_of(flat(seen, method)) == ["a5", "a6"]
    assert_clean(caught.value, PATH, "'a6'", "'a3'", "before the cursor")


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
def test_duplicate_or_unordered_items_inside_a_page(mode, method):
    server = ScriptedServer().reply(200, page("a1", "a2", "a2", "a3"))
    seen: list = []
    with Harness(mode, server) as harness, pytest.raises(PaginationError) as caught:
        drain(harness, method, seen)
    assert seen == []  # nothing of a bad page is yielded
    assert_clean(caught.value, "item 2 has id 'a2'", "the same as item 1")

    server = ScriptedServer().reply(200, page("a1", "a3", "a2", has_more=False))
    with (
        Harness(mode, server) as harness,
        pytest.raises(PaginationError, match="item 2 has id 'a2', before item 1"),
    ):
        drain(harness, method, [])


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
@pytest.mark.parametrize("bad_item", [{"status": "SUBMITTED"}, {"id": None}, {"id": ["a9"]}, {"id": True}])
def test_item_without_a_usable_cursor_field(mode, method, bad_item):
    server = ScriptedServer().reply(200, {"items": [{"id": "a1"}, bad_item], "has_more": True})
    with Harness(mode, server) as harness, pytest.raises(PaginationError) as caught:
        drain(harness, method, [])
    assert len(server.calls) == 1
    assert_clean(caught.value, PATH, "item 1")


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
def test_empty_page_with_has_more_true_after_progress(mode, method):
    server = ScriptedServer().reply(200, page("a1")).reply(200, page())
    seen: list = []
    with Harness(mode, server) as harness, pytest.raises(PaginationError) as caught:
        drain(harness, method, seen)
    assert cursors(server) == [None, "a1"] and ids_of(flat(seen, method)) == ["a1"]
    assert_clean(caught.value, PATH, "cursor 'a1'", "empty page with has_more=true")


def test_first_page_not_past_the_callers_own_id_gt(mode):
    server = ScriptedServer().reply(200, page("a1", has_more=False))
    with Harness(mode, server) as harness, pytest.raises(PaginationError, match="cursor 'a5'"):
        harness.call("get_assignments", pool_id="21", id_gt="a5")


def test_numeric_ids_are_ordered_as_numbers(mode):
    # Pool ids are digit strings: "9" < "10" in the server's order, not an id going backwards.
    pool = {"project_id": "1", "status": "OPEN"}
    server = (
        ScriptedServer()
        .reply(200, {"items": [{**pool, "id": "8"}, {**pool, "id": "9"}], "has_more": True})
        .reply(200, {"items": [{**pool, "id": "10"}], "has_more": False})
    )
    with Harness(mode, server) as harness:
        assert [p.id for p in harness.call("get_pools")] == ["8", "9", "10"]
    assert cursors(server) == [None, "9"]


def test_a_healthy_listing_still_pages_to_the_end(mode):
    server = ScriptedServer().reply(200, page("a1", "a2")).reply(200, page("a3", has_more=False))
    with Harness(mode, server) as harness:
        assert ids_of(harness.call("get_assignments", pool_id="21")) == ["a1", "a2", "a3"]
    assert cursors(server) == [None, "a2"]


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw", "find_assignments"])
@pytest.mark.parametrize(
    ("body", "what"),
    [
        ([{"id": "a1"}], "got an array"),
        ({"id": "a1", "status": "SUBMITTED"}, "without it"),
        ({"items": {"id": "a1"}, "has_more": False}, "'items' to be an array, got an object"),
        ({"items": ["a1", "a2"], "has_more": False}, "item 0 of assignments is a string"),
        ({"items": [{"id": "a1"}, None], "has_more": False}, "item 1 of assignments is null"),
        ({"items": [], "has_more": "false"}, "has_more to be true or false"),
        (None, "got null"),
    ],
)
def test_a_page_of_the_wrong_shape_is_a_response_format_error(mode, method, body, what):
    server = ScriptedServer().reply(200, raw=b"null" if body is None else None, body=body)
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        harness.call(method, pool_id="21")
    assert_clean(caught.value, f"GET {PATH}", "HTTP 200", what, "body starts:")
    assert caught.value.status_code == 200 and caught.value.method == "GET" and caught.value.path == PATH


def test_an_item_the_model_cannot_read_is_a_response_format_error_in_both_paths(mode):
    bad = {
        "items": [{"id": "a1", "status": "SUBMITTED"}, {"id": "a2", "created": "yesterday"}],
        "has_more": False,
    }
    server = ScriptedServer().reply(200, bad)
    seen: list = []
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError) as caught:
        drain(harness, "get_assignments", seen)
    assert ids_of(seen) == ["a1"]  # built lazily: the good item came first
    assert_clean(caught.value, f"GET {PATH}", "item 1 is not a valid Assignment", "yesterday")
    assert isinstance(caught.value, TolokaError)

    server = ScriptedServer().reply(200, bad)
    with (
        Harness(mode, server) as harness,
        pytest.raises(ResponseFormatError, match="item 1 is not a valid Assignment"),
    ):
        harness.call("find_assignments", pool_id="21")
