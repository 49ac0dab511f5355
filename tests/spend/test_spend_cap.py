"""The pre-open spend cap: the estimate's arithmetic, and ``max_spend`` on the emulator.

On the emulator a pool refused by its cap is left closed with no open request sent; a pool opened within
its cap, worked to completion by the simulated crowd with auto-accept, costs exactly the estimate.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.operators.tasks import TolokaCreateTasksOperator
from toloka_provider.steps import spend

DATA = Path(__file__).resolve().parents[2] / "dags_examples" / "data" / "support_tickets"
CONFIGS = Path(__file__).resolve().parents[2] / "dags_examples" / "configs"

POOL = {"id": "9", "reward_per_assignment": 0.03, "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1},
        "defaults": {"default_overlap_for_new_tasks": 3}}


def real(overlap=None, remaining=None, **extra):
    task = {"input_values": {"t": 1}, **extra}
    if overlap is not None:
        task["overlap"] = overlap
    if remaining is not None:
        task["remaining_overlap"] = remaining
    return task


def golden(**extra):
    return {"input_values": {"t": 2}, "known_solutions": [{"output_values": {"label": "x"}}], **extra}


# ------------------------------------------------------------------------------------------------ arithmetic


def test_estimate_is_suites_times_reward_and_golden_tasks_ride_along():
    tasks = [real(overlap=3, remaining=3) for _ in range(10)] + [golden(infinite_overlap=True)] * 3
    estimate = spend.estimate_from(POOL, tasks)
    assert (estimate.real_tasks, estimate.overlap_slots, estimate.tasks_per_suite) == (10, 30, 4)
    assert estimate.assignments == 8  # ceil(30 / 4)
    assert estimate.total == Decimal("0.24")  # exact: 8 * 0.03, no float error
    assert estimate.explain() == (
        "8 assignments (ceil(30 overlap slots of 10 real tasks / 4 tasks per suite)) * reward 0.03 USD = 0.24 USD"
    )


def test_only_the_remaining_overlap_counts_and_defaults_fill_the_gaps():
    tasks = [real(overlap=3, remaining=0), real(overlap=5, remaining=2), real()]  # the last takes the default 3
    estimate = spend.estimate_from(POOL, tasks)
    assert (estimate.real_tasks, estimate.overlap_slots, estimate.assignments) == (2, 5, 2)


def test_fee_and_dynamic_pricing_take_the_costlier_side():
    pool = {**POOL, "dynamic_pricing_config": {"type": "SKILL", "intervals": [{"from": 80, "reward_per_assignment": 0.05}]}}
    estimate = spend.estimate_from(pool, [real(overlap=4)], fee_rate=Decimal("0.3"))
    assert estimate.reward == Decimal("0.05") and estimate.assignments == 1
    assert estimate.total == Decimal("0.065")
    assert "* (1 + fee 0.3)" in estimate.explain()


def test_a_pool_of_golden_tasks_only_is_estimated_on_them():
    pool = {**POOL, "mixer_config": {"real_tasks_count": 0, "golden_tasks_count": 2}}
    estimate = spend.estimate_from(pool, [golden(overlap=2)] * 5)
    assert (estimate.overlap_slots, estimate.tasks_per_suite, estimate.assignments) == (10, 2, 5)


def test_an_unbounded_real_task_cannot_be_estimated():
    with pytest.raises(ValueError, match="task 77 has infinite overlap, so the pool's cost has no bound"):
        spend.estimate_from(POOL, [real(id="77", infinite_overlap=True)])


def test_a_pool_without_a_reward_cannot_be_estimated():
    with pytest.raises(ValueError, match="Pool 9 has no reward_per_assignment"):
        spend.estimate_from({"id": "9"}, [real(overlap=1)])


def test_check_cap_names_the_argument_the_estimate_and_how():
    estimate = spend.estimate_from(POOL, [real(overlap=3)] * 4)
    spend.check_cap(estimate, Decimal("0.09"))  # equal is within the cap
    with pytest.raises(spend.SpendCapExceeded) as caught:
        spend.check_cap(estimate, Decimal("0.089"))
    message = str(caught.value)
    assert "Not opening pool 9: its estimated cost 0.09 USD is more than max_spend=0.089 USD" in message
    assert "3 assignments (ceil(12 overlap slots of 4 real tasks / 4 tasks per suite))" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.10", Decimal("1.10")), (0.1, Decimal("0.1")), (3, Decimal(3)), (Decimal("2.5"), Decimal("2.5"))],
)
def test_money_is_decimal_safe(value, expected):
    assert spend.money(value, "max_spend") == expected


@pytest.mark.parametrize("value", ["-1", "NaN", "Infinity", "ten", True, None, [1]])
def test_bad_caps_are_refused_at_construction_naming_the_argument(value):
    with pytest.raises(TolokaInputError, match="'max_spend' must be"):
        TolokaOpenPoolOperator(task_id="o", pool_id="1", max_spend=value if value is not None else [])


def test_bad_fee_rate_is_refused():
    with pytest.raises(TolokaInputError, match="'fee_rate' must be"):
        TolokaCreateTasksOperator(task_id="u", pool_id="1", tasks=[], fee_rate="-0.1")


# ------------------------------------------------------------------------------------------------ emulator


def _context():
    pushed: dict = {}
    ti = SimpleNamespace(dag_id="spend", task_id="t", run_id="r1", map_index=-1, try_number=1, pushed=pushed,
                         xcom_push=lambda key, value: pushed.__setitem__(key, value))
    return {"ti": ti, "dag_run": SimpleNamespace(run_id="r1"), "data_interval_start": None, "data_interval_end": None}


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=30, speed=500.0, seed=3, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    return emulator


def _client(emulator):
    from toloka_provider.client import TolokaClient

    return TolokaClient(token=emulator.token, url=emulator.url)


def _pool_with_tasks(emulator, client) -> str:
    """The example's project and pool (auto-accept on, no training or filter), its 360 tasks and 24 golden."""
    emulator.pause_crowd()
    project = json.loads((CONFIGS / "text_classification_project.json").read_text())
    project_id = str(client.create_project(project).id)
    config = json.loads((CONFIGS / "text_classification_pool.json").read_text())
    config.update(project_id=project_id, auto_accept_solutions=True, will_expire="2100-01-01T00:00:00")
    config.pop("filter"), config.pop("quality_control")
    pool_id = str(client.create_pool(config).id)
    for name, allow_defaults in (("tasks.jsonl", True), ("golden.jsonl", False)):
        tasks = [dict(json.loads(line), pool_id=pool_id) for line in (DATA / name).read_text().splitlines() if line]
        client.create_tasks(tasks, allow_defaults=allow_defaults, operation_id=None)
    return pool_id


