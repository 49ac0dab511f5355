"""``encoding.dumps`` and ``FrozenJSONList``: the same bytes as encoding plain lists, read like a list."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator, encoding
from toloka_provider.emulator.encoding import FrozenJSONList, dumps

TASKS = [
    {"id": "t1", "input_values": {"image": "https://x/1.jpg", "n": 1.5}},
    {"id": "t2", "input_values": {}},
]


def plain(body) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_frozen_list_reads_like_the_list():
    frozen = FrozenJSONList(TASKS)
    assert len(frozen) == 2 and bool(frozen) and not FrozenJSONList([])
    assert list(frozen) == TASKS and frozen == TASKS and frozen == tuple(TASKS) and frozen != TASKS[:1]
    assert frozen[0] == TASKS[0] and frozen[-1]["id"] == "t2" and frozen[:1] == TASKS[:1]
    assert [task["id"] for task in frozen] == ["t1", "t2"]
    assert frozen == FrozenJSONList(TASKS)
    assert repr(frozen).startswith("FrozenJSONList([{'id': 't1'")
    for copied in (copy.copy(frozen), copy.deepcopy(frozen), pickle.loads(pickle.dumps(frozen))):
        assert type(copied) is FrozenJSONList and copied == TASKS
    # What a reader gets is a fresh decode: changing it changes nothing stored.
    frozen[0]["id"] = "changed"
    assert frozen[0]["id"] == "t1"
    with pytest.raises(TypeError):
        hash(frozen)


@pytest.mark.parametrize(
    "body",
    [
        {"tasks": FrozenJSONList(TASKS)},
        {
            "items": [
                {"id": str(i), "tasks": FrozenJSONList(TASKS), "solutions": FrozenJSONList([])}
                for i in range(50)
            ]
        },
        [FrozenJSONList([1, "é", None]), {"nested": [FrozenJSONList([[1], {"a": "\u2603"}])]}],
        {"plain": [1, 2], "decimal": Decimal("0.25"), "set": {3}},
    ],
)
def test_dumps_writes_the_same_json_as_plain_lists(body):
    def unfreeze(value):
        if isinstance(value, FrozenJSONList):
            return list(value)
        if isinstance(value, dict):
            return {key: unfreeze(item) for key, item in value.items()}
        if isinstance(value, list):
            return [unfreeze(item) for item in value]
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, set):
            return list(value)
        return value

    assert dumps(body) == plain(unfreeze(body))


def test_a_client_string_equal_to_the_marker_is_not_mistaken_for_a_list():
    body = {"text": encoding._MARKER_VALUE, "tasks": FrozenJSONList([1, 2])}
    assert json.loads(dumps(body)) == {"text": encoding._MARKER_VALUE, "tasks": [1, 2]}


def test_the_shared_encoder_outside_dumps_decodes_the_list():
    assert encoding._ENCODER.encode({"tasks": FrozenJSONList([1])}) == '{"tasks":[1]}'


@pytest.mark.integration
def test_bulk_loaded_assignments_are_served_as_plain_json():
    with TolokaEmulator(crowd=0) as emu:
        state = emu.state
        project = state.create("projects", {"public_name": "p"})
        pool = state.create("pools", {"project_id": project["id"], "reward_per_assignment": 0.01})
        emu.bulk_load_assignments(pool["id"], 7)
        stored = list(state.assignments.values())
        assert all(
            type(a["tasks"]) is FrozenJSONList and type(a["solutions"]) is FrozenJSONList for a in stored
        )
        response = requests.get(
            f"{emu.url}/api/v1/assignments",
            params={"pool_id": pool["id"], "sort": "id", "limit": 100},
            headers={"Authorization": f"ApiKey {emu.token}"},
            timeout=10,
        )
        assert response.status_code == 200
        expected = [dict(a, tasks=list(a["tasks"]), solutions=list(a["solutions"])) for a in stored]
        assert response.json() == {"items": expected, "has_more": False}
        assert len(response.json()["items"][0]["tasks"]) == 5


@pytest.mark.integration
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"id_gt": "MIDDLE"},
        {"id_gte": "MIDDLE"},
        {"id_gt": "", "id_gte": "MIDDLE"},
        {"id_gt": "MIDDLE", "id_gte": "LATER"},
        {"id_gt": "MIDDLE", "id_lt": "LATER", "status": "ACCEPTED"},
        {"status": "SUBMITTED,ACCEPTED", "id_gte": "LATER"},
    ],
)
def test_the_pool_scan_returns_what_a_plain_filter_does(query):
    # The pool filter and the id bound the scan starts from get no per-object predicate: same answers.
    with TolokaEmulator(crowd=0) as emu:
        state = emu.state
        project = state.create("projects", {"public_name": "p"})
        pools = [
            state.create("pools", {"project_id": project["id"], "reward_per_assignment": 0.01})
            for _ in range(2)
        ]
        for index in range(6):
            emu.bulk_load_assignments(
                pools[index % 2]["id"], 5, status="SUBMITTED" if index % 3 else "ACCEPTED"
            )
        pool_id = pools[0]["id"]
        ids = sorted(a["id"] for a in state.assignments.values() if a["pool_id"] == pool_id)
        names = {"MIDDLE": ids[4], "LATER": ids[10]}
        params = {name: names.get(value, value) for name, value in query.items()}

        def wanted(a):
            checks = {
                "id_gt": lambda v: a["id"] > v,
                "id_gte": lambda v: a["id"] >= v,
                "id_lt": lambda v: a["id"] < v,
                "status": lambda v: a["status"] in v.split(","),
            }
            return a["pool_id"] == pool_id and all(checks[name](value) for name, value in params.items())

        expected = sorted(a["id"] for a in state.assignments.values() if wanted(a))
        response = requests.get(
            f"{emu.url}/api/v1/assignments",
            params={"pool_id": pool_id, "sort": "id", "limit": 1000, **params},
            headers={"Authorization": f"ApiKey {emu.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert [a["id"] for a in response.json()["items"]] == expected
