"""Skills, user skills, user restrictions and user metadata over HTTP (``requests``), and what they do to the
crowd: a banned worker gets no task suites in the ban's scope until it expires (emulator clock) or is
lifted; a pool filter on a skill value decides which workers answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from emulator_http import Api
from emulator_pools import (
    assignments,
    call,
    control,
    make_pool,
    make_project,
    wait_closed,
    wait_settled,
    workers,
)

from toloka_provider.emulator import TolokaEmulator
from toloka_provider.emulator.state import format_datetime, parse_datetime

pytestmark = pytest.mark.integration


@pytest.fixture
def api():
    with TolokaEmulator(seed=7, crowd=6, speed=5000.0, spammers=0.0) as emulator:
        yield Api(emulator)


def _now(api: Api):
    return parse_datetime(control(api, "GET", "/_emulator/health")["now"])


# ------------------------------------------------------------------------------------------------ skills


def test_skill_create_get_update_keeps_read_only_fields(api):
    skill = call(
        api, "POST", "/skills", 201, json={"name": "accuracy", "public_name": {"EN": "Accuracy"}, "extra": 1}
    )
    assert skill["name"] == "accuracy" and skill["hidden"] is True and skill["global"] is False
    assert skill["owner"]["myself"] is True and skill["extra"] == 1 and len(skill["id"]) == 9
    updated = call(
        api, "PUT", f"/skills/{skill['id']}", json={"name": "accuracy v2", "id": "forged", "hidden": False}
    )
    assert (updated["id"], updated["created"], updated["name"], updated["hidden"]) == (
        skill["id"],
        skill["created"],
        "accuracy v2",
        False,
    )
    assert "extra" not in updated
    assert call(api, "GET", f"/skills/{skill['id']}") == updated


def test_skill_validation_and_missing(api):
    error = call(api, "POST", "/skills", 400, json={"public_name": "x"})
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["payload"]) == {"name", "public_name"}
    assert error["payload"]["name"]["code"] == "VALUE_REQUIRED"
    assert call(api, "GET", "/skills/999999999", 404)["code"] == "DOES_NOT_EXIST"
    assert call(api, "PUT", "/skills/999999999", 404, json={"name": "x"})["code"] == "DOES_NOT_EXIST"


def test_skill_list_filters_sort_and_keyset(api):
    ids = [call(api, "POST", "/skills", 201, json={"name": f"skill {i % 2}"})["id"] for i in range(5)]
    page = call(api, "GET", "/skills", params={"sort": "id", "limit": 2})
    assert [s["id"] for s in page["items"]] == ids[:2] and page["has_more"] is True
    page = call(api, "GET", "/skills", params={"sort": "id", "limit": 2, "id_gt": ids[1]})
    assert [s["id"] for s in page["items"]] == ids[2:4] and page["has_more"] is True
    page = call(api, "GET", "/skills", params={"sort": "id", "limit": 2, "id_gt": ids[3]})
    assert [s["id"] for s in page["items"]] == ids[4:] and page["has_more"] is False
    assert [s["id"] for s in call(api, "GET", "/skills", params={"name": "skill 1"})["items"]] == [
        ids[1],
        ids[3],
    ]
    assert [
        s["id"] for s in call(api, "GET", "/skills", params={"sort": "-id", "global": "false"})["items"]
    ] == ids[::-1]
    assert call(api, "GET", "/skills", params={"global": "true"})["items"] == []
    assert (
        call(api, "GET", "/skills", 400, params={"sort": "name"})["payload"]["sort"]["code"]
        == "UNKNOWN_ENUM_VALUE"
    )


# ------------------------------------------------------------------------------------------- user skills


def test_user_skill_upsert_get_list_delete(api):
    skill_id = call(api, "POST", "/skills", 201, json={"name": "accuracy"})["id"]
    worker = workers(api)[0]
    first = call(api, "PUT", "/user-skills", json={"skill_id": skill_id, "user_id": worker, "value": 66.6})
    assert (first["skill_id"], first["user_id"], first["value"], first["exact_value"]) == (
        skill_id,
        worker,
        67,
        66.6,
    )
    assert first["created"] == first["modified"]
    second = call(
        api,
        "PUT",
        "/user-skills",
        json={"skill_id": skill_id, "user_id": worker, "value": 80, "reason": "golden"},
    )
    assert second["id"] == first["id"] and (second["value"], second["exact_value"]) == (80, 80.0)
    assert second["modified"] >= first["modified"] and second["created"] == first["created"]
    assert call(api, "GET", f"/user-skills/{first['id']}") == second
    other = call(
        api, "PUT", "/user-skills", json={"skill_id": skill_id, "user_id": workers(api)[1], "value": 0}
    )
    listed = call(api, "GET", "/user-skills", params={"skill_id": skill_id, "sort": "id"})["items"]
    assert [s["id"] for s in listed] == [first["id"], other["id"]]
    assert [s["id"] for s in call(api, "GET", "/user-skills", params={"user_id": worker})["items"]] == [
        first["id"]
    ]
    assert control(api, "GET", f"/_emulator/workers/{worker}")["skills"] == {skill_id: 80.0}
    assert call(api, "DELETE", f"/user-skills/{first['id']}", 204) is None
    assert call(api, "GET", f"/user-skills/{first['id']}", 404)["code"] == "DOES_NOT_EXIST"
    assert call(api, "DELETE", f"/user-skills/{first['id']}", 404)["code"] == "DOES_NOT_EXIST"
    assert control(api, "GET", f"/_emulator/workers/{worker}")["skills"] == {}


def test_user_skill_validation(api):
    u = workers(api)[0]
    skill_id = call(api, "POST", "/skills", 201, json={"name": "accuracy"})["id"]
    error = call(api, "PUT", "/user-skills", 400, json={"skill_id": skill_id, "user_id": u, "value": 101})
    assert error["payload"] == {
        "value": {"code": "VALUE_OUT_OF_BOUNDS", "message": "value must be between 0 and 100, got 101"}
    }
    error = call(api, "PUT", "/user-skills", 400, json={"skill_id": "nope", "user_id": u, "value": True})
    assert error["payload"]["skill_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    assert error["payload"]["value"]["code"] == "FLOAT_EXPECTED"
    error = call(api, "PUT", "/user-skills", 400, json={})
    assert {key: value["code"] for key, value in error["payload"].items()} == {
        "skill_id": "VALUE_REQUIRED",
        "user_id": "VALUE_REQUIRED",
        "value": "VALUE_REQUIRED",
    }


# ------------------------------------------------------------------------------------- user restrictions


def test_restriction_scopes_upsert_list_and_delete(api):
    project_id = make_project(api)
    pool_id = make_pool(api, project_id, open_pool=False)
    worker = workers(api)[0]
    system = call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "SYSTEM", "user_id": worker, "private_comment": "spam"},
    )
    assert {k: system[k] for k in ("scope", "user_id", "private_comment")} == {
        "scope": "SYSTEM",
        "user_id": worker,
        "private_comment": "spam",
    }
    everywhere = call(api, "PUT", "/user-restrictions", json={"scope": "ALL_PROJECTS", "user_id": worker})
    project = call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "PROJECT", "user_id": worker, "project_id": project_id},
    )
    pool = call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "POOL", "user_id": worker, "pool_id": pool_id, "will_expire": "2099-01-01T00:00:00Z"},
    )
    assert (project["project_id"], pool["pool_id"], pool["will_expire"]) == (
        project_id,
        pool_id,
        "2099-01-01T00:00:00.000000",
    )
    again = call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "POOL", "user_id": worker, "pool_id": pool_id, "private_comment": "again"},
    )
    assert again["id"] == pool["id"] and again["private_comment"] == "again" and "will_expire" not in again
    ids = [system["id"], everywhere["id"], project["id"], pool["id"]]
    assert len(set(ids)) == 4
    assert [
        r["id"]
        for r in call(api, "GET", "/user-restrictions", params={"user_id": worker, "sort": "id"})["items"]
    ] == ids
    assert [
        r["id"] for r in call(api, "GET", "/user-restrictions", params={"scope": "PROJECT"})["items"]
    ] == [project["id"]]
    assert [
        r["id"] for r in call(api, "GET", "/user-restrictions", params={"pool_id": pool_id})["items"]
    ] == [pool["id"]]
    page = call(api, "GET", "/user-restrictions", params={"sort": "id", "limit": 3, "id_gt": ids[0]})
    assert [r["id"] for r in page["items"]] == ids[1:] and page["has_more"] is False
    assert call(api, "GET", f"/user-restrictions/{project['id']}") == project
    assert [r["id"] for r in control(api, "GET", f"/_emulator/workers/{worker}")["restrictions"]] == ids
    assert call(api, "DELETE", f"/user-restrictions/{system['id']}", 204) is None
    assert call(api, "GET", f"/user-restrictions/{system['id']}", 404)["code"] == "DOES_NOT_EXIST"


def test_restriction_validation(api):
    u = workers(api)[0]
    error = call(api, "PUT", "/user-restrictions", 400, json={"scope": "POOL", "user_id": u})
    assert error["payload"] == {
        "pool_id": {"code": "VALUE_REQUIRED", "message": "pool_id is required for scope POOL"}
    }
    error = call(
        api, "PUT", "/user-restrictions", 400, json={"scope": "PROJECT", "user_id": u, "project_id": "1"}
    )
    assert error["payload"]["project_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    error = call(
        api,
        "PUT",
        "/user-restrictions",
        400,
        json={"scope": "GALAXY", "will_expire": "soon", "private_comment": "x" * 500},
    )
    assert {key: value["code"] for key, value in error["payload"].items()} == {
        "scope": "UNKNOWN_ENUM_VALUE",
        "user_id": "VALUE_REQUIRED",
        "will_expire": "INVALID_DATE_TIME_SYNTAX",
        "private_comment": "STRING_LENGTH_GREATER_THAN_MAX",
    }


def test_user_metadata_of_a_crowd_worker(api):
    worker = workers(api)[2]
    metadata = call(api, "GET", f"/user-metadata/{worker}")
    assert (
        metadata["id"] == worker
        and "EN" in metadata["languages"]
        and isinstance(metadata["adult_allowed"], bool)
    )
    assert metadata["attributes"]["country_by_phone"] == metadata["country"]
    assert call(api, "GET", f"/user-metadata/{worker}") == metadata  # fixed for the seed
    assert call(api, "GET", "/user-metadata/nobody", 404)["code"] == "DOES_NOT_EXIST"


# ----------------------------------------------------------------------------------------- the crowd


def test_pool_ban_keeps_the_worker_out_of_that_pool_only(api):
    banned = workers(api)[0]
    project_id = make_project(api)
    pool_id = make_pool(api, project_id, real=12, overlap=3, open_pool=False)
    other_pool = make_pool(api, project_id, real=12, overlap=6, open_pool=False)
    call(api, "PUT", "/user-restrictions", json={"scope": "POOL", "user_id": banned, "pool_id": pool_id})
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    call(api, "POST", f"/pools/{other_pool}/open", 202)
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    assert wait_closed(api, other_pool)["last_close_reason"] == "COMPLETED"
    in_pool = assignments(api, pool_id)
    assert len(in_pool) == 36 and banned not in {a["user_id"] for a in in_pool}
    assert sum(a["user_id"] == banned for a in assignments(api, other_pool)) == 12


@pytest.mark.parametrize("scope", ["PROJECT", "ALL_PROJECTS", "SYSTEM"])
def test_wider_bans(api, scope):
    banned = workers(api)[1]
    project_id, other_project = make_project(api), make_project(api)
    pool_id = make_pool(api, project_id, real=6, overlap=2, open_pool=False)
    elsewhere = make_pool(api, other_project, real=6, overlap=6, open_pool=False)
    body = {"scope": scope, "user_id": banned}
    if scope == "PROJECT":
        body["project_id"] = project_id
    call(api, "PUT", "/user-restrictions", json=body)
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    call(api, "POST", f"/pools/{elsewhere}/open", 202)
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    assert banned not in {a["user_id"] for a in assignments(api, pool_id)}
    if scope == "PROJECT":
        assert wait_closed(api, elsewhere)["last_close_reason"] == "COMPLETED"
        assert sum(a["user_id"] == banned for a in assignments(api, elsewhere)) == 6
    else:
        # Overlap 6 needs all six workers: with one banned everywhere the pool cannot complete.
        quiet = wait_settled(api, elsewhere, 30)
        assert banned not in {a["user_id"] for a in quiet}
        assert call(api, "GET", f"/pools/{elsewhere}")["status"] == "OPEN"


def test_ban_ends_when_it_expires_on_the_emulator_clock(api):
    banned = workers(api)[3]
    pool_id = make_pool(api, real=5, overlap=6, open_pool=False)
    until = format_datetime(_now(api) + timedelta(hours=1))
    call(
        api,
        "PUT",
        "/user-restrictions",
        json={"scope": "ALL_PROJECTS", "user_id": banned, "will_expire": until},
    )
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    quiet = wait_settled(api, pool_id, 25)
    assert banned not in {a["user_id"] for a in quiet}
    assert call(api, "GET", f"/pools/{pool_id}")["status"] == "OPEN"
    control(api, "POST", "/_emulator/clock/advance", json={"seconds": 3601})
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    late = [a for a in assignments(api, pool_id) if a["user_id"] == banned]
    assert len(late) == 5 and all(a["created"] > until for a in late)
    assert control(api, "GET", f"/_emulator/workers/{banned}")["restrictions"] == []


def test_ban_ends_when_it_is_deleted(api):
    banned = workers(api)[4]
    pool_id = make_pool(api, real=4, overlap=6, open_pool=False)
    restriction = call(
        api, "PUT", "/user-restrictions", json={"scope": "POOL", "user_id": banned, "pool_id": pool_id}
    )
    call(api, "POST", f"/pools/{pool_id}/open", 202)
    wait_settled(api, pool_id, 20)
    call(api, "DELETE", f"/user-restrictions/{restriction['id']}", 204)
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    assert sum(a["user_id"] == banned for a in assignments(api, pool_id)) == 4


def test_skill_filter_decides_who_works(api):
    crowd = workers(api)
    skill_id = call(api, "POST", "/skills", 201, json={"name": "accuracy"})["id"]
    for user_id, value in zip(crowd[:3], (90, 80, 79.9), strict=True):
        call(api, "PUT", "/user-skills", json={"skill_id": skill_id, "user_id": user_id, "value": value})
    skill_filter = {"and": [{"or": [{"category": "skill", "key": skill_id, "operator": "GTE", "value": 80}]}]}
    pool_id = make_pool(api, real=8, overlap=2, filter=skill_filter)
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    assert {a["user_id"] for a in assignments(api, pool_id)} == set(crowd[:2])

    # Without the skill the filter fails; raising a value lets that worker in.
    unfiltered = make_pool(api, real=4, overlap=3, filter=skill_filter, open_pool=True)
    wait_settled(api, unfiltered, 8)
    call(api, "PUT", "/user-skills", json={"skill_id": skill_id, "user_id": crowd[5], "value": 100})
    assert wait_closed(api, unfiltered)["last_close_reason"] == "COMPLETED"
    assert {a["user_id"] for a in assignments(api, unfiltered)} == {crowd[0], crowd[1], crowd[5]}


def test_profile_filter_and_no_skill_condition(api):
    crowd = workers(api)
    english_only = [u for u in crowd if call(api, "GET", f"/user-metadata/{u}")["languages"] == ["EN"]]
    assert 0 < len(english_only) < len(crowd)
    skill_id = call(api, "POST", "/skills", 201, json={"name": "banned-ish"})["id"]
    call(api, "PUT", "/user-skills", json={"skill_id": skill_id, "user_id": english_only[0], "value": 1})
    # Speaks only English (no second language among the emulator's), and has no value of the skill.
    others = ("ES", "FR", "DE", "HI", "PT", "ID")
    conditions = [
        {"category": "profile", "key": "languages", "operator": "NOT_IN", "value": lang} for lang in others
    ]
    conditions.append({"category": "skill", "key": skill_id, "operator": "EQ", "value": None})
    pool_id = make_pool(api, real=3, overlap=1, filter={"and": conditions})
    assert wait_closed(api, pool_id)["last_close_reason"] == "COMPLETED"
    done_by = {a["user_id"] for a in assignments(api, pool_id)}
    assert done_by and done_by <= set(english_only[1:])


def test_worker_record_shows_bonuses(api):
    worker = workers(api)[0]
    bonus = {
        "user_id": worker,
        "amount": 0.5,
        "public_title": {"EN": "Thanks"},
        "public_message": {"EN": "Good"},
    }
    call(api, "POST", "/user-bonuses", 201, json=bonus)
    call(api, "POST", "/user-bonuses", 201, json={**bonus, "amount": 0.25})
    record = control(api, "GET", f"/_emulator/workers/{worker}")
    assert record["user_id"] == worker and record["crowd"] is True and record["bonus_total"] == 0.75
    assert [b["amount"] for b in record["bonuses"]] == [0.5, 0.25]
    assert record["bonuses"][0]["public_title"] == {"EN": "Thanks"}
    assert control(api, "GET", "/_emulator/workers/nobody", 404)["code"] == "DOES_NOT_EXIST"


def test_filter_semantics_without_http():
    from toloka_provider.emulator import quality
    from toloka_provider.emulator.state import EmulatorOptions, State

    state = State(EmulatorOptions(seed=7, crowd=6, spammers=0.0))
    user_id = next(iter(quality.worker_profiles(state)))
    metadata = quality.worker_profiles(state)[user_id]["metadata"]
    holds = lambda node: quality.filter_holds(state, user_id, node)  # noqa: E731
    country = {"category": "profile", "key": "country", "operator": "EQ", "value": metadata["country"]}
    other_country = {**country, "value": "ZZ"}
    assert holds(None) and holds({}) and holds(country) and not holds(other_country)
    assert holds({"or": [other_country, country]}) and not holds({"and": [other_country, country]})
    assert holds({"and": [{"or": [country]}, {"or": [other_country, country]}]})
    assert holds({"category": "profile", "key": "languages", "operator": "IN", "value": "EN"})
    assert not holds({"category": "profile", "key": "languages", "operator": "NOT_IN", "value": "EN"})
    client = {
        "category": "computed",
        "key": "client_type",
        "operator": "EQ",
        "value": metadata["attributes"]["client_type"],
    }
    assert holds(client)
    # An attribute the emulator does not model: only NE / NOT_IN hold.
    assert not holds({"category": "profile", "key": "education", "operator": "EQ", "value": "HIGH"})
    assert holds({"category": "profile", "key": "education", "operator": "NE", "value": "HIGH"})
    # No skill value: EQ null holds, comparisons do not.
    skill = {"category": "skill", "key": "1", "operator": "GTE", "value": 0}
    assert not holds(skill) and not holds({**skill, "operator": "LT", "value": 100})
    assert holds({**skill, "operator": "EQ", "value": None})
    assert not holds({**skill, "operator": "NE", "value": None})