def _open_requests(emulator) -> int:
    return sum(n for key, n in emulator.counters()["requests"].items() if "/open" in key)


@pytest.mark.integration
def test_open_pool_over_the_cap_fails_with_nothing_opened_and_within_it_costs_the_estimate(emu):
    client = _client(emu)
    pool_id = _pool_with_tasks(emu, client)

    over = TolokaOpenPoolOperator(task_id="open", pool_id=pool_id, max_spend="8.09")
    with pytest.raises(AirflowFailException) as caught:
        over.execute(_context())
    assert str(caught.value) == (
        f"Not opening pool {pool_id}: its estimated cost 8.10 USD is more than max_spend=8.09 USD. Estimate: "
        "270 assignments (ceil(1080 overlap slots of 360 real tasks / 4 tasks per suite)) * reward 0.03 USD "
        "= 8.10 USD. Raise max_spend, or give the pool fewer tasks, less overlap or a lower reward."
    )
    assert client.get_pool(pool_id).status == "CLOSED"
    assert _open_requests(emu) == 0

    balance_before = client.get_requester().balance
    opener = TolokaOpenPoolOperator(task_id="open", pool_id=pool_id, max_spend=Decimal("8.10"))
    context = _context()
    assert opener.execute(context) == "OPEN"
    assert opener._spend_estimate.total == Decimal("8.10")
    pushed = context["ti"].pushed["spend_estimate"]
    assert (pushed["total"], pushed["max_spend"], pushed["assignments"]) == ("8.10", "8.10", 270)
    emu.resume_crowd()
    deadline = time.monotonic() + 60
    while client.get_pool(pool_id).status != "CLOSED":
        assert time.monotonic() < deadline, "the crowd did not finish the pool in 60 s"
        time.sleep(0.2)
    assert client.get_pool(pool_id).last_close_reason == "COMPLETED"
    assert balance_before - client.get_requester().balance == Decimal("8.10")
    assert emu.counters()["assignments_accepted"] == 270


