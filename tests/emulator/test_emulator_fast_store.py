"""The lighter emulator store: compact bulk-loaded assignments and records that cache their JSON.

What must hold: a listing page built from cached / formatted bytes is byte for byte the page the dict-based
store encoded (same fields, values, order), and after every way an assignment changes (accept, reject,
re-accept, a test or the crowd writing to it, more bulk loads) the next page shows the new values.
"""

from __future__ import annotations

import copy
import json
import pickle
import time

import pytest
import requests

from tests.emulator.emulator_http import Api
from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.listing import list_page_wire, select
from toloka_provider.emulator.records import AssignmentTable, CompactAssignment, Record, dumps
from toloka_provider.emulator.router import Request

PROJECT = {
    "public_name": "p",
    "public_description": "d",
    "task_spec": {
        "input_spec": {"image": {"type": "url"}},
        "output_spec": {"result": {"type": "string", "allowed_values": ["cat", "dog", "bird"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.02, balance="1000")


@pytest.fixture
def api(emu):
    return Api(emu, scheme="OAuth")


def new_pool(api, **fields) -> str:
    project = api.post("/projects", json=PROJECT).json()
    body = {
        "project_id": project["id"],
        "private_name": "pool",
        "reward_per_assignment": 0.05,
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 3},
        **fields,
    }
    return api.post("/pools", json=body).json()["id"]


def reference_bulk(state, pool_id: str, count: int, status: str, first: dict) -> list[dict]:
    """The dicts the one-by-one bulk load made (the code before the compact store), from the counters it
    started at: the expected content of every compact assignment."""
    from toloka_provider.emulator.state import format_id

    labels = ("cat", "dog", "bird")
    reward = state.pools[pool_id].get("reward_per_assignment", 0.01)
    now = first["created"]
    counters = dict(first["counters"])
    result = []
    tasks: list[dict] = []
    suite_id = ""
    for number in range(count):
        if number % 3 == 0:
            counters["task_suites"] += 1
            suite_id = format_id("task_suites", counters["task_suites"])
            tasks = []
            for position in range(5):
                counters["tasks"] += 1
                tasks.append(
                    {
                        "id": format_id("tasks", counters["tasks"]),
                        "input_values": {"image": f"https://example.com/images/{number}-{position}.jpg"},
                    }
                )
        counters["assignments"] += 1
        assignment = {
            "id": format_id("assignments", counters["assignments"]),
            "task_suite_id": suite_id,
            "pool_id": pool_id,
            "user_id": f"bulk-worker-{number % 100}",
            "status": status,
            "reward": reward,
            "tasks": tasks,
            "solutions": [{"output_values": {"result": labels[(number % 3 + p) % 3]}} for p in range(5)],
            "mixed": True,
            "automerged": False,
            "created": now,
        }
        if status != "ACTIVE":
            assignment["submitted"] = now
        if status in ("ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED"):
            assignment[status.lower()] = now
        result.append(assignment)
    return result


def counters_of(state) -> dict:
    return {kind: state._counters_by_kind[kind] for kind in ("task_suites", "tasks", "assignments")}


def request_for(state, **query) -> Request:
    return Request(
        "GET", "/api/v1/assignments", {}, {k: [str(v)] for k, v in query.items()}, None, b"", {}, None, state
    )


def assert_page_matches_dicts(state, **query) -> dict:
    """The fast page (cached / formatted bytes) equals encoding shallow copies of the stored objects."""
    from toloka_provider.emulator.api_v1 import ASSIGNMENTS

    with state.lock:
        _, raw = list_page_wire(request_for(state, **query), ASSIGNMENTS)
        items, has_more = select(request_for(state, **query), ASSIGNMENTS)
    assert raw.content_type == "application/json"
    assert raw.content == dumps({"items": items, "has_more": has_more})
    return json.loads(raw.content)


# ------------------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("status", ["ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED"])
def test_compact_bulk_assignments_equal_the_dicts_the_old_bulk_load_made(emu, api, status):
    pool_id = new_pool(api)
    state = emu.state
    earlier = emu.bulk_load_assignments(pool_id, 2)  # an earlier batch: the counters do not start at 0
    first = {"counters": counters_of(state), "created": None}
    loaded = emu.bulk_load_assignments(pool_id, 8, status=status)  # 8: the last suite has 2 assignments
    ids = state.pool_index("assignments", pool_id)[2:]
    first["created"] = dict.__getitem__(state.assignments, ids[0])["created"]
    expected = reference_bulk(state, pool_id, 8, status, first)
    assert (
        [a["id"] for a in expected] == ids and loaded["first_id"] == ids[0] and loaded["last_id"] == ids[-1]
    )
    for want in expected:
        compact = state.assignments.peek(want["id"])
        assert type(compact) is CompactAssignment
        assert dict(compact) == want and list(compact) == list(want) and len(compact) == len(want)
        assert compact.wire() == dumps(want)  # byte for byte, field order included
        assert compact.get("accepted") == want.get("accepted") and ("rejected" in compact) == (
            "rejected" in want
        )
    # The page over HTTP is the same bytes as encoding the dicts.
    response = api.get("/assignments", params={"pool_id": pool_id, "sort": "id", "id_gt": earlier["last_id"]})
    assert response.content == dumps({"items": expected, "has_more": False})
    assert counters_of(state) == {
        "task_suites": first["counters"]["task_suites"] + 3,
        "tasks": first["counters"]["tasks"] + 15,
        "assignments": first["counters"]["assignments"] + 8,
    }


def test_compact_assignment_pool_id_and_reward_are_encoded_like_json(emu, api):
    pool_id = new_pool(api, reward_per_assignment=0.1 + 0.2)  # a float whose repr has 17 digits
    emu.bulk_load_assignments(pool_id, 4)
    body = assert_page_matches_dicts(emu.state, pool_id=pool_id, sort="id", limit=10)
    assert [item["reward"] for item in body["items"]] == [0.1 + 0.2] * 4


def test_every_filter_and_sort_gives_the_same_page_as_the_dicts(emu, api):
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 40)
    emu.bulk_load_assignments(pool_id, 7, status="ACCEPTED")
    state = emu.state
    ids = state.pool_index("assignments", pool_id)
    task_id = state.assignments.peek(ids[4])["tasks"][2]["id"]
    api.patch(f"/assignments/{ids[5]}", json={"status": "REJECTED", "public_comment": "no"})
    for query in (
        {"pool_id": pool_id, "sort": "id", "limit": 7},
        {"pool_id": pool_id, "sort": "id", "limit": 7, "id_gt": ids[10]},
        {"pool_id": pool_id, "status": "SUBMITTED,REJECTED", "limit": 100},
        {"pool_id": pool_id, "status": "REJECTED"},
        {"pool_id": pool_id, "user_id": "bulk-worker-3"},
        {"pool_id": pool_id, "sort": "-id", "limit": 5},
        {"pool_id": pool_id, "sort": "-rejected,id", "limit": 5},
        {"task_id": task_id},
        {"task_suite_id": state.assignments.peek(ids[7])["task_suite_id"]},
        {"created_gte": "2000-01-01T00:00:00", "limit": 3},
        {"limit": 1000},
    ):
        assert_page_matches_dicts(state, **query)
    # The task filter looks into the compact suites' text: exactly the assignments whose tasks hold the id.
    holders = [i for i in ids if any(t["id"] == task_id for t in dict(state.assignments.peek(i))["tasks"])]
    found = assert_page_matches_dicts(state, task_id=task_id)["items"]
    assert [a["id"] for a in found] == holders and len(holders) == 3
    assert assert_page_matches_dicts(state, task_id=task_id[:-1])["items"] == []


def test_a_million_assignments_are_held_compactly(emu, api):
    """The compact form: one small object per assignment plus its id, and per suite of 3 its id and its
    tasks' JSON text, not a dict tree (measured with sys.getsizeof, not RSS, so the test does not depend on
    the allocator; the dicts it replaces took about 1.6 KB per assignment)."""
    import sys

    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 3000)
    state = emu.state
    ids = state.pool_index("assignments", pool_id)
    batch = state.assignments.peek(ids[0]).batch
    per_suite = sum(map(sys.getsizeof, batch.suite_ids)) + sum(map(sys.getsizeof, batch.suite_tasks))
    each = sum(sys.getsizeof(state.assignments.peek(i)) + sys.getsizeof(i) for i in ids)
    per_assignment = (each + per_suite) / len(ids)
    assert per_assignment < 500, per_assignment


# ------------------------------------------------------------------------------- dict-like surface


def test_the_table_still_looks_like_a_dict_of_dicts(emu, api):
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 5)
    table = emu.state.assignments
    assert isinstance(table, dict) and isinstance(table, AssignmentTable) and len(table) == 5
    every = json.loads(json.dumps(table))  # what a test dumping the store sees
    assert list(every) == list(table) and all(isinstance(a, dict) for a in table.values())
    assert [a["id"] for a in table.values()] == list(table) == [key for key, _ in table.items()]
    first_id = next(iter(table))
    assert every[first_id] == dict(table.peek(first_id))
    # values() hands out loose records: reading them stores nothing ...
    assert all(type(value) is CompactAssignment for value in dict.values(table))
    # ... changing one stores it in place of the compact value.
    loose = next(iter(table.values()))
    loose["note"] = "x"
    assert table.peek(first_id) is loose and table[first_id]["note"] == "x"
    # table[id] / get(id) turn the value into a record for good (the caller may change it).
    second_id = list(table)[1]
    record = table.get(second_id)
    assert type(record) is Record and table[second_id] is record and table.get("nope") is None
    # copies and pickles are plain dicts without the cache
    assert type(copy.copy(record)) is dict and type(copy.deepcopy(record)) is dict
    assert type(pickle.loads(pickle.dumps(record))) is dict and pickle.loads(pickle.dumps(table)) == dict(
        table.items()
    )
    assert repr(table.peek(list(table)[2])).startswith("{'id': ")


