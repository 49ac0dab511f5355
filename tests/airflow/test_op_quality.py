"""The quality-control operators (operators/quality.py): bans, skills, bonuses, messages.

Behaviour runs against the in-process emulator over real HTTP (the real client and wire); each operator is run
twice as a retry of the same task instance would, and the emulator's state proves nothing happened twice.
Argument checks run with a hook that fails the test if any request is made.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from test_op_fakes import make_context

from toloka_provider.client import TolokaClient
from toloka_provider.client.errors import AccessDeniedApiError, ApiError, RemoteServiceUnavailableApiError
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.links import POOL_URL_XCOM_KEY, PROJECT_URL_XCOM_KEY
from toloka_provider.operators.quality import (
    TolokaCreateBonusesOperator,
    TolokaRestrictWorkersOperator,
    TolokaSendMessageOperator,
    TolokaSetUserSkillsOperator,
)

PROJECT = {
    "public_name": "Sentiment",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True}},
        "output_spec": {"label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}},
    },
    "assignments_issuing_type": "AUTOMATED",
}
POOL = {
    "private_name": "pool",
    "reward_per_assignment": 0.01,
    "assignment_max_duration_seconds": 600,
    "will_expire": "2099-01-01T00:00:00",
    "defaults": {"default_overlap_for_new_task_suites": 1},
}


def stats_row(user_id: str, seen: int, correct: int) -> dict:
    return {
        "user_id": user_id, "assignments": seen, "golden_seen": seen, "golden_correct": correct,
        "golden_accuracy": (correct / seen) if seen else None, "accepted": seen, "rejected": 0,
        "median_seconds": 30.0,
    }


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=4, seed=5, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    client = TolokaClient(emulator.token, url=emulator.url, retries=1, timeout=10)
    workers = [w["user_id"] for w in requests.get(emulator.url + "/_emulator/workers", timeout=10).json()["items"]]
    project_id = client.create_project(PROJECT).id
    pool_id = client.create_pool({**POOL, "project_id": project_id}).id
    return emulator, client, workers, project_id, pool_id


@pytest.fixture
def no_requests(monkeypatch):
    def refuse(self):
        raise AssertionError("no request may be made")

    monkeypatch.setattr(TolokaHook, "get_conn", refuse)


def worker_record(emulator, user_id: str) -> dict:
    return requests.get(f"{emulator.url}/_emulator/workers/{user_id}", timeout=10).json()


# ------------------------------------------------------------------------------------------------------ bans


def test_restrict_bans_low_golden_accuracy_once_and_says_why(emu, tmp_path):
    _emulator, client, workers, _project_id, pool_id = emu
    stats = write_jsonl(tmp_path / "stats.jsonl", [
        stats_row(workers[0], 10, 3),   # weak, enough golden answers: banned
        stats_row(workers[1], 2, 0),    # weak but too few golden answers: kept
        stats_row(workers[2], 10, 9),   # good
        stats_row(workers[3], 0, 0),    # no golden answers at all
    ])
    operator = TolokaRestrictWorkersOperator(
        task_id="ban", statistics_path=stats, scope="POOL", pool_id=pool_id, accuracy_below=0.6, min_golden=5,
        duration=timedelta(days=2),
    )
    context = make_context()
    first = operator.execute(context)
    assert first == {
        "scope": "POOL", "dry_run": False, "banned_count": 1, "already_restricted": 0, "extended": 0,
        "banned": [{"user_id": workers[0], "reason": "golden accuracy 0.30 < 0.60 over 10 golden tasks"}],
    }
    assert context["ti"].xcom[POOL_URL_XCOM_KEY].endswith(pool_id)
    bans = list(client.get_user_restrictions(pool_id=pool_id))
    assert [(b.user_id, b.scope.value, b.pool_id) for b in bans] == [(workers[0], "POOL", pool_id)]
    assert "golden accuracy 0.30" in bans[0].private_comment
    expires = bans[0].will_expire
    assert timedelta(days=1, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=2)

    again = operator.execute(make_context())  # a retry
    assert again["banned_count"] == 0 and again["already_restricted"] == 1 and again["banned"] == []
    assert len(list(client.get_user_restrictions(pool_id=pool_id))) == 1


def ban_fast_workers(row: dict):
    """A rule for the dotted-path test: ban workers faster than 10 s a median assignment."""
    return f"median {row['median_seconds']} s" if row["median_seconds"] < 10 else None


@pytest.mark.parametrize("scope", ["PROJECT", "ALL_PROJECTS"])
def test_restrict_by_dotted_rule_in_wider_scopes(emu, tmp_path, scope):
    _emulator, client, workers, project_id, _pool_id = emu
    rows = [stats_row(workers[0], 5, 5), stats_row(workers[1], 5, 5)]
    rows[1]["median_seconds"] = 4.0
    stats = write_jsonl(tmp_path / "stats.jsonl", rows)
    context = make_context()
    result = TolokaRestrictWorkersOperator(
        task_id="ban", statistics_path=stats, scope=scope, project_id=project_id,
        rule="test_op_quality.ban_fast_workers",
    ).execute(context)
    assert result["banned"] == [{"user_id": workers[1], "reason": "median 4.0 s"}]
    bans = list(client.get_user_restrictions(scope=scope))
    assert [(b.user_id, b.will_expire) for b in bans] == [(workers[1], None)]
    if scope == "PROJECT":
        assert bans[0].project_id == project_id and PROJECT_URL_XCOM_KEY in context["ti"].xcom


def test_restrict_dry_run_sends_nothing(emu, tmp_path):
    _emulator, client, workers, _, pool_id = emu
    stats = write_jsonl(tmp_path / "stats.jsonl", [stats_row(workers[0], 10, 1)])
    result = TolokaRestrictWorkersOperator(
        task_id="ban", statistics_path=stats, pool_id=pool_id, accuracy_below=0.5, dry_run=True,
    ).execute(make_context())
    assert result["dry_run"] is True and result["banned_count"] == 1
    assert list(client.get_user_restrictions()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "SYSTEM", "accuracy_below": 0.5}, "'scope' must be one of POOL, PROJECT, ALL_PROJECTS"),
        ({"accuracy_below": 0.5, "rule": "a.b"}, "exactly one of 'accuracy_below'"),
        ({}, "exactly one of 'accuracy_below'"),
        ({"accuracy_below": 1.5}, "'accuracy_below' must be a fraction in \\[0, 1\\]"),
        ({"accuracy_below": 0.5, "min_golden": 0}, "'min_golden' must be an integer >= 1"),
        ({"accuracy_below": 0.5, "duration": 3600}, "'duration' must be a positive datetime.timedelta"),
    ],
)
def test_restrict_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(TolokaInputError, match=message):
        TolokaRestrictWorkersOperator(task_id="ban", statistics_path=str(tmp_path / "s.jsonl"), **kwargs)


def test_restrict_bad_inputs_fail_before_any_request(no_requests, tmp_path):
    stats = write_jsonl(tmp_path / "stats.jsonl", [stats_row("w1", 10, 1)])
    with pytest.raises(TolokaInputError, match="scope 'POOL' needs 'pool_id'"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, accuracy_below=0.5).execute(make_context())
    with pytest.raises(TolokaInputError, match="scope 'PROJECT' needs 'project_id'"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, scope="PROJECT",
                                      accuracy_below=0.5).execute(make_context())
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"golden_seen": 3}])
    with pytest.raises(TolokaInputError, match=r"object 1 of .* has no 'user_id' string"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=bad, pool_id="1",
                                      accuracy_below=0.5).execute(make_context())
    twice = write_jsonl(tmp_path / "twice.jsonl", [stats_row("w1", 1, 1), stats_row("w1", 1, 1)])
    with pytest.raises(TolokaInputError, match="worker w1 appears twice"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=twice, pool_id="1",
                                      accuracy_below=0.5).execute(make_context())
    with pytest.raises(TolokaInputError, match="does not exist"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=str(tmp_path / "missing.jsonl"), pool_id="1",
                                      accuracy_below=0.5).execute(make_context())
    with pytest.raises(TolokaInputError, match=r"cannot import 'no_such_module\.rule'"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, pool_id="1",
                                      rule="no_such_module.rule").execute(make_context())


class _Refusing:
    def __init__(self, status: int) -> None:
        self.status = status

    def find_user_restrictions(self, **filters):
        # The classes the client maps these codes to (errors.error_from_response).
        error_class = AccessDeniedApiError if self.status == 403 else RemoteServiceUnavailableApiError
        raise error_class(self.status, "ACCESS_DENIED" if self.status == 403 else "INTERNAL", "no", "req-1", None,
                          "GET", "/api/v1/user-restrictions")


@pytest.mark.parametrize(("status", "expected"), [(403, TolokaApiFailure), (503, ApiError)])
def test_api_errors_persistent_fail_fast_transient_pass_through(monkeypatch, tmp_path, status, expected):
    monkeypatch.setattr(TolokaHook, "get_conn", lambda self: _Refusing(status))
    monkeypatch.setattr(TolokaHook, "web_ui_url", lambda self, **ids: None)
    stats = write_jsonl(tmp_path / "stats.jsonl", [stats_row("w1", 10, 1)])
    operator = TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, pool_id="1", accuracy_below=0.5)
    with pytest.raises(expected) as caught:
        operator.execute(make_context())
    assert type(caught.value) is expected or isinstance(caught.value, expected)
    if expected is TolokaApiFailure:
        assert "has no access" in str(caught.value) and caught.value.error.status_code == 403


# ---------------------------------------------------------------------------------------------------- skills


def test_set_skills_from_golden_accuracy_creates_the_skill_once(emu, tmp_path):
    _emulator, client, workers, _, _ = emu
    stats = write_jsonl(tmp_path / "stats.jsonl", [
        stats_row(workers[0], 10, 9), stats_row(workers[1], 3, 1), stats_row(workers[2], 2, 2),
        stats_row(workers[3], 0, 0),
    ])
    operator = TolokaSetUserSkillsOperator(task_id="skill", skill_name="golden accuracy", statistics_path=stats,
                                           min_answers=3, reason="golden")
    first = operator.execute(make_context())
    assert first["created_skill"] is True and first["set"] == 2 and first["skipped"] == 2
    second = operator.execute(make_context())
    assert second == {**first, "created_skill": False}
    skills = list(client.get_skills(name="golden accuracy"))
    assert [s.id for s in skills] == [first["skill_id"]]
    values = {s.user_id: s.exact_value for s in client.get_user_skills(skill_id=first["skill_id"])}
    assert values == {workers[0]: Decimal("90"), workers[1]: Decimal("33.33")}


def test_set_skills_from_agreement_with_aggregated_labels(emu, tmp_path):
    _emulator, client, workers, _, _ = emu
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"task_id": f"t{i}", "input_values": {}, "output_values": {"label": "pos"}, "confidence": 1.0, "votes": 2}
        for i in range(4)
    ])

    def assignment(user: str, answers: list[str], status: str = "ACCEPTED") -> dict:
        return {"id": f"a-{user}", "user_id": user, "status": status,
                "tasks": [{"id": f"t{i}"} for i in range(len(answers))],
                "solutions": [{"output_values": {"label": a}} for a in answers]}

    assignments = write_jsonl(tmp_path / "assignments.jsonl", [
        assignment(workers[0], ["pos", "pos", "pos", "neg"]),
        assignment(workers[1], ["neg", "neg", "pos", "pos"]),
        assignment(workers[2], ["pos", "pos", "pos", "pos"], status="REJECTED"),  # rejected work does not count
    ])
    result = TolokaSetUserSkillsOperator(
        task_id="skill", skill_name="agreement", source="agreement", labels_path=labels,
        assignments_path=assignments, fields=["label"], skill_config={"public_name": {"EN": "Agreement"}},
    ).execute(make_context())
    assert result["set"] == 2 and result["skipped"] == 0
    values = {s.user_id: s.exact_value for s in client.get_user_skills(skill_id=result["skill_id"])}
    assert values == {workers[0]: Decimal("75"), workers[1]: Decimal("50")}
    assert client.get_skill(result["skill_id"]).public_name == {"EN": "Agreement"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "votes", "statistics_path": "s"}, "'source' must be 'golden_accuracy' or 'agreement'"),
        ({}, "source 'golden_accuracy' needs 'statistics_path'"),
        ({"source": "agreement", "labels_path": "l"}, "needs 'labels_path' and 'assignments_path'"),
        ({"statistics_path": "s", "scale": 0}, r"'scale' must be a number in \(0, 100\]"),
        ({"statistics_path": "s", "skill_config": "x"}, "'skill_config' must be a dict"),
    ],
)
def test_set_skills_bad_arguments(kwargs, message):
    with pytest.raises(TolokaInputError, match=message):
        TolokaSetUserSkillsOperator(task_id="s", skill_name="x", **kwargs)


def test_set_skills_bad_inputs_fail_before_any_request(no_requests, tmp_path):
    stats = write_jsonl(tmp_path / "stats.jsonl", [stats_row("w1", 10, 1)])
    with pytest.raises(TolokaInputError, match="'skill_name' must be a non-empty string"):
        TolokaSetUserSkillsOperator(task_id="s", skill_name=" ", statistics_path=stats).execute(make_context())
    with pytest.raises(TolokaInputError, match="needs 'fields'"):
        TolokaSetUserSkillsOperator(task_id="s", skill_name="x", source="agreement", labels_path=stats,
                                    assignments_path=stats).execute(make_context())
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"user_id": "w1", "golden_seen": "many", "golden_accuracy": 1}])
    with pytest.raises(TolokaInputError, match="'golden_seen' must be an integer"):
        TolokaSetUserSkillsOperator(task_id="s", skill_name="x", statistics_path=bad).execute(make_context())


# --------------------------------------------------------------------------------------------------- bonuses


def _balance(client: TolokaClient) -> Decimal:
    return client.get_requester().balance


def test_bonuses_to_the_top_workers_are_paid_once(emu, tmp_path):
    emulator, client, workers, _, _ = emu
    stats = write_jsonl(tmp_path / "stats.jsonl", [
        stats_row(workers[0], 10, 7), stats_row(workers[1], 10, 10), stats_row(workers[2], 20, 19),
        stats_row(workers[3], 2, 2),  # perfect, but too few golden answers
    ])
    before = _balance(client)
    operator = TolokaCreateBonusesOperator(task_id="bonus", statistics_path=stats, top_n=2, amount="0.25",
                                           max_total="1.00", min_golden=5, public_title="Top worker")
    first = operator.execute(make_context())
    assert first["created"] == 2 and first["failed"] == 0 and first["total"] == "0.50"
    assert _balance(client) == before - Decimal("0.50")
    second = operator.execute(make_context())  # a retry: the same operation id, resumed
    # A retry reads back what this task instance paid: nothing is paid again, the XCom says what was paid.
    assert second["created"] == 0 and second["already_paid"] == 2 and second["operation_id"] is None
    assert second["paid_count"] == 2 and second["paid_total"] == "0.50"
    assert _balance(client) == before - Decimal("0.50")
    paid = {w: worker_record(emulator, w)["bonus_total"] for w in workers}
    assert paid == {workers[0]: 0, workers[1]: 0.25, workers[2]: 0.25, workers[3]: 0}
    bonus = worker_record(emulator, workers[1])["bonuses"][0]
    assert bonus["public_title"] == {"EN": "Top worker"}
    # Another task instance (another run) is another operation: it pays.
    other = operator.execute(make_context(run_id="run-2"))
    assert other["operation_id"] != first["operation_id"]
    assert _balance(client) == before - Decimal("1.00")


def test_bonuses_from_a_file_with_decimal_money(emu, tmp_path):
    _emulator, client, workers, _, _ = emu
    path = write_jsonl(tmp_path / "bonuses.jsonl", [
        {"user_id": workers[0], "amount": "0.10", "public_title": "Thanks", "public_message": {"EN": "Good"}},
        {"user_id": workers[1], "amount": 0.2, "public_title": {"EN": "Thanks"}, "public_message": "Good"},
    ])
    before = _balance(client)
    result = TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=path, max_total=Decimal("0.30")).execute(
        make_context()
    )
    assert result["total"] == "0.30" and result["created"] == 2
    assert _balance(client) == before - Decimal("0.30")


def test_bonuses_over_the_cap_fail_before_sending(emu, tmp_path):
    emulator, client, workers, _, _ = emu
    path = write_jsonl(tmp_path / "bonuses.jsonl", [{"user_id": w, "amount": "0.40"} for w in workers])
    before, requests_before = _balance(client), emulator.counters()
    with pytest.raises(TolokaInputError, match=r"The 4 bonuses add up to 1.60 USD, more than max_total 1.5 USD"):
        TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=path, max_total=1.5).execute(make_context())
    assert _balance(client) == before
    assert emulator.counters()["created"].get("user_bonus", 0) == requests_before["created"].get("user_bonus", 0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"user_id": "w", "amount": "0.015"}], "at most 2 decimal places"),
        ([{"user_id": "w", "amount": "150"}], "a bonus must be from 0.01 to 100 USD"),
        ([{"user_id": "w", "amount": "lots"}], "must be an amount of money"),
        ([{"amount": "1"}], "bonuses_path object 1 has no 'user_id' string"),
        ([{"user_id": "w"}], "has no 'amount'"),
        ([{"user_id": "w", "amount": "1", "public_title": ""}], "public_title' must be a non-empty string"),
    ],
)
def test_bonuses_bad_files_fail_before_any_request(no_requests, tmp_path, rows, message):
    path = write_jsonl(tmp_path / "bonuses.jsonl", rows)
    with pytest.raises(TolokaInputError, match=message):
        TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=path, max_total=100).execute(make_context())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_total": "x", "bonuses_path": "b"}, "'max_total' must be an amount of money"),
        ({"max_total": -1, "bonuses_path": "b"}, "'max_total' must not be negative"),
        ({"max_total": 1}, "exactly one of 'bonuses_path' and 'statistics_path'"),
        ({"max_total": 1, "statistics_path": "s"}, "needs 'top_n' and 'amount'"),
        ({"max_total": 1, "statistics_path": "s", "top_n": 0, "amount": 1}, "'top_n' must be an integer >= 1"),
        ({"max_total": 1, "statistics_path": "s", "top_n": 1, "amount": 0}, "from 0.01 to 100 USD"),
    ],
)
def test_bonuses_bad_arguments(kwargs, message):
    with pytest.raises(TolokaInputError, match=message):
        TolokaCreateBonusesOperator(task_id="bonus", **kwargs)


# -------------------------------------------------------------------------------------------------- messages


def test_message_user_ids_once_per_key(emu):
    emulator, client, workers, _, _ = emu
    operator = TolokaSendMessageOperator(task_id="msg", topic="News", text="New tasks tomorrow",
                                         user_ids=[workers[0], workers[1]])
    assert operator.execute(make_context()) == {"threads": 1, "recipients": 2, "already_sent": 0}
    assert operator.execute(make_context()) == {"threads": 0, "recipients": 0, "already_sent": 1}
    for worker in workers[:2]:
        assert [m["text"] for m in worker_record(emulator, worker)["messages"]] == [{"EN": "New tasks tomorrow"}]
    threads = list(client.get_message_threads(folder="OUTBOX"))
    assert len(threads) == 1 and threads[0].topic["EN"].startswith("News (ref ")
    # Another run is another key.
    assert operator.execute(make_context(run_id="run-2"))["threads"] == 1


def test_message_the_reasons_for_rejections(emu, tmp_path):
    emulator, _client, workers, _, _ = emu
    path = write_jsonl(tmp_path / "decisions.jsonl", [
        {"assignment_id": "a1", "user_id": workers[0], "action": "REJECT", "public_comment": "Wrong on control tasks"},
        {"assignment_id": "a2", "user_id": workers[0], "action": "REJECT", "public_comment": "Too fast"},
        {"assignment_id": "a3", "user_id": workers[1], "status": "REJECTED", "public_comment": "Too fast"},
        {"assignment_id": "a4", "user_id": workers[2], "status": "ACCEPTED", "public_comment": "Fine"},
    ])
    operator = TolokaSendMessageOperator(task_id="msg", topic={"EN": "Rejected work"},
                                         text={"EN": "Your work was rejected: {reasons}."}, rejections_path=path)
    assert operator.execute(make_context()) == {"threads": 2, "recipients": 2, "already_sent": 0}
    assert operator.execute(make_context())["already_sent"] == 2
    texts = {w: [m["text"]["EN"] for m in worker_record(emulator, w)["messages"]] for w in workers[:3]}
    assert texts == {
        workers[0]: ["Your work was rejected: Wrong on control tasks; Too fast."],
        workers[1]: ["Your work was rejected: Too fast."],
        workers[2]: [],
    }


def test_message_bad_arguments(no_requests, tmp_path):
    with pytest.raises(TolokaInputError, match="exactly one of 'user_ids' and 'rejections_path'"):
        TolokaSendMessageOperator(task_id="m", topic="t", text="x")
    with pytest.raises(TolokaInputError, match="'topic' must be a non-empty string"):
        TolokaSendMessageOperator(task_id="m", topic="", text="x", user_ids=["w"])
    with pytest.raises(TolokaInputError, match="'user_ids' must be a non-empty list"):
        TolokaSendMessageOperator(task_id="m", topic="t", text="x", user_ids=[]).execute(make_context())
    nobody = write_jsonl(tmp_path / "d.jsonl", [{"user_id": "w", "status": "ACCEPTED"}])
    result = TolokaSendMessageOperator(task_id="m", topic="t", text="x", rejections_path=nobody).execute(make_context())
    assert result == {"threads": 0, "recipients": 0, "already_sent": 0}
