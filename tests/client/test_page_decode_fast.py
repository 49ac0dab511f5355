"""List pages decoded by msgspec straight into the page's shape, against the ``json`` path they replace.

``core.parse_page`` first tries ``core.decode_page`` (msgspec, typed envelope) and falls back to ``json.loads`` +
``pagination.parse_page``. Every case here runs both ways (the fast decoder switched off with ``monkeypatch``)
and compares everything observable: the items with the exact type of every value, ``has_more``, the models built
from the items, and for a refused body the exception class and text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from test_client_models import EXAMPLES
from test_models_fast import BAD_JSON_BODIES, JSON_BODIES, snapshot, variant

from toloka_provider.client import TolokaClient, core, models, pagination
from toloka_provider.client.protocol import Response

pytest.importorskip("msgspec")

PATH = "/api/v1/assignments"


def page_outcome(body: bytes, listing: pagination.Listing, model: type[models.BaseModel] | None) -> Any:
    """What ``core.parse_page`` gives for ``body`` (and the models built from its items), or what it raises."""
    response = Response(200, body)
    try:
        items, has_more = core.parse_page(response, listing, PATH)
        built = None
        if model is not None:
            built = [
                ("built", snapshot(item), json.dumps(item.to_json_dict(), sort_keys=True))
                for item in core._lazy_models(model, items, response, PATH, ())
            ]
            # Read the nested lists too: they are built on first read.
            built.append(snapshot(list(core._lazy_models(model, items, response, PATH, ()))))
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("page", snapshot(items), has_more, type(has_more), built)


def lazy_outcome(body: bytes, listing: pagination.Listing, model: type[models.BaseModel]) -> Any:
    """What the typed listings make of ``body``: ``parse_lazy_page`` when it takes the page, else ``parse_page``;
    the models built one at a time (nested lists read), or what is raised on the way."""
    response = Response(200, body)
    try:
        page = core.parse_lazy_page(response, listing)
        if page is None:
            items, has_more = core.parse_page(response, listing, PATH)
            cursors = items
        else:
            cursors, items, has_more = page
        cursor_values = [item.get(listing.cursor) for item in cursors]
        built = [
            ("built", snapshot(item), json.dumps(item.to_json_dict(), sort_keys=True))
            for item in core._lazy_models(model, items, response, PATH, ())
        ]
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("models", cursor_values, has_more, type(has_more), built)


def both_ways(monkeypatch, body: bytes, listing=pagination.ASSIGNMENTS, model=None) -> tuple[Any, Any]:
    fast = page_outcome(body, listing, model)
    if model is not None:
        fast_models = lazy_outcome(body, listing, model)
    with monkeypatch.context() as patch:
        patch.setattr(core, "_fast_page", None)
        patch.setattr(core, "_raw_page", None)
        slow = page_outcome(body, listing, model)
        if model is not None:
            assert core.parse_lazy_page(Response(200, body), listing) is None
            assert fast_models == lazy_outcome(body, listing, model)
    return fast, slow


def assert_same(monkeypatch, body: bytes, listing=pagination.ASSIGNMENTS, model=None) -> Any:
    fast, slow = both_ways(monkeypatch, body, listing, model)
    assert fast == slow
    return fast


def test_the_fast_decoder_is_used_and_the_json_path_is_not(monkeypatch):
    calls = []
    monkeypatch.setattr(core, "decode_json", lambda *args, **kwargs: calls.append(args))
    body = b'{"items":[{"id":"1"},{"id":"2"}],"has_more":true}'
    assert core.parse_page(Response(200, body), pagination.ASSIGNMENTS, PATH) == ([{"id": "1"}, {"id": "2"}], True)
    assert calls == []


def test_without_msgspec_the_json_path_decodes(monkeypatch):
    monkeypatch.setattr(core, "_fast_page", None)
    assert core.decode_page(b'{"items":[]}') is None
    body = b'{"items":[{"id":"1"}]}'
    assert core.parse_page(Response(200, body), pagination.ASSIGNMENTS, PATH) == ([{"id": "1"}], False)


def test_a_typed_page_is_split_without_decoding_its_items():
    body = b'{"has_more":true,"items":[{"id":"1","x":[1,{"y":2}]},{"x":3},{"id":null,"id":"3"}],"content":[]}'
    cursors, items, has_more = core.parse_lazy_page(Response(200, body), pagination.ASSIGNMENTS)
    assert cursors == [{"id": "1"}, {"id": None}, {"id": "3"}]
    assert [bytes(item) for item in items] == [b'{"id":"1","x":[1,{"y":2}]}', b'{"x":3}', b'{"id":null,"id":"3"}']
    assert has_more is True
    cursors, items, _ = core.parse_lazy_page(Response(200, body), pagination.AGGREGATED_SOLUTIONS)
    assert cursors == [{"task_id": None}] * 3


@pytest.mark.parametrize(
    "body",
    [b'{"items":[{"id":"1"},[]]}', b'{"items":[{"id":"1","a":"\xff"}]}', "{\"items\":[{\"id\":\"\u00e9\"}]}".encode(),
     rb'{"items":[{"id":"1","a":"\ud800"}]}', b'{"items":[{"id":"\xed\xa0\x80"}]}', b'{"items":[{"id":"1"}],"has_more":1}'],
    ids=repr,
)
def test_pages_the_lazy_split_leaves_to_the_json_path(body):
    expected_none = body != "{\"items\":[{\"id\":\"\u00e9\"}]}".encode()
    assert (core.parse_lazy_page(Response(200, body), pagination.ASSIGNMENTS) is None) is expected_none


def test_an_item_msgspec_refuses_is_read_by_json_when_reached():
    body = b'{"items":[{"id":"1","reward":1e400},{"id":"2","x":NaN}]}'
    assert core.parse_lazy_page(Response(200, body), pagination.ASSIGNMENTS) is None  # NaN: the whole page
    body = b'{"items":[{"id":"1","input_values":{"big":1e400}}]}'
    _, items, _ = core.parse_lazy_page(Response(200, body), pagination.ASSIGNMENTS)
    (task,) = core._lazy_models(models.Task, items, Response(200, body), PATH, ())
    assert task.input_values == {"big": float("inf")}


def test_the_collector_is_back_on_after_a_page_and_stays_off_when_it_was_off():
    import gc

    assert gc.isenabled()
    core.decode_page(b'{"items":[{"a":[1]}]}')
    assert gc.isenabled()
    core.decode_page(b'{"items": NaN}')  # refused
    assert gc.isenabled()
    gc.disable()
    try:
        core.decode_page(b'{"items":[]}')
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---- hostile bodies ---------------------------------------------------------------------------------------------

ITEM_VALUES = [body.decode("latin-1") for body in JSON_BODIES + BAD_JSON_BODIES if len(body) < 10_000]
ENVELOPES = [
    b'{"items":[],"has_more":false}',
    b'{"items":[]}',
    b'{"items":[],"has_more":null}',
    b'{"items":null,"content":[{"id":"c"}]}',
    b'{"content":[{"id":"c"}],"has_more":true}',
    b'{"items":[{"id":"1"}],"content":[{"id":"c"}]}',
    b'{"items":[{"id":"1"}],"items":[{"id":"2"}]}',  # the last of duplicate keys
    b'{"items":5,"items":[{"id":"2"}]}',
    b'{"items":[{"id":"2"}],"items":5}',
    b'{"has_more":true,"has_more":false,"items":[]}',
    b'{"items":[{"id":"1","id":"2"}]}',
    b'{"items":[],"has_more":1}',
    b'{"items":[],"has_more":"false"}',
    b'{"items":[],"has_more":0.0}',
    b'{"items":{}}',
    b'{"items":[[]]}',
    b'{"items":[{"id":"1"}, null]}',
    b'{"items":[{"id":"1"}, "x"]}',
    b'{"items":[{}], "other": [1, {"x": NaN}]}',
    b'{"items":[{"x": NaN}]}',
    b'{"items":[{"x": Infinity, "y": -Infinity}]}',
    b'{"items":[{"x": 1e400}]}',
    b'{"items":[{"x": 123456789012345678901234567890, "y": -9223372036854775809, "z": 18446744073709551616}]}',
    b'{"items":[{"x": -0, "y": -0.0, "z": 1E2, "w": 0.1}]}',
    b'{"items":[{"x": "\\ud800"}]}',
    b'{"items":[{"x": "\\u0000\\ud83d\\ude00"}]}',
    b'\xef\xbb\xbf{"items":[]}',
    '{"items":[{"x":"é"}]}'.encode("utf-16"),
    b'{"items":[]}x',
    b'{"items":[',
    b"[]",
    b"null",
    b'"items"',
    b"",
    b"  \n",
    b'{"items":[' + b'{"a":[' * 60 + b"]}" * 60 + b"]}",
    b'{"items":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
]


@pytest.mark.parametrize("body", ENVELOPES, ids=lambda body: repr(body[:32]))
def test_hostile_envelopes_give_the_same(monkeypatch, body):
    for listing in (pagination.ASSIGNMENTS, pagination.APP_ITEMS, pagination.AGGREGATED_SOLUTIONS):
        assert_same(monkeypatch, body, listing)
        assert_same(monkeypatch, body, listing, models.Assignment)


@pytest.mark.parametrize("value", ITEM_VALUES, ids=lambda value: repr(value[:24]))
def test_hostile_values_inside_items_give_the_same(monkeypatch, value):
    for body in (
        b'{"items":[{"id":"1","input_values":%s}],"has_more":true}' % value.encode("latin-1"),
        b'{"items":[%s],"has_more":false}' % value.encode("latin-1"),
        b'{"items":[{"id":"1"}],"has_more":%s}' % value.encode("latin-1"),
    ):
        assert_same(monkeypatch, body)
        assert_same(monkeypatch, body, model=models.Assignment)
        assert_same(monkeypatch, body, model=models.Task)


def test_an_empty_body_is_the_same_error(monkeypatch):
    fast = assert_same(monkeypatch, b"")
    assert fast[0] == "raised" and "empty body" in fast[2]


# ---- models built from the items -----------------------------------------------------------------------------

ASSIGNMENT_ITEMS = [
    variant(),
    variant(id="a2", reward=0.1000000000000000055511151231257827, status="NEW_STATUS_FROM_SERVER"),
    variant(id="a3", reward=123456789012345678901234567890, created="2024-01-02T03:04:05.123456+03:00"),
    variant(id="a4", brand_new_field={"nested": [1, 2.5, None]}, tasks=[{"id": "t", "extra": 1}]),
    variant(id=5, pool_id=7, user_id=9),
    variant(id="a6", reward="0.30"),
    variant(id="a7", reward=True),
    variant(id="a8", created="not a date"),
    variant(id="a9", tasks=[{"id": "t", "created": "bad"}]),
    variant(id="a10", solutions=[{"output_values": None}, {"output_values": {"x": 1e-320}}]),
]


@pytest.mark.parametrize("index", range(len(ASSIGNMENT_ITEMS)))
def test_assignments_build_the_same(monkeypatch, index):
    body = json.dumps({"items": [ASSIGNMENT_ITEMS[index]], "has_more": False}).encode()
    assert_same(monkeypatch, body, pagination.ASSIGNMENTS, models.Assignment)


def test_a_page_of_every_example_builds_the_same(monkeypatch):
    for model_class, examples in EXAMPLES.items():
        payloads = examples if isinstance(examples, list) else [examples]
        body = json.dumps({"items": [dict(payload) for payload in payloads], "has_more": False}).encode()
        assert_same(monkeypatch, body, pagination.ASSIGNMENTS, model_class)


# ---- the emulator's pages ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_emulators_pages_decode_the_same(monkeypatch, toloka_emulator_factory):
    emu = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    headers = {"Authorization": f"OAuth {emu.token}"}
    project = requests.post(f"{emu.url}/api/v1/projects", headers=headers, timeout=30, json={
        "public_name": "Decode", "public_description": "decode",
        "task_spec": {"input_spec": {"image": {"type": "url"}}, "output_spec": {"result": {"type": "string"}}},
        "assignments_issuing_type": "AUTOMATED",
    }).json()
    pool = requests.post(f"{emu.url}/api/v1/pools", headers=headers, timeout=30, json={
        "project_id": project["id"], "private_name": "decode", "may_contain_adult_content": False,
        "reward_per_assignment": 0.01, "assignment_max_duration_seconds": 600, "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": False, "auto_accept_period_day": 7,
        "defaults": {"default_overlap_for_new_task_suites": 3},
    }).json()
    response = requests.post(f"{emu.url}/_emulator/bulk-load", headers=headers, timeout=60,
                             json={"pool_id": pool["id"], "count": 450, "status": "SUBMITTED"})
    response.raise_for_status()
    bodies = []
    params = {"pool_id": pool["id"], "status": "SUBMITTED", "sort": "id", "limit": 200}
    while True:
        answer = requests.get(f"{emu.url}{PATH}", headers=headers, params=params, timeout=30)
        answer.raise_for_status()
        bodies.append(answer.content)
        page = json.loads(answer.content)
        if not page["has_more"]:
            break
        params["id_gt"] = page["items"][-1]["id"]
    assert len(bodies) == 3
    for body in bodies:
        fast = assert_same(monkeypatch, body, pagination.ASSIGNMENTS, models.Assignment)
        assert fast[0] == "page"

    def fetch_all() -> tuple[list, list]:
        with TolokaClient(emu.token, url=emu.url) as client:
            raw = [item for page in client.get_assignments_raw(pool_id=pool["id"], batch_size=200) for item in page]
            typed = [snapshot(item) for item in client.get_assignments(pool_id=pool["id"], batch_size=200)]
            return raw, typed

    fast_raw, fast_typed = fetch_all()
    with monkeypatch.context() as patch:
        patch.setattr(core, "_fast_page", None)
        slow_raw, slow_typed = fetch_all()
    assert len(fast_raw) == 450
    assert snapshot(fast_raw) == snapshot(slow_raw)
    assert fast_typed == slow_typed