@pytest.mark.integration
def test_upload_with_open_pool_checks_the_cap_after_the_upload_and_before_opening(emu, tmp_path):
    client = _client(emu)
    pool_id = _pool_with_tasks(emu, client)
    extra = tmp_path / "more.jsonl"
    extra.write_text("".join(json.dumps({"input_values": {"text": f"t{i}", "ticket_id": f"X{i}"}, "overlap": 2}) + "\n"
                             for i in range(8)))

    refused = TolokaCreateTasksOperator(task_id="up", pool_id=pool_id, tasks_path=str(extra), open_pool=True,
                                        max_spend="8.10", fee_rate="0")
    with pytest.raises(AirflowFailException, match=r"estimated cost 8\.22 USD is more than max_spend=8\.10 USD"):
        refused.execute(_context())
    assert client.get_pool(pool_id).status == "CLOSED" and _open_requests(emu) == 0
    assert len(list(client.get_tasks(pool_id=pool_id))) == 360 + 24 + 8  # the upload itself went through

    retried = TolokaCreateTasksOperator(task_id="up", pool_id=pool_id, tasks_path=str(extra), open_pool=True,
                                        max_spend="8.22")
    assert retried.execute(_context())["created"] == 8  # the retry finds its first try's operation
    assert client.get_pool(pool_id).status == "OPEN"
    assert len(list(client.get_tasks(pool_id=pool_id))) == 360 + 24 + 8


@pytest.mark.integration
def test_without_max_spend_nothing_is_estimated(emu, monkeypatch):
    client = _client(emu)
    pool_id = _pool_with_tasks(emu, client)
    monkeypatch.setattr(spend, "estimate_pool_cost", lambda *a, **k: pytest.fail("estimated without a cap"))
    assert TolokaOpenPoolOperator(task_id="open", pool_id=pool_id).execute(_context()) == "OPEN"


@pytest.mark.integration
def test_a_missing_pool_is_reported_as_such_not_as_a_cap_problem(emu):
    with pytest.raises(Exception) as caught:
        TolokaOpenPoolOperator(task_id="open", pool_id="999999", max_spend="1").execute(_context())
    assert "999999" in str(caught.value) and "max_spend" not in str(caught.value)
    assert _open_requests(emu) == 0


@pytest.mark.integration
def test_a_real_task_with_infinite_overlap_is_refused_naming_max_spend(emu):
    client = _client(emu)
    pool_id = _pool_with_tasks(emu, client)
    client.create_tasks([{"pool_id": pool_id, "input_values": {"text": "x", "ticket_id": "I1"}, "infinite_overlap": True}],
                        operation_id=None)
    with pytest.raises(AirflowFailException, match=r"Argument 'max_spend': Pool \d+: task \S+ has infinite overlap"):
        TolokaOpenPoolOperator(task_id="open", pool_id=pool_id, max_spend="100").execute(_context())
    assert _open_requests(emu) == 0