def test_record_cache_drops_on_every_dict_method():
    record = Record({"id": "a", "status": "SUBMITTED", "n": 1})
    mutations = [
        lambda r: r.__setitem__("status", "ACCEPTED"),
        lambda r: r.__delitem__("n"),
        lambda r: r.pop("n"),
        lambda r: r.popitem(),
        lambda r: r.setdefault("new", 2),
        lambda r: r.update(status="REJECTED"),
        lambda r: r.__ior__({"status": "X"}),
        lambda r: r.clear(),
    ]
    for mutate in mutations:
        fresh = Record(record)
        assert fresh.wire() == dumps(dict(fresh))  # cached now
        mutate(fresh)
        assert fresh.wire() == dumps(dict(fresh)), mutate


# ------------------------------------------------------------------------------ cache invalidation


def page(api, pool_id: str, **params) -> dict:
    response = api.get("/assignments", params={"pool_id": pool_id, "sort": "id", "limit": 1000, **params})
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def test_accept_reject_and_reaccept_show_on_the_next_page(emu, api):
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 6)
    ids = list(page(api, pool_id))
    assert (
        api.patch(f"/assignments/{ids[0]}", json={"status": "ACCEPTED", "public_comment": "fine"}).status_code
        == 200
    )
    assert (
        api.patch(f"/assignments/{ids[1]}", json={"status": "REJECTED", "public_comment": "bad"}).status_code
        == 200
    )
    after = page(api, pool_id)
    assert (
        after[ids[0]]["status"] == "ACCEPTED"
        and after[ids[0]]["public_comment"] == "fine"
        and "accepted" in after[ids[0]]
    )
    assert after[ids[1]]["status"] == "REJECTED" and after[ids[1]]["public_comment"] == "bad"
    assert [after[i]["status"] for i in ids[2:]] == ["SUBMITTED"] * 4
    # A record's bytes are cached now; the next change must still show.
    assert (
        api.patch(
            f"/assignments/{ids[1]}", json={"status": "ACCEPTED", "public_comment": "on second look"}
        ).status_code
        == 200
    )
    again = page(api, pool_id)
    assert again[ids[1]]["status"] == "ACCEPTED" and again[ids[1]]["public_comment"] == "on second look"
    assert set(page(api, pool_id, status="SUBMITTED")) == set(ids[2:])
    assert (
        assert_page_matches_dicts(emu.state, pool_id=pool_id, limit=100)["items"][1]["status"] == "ACCEPTED"
    )


