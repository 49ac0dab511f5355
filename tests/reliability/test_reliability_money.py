"""Bonuses through faults: whatever answer is lost or refused on the way, the task instance pays each bonus once.

The emulator applies the bonus create and then drops the connection (``lost``), or fails before any effect
(``500``), on the first POST of the bonuses only; the task is then run again as Airflow's retry would. The
requester balance and the bonuses in Toloka are read before and after.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from rel_a_harness import TOKEN, make_context, use_emulator_connection

from toloka_provider.client import TolokaClient
from toloka_provider.operators.quality import TolokaCreateBonusesOperator

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


@pytest.mark.parametrize("fault", ["lost", "500", "drop"])
def test_a_lost_or_failed_bonus_payment_is_paid_once(toloka_emulator_factory, monkeypatch, tmp_path, fault):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), crowd=3, seed=2, operation_delay=0.0)
    use_emulator_connection(monkeypatch, emulator)
    client = TolokaClient(emulator.token, url=emulator.url, retries=1, timeout=10)
    workers = [w["user_id"] for w in requests.get(emulator.url + "/_emulator/workers", timeout=10).json()["items"]]
    path = tmp_path / "bonuses.jsonl"
    path.write_text("".join(json.dumps({"user_id": w, "amount": "0.20"}) + "\n" for w in workers))
    balance = client.get_requester().balance

    emulator.set_faults({fault: 1.0}, paths=["/api/v1/user-bonuses"], methods=["POST"])
    original = emulator.faults.pick

    def pick_once(method, request_path):
        kind = original(method, request_path)
        if kind is not None:
            emulator.clear_faults()
        return kind

    monkeypatch.setattr(emulator.faults, "pick", pick_once)
    operator = TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=str(path), max_total="1.00")
    try:
        first = operator.execute(make_context(task_id="bonus"))
    except Exception as error:  # a transient failure the client gave up on: Airflow retries the task
        first = None
        print(f"first try failed ({fault}): {type(error).__name__}")
    assert emulator.counters()["faults_injected"].get(fault, 0) == 1
    retry = operator.execute(make_context(task_id="bonus"))
    assert retry["paid_count"] == 3 and retry["paid_total"] == "0.60"
    assert retry["created"] + retry["already_paid"] == 3
    if first is not None:
        assert first["paid_count"] == 3 and retry["created"] == 0
    assert client.get_requester().balance == balance - Decimal("0.60")
    assert sorted(b.user_id for b in client.get_user_bonuses()) == sorted(workers)
