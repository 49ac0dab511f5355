"""Message threads over HTTP (``requests``): compose to chosen workers, to everyone, or by filter; replies;
folders and unread; and the messages reaching the workers' records (``/_emulator/workers/{id}``)."""

from __future__ import annotations

import pytest
from emulator_http import Api
from emulator_pools import call, control, make_pool, workers

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration


@pytest.fixture
def api():
    with TolokaEmulator(seed=7, crowd=6, speed=5000.0) as emulator:
        yield Api(emulator)


def _compose(api, **fields):
    body = {"topic": {"EN": "Hello"}, "text": {"EN": "Thank you"}, "answerable": True, **fields}
    return call(api, "POST", "/message-threads/compose", 201, json=body)


def _inbox(api, user_id):
    return control(api, "GET", f"/_emulator/workers/{user_id}")["messages"]


def test_compose_direct_reaches_the_recipients(api):
    crowd = workers(api)
    thread = _compose(api, recipients_select_type="DIRECT", recipients_ids=crowd[:2])
    assert thread["folders"] == ["OUTBOX"] and thread["answerable"] is True
    assert thread["compose_details"] == {"recipients_select_type": "DIRECT", "recipients_ids": crowd[:2]}
    assert [(p["id"], p["role"]) for p in thread["interlocutors"]] == [
        ("emulated-requester", "REQUESTER"),
        (crowd[0], "USER"),
        (crowd[1], "USER"),
    ]
    assert [(m["text"], m["from"]["role"]) for m in thread["messages"]] == [
        ({"EN": "Thank you"}, "REQUESTER")
    ]
    for user_id in crowd[:2]:
        assert [(m["thread_id"], m["topic"], m["text"]) for m in _inbox(api, user_id)] == [
            (thread["id"], {"EN": "Hello"}, {"EN": "Thank you"})
        ]
    assert _inbox(api, crowd[2]) == []

    replied = call(
        api, "POST", f"/message-threads/{thread['id']}/reply", 201, json={"text": {"EN": "One more"}}
    )
    assert [m["text"]["EN"] for m in replied["messages"]] == ["Thank you", "One more"]
    assert [m["text"]["EN"] for m in _inbox(api, crowd[0])] == ["Thank you", "One more"]


def test_compose_all_and_filter(api):
    crowd = workers(api)
    _compose(api, recipients_select_type="ALL", answerable=False)
    assert all(len(_inbox(api, user_id)) == 1 for user_id in crowd)
    bilingual = [u for u in crowd if len(call(api, "GET", f"/user-metadata/{u}")["languages"]) > 1]
    assert 0 < len(bilingual) < len(crowd)
    only_en = {
        "and": [
            {"category": "profile", "key": "languages", "operator": "NOT_IN", "value": lang}
            for lang in ("ES", "FR", "DE", "HI", "PT", "ID")
        ]
    }
    thread = _compose(api, recipients_select_type="FILTER", recipients_filter=only_en)
    assert thread["compose_details"] == {"recipients_select_type": "FILTER", "recipients_filter": only_en}
    assert {u for u in crowd if len(_inbox(api, u)) == 2} == set(crowd) - set(bilingual)


