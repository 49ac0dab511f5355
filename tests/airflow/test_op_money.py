"""Money and inputs at the edges of the quality-control operators: what a retry and a re-run with changed
inputs pay, the balance check, the ban rule, unknown users, and inputs that would be silently reinterpreted.

Payments run against the in-process emulator over real HTTP; each test reads the requester balance and the
bonuses in Toloka before and after. Input checks run with a hook that fails the test on any request.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from test_op_fakes import make_context
from test_op_quality import POOL, PROJECT  # the same project and pool as the quality operators' tests

from toloka_provider.client import TolokaClient
from toloka_provider.client.errors import ValidationApiError
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator
from toloka_provider.operators.quality import (
    TolokaCreateBonusesOperator,
    TolokaRestrictWorkersOperator,
    TolokaSendMessageOperator,
    TolokaSetUserSkillsOperator,
)
from toloka_provider.run_identity import RunIdentity
from toloka_provider.steps.quality import ban_action, ban_expiry, skill_values


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def stats_row(user_id: str, seen: int, accuracy: float | None) -> dict:
    return {"user_id": user_id, "golden_seen": seen, "golden_accuracy": accuracy}


def start(factory, monkeypatch, balance: str = "1000"):
    emulator = factory(crowd=4, seed=5, operation_delay=0.0, balance=Decimal(balance))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    client = TolokaClient(emulator.token, url=emulator.url, retries=1, timeout=10)
    workers = [w["user_id"] for w in requests.get(emulator.url + "/_emulator/workers", timeout=10).json()["items"]]
    return emulator, client, workers


@pytest.fixture
def emu(toloka_emulator_factory, monkeypatch):
    return start(toloka_emulator_factory, monkeypatch)


@pytest.fixture
def no_requests(monkeypatch):
    def refuse(self):
        raise AssertionError("no request may be made")

    monkeypatch.setattr(TolokaHook, "get_conn", refuse)


def ledger(client: TolokaClient) -> tuple[Decimal, list[tuple[str, str]]]:
    """The requester balance and the bonuses in Toloka as sorted ``(user_id, amount)``."""
    bonuses = sorted((b.user_id, str(b.amount.quantize(Decimal("0.01")))) for b in client.get_user_bonuses())
    return client.get_requester().balance, bonuses


def pay(path: str, **kwargs) -> TolokaCreateBonusesOperator:
    return TolokaCreateBonusesOperator(task_id="bonus", bonuses_path=path, max_total=kwargs.pop("max_total", 100),
                                       **kwargs)


# ------------------------------------------------------------------------------- bonuses: retry and re-run


def test_a_retry_pays_nothing_again_and_reports_what_was_paid(emu, tmp_path):
    _emulator, client, workers = emu
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": workers[0], "amount": "0.50"},
                                              {"user_id": workers[1], "amount": "0.25"}])
    balance, before = ledger(client)
    assert before == []
    first = pay(path).execute(make_context())
    assert first["created"] == 2 and first["already_paid"] == 0 and first["paid_total"] == "0.75"
    assert ledger(client) == (balance - Decimal("0.75"), sorted([(workers[0], "0.50"), (workers[1], "0.25")]))
    second = pay(path).execute(make_context())
    assert second == {
        "operation_id": None, "count": 2, "total": "0.75", "created": 0, "already_paid": 2, "not_in_inputs": 0,
        "paid_count": 2, "paid_total": "0.75", "failed": 0, "errors_sample": {},
    }
    assert ledger(client) == (balance - Decimal("0.75"), sorted([(workers[0], "0.50"), (workers[1], "0.25")]))


def test_a_rerun_with_a_grown_file_pays_only_the_new_lines(emu, tmp_path):
    _emulator, client, workers = emu
    rows = [{"user_id": workers[0], "amount": "0.50"}]
    balance, _ = ledger(client)
    pay(write_jsonl(tmp_path / "b.jsonl", rows)).execute(make_context())
    grown = [*rows, {"user_id": workers[1], "amount": "0.30"}, {"user_id": workers[0], "amount": "0.10"}]
    result = pay(write_jsonl(tmp_path / "b.jsonl", grown)).execute(make_context())
    assert (result["created"], result["already_paid"], result["paid_count"], result["paid_total"]) == (2, 1, 3, "0.90")
    assert result["count"] == 3 and result["total"] == "0.90" and result["operation_id"]
    assert ledger(client) == (
        balance - Decimal("0.90"), sorted([(workers[0], "0.50"), (workers[0], "0.10"), (workers[1], "0.30")])
    )
    # The same grown file once more: nothing more.
    again = pay(write_jsonl(tmp_path / "b.jsonl", grown)).execute(make_context())
    assert again["created"] == 0 and again["already_paid"] == 3
    assert ledger(client)[0] == balance - Decimal("0.90")


def test_a_rerun_with_a_shrunk_file_pays_nothing_and_reports_the_lines_no_longer_asked(emu, tmp_path):
    _emulator, client, workers = emu
    rows = [{"user_id": workers[0], "amount": "0.50"}, {"user_id": workers[1], "amount": "0.30"}]
    balance, _ = ledger(client)
    pay(write_jsonl(tmp_path / "b.jsonl", rows)).execute(make_context())
    result = pay(write_jsonl(tmp_path / "b.jsonl", rows[:1])).execute(make_context())
    assert result == {
        "operation_id": None, "count": 1, "total": "0.50", "created": 0, "already_paid": 1, "not_in_inputs": 1,
        "paid_count": 2, "paid_total": "0.80", "failed": 0, "errors_sample": {},
    }
    assert ledger(client) == (balance - Decimal("0.80"), sorted([(workers[0], "0.50"), (workers[1], "0.30")]))


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"amount": "0.75"}, r"paid 0.50 USD .*now asked 0.75 USD"),
        ({"public_title": "Another title"}, r'paid 0.50 USD titled \{"EN": "Bonus for good work"\}.*'
                                            r'now asked 0.50 USD titled \{"EN": "Another title"\}'),
    ],
)
def test_a_rerun_that_changes_a_paid_bonus_is_refused_naming_the_change_and_pays_nothing(emu, tmp_path, changed,
                                                                                          named):
    _emulator, client, workers = emu
    rows = [{"user_id": workers[0], "amount": "0.50"}]
    pay(write_jsonl(tmp_path / "b.jsonl", rows)).execute(make_context())
    before = ledger(client)
    changed_rows = [{**rows[0], **changed}, {"user_id": workers[1], "amount": "0.20"}]
    with pytest.raises(TolokaInputError, match=f"the bonus for user {workers[0]} changed since an earlier try.*{named}"):
        pay(write_jsonl(tmp_path / "b.jsonl", changed_rows)).execute(make_context())
    assert ledger(client) == before  # not even the new line of workers[1]


def test_another_run_and_another_map_index_are_other_payments(emu, tmp_path):
    _emulator, client, workers = emu
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": workers[0], "amount": "0.50"}])
    balance, _ = ledger(client)
    assert pay(path).execute(make_context())["created"] == 1
    assert pay(path).execute(make_context(map_index=0))["created"] == 1
    assert pay(path).execute(make_context(map_index=1))["created"] == 1
    assert pay(path).execute(make_context(run_id="run-2"))["created"] == 1
    assert pay(path).execute(make_context(map_index=1))["created"] == 0
    assert ledger(client) == (balance - Decimal("2.00"), [(workers[0], "0.50")] * 4)


def test_the_same_bonus_twice_in_a_file_is_refused(no_requests, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": "w1", "amount": "0.50"}, {"user_id": "w1", "amount": "0.5"}])
    with pytest.raises(TolokaInputError, match=r"bonus 2 repeats bonus 1 .*give each its 'assignment_id'"):
        pay(path).execute(make_context())
    distinct = write_jsonl(tmp_path / "c.jsonl", [{"user_id": "w1", "amount": "0.50", "assignment_id": "a1"},
                                                  {"user_id": "w1", "amount": "0.50", "assignment_id": "a2"}])
    assert len(pay(distinct).bonuses(_identity())) == 2


def _identity():
    return RunIdentity("dag", "run", "bonus")


# ------------------------------------------------------------------------------------------ bonuses: balance


def test_a_batch_beyond_the_balance_is_refused_with_nothing_paid(toloka_emulator_factory, monkeypatch, tmp_path):
    _emulator, client, workers = start(toloka_emulator_factory, monkeypatch, balance="1.00")
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": w, "amount": "0.40"} for w in workers])
    assert ledger(client) == (Decimal("1.00"), [])
    with pytest.raises(TolokaInputError, match=r"the 4 bonuses to pay add up to 1.60 USD, more than the requester's "
                                               r"balance 1(\.0+)? USD; nothing was paid"):
        pay(path).execute(make_context())
    assert ledger(client) == (Decimal("1.00"), [])
    # Only what is still to pay counts: two paid first, the other two then fit.
    pay(write_jsonl(tmp_path / "a.jsonl", [{"user_id": w, "amount": "0.40"} for w in workers[:2]])).execute(
        make_context())
    with pytest.raises(TolokaInputError, match=r"the 2 bonuses to pay add up to 0.80 USD, more than the requester's "
                                               r"balance 0.2(0)? USD"):
        pay(path).execute(make_context())
    assert ledger(client) == (Decimal("0.20"), sorted((w, "0.40") for w in workers[:2]))


# ------------------------------------------------------------------------------------ unknown users (refusals)


def _refusal(index: int, user_id: str) -> ValidationApiError:
    return ValidationApiError(
        status_code=400, code="VALIDATION_ERROR", message="nothing was created: 1 of 2 item(s) failed validation",
        request_id=None, payload={str(index): {"user_id": {"code": "USER_NOT_FOUND", "message": f"no user {user_id}"}}},
        method="POST", path="/api/v1/user-bonuses",
    )


def test_a_bonus_toloka_refuses_fails_the_task_naming_the_user(emu, tmp_path, monkeypatch):
    _emulator, client, workers = emu
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": workers[0], "amount": "0.50"},
                                              {"user_id": "nobody-1", "amount": "0.50"}])

    def refuse(self, items, **kwargs):
        assert [item["user_id"] for item in items] == [workers[0], "nobody-1"]
        raise _refusal(1, "nobody-1")

    monkeypatch.setattr(TolokaClient, "create_user_bonuses", refuse)
    before = ledger(client)
    with pytest.raises(TolokaApiFailure, match=r"refused 1 of the 2 bonuses to pay, and paid none of them \(not "
                                               r"retried\): user nobody-1: .*USER_NOT_FOUND"):
        pay(path).execute(make_context())
    assert ledger(client) == before


def test_a_message_toloka_refuses_fails_the_task_naming_the_recipients(emu, monkeypatch):
    _emulator, _client, workers = emu

    def refuse(self, **kwargs):
        raise _refusal(0, "nobody-1")

    monkeypatch.setattr(TolokaClient, "compose_message_thread", refuse)
    operator = TolokaSendMessageOperator(task_id="m", topic="t", text="x", user_ids=[workers[0], "nobody-1"])
    with pytest.raises(TolokaApiFailure, match=f"refused the message to {workers[0]}, nobody-1 \\(not retried"):
        operator.execute(make_context())


# ------------------------------------------------------------------------------------------------------- bans


def _restriction(client: TolokaClient, user_id: str, pool_id: str):
    items = client.find_user_restrictions(scope="POOL", user_id=user_id, pool_id=pool_id, limit=50).items
    assert len(items) == 1
    return items[0]


def _ban(stats: str, pool_id: str, duration: timedelta | None) -> TolokaRestrictWorkersOperator:
    return TolokaRestrictWorkersOperator(task_id="ban", statistics_path=stats, pool_id=pool_id, accuracy_below=0.6,
                                         duration=duration)


def _expiry(restriction) -> datetime:
    value = restriction.will_expire
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def test_a_longer_ban_extends_a_shorter_one_and_a_shorter_keeps_the_longer(emu, tmp_path):
    _emulator, client, workers = emu
    project_id = client.create_project(PROJECT).id
    pool_id = client.create_pool({**POOL, "project_id": project_id}).id
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row(workers[0], 10, 0.3)])
    hour = _ban(stats, pool_id, timedelta(hours=1)).execute(make_context())
    assert (hour["banned_count"], hour["extended"], hour["already_restricted"]) == (1, 0, 0)
    now = datetime.now(timezone.utc)
    assert now < _expiry(_restriction(client, workers[0], pool_id)) <= now + timedelta(hours=1, minutes=1)
    month = _ban(stats, pool_id, timedelta(days=30)).execute(make_context(run_id="run-2"))
    assert (month["banned_count"], month["extended"], month["already_restricted"]) == (1, 1, 0)
    assert _expiry(_restriction(client, workers[0], pool_id)) >= now + timedelta(days=29, hours=23)
    # A shorter ban asked later keeps the longer one.
    day = _ban(stats, pool_id, timedelta(days=1)).execute(make_context(run_id="run-3"))
    assert (day["banned_count"], day["extended"], day["already_restricted"]) == (0, 0, 1)
    assert _expiry(_restriction(client, workers[0], pool_id)) >= now + timedelta(days=29, hours=23)
    # A ban until lifted replaces a dated one; a dated one never shortens it.
    forever = _ban(stats, pool_id, None).execute(make_context(run_id="run-4"))
    assert forever["extended"] == 1 and _restriction(client, workers[0], pool_id).will_expire is None
    assert _ban(stats, pool_id, timedelta(days=30)).execute(make_context(run_id="run-5"))["already_restricted"] == 1
    assert _restriction(client, workers[0], pool_id).will_expire is None


@pytest.mark.parametrize("duration", [timedelta.max, timedelta(days=36501), timedelta(0), timedelta(seconds=-1)])
def test_a_ban_duration_that_cannot_be_a_date_is_an_input_error(duration):
    with pytest.raises(TolokaInputError, match=r"Argument 'duration' must be a positive datetime.timedelta of at most "
                                               r"36500 days, or None"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path="s", pool_id="p", accuracy_below=0.5,
                                      duration=duration)


# ------------------------------------------------------------------------------ inputs silently reinterpreted


def test_accuracies_must_be_fractions_not_percentages(no_requests, tmp_path):
    with pytest.raises(TolokaInputError, match=r"'accuracy_below' must be a fraction in \[0, 1\], got int 45"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path="s", pool_id="p", accuracy_below=45)
    with pytest.raises(TolokaInputError, match=r"'min_accuracy' must be a fraction in \[0, 1\], got int 90"):
        TolokaCreateBonusesOperator(task_id="b", statistics_path="s", top_n=1, amount=1, max_total=1, min_accuracy=90)
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("w1", 10, 0.9), stats_row("w2", 10, 45)])
    message = r"worker w2 \(object 2\): 'golden_accuracy' must be a fraction in \[0, 1\] \(0.9, not 90\) or null, got int 45"
    with pytest.raises(TolokaInputError, match=message):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, pool_id="p",
                                      accuracy_below=0.5).execute(make_context())
    with pytest.raises(TolokaInputError, match=message):
        TolokaSetUserSkillsOperator(task_id="s", skill_name="q", statistics_path=stats).execute(make_context())
    with pytest.raises(TolokaInputError, match=message):
        TolokaCreateBonusesOperator(task_id="b", statistics_path=stats, top_n=1, amount=1,
                                    max_total=1).execute(make_context())


def test_skill_values_outside_0_to_100_are_refused_not_clamped(no_requests, tmp_path):
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("w1", 10, 1.5)])
    with pytest.raises(TolokaInputError, match=r"'golden_accuracy' must be a fraction in \[0, 1\]"):
        TolokaSetUserSkillsOperator(task_id="s", skill_name="q", statistics_path=stats).execute(make_context())
    with pytest.raises(ValueError, match=r"skill value of worker w1' must be a number from 0 to 100, got Decimal"):
        skill_values({"w1": (1.2, 10)}, scale=100, min_answers=1)
    with pytest.raises(ValueError, match=r"must be a number from 0 to 100"):
        skill_values({"w1": (-0.1, 10)}, scale=100, min_answers=1)


@pytest.mark.parametrize("name", ["None", "none", "null", "", "   ", " q", "['a', 'b']"])
def test_a_skill_name_a_template_rendered_wrong_is_refused(no_requests, tmp_path, name):
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("w1", 10, 0.9)])
    with pytest.raises(TolokaInputError, match="Argument 'skill_name' must be"):
        TolokaSetUserSkillsOperator(task_id="s", skill_name=name, statistics_path=stats).execute(make_context())


@pytest.mark.parametrize(
    ("user_ids", "message"),
    [
        ("None", r"'user_ids' must be a non-empty string \(a user id\), not what a template renders"),
        ("['a', 'b']", r"'user_ids' must be a user id, not a list or dict rendered as a string"),
        ('["a", "b"]', r"'user_ids' must be a user id, not a list or dict rendered as a string"),
        ({"a": 1, "b": 2}, r"'user_ids' must be a list of user id strings, got dict"),
        (["a", "None"], r"'user_ids\[1\]' must be a non-empty string"),
        (["a", "  "], r"'user_ids\[1\]' must be a non-empty string \(a user id\), got str '  '"),
        ([], r"'user_ids' must be a non-empty list"),
    ],
)
def test_recipients_a_template_rendered_wrong_are_refused(no_requests, user_ids, message):
    operator = TolokaSendMessageOperator(task_id="m", topic="t", text="x", user_ids=user_ids)
    with pytest.raises(TolokaInputError, match=message):
        operator.execute(make_context())


@pytest.mark.parametrize("user_id", ["None", "['w1', 'w2']", " w1", "null"])
def test_a_bonus_to_a_user_id_a_template_rendered_wrong_is_refused(no_requests, tmp_path, user_id):
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": user_id, "amount": "0.10"}])
    with pytest.raises(TolokaInputError, match=r"Argument 'bonuses_path object 1 user_id' must be"):
        pay(path).execute(make_context())


def test_a_statistics_user_id_that_rendered_nothing_is_refused(no_requests, tmp_path):
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("None", 10, 0.1)])
    with pytest.raises(TolokaInputError, match=r"statistics_path object 1 user_id' must be a non-empty string"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, pool_id="p",
                                      accuracy_below=0.5).execute(make_context())


@pytest.mark.parametrize("pool_id", ["None", "[1, 2]"])
def test_a_ban_scope_id_a_template_rendered_wrong_is_refused(no_requests, tmp_path, pool_id):
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("w1", 10, 0.1)])
    with pytest.raises(TolokaInputError, match=r"Argument 'pool_id' must be"):
        TolokaRestrictWorkersOperator(task_id="b", statistics_path=stats, pool_id=pool_id,
                                      accuracy_below=0.5).execute(make_context())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": "t", "text": "   "}, r"Argument 'text' must be a non-empty string or a \{LANG: text\} dict"),
        ({"topic": "t", "text": {"EN": "\n\t"}}, r"Argument 'text' must be"),
        ({"topic": " ", "text": "x"}, r"Argument 'topic' must be"),
    ],
)
def test_a_message_of_only_whitespace_is_refused(kwargs, message):
    with pytest.raises(TolokaInputError, match=message):
        TolokaSendMessageOperator(task_id="m", user_ids=["w1"], **kwargs)


def test_a_bonus_message_of_only_whitespace_is_refused(no_requests, tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [{"user_id": "w1", "amount": "0.10", "public_message": " "}])
    with pytest.raises(TolokaInputError, match=r"'bonuses_path object 1 public_message' must be a non-empty string"):
        pay(path).execute(make_context())


NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _until(**delta) -> dict:
    return {"will_expire": (NOW + timedelta(**delta)).replace(tzinfo=None).isoformat()}


@pytest.mark.parametrize(
    ("existing", "duration", "action"),
    [
        ([], timedelta(days=30), "ban"),
        ([_until(hours=-1)], timedelta(days=30), "ban"),  # expired: a new ban
        ([_until(hours=1)], timedelta(days=30), "extend"),  # the 1-hour ban becomes the 30-day one
        ([_until(days=30)], timedelta(hours=1), "keep"),  # a shorter ban never shortens a longer one
        ([_until(days=30)], None, "extend"),  # until lifted is longer than any date
        ([{"will_expire": None}], timedelta(days=30), "keep"),
        ([_until(days=2)], timedelta(days=2, hours=3), "keep"),  # a retry 3 h later: the same ban
        ([_until(days=2)], timedelta(days=2, hours=6), "extend"),  # more than a tenth later: longer
        ([_until(days=30)], timedelta(days=30, hours=20), "keep"),  # the grace is at most a day ...
        ([_until(days=30)], timedelta(days=31, hours=1), "extend"),  # ... not more
        ([_until(hours=1), _until(days=40)], timedelta(days=30), "keep"),
    ],
)
def test_the_ban_rule(existing, duration, action):
    assert ban_action(existing, ban_expiry(duration, now=NOW), duration, now=NOW) == action


def test_an_xcom_dict_is_not_taken_as_the_list_of_its_keys(no_requests, tmp_path):
    operator = TolokaGetAssignmentsOperator(task_id="g", pool_id="1", statuses={"SUBMITTED": 3, "ACCEPTED": 2})
    with pytest.raises(TolokaInputError, match=r"Argument 'statuses' must be a status or a list of them, got dict"):
        operator.execute(make_context())
    stats = write_jsonl(tmp_path / "s.jsonl", [stats_row("w1", 10, 0.9)])
    skills = TolokaSetUserSkillsOperator(task_id="s", skill_name="q", source="agreement", labels_path=stats,
                                         assignments_path=stats, fields={"label": "x"})
    with pytest.raises(TolokaInputError, match=r"source 'agreement' needs 'fields': the output field names, got \{"):
        skills.execute(make_context())


def _inbox(emulator, user_id: str) -> list[str]:
    record = requests.get(f"{emulator.url}/_emulator/workers/{user_id}", timeout=10).json()
    return [message["text"]["EN"] for message in record["messages"]]


def test_a_rerun_with_more_recipients_messages_only_the_new_ones(emu):
    emulator, client, workers = emu
    first = TolokaSendMessageOperator(task_id="m", topic="News", text="New tasks", user_ids=workers[:2])
    assert first.execute(make_context()) == {"threads": 1, "recipients": 2, "already_sent": 0}
    grown = TolokaSendMessageOperator(task_id="m", topic="News", text="New tasks", user_ids=workers[:3])
    assert grown.execute(make_context()) == {"threads": 1, "recipients": 1, "already_sent": 1}
    assert [_inbox(emulator, w) for w in workers] == [["New tasks"], ["New tasks"], ["New tasks"], []]
    assert grown.execute(make_context()) == {"threads": 0, "recipients": 0, "already_sent": 2}
    shrunk = TolokaSendMessageOperator(task_id="m", topic="News", text="New tasks", user_ids=workers[:1])
    assert shrunk.execute(make_context()) == {"threads": 0, "recipients": 0, "already_sent": 1}
    assert len(list(client.get_message_threads(folder="OUTBOX"))) == 2
    # Another run messages them again.
    assert shrunk.execute(make_context(run_id="run-2")) == {"threads": 1, "recipients": 1, "already_sent": 0}
    assert _inbox(emulator, workers[0]) == ["New tasks", "New tasks"]
