"""The wait-side spend cap: a pool's wait (sensor, trigger, waiting open operator) reads the pool's spend and,
at its cap, closes the pool and fails saying what was spent. The figure is what the emulator charges: the
rewards of accepted assignments, plus the submitted ones' (charged when they are accepted)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from airflow.sdk.exceptions import AirflowFailException

from toloka_provider import waiting
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.sensors.pool import TolokaPoolSensor
from toloka_provider.triggers.pool import TolokaPoolTrigger

# ------------------------------------------------------------------------------------------------ arguments


def test_a_wait_without_a_cap_serializes_as_before_and_with_one_carries_it():
    assert waiting.PoolWait("12").kwargs() == {"pool_id": "12", "success_reasons": ["COMPLETED"], "kind": "pool"}
    capped = waiting.PoolWait("12", max_spend=0.1)
    assert capped.kwargs() == {"pool_id": "12", "success_reasons": ["COMPLETED"], "kind": "pool", "max_spend": "0.1"}
    path, kwargs = TolokaPoolTrigger("12", max_spend="2.50").serialize()
    assert kwargs["max_spend"] == "2.50"
    assert TolokaPoolTrigger(**kwargs).serialize() == (path, kwargs)
    assert "max_spend" not in TolokaPoolTrigger("12").serialize()[1]


@pytest.mark.parametrize("value", ["-1", "NaN", "ten", True, [1]])
def test_a_bad_cap_is_refused_by_the_sensor_naming_it(value):
    with pytest.raises(TolokaInputError, match="max_spend must be"):
        TolokaPoolSensor(task_id="s", pool_id="1", max_spend=value)


def test_a_training_has_no_spend_cap():
    with pytest.raises(waiting.TolokaArgumentError, match="max_spend applies to pools, not to a training"):
        waiting.PoolWait("1", kind="training", max_spend="1")


# ------------------------------------------------------------------------------------------------ emulator


def _balance(client) -> Decimal:
    return Decimal(str(client.get_requester().balance))


def _accept_submitted(client, pool_id) -> int:
    submitted = list(client.get_assignments(pool_id=pool_id, status="SUBMITTED"))
    for assignment in submitted:
        client.accept_assignment(assignment.id, "ok")
    return len(submitted)


@pytest.mark.integration
def test_the_sensor_closes_the_pool_at_its_cap_and_the_figure_is_what_the_balance_pays(
    spend_emu, spend_client, make_pool, context_factory
):
    pool_id = make_pool()
    spend_client.open_pool(pool_id)
    balance_before = _balance(spend_client)
    spend_emu.bulk_load_assignments(pool_id, 4)  # 4 submitted, 0.03 each
    _accept_submitted(spend_client, pool_id)  # charged: 0.12
    spend_emu.bulk_load_assignments(pool_id, 5)  # 5 more awaiting a decision: 0.15

    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, max_spend="0.30", poke_interval=0.1)
    assert sensor.poke(context_factory()).is_done is False  # 0.27 < 0.30: still open
    assert spend_client.get_pool(pool_id).status == "OPEN"

    spend_emu.bulk_load_assignments(pool_id, 1)  # 0.30: the cap
    with pytest.raises(AirflowFailException) as caught:
        sensor.poke(context_factory())
    assert str(caught.value) == (
        f"Toloka pool {pool_id} reached its spend cap and was closed: spent 0.30 USD >= max_spend=0.30 USD "
        "(0.12 USD charged for accepted assignments + 6 submitted * reward 0.03 USD). "
        "Raise max_spend and reopen the pool to go on."
    )
    pool = spend_client.get_pool(pool_id)
    assert (pool.status, pool.last_close_reason) == ("CLOSED", "MANUAL")
    assert _accept_submitted(spend_client, pool_id) == 6
    assert balance_before - _balance(spend_client) == Decimal("0.30")


@pytest.mark.integration
def test_a_pool_that_completes_within_its_cap_succeeds_with_its_spend(spend_emu, spend_client, make_pool, context_factory):
    pool_id = make_pool(tasks=2)
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 2, status="ACCEPTED")
    spend_client.close_pool(pool_id)
    sensor = TolokaPoolSensor(task_id="wait", pool_id=pool_id, max_spend="1", success_reasons=["MANUAL"])
    result = sensor.poke(context_factory())
    assert result.is_done and result.xcom_value["spend"] == "0.06" and result.xcom_value["max_spend"] == "1"


@pytest.mark.integration
def test_the_trigger_closes_the_pool_at_its_cap(spend_emu, spend_client, make_pool):
    pool_id = make_pool()
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 3)
    trigger = TolokaPoolTrigger(pool_id, max_spend="0.09", policy={"interval": 0.1})

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "failure"
    assert payload["spend"] == "0.09" and payload["pool_status"] == "CLOSED"
    assert "reached its spend cap and was closed: spent 0.09 USD >= max_spend=0.09 USD" in payload["message"]
    assert spend_client.get_pool(pool_id).status == "CLOSED"


@pytest.mark.integration
def test_the_waiting_open_operator_caps_this_openings_spend(spend_emu, spend_client, make_pool, context_factory):
    pool_id = make_pool(tasks=10)  # estimate 10 * 0.03 = 0.30
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 2, status="ACCEPTED")  # an earlier round cost 0.06 (not charged here)
    spend_client.close_pool(pool_id)

    operator = TolokaOpenPoolOperator(
        task_id="open", pool_id=pool_id, max_spend="0.30", wait_for_completion=True, deferrable=False,
        poll_interval=0.1, timeout=30,
    )
    # The work runs over its estimate while the task waits: 11 assignments where 10 were expected.
    operator._sleep = lambda _seconds: spend_emu.bulk_load_assignments(pool_id, 11)
    with pytest.raises(AirflowFailException, match=(
        rf"Toloka pool {pool_id} reached its spend cap and was closed: spent 0.39 USD >= max_spend=0.36 USD "
        r"\(0.06 USD charged for accepted assignments \+ 11 submitted \* reward 0.03 USD\)"
    )):
        operator.execute(context_factory())
    assert spend_client.get_pool(pool_id).status == "CLOSED"


def test_a_deferred_sensor_hands_its_cap_to_the_trigger():
    sensor = TolokaPoolSensor(task_id="wait", pool_id="12", max_spend=Decimal("1.50"), poke_interval=5)
    assert sensor.build_trigger(None).serialize()[1]["max_spend"] == "1.50"
    assert "max_spend" not in TolokaPoolSensor(task_id="w", pool_id="12").build_trigger(None).serialize()[1]


@pytest.mark.integration
def test_the_progress_line_shows_the_spend_against_the_cap(spend_emu, spend_client, make_pool):
    pool_id = make_pool()
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 2)
    wait = waiting.PoolWait(pool_id, max_spend="1")
    outcome = waiting.check(spend_client, wait)
    assert outcome.state == waiting.WAITING and outcome.details["spend"] == "0.06"
    assert waiting.progress(spend_client, wait, outcome).endswith("complete, spent 0.06 of max_spend=1 USD")


@pytest.mark.integration
def test_the_deferring_open_operator_hands_this_openings_cap_to_the_trigger(spend_emu, spend_client, make_pool, context_factory):
    from airflow.sdk.exceptions import TaskDeferred

    pool_id = make_pool(tasks=10)
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 1, status="ACCEPTED")  # 0.03 before this opening
    spend_client.close_pool(pool_id)
    operator = TolokaOpenPoolOperator(task_id="open", pool_id=pool_id, max_spend="0.50", wait_for_completion=True,
                                      deferrable=True, poll_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context_factory())
    kwargs = deferred.value.trigger.serialize()[1]
    assert (kwargs["pool_id"], kwargs["max_spend"]) == (pool_id, "0.53")
