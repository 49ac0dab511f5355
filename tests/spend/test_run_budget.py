"""The run-level budget: the spending tasks of one DAG run (pool openings, relabel rounds, bonuses) draw on one
cap whose ledger is Toloka. Tested end to end on the emulator, with a bonus task that dies between paying and
recording and is retried: the retry sees the payment, pays nothing twice, and the next draw counts it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from airflow.sdk.exceptions import AirflowFailException

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.operators.quality import TolokaCreateBonusesOperator
from toloka_provider.steps import budget, spend

RUN_TAG = {"airflow_dag_id": ["spend"], "airflow_run_id": ["r1"], "airflow_task_id": ["create_pool"]}


def test_the_ledger_key_and_bonus_prefix_name_the_run():
    assert budget.pool_in_run(RUN_TAG, "spend", "r1")
    assert not budget.pool_in_run(RUN_TAG, "spend", "r2")
    assert budget.pool_in_run({budget.BUDGET_RUNS_KEY: ["spend/r1"]}, "spend", "r1")
    assert budget.run_bonus_prefix("spend", "r1") == "airflow bonus spend/r1/"


def test_a_draw_over_the_budget_names_the_argument_the_commitment_and_the_draw():
    commitment = budget.Commitment((budget.PoolLine("7", "CLOSED", Decimal("0.30"), Decimal(0)),), Decimal("0.10"), 2)
    budget.check_draw(commitment, Decimal("0.10"), Decimal("0.50"), "paying 1 bonuses")  # equal fits
    with pytest.raises(budget.RunBudgetExceeded) as caught:
        budget.check_draw(commitment, Decimal("0.11"), Decimal("0.50"), "paying 1 bonuses")
    assert str(caught.value) == (
        "Not paying 1 bonuses: it would cost 0.11 USD and this DAG run has spent or committed 0.40 USD already "
        "(pool 7 0.30 USD spent; 2 bonuses 0.10 USD); together 0.51 USD, more than run_budget=0.50 USD. "
        "Raise run_budget, or spend less in this run."
    )


@pytest.mark.parametrize("value", ["-1", "NaN", "ten", True])
def test_a_bad_budget_is_refused_when_the_dag_is_parsed(value):
    with pytest.raises(TolokaInputError, match="'run_budget' must be"):
        TolokaOpenPoolOperator(task_id="o", pool_id="1", run_budget=value)
    with pytest.raises(TolokaInputError, match="'run_budget' must be"):
        TolokaCreateBonusesOperator(task_id="b", bonuses_path="x.jsonl", max_total=1, run_budget=value)


def _bonuses(path, users, amount):
    path.write_text("".join(f'{{"user_id": "{user}", "amount": "{amount}"}}\n' for user in users))
    return str(path)


def _balance(client) -> Decimal:
    return Decimal(str(client.get_requester().balance))


@pytest.mark.integration
def test_a_run_budget_holds_across_rounds_bonuses_and_a_retry_after_a_crash_between_paying_and_recording(
    spend_emu, spend_client, make_pool, context_factory, tmp_path, monkeypatch
):
    balance_before = _balance(spend_client)
    pool_id = make_pool(tasks=10, metadata=RUN_TAG)  # created by the run: estimate 10 * 0.03 = 0.30

    # Round 1: 0 committed + 0.30 <= 0.50.
    context = context_factory(task_id="open_pool")
    assert TolokaOpenPoolOperator(task_id="open_pool", pool_id=pool_id, run_budget="0.50").execute(context) == "OPEN"
    assert context["ti"].pushed["run_budget"] == {
        "budget": "0.50", "committed": "0", "draw": "0.30",
        "commitment": {"total": "0", "bonuses": "0", "bonus_count": 0,
                       "pools": [{"pool_id": pool_id, "status": "CLOSED", "spent": "0", "remaining": "0"}]},
    }
    spend_emu.bulk_load_assignments(pool_id, 10)
    assignments = list(spend_client.get_assignments(pool_id=pool_id, status="SUBMITTED"))
    for assignment in assignments:
        spend_client.accept_assignment(assignment.id, "ok")  # charged: 0.30
    spend_client.close_pool(pool_id)
    workers = sorted({a.user_id for a in assignments})[:2]

    # Bonuses (0.10): the worker dies after Toloka paid them, before anything was recorded.
    pay = TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=_bonuses(tmp_path / "b.jsonl", workers, "0.05"),
                                      max_total="1", run_budget="0.50")
    real_create = spend_client.create_user_bonuses

    def paid_then_died(*args, **kwargs):
        real_create(*args, **kwargs)
        raise RuntimeError("worker lost after paying")

    crashing = TolokaHook().get_conn()
    with monkeypatch.context() as patch:
        patch.setattr(crashing, "create_user_bonuses", paid_then_died)
        patch.setattr(TolokaHook, "get_conn", lambda self: crashing)
        with pytest.raises(RuntimeError, match="worker lost after paying"):
            pay.execute(context_factory(task_id="bonus"))
    assert balance_before - _balance(spend_client) == Decimal("0.40")

    # The retry finds the payment in Toloka: nothing is paid twice.
    retried = pay.execute(context_factory(task_id="bonus", try_number=2))
    assert (retried["created"], retried["already_paid"], retried["paid_total"]) == (0, 2, "0.10")
    assert balance_before - _balance(spend_client) == Decimal("0.40")

    # Round 2 (a relabel round on the same pool): 0.40 committed + 0.30 > 0.50, refused with nothing opened.
    spend_client.create_tasks([{"pool_id": pool_id, "input_values": {"text": f"r{i}"}, "overlap": 1} for i in range(10)],
                              operation_id=None)
    # (The estimate also counts the overlap the emulator's bulk-loaded assignments left on their own tasks.)
    estimate = spend.estimate_pool_cost(spend_client, pool_id).total
    assert estimate >= Decimal("0.30")
    with pytest.raises(AirflowFailException) as caught:
        TolokaOpenPoolOperator(task_id="relabel", pool_id=pool_id, run_budget="0.50").execute(
            context_factory(task_id="relabel"))
    assert str(caught.value) == (
        f"Not opening pool {pool_id}: it would cost {estimate} USD and this DAG run has spent or committed 0.40 USD "
        f"already (pool {pool_id} 0.30 USD spent; 2 bonuses 0.10 USD); together {estimate + Decimal('0.40')} USD, more than "
        "run_budget=0.50 USD. Raise run_budget, or spend less in this run."
    )
    assert spend_client.get_pool(pool_id).status == "CLOSED"

    # Another bonus task of the run: 0.15 more is over, 0.10 fits exactly (the budget from the DAG param).
    over = TolokaCreateBonusesOperator(task_id="bonus2", bonuses_path=_bonuses(tmp_path / "o.jsonl", workers[:1], "0.15"),
                                       max_total="1")
    param_context = {**context_factory(task_id="bonus2"), "params": {"toloka_run_budget": "0.50"}}
    with pytest.raises(TolokaInputError, match=r"together 0\.55 USD, more than run_budget=0\.50 USD.*Nothing was paid"):
        over.execute(param_context)
    fits = TolokaCreateBonusesOperator(task_id="bonus2", bonuses_path=_bonuses(tmp_path / "f.jsonl", workers[:1], "0.10"),
                                       max_total="1")
    assert fits.execute(param_context)["created"] == 1

    # What the run cost is what the balance paid, and within the budget.
    commitment = budget.run_commitment(spend_client, "spend", "r1")
    assert commitment.total == Decimal("0.50") == balance_before - _balance(spend_client)
    # Another run's ledger is its own.
    assert budget.run_commitment(spend_client, "spend", "r2").total == 0


@pytest.mark.integration
def test_a_pool_not_created_by_the_run_joins_its_ledger_when_a_budgeted_task_opens_it(
    spend_emu, spend_client, make_pool, context_factory
):
    pool_id = make_pool(tasks=3, metadata={"team": ["labels"]})
    context = context_factory(task_id="open_pool")
    TolokaOpenPoolOperator(task_id="open_pool", pool_id=pool_id, run_budget="1").execute(context)
    metadata = spend_client.get_pool(pool_id).to_json_dict()["metadata"]
    assert metadata == {"team": ["labels"], budget.BUDGET_RUNS_KEY: ["spend/r1"]}
    commitment = budget.run_commitment(spend_client, "spend", "r1")
    assert [(line.pool_id, line.status, line.remaining) for line in commitment.pools] == [(pool_id, "OPEN", Decimal("0.09"))]


@pytest.mark.integration
def test_an_open_pool_outside_the_ledger_is_refused(spend_emu, spend_client, make_pool, context_factory):
    pool_id = make_pool(tasks=3)
    spend_client.open_pool(pool_id)
    with pytest.raises(AirflowFailException, match=rf"Argument 'run_budget': pool {pool_id} is open already and not in"):
        TolokaOpenPoolOperator(task_id="open_pool", pool_id=pool_id, run_budget="1").execute(context_factory())


def test_a_run_budget_without_open_pool_is_refused_when_the_dag_is_parsed():
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator

    with pytest.raises(TolokaInputError) as caught:
        TolokaCreateTasksOperator(task_id="u", pool_id="1", tasks=[], run_budget="1")
    assert str(caught.value) == (
        "Argument 'run_budget' (1 USD) needs open_pool=True: uploading tasks spends nothing, opening the pool does "
        "(give the budget to the operator that opens it)"
    )


@pytest.mark.integration
@pytest.mark.parametrize("given", ["argument", "dag param"])
def test_uploading_with_open_pool_draws_on_the_run_budget_before_opening(
    spend_emu, spend_client, make_pool, context_factory, given
):
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator

    def upload(task_id: str, pool_id: str, count: int, run_budget: str) -> dict:
        tasks = [{"input_values": {"text": f"{task_id}{i}"}, "overlap": 1} for i in range(count)]
        context = context_factory(task_id=task_id)
        if given == "argument":
            operator = TolokaCreateTasksOperator(
                task_id=task_id, pool_id=pool_id, tasks=tasks, open_pool=True, run_budget=run_budget
            )
        else:
            operator = TolokaCreateTasksOperator(task_id=task_id, pool_id=pool_id, tasks=tasks, open_pool=True)
            context = {**context, "params": {"toloka_run_budget": run_budget}}
        result = operator.execute(context)
        result["run_budget"] = context["ti"].pushed.get("run_budget")
        return result

    first = make_pool(tasks=0)
    # 10 tasks x 0.03 = 0.30 within 0.50: uploaded, drawn, the pool joins the run's ledger and is opened.
    done = upload("upload", first, 10, "0.50")
    assert (done["created"], done["run_budget"]["draw"], done["run_budget"]["committed"]) == (10, "0.30", "0")
    assert spend_client.get_pool(first).status == "OPEN"
    assert spend_client.get_pool(first).to_json_dict()["metadata"][budget.BUDGET_RUNS_KEY] == ["spend/r1"]

    # A second pool of the same run: 0.30 committed (the first pool's remaining work) + 0.30 > 0.50. The tasks
    # are uploaded (the estimate needs them), the pool is not opened, and the error names the budget.
    second = make_pool(tasks=0)
    with pytest.raises(AirflowFailException) as caught:
        upload("upload2", second, 10, "0.50")
    assert str(caught.value).startswith(f"Not opening pool {second}: it would cost 0.30 USD and this DAG run has spent "
                                        "or committed 0.30 USD already")
    assert spend_client.get_pool(second).status == "CLOSED"
    assert len(list(spend_client.get_tasks(pool_id=second))) == 10


def test_bonus_tags_keep_the_runs_prefix_whatever_the_lengths():
    from toloka_provider.steps.quality import bonus_run_prefix, bonus_tag

    assert bonus_tag("spend", "r1", "bonus", -1) == "airflow bonus spend/r1/bonus"
    assert bonus_tag("spend", "r1", "bonus", 3) == "airflow bonus spend/r1/bonus[3]"
    # A long task id: the task's part is hashed, the run's prefix stays readable and in front.
    long_task = bonus_tag("spend", "r1", "t" * 250, 0)
    assert long_task.startswith("airflow bonus spend/r1/#") and len(long_task) == len("airflow bonus spend/r1/") + 33
    assert long_task != bonus_tag("spend", "r1", "t" * 250, 1) != bonus_tag("spend", "r1", "t" * 251, 0)
    # A long run id (e.g. a manual run id with a timestamp and a note): the run's part is hashed, so every bonus
    # of the run still shares one prefix, and the run budget's ledger finds them.
    run_id = "manual__2026-12-07T19:45:52.123456+00:00__" + "relabel " * 12
    prefix = bonus_run_prefix("spend", run_id)
    assert prefix.startswith("airflow bonus #") and prefix.endswith("/") and len(prefix) == len("airflow bonus ") + 34
    assert budget.run_bonus_prefix("spend", run_id) == prefix
    tags = [bonus_tag("spend", run_id, task, index) for task, index in (("bonus", -1), ("bonus", 0), ("b" * 300, 2))]
    assert all(tag.startswith(prefix) and len(tag) <= 200 for tag in tags) and len(set(tags)) == 3
    assert not bonus_tag("spend", run_id + "x", "bonus", -1).startswith(prefix)
    # The boundaries: a comment of exactly 200 characters is kept as it is; 201 is hashed.
    fill = 200 - len("airflow bonus spend/r1/")
    assert bonus_tag("spend", "r1", "t" * fill, -1) == "airflow bonus spend/r1/" + "t" * fill
    assert "#" in bonus_tag("spend", "r1", "t" * (fill + 1), -1)


@pytest.mark.integration
def test_a_long_run_ids_bonuses_are_in_its_ledger_and_a_retry_pays_nothing_twice(
    spend_emu, spend_client, make_pool, context_factory, tmp_path
):
    pool_id = make_pool(tasks=2)
    spend_client.open_pool(pool_id)
    spend_emu.bulk_load_assignments(pool_id, 2)
    workers = sorted({a.user_id for a in spend_client.get_assignments(pool_id=pool_id)})
    run_id = "manual__2026-12-07T19:45:52+00:00__" + "a long note about this relabel run " * 4
    path = _bonuses(tmp_path / "b.jsonl", workers, "0.20")
    pay = TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=path, max_total="1", run_budget="0.40")
    first = pay.execute(context_factory(run_id=run_id, task_id="bonus"))
    assert (first["created"], first["paid_total"]) == (len(workers), f"{Decimal('0.20') * len(workers):.2f}")
    retry = pay.execute(context_factory(run_id=run_id, task_id="bonus", try_number=2))
    assert (retry["created"], retry["already_paid"]) == (0, len(workers))
    commitment = budget.run_commitment(spend_client, "spend", run_id)
    assert (commitment.bonus_count, commitment.bonuses) == (len(workers), Decimal("0.20") * len(workers))
    # The budget is spent: one cent more is refused, with nothing paid.
    more = TolokaCreateBonusesOperator(task_id="bonus2", bonuses_path=_bonuses(tmp_path / "m.jsonl", workers[:1], "0.01"),
                                       max_total="1", run_budget="0.40")
    with pytest.raises(TolokaInputError, match=r"more than run_budget=0\.40 USD"):
        more.execute(context_factory(run_id=run_id, task_id="bonus2"))