def test_worker_message_lands_in_inbox_unread_and_folders_change(api):
    crowd = workers(api)
    pool_id = make_pool(api, real=1, overlap=1, open_pool=False)
    sent = _compose(api, recipients_select_type="DIRECT", recipients_ids=[crowd[0]])
    incoming = control(
        api,
        "POST",
        f"/_emulator/workers/{crowd[1]}/messages",
        201,
        json={"text": "Why rejected?", "topic": "Question", "pool_id": pool_id},
    )
    assert incoming["folders"] == ["INBOX", "UNREAD"] and incoming["meta"]["pool_id"] == pool_id
    assert incoming["messages"][0]["from"] == {"id": crowd[1], "role": "USER", "myself": False}

    def listed(**params):
        return [
            t["id"] for t in call(api, "GET", "/message-threads", params={"sort": "id", **params})["items"]
        ]

    assert listed() == [sent["id"], incoming["id"]]
    assert listed(folder="INBOX,UNREAD") == [incoming["id"]]
    assert listed(folder="OUTBOX") == [sent["id"]]
    assert listed(folder_ne="UNREAD") == [sent["id"]]
    read = call(
        api,
        "POST",
        f"/message-threads/{incoming['id']}/remove-from-folders",
        201,
        json={"folders": ["UNREAD"]},
    )
    assert read["folders"] == ["INBOX"]
    assert listed(folder="UNREAD") == []
    marked = call(
        api,
        "POST",
        f"/message-threads/{incoming['id']}/add-to-folders",
        201,
        json={"folders": ["IMPORTANT", "INBOX"]},
    )
    assert marked["folders"] == ["INBOX", "IMPORTANT"]
    assert listed(folder="IMPORTANT") == [incoming["id"]]
    page = call(api, "GET", "/message-threads", params={"sort": "id", "limit": 1})
    assert [t["id"] for t in page["items"]] == [sent["id"]] and page["has_more"] is True
    assert listed(id_gt=sent["id"]) == [incoming["id"]]

    # The requester answers; the worker writes again in the same thread: unread again.
    call(api, "POST", f"/message-threads/{incoming['id']}/reply", 201, json={"text": {"EN": "Because"}})
    assert [m["text"]["EN"] for m in _inbox(api, crowd[1])] == ["Because"]
    again = control(
        api,
        "POST",
        f"/_emulator/workers/{crowd[1]}/messages",
        201,
        json={"text": "Thanks", "thread_id": incoming["id"]},
    )
    assert again["id"] == incoming["id"] and "UNREAD" in again["folders"]
    assert [m["from"]["role"] for m in again["messages"]] == ["USER", "REQUESTER", "USER"]


def test_compose_validation_and_missing_threads(api):
    error = call(api, "POST", "/message-threads/compose", 400, json={"recipients_select_type": "DIRECT"})
    assert {k: v["code"] for k, v in error["payload"].items()} == {
        "topic": "VALUE_REQUIRED",
        "text": "VALUE_REQUIRED",
        "recipients_ids": "VALUE_REQUIRED",
    }
    error = call(
        api,
        "POST",
        "/message-threads/compose",
        400,
        json={
            "topic": {"EN": "t"},
            "text": {"EN": "x"},
            "recipients_select_type": "DIRECT",
            "recipients_ids": [f"u{i}" for i in range(101)],
        },
    )
    assert error["payload"]["recipients_ids"]["code"] == "ARRAY_SIZE_GREATER_THAN_MAX"
    error = call(
        api,
        "POST",
        "/message-threads/compose",
        400,
        json={"topic": {"EN": "t"}, "text": {"EN": "x"}, "recipients_select_type": "SOME"},
    )
    assert error["payload"]["recipients_select_type"]["code"] == "UNKNOWN_ENUM_VALUE"
    error = call(
        api,
        "POST",
        "/message-threads/compose",
        400,
        json={"topic": {"EN": "t"}, "text": {"EN": "x"}, "recipients_select_type": "FILTER"},
    )
    assert error["payload"]["recipients_filter"]["code"] == "VALUE_REQUIRED"
    assert (
        call(api, "POST", "/message-threads/nope/reply", 404, json={"text": {"EN": "x"}})["code"]
        == "DOES_NOT_EXIST"
    )
    thread = _compose(api, recipients_select_type="ALL")
    error = call(
        api, "POST", f"/message-threads/{thread['id']}/add-to-folders", 400, json={"folders": ["TRASH"]}
    )
    assert error["payload"]["folders"]["code"] == "UNKNOWN_ENUM_VALUE"
    assert (
        call(api, "POST", f"/message-threads/{thread['id']}/reply", 400, json={"text": "plain"})["payload"][
            "text"
        ]["code"]
        == "OBJECT_EXPECTED"
    )
