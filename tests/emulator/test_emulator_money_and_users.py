"""Money beyond the balance and users nobody has, over plain HTTP.

* A bonus (single, sync batch, async batch) the balance cannot cover is 409 ``NOT_ENOUGH_BALANCE`` with
  ``payload {required, balance}``: nothing of the request is created, no operation, the balance unchanged.
  Accepting an assignment the balance cannot pay is refused the same way. The balance never goes negative.
* A bonus, user skill, user restriction or direct message to a user id the emulator does not know (not a crowd
  worker, no assignment) is 400 ``VALIDATION_ERROR`` with ``ENTITY_DOES_NOT_EXIST`` on the field naming the
  user; a message "from" such a user on the control endpoint is 404 ``DOES_NOT_EXIST``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from emulator_http import Api
from emulator_pools import call, control, make_pool, workers

from toloka_provider.emulator import TolokaEmulator

pytestmark = pytest.mark.integration

NOBODY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def api():
    with TolokaEmulator(seed=3, crowd=4, balance="10", operation_delay=0.0) as emulator:
        yield Api(emulator)


def bonus(user_id: str, amount) -> dict:
    return {"user_id": user_id, "amount": amount, "public_title": {"EN": "Thanks"}, "public_message": {"EN": "Good"}}


def balance(api: Api) -> Decimal:
    return Decimal(str(call(api, "GET", "/requester")["balance"]))


def bonuses(api: Api) -> list[dict]:
    return call(api, "GET", "/user-bonuses", params={"limit": 300})["items"]


def test_a_bonus_beyond_the_balance_is_refused_and_nothing_is_paid(api):
    worker = workers(api)[0]
    error = call(api, "POST", "/user-bonuses", 409, json=bonus(worker, 15))
    assert error["code"] == "NOT_ENOUGH_BALANCE" and error["payload"] == {"required": "15", "balance": "10"}
    assert bonuses(api) == [] and balance(api) == Decimal("10")


def test_a_sync_batch_beyond_the_balance_creates_none_of_its_bonuses(api):
    first, second, third = workers(api)[:3]
    batch = [bonus(first, 4), bonus(second, 4), bonus(third, 4)]
    for params in ({}, {"skip_invalid_items": "true"}):
        error = call(api, "POST", "/user-bonuses", 409, json=batch, params=params)
        assert error["code"] == "NOT_ENOUGH_BALANCE" and error["payload"] == {"required": "12", "balance": "10"}
    assert bonuses(api) == [] and balance(api) == Decimal("10")
    assert "user_bonus" not in api.emulator.counters()["created"]


def test_an_async_batch_beyond_the_balance_makes_no_operation_and_the_id_stays_free(api):
    first, second, third = workers(api)[:3]
    params = {"async_mode": "true", "operation_id": "6a1c3f0e-0000-4000-8000-000000000001"}
    error = call(api, "POST", "/user-bonuses", 409, json=[bonus(first, 4), bonus(second, 4), bonus(third, 4)], params=params)
    assert error["code"] == "NOT_ENOUGH_BALANCE"
    assert call(api, "GET", f"/operations/{params['operation_id']}", 404)["code"] == "DOES_NOT_EXIST"
    assert bonuses(api) == [] and balance(api) == Decimal("10")
    # A smaller batch under the same operation id goes through, and pays exactly its total.
    op = call(api, "POST", "/user-bonuses", 202, json=[bonus(first, 4), bonus(second, 4)], params=params)
    assert api.wait_operation(op["id"])["status"] == "SUCCESS"
    assert sorted(b["user_id"] for b in bonuses(api)) == sorted([first, second])
    assert balance(api) == Decimal("2")


def test_only_the_valid_items_count_and_the_balance_may_reach_zero_but_not_below(api):
    first, second = workers(api)[:2]
    batch = [bonus(first, 5), {"user_id": second}, bonus(second, 5)]  # the middle one has no amount
    result = call(api, "POST", "/user-bonuses", 201, json=batch, params={"skip_invalid_items": "true"})
    assert set(result["items"]) == {"0", "2"} and set(result["validation_errors"]) == {"1"}
    assert balance(api) == Decimal("0")
    error = call(api, "POST", "/user-bonuses", 409, json=bonus(first, 0.01))
    assert error["payload"] == {"required": "0.01", "balance": "0"}
    assert len(bonuses(api)) == 2 and balance(api) == Decimal("0")


def test_accepting_an_assignment_the_balance_cannot_pay_is_refused(api):
    pool_id = make_pool(api, real=1, open_pool=False, reward_per_assignment=0.05)
    api.emulator.bulk_load_assignments(pool_id, 1)
    [assignment] = call(api, "GET", "/assignments", params={"pool_id": pool_id})["items"]
    call(api, "POST", "/user-bonuses", 201, json=bonus(workers(api)[0], 10))  # spends it all
    error = call(api, "PATCH", f"/assignments/{assignment['id']}", 409, json={"status": "ACCEPTED"})
    assert error["code"] == "NOT_ENOUGH_BALANCE" and error["payload"] == {"required": "0.05", "balance": "0"}
    assert call(api, "GET", f"/assignments/{assignment['id']}")["status"] == "SUBMITTED"
    counters = api.emulator.counters()
    assert counters["assignments_accepted"] == 0 and counters["balance"] == 0.0


# ---------------------------------------------------------------------------------------- unknown users


@pytest.mark.parametrize("user_id", [NOBODY, "None", "['a', 'b']", "bulk-worker-0"])
def test_a_bonus_to_a_user_nobody_has_is_a_validation_error_on_user_id(api, user_id):
    error = call(api, "POST", "/user-bonuses", 400, json=bonus(user_id, 1))
    assert error["code"] == "VALIDATION_ERROR"
    assert error["payload"]["user_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    assert user_id in error["payload"]["user_id"]["message"]
    assert bonuses(api) == [] and balance(api) == Decimal("10")


def test_unknown_users_in_a_batch_are_item_errors(api):
    worker = workers(api)[0]
    result = call(api, "POST", "/user-bonuses", 201, json=[bonus(worker, 1), bonus(NOBODY, 1)], params={"skip_invalid_items": "true"})
    assert set(result["items"]) == {"0"} and result["validation_errors"]["1"]["user_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    error = call(api, "POST", "/user-bonuses", 400, json=[bonus(worker, 1), bonus(NOBODY, 1)])
    assert error["payload"]["1"]["user_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    op = call(api, "POST", "/user-bonuses", 202, json=[bonus(worker, 1), bonus(NOBODY, 1)], params={"async_mode": "true"})
    assert api.wait_operation(op["id"])["status"] == "FAIL"
    assert [b["user_id"] for b in bonuses(api)] == [worker] and balance(api) == Decimal("9")


def test_a_bulk_loaded_worker_is_a_known_user(api):
    pool_id = make_pool(api, real=1, open_pool=False)
    api.emulator.bulk_load_assignments(pool_id, 2)
    call(api, "POST", "/user-bonuses", 201, json=bonus("bulk-worker-1", 1))
    call(api, "POST", "/user-bonuses", 400, json=bonus("bulk-worker-2", 1))  # only two were loaded


def test_skills_and_restrictions_for_unknown_users_are_refused(api):
    skill_id = call(api, "POST", "/skills", 201, json={"name": "accuracy"})["id"]
    error = call(api, "PUT", "/user-skills", 400, json={"skill_id": skill_id, "user_id": NOBODY, "value": 50})
    assert error["payload"] == {
        "user_id": {
            "code": "ENTITY_DOES_NOT_EXIST",
            "message": f"no user with id {NOBODY!r}: not a worker of this emulator's crowd",
        }
    }
    error = call(api, "PUT", "/user-restrictions", 400, json={"scope": "ALL_PROJECTS", "user_id": "None"})
    assert error["payload"]["user_id"]["code"] == "ENTITY_DOES_NOT_EXIST"
    assert call(api, "GET", "/user-skills")["items"] == [] and call(api, "GET", "/user-restrictions")["items"] == []


def test_a_direct_message_to_an_unknown_user_sends_nothing(api):
    worker = workers(api)[0]
    body = {
        "topic": {"EN": "Hello"},
        "text": {"EN": "New tasks"},
        "recipients_select_type": "DIRECT",
        "recipients_ids": [worker, NOBODY],
    }
    error = call(api, "POST", "/message-threads/compose", 400, json=body)
    assert error["payload"]["recipients_ids"]["code"] == "ENTITY_DOES_NOT_EXIST"
    assert NOBODY in error["payload"]["recipients_ids"]["message"]
    assert call(api, "GET", "/message-threads")["items"] == []
    assert control(api, "GET", f"/_emulator/workers/{worker}")["messages"] == []
    call(api, "POST", "/message-threads/compose", 201, json=dict(body, recipients_ids=[worker]))
    assert len(control(api, "GET", f"/_emulator/workers/{worker}")["messages"]) == 1


def test_a_message_from_an_unknown_worker_is_404(api):
    error = control(api, "POST", f"/_emulator/workers/{NOBODY}/messages", 404, json={"text": "hi"})
    assert error["code"] == "DOES_NOT_EXIST"
    assert call(api, "GET", "/message-threads")["items"] == []