def test_changes_made_in_the_store_show_on_the_next_page(emu, api):
    """Tests and the emulator's own code change stored assignments directly (the crowd's submission writes
    ``solutions``, ``status``, ``submitted``): records drop their cached bytes on every such write."""
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 3)
    ids = list(page(api, pool_id))
    state = emu.state
    with state.lock:
        state.create("assignments", {"pool_id": pool_id, "status": "ACTIVE", "tasks": [], "user_id": "w"})
    new_id = state.pool_index("assignments", pool_id)[-1]
    assert page(api, pool_id)[new_id]["status"] == "ACTIVE"  # cached now
    with state.lock:
        submitted = state.assignments[new_id]
        submitted["solutions"] = [{"output_values": {"result": "dog"}}]
        submitted["status"] = "SUBMITTED"
        submitted["submitted"] = "2030-01-01T00:00:00.000000"
        state.assignments[ids[0]]["status"] = "SKIPPED"  # a compact one, turned into a record
        state.assignments[ids[1]].update(status="EXPIRED", expired="2030-01-02T00:00:00.000000")
        del state.assignments[ids[2]]["mixed"]
    after = page(api, pool_id)
    assert after[new_id]["status"] == "SUBMITTED" and after[new_id]["solutions"] == [
        {"output_values": {"result": "dog"}}
    ]
    assert after[ids[0]]["status"] == "SKIPPED"
    assert after[ids[1]]["status"] == "EXPIRED" and after[ids[1]]["expired"] == "2030-01-02T00:00:00.000000"
    assert "mixed" not in after[ids[2]]
    # Another bulk load after pages were served: the new ones follow in id order, the old ones are unchanged.
    emu.bulk_load_assignments(pool_id, 4, status="ACCEPTED")
    later = page(api, pool_id)
    assert list(later)[:4] == list(after) and len(later) == 8
    assert [a["status"] for a in list(later.values())[4:]] == ["ACCEPTED"] * 4
    assert_page_matches_dicts(state, pool_id=pool_id, limit=100)


def test_the_crowd_submitting_and_auto_accepting_shows_on_the_next_page(toloka_emulator_factory):
    """The simulated crowd creates ACTIVE assignments, then submits them (solutions, status, submitted) and
    the pool auto-accepts: every page compared while it works equals encoding the stored dicts."""
    emulator = toloka_emulator_factory(crowd=5, speed=400.0, seed=3)
    api = Api(emulator, scheme="OAuth")
    pool_id = new_pool(
        api,
        auto_accept_solutions=True,
        mixer_config={"real_tasks_count": 2, "golden_tasks_count": 0, "training_tasks_count": 0},
    )
    tasks = [
        {"pool_id": pool_id, "input_values": {"image": f"https://e.com/{i}.jpg"}, "overlap": 2}
        for i in range(12)
    ]
    assert api.post("/tasks", json=tasks, params={"open_pool": "true"}).status_code == 201
    state = emulator.state
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = assert_page_matches_dicts(state, pool_id=pool_id, limit=1000)
        seen.update(item["status"] for item in body["items"])
        # Over HTTP too (the cached bytes of each record, taken under the lock).
        over_http = page(api, pool_id)
        assert all(item["status"] in ("ACTIVE", "SUBMITTED", "ACCEPTED") for item in over_http.values())
        if (
            body["items"]
            and all(item["status"] == "ACCEPTED" for item in body["items"])
            and len(body["items"]) >= 12
        ):
            break
        time.sleep(0.005)
    assert "ACCEPTED" in seen, seen
    final = page(api, pool_id)
    assert all(
        item["status"] == "ACCEPTED" and item["solutions"] and "accepted" in item for item in final.values()
    )


def test_pool_html_page_counts_without_copying_compact_assignments(emu, api):
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 9)
    response = requests.get(f"{emu.url}/requester/project/x/pool/{pool_id}", timeout=10)
    assert response.status_code == 200 and "assignments SUBMITTED" in response.text
    assert all(type(value) is CompactAssignment for value in dict.values(emu.state.assignments))


def test_compact_values_survive_copying_the_table(emu, api):
    pool_id = new_pool(api)
    emu.bulk_load_assignments(pool_id, 3)
    table = emu.state.assignments
    copied = table.copy()
    assert isinstance(copied, AssignmentTable) and dict(copied.items()) == dict(table.items())


def test_direct_emulator_without_crowd_uses_the_same_encoder():
    with TolokaEmulator(crowd=0) as emulator:
        state = emulator.state
        with state.lock:
            state.pools["p"] = {"id": "p", "status": "CLOSED", "reward_per_assignment": 1}
        emulator.bulk_load_assignments("p", 2)
        body = assert_page_matches_dicts(state, pool_id="p")
        assert [item["reward"] for item in body["items"]] == [1, 1]
