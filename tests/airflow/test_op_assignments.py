"""TolokaGetAssignmentsOperator (windows, inline limit, JSONL output) and TolokaReviewAssignmentsOperator."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowException
from test_op_fakes import install, make_context

from toloka_provider.client.errors import InternalApiError
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
    golden_accuracy_by_worker,
)


def _assignment(i: int, *, user="u1", status="SUBMITTED", answers=("pos",), golden=(None,), pool_id="1"):
    return {
        "id": f"a{i:05d}",
        "pool_id": pool_id,
        "user_id": user,
        "status": status,
        "submitted": f"2024-01-01T00:{i % 60:02d}:00",
        "tasks": [
            {"id": f"t{i}-{k}", "input_values": {"text": "x"},
             **({"known_solutions": [{"output_values": {"label": g}}]} if g else {})}
            for k, g in enumerate(golden)
        ],
        "solutions": [{"output_values": {"label": a}} for a in answers],
    }


# ---------------------------------------------------------------------------------------------------- get


def _install_with_pool(monkeypatch):
    """The fake with pool "1" (the operators read the pool before fetching: a missing one is an error)."""
    fake = install(monkeypatch)
    assert fake.create_pool({"project_id": "7"}).id == "1"
    return fake


def test_data_interval_window_with_lag(monkeypatch):
    fake = _install_with_pool(monkeypatch)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    context = {**make_context(), "data_interval_start": start, "data_interval_end": start + timedelta(hours=1)}
    TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(context)
    (_, _, filters), = [c for c in fake.calls if c[0] == "get_assignments_raw"]
    assert filters == {"batch_size": None, "pool_id": "1", "status": ["SUBMITTED"],
                       "submitted_gte": start - timedelta(minutes=1),
                       "submitted_lt": start + timedelta(minutes=59)}


def test_explicit_window_and_no_window(monkeypatch):
    fake = _install_with_pool(monkeypatch)
    TolokaGetAssignmentsOperator(task_id="t", pool_id="1", statuses="ACCEPTED",
                                 submitted_gte="2024-01-01T00:00:00").execute(make_context())
    TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(make_context())  # no data interval
    first, second = [kw for name, _, kw in fake.calls if name == "get_assignments_raw"]
    assert first == {"batch_size": None, "pool_id": "1", "status": ["ACCEPTED"],
                     "submitted_gte": "2024-01-01T00:00:00"}
    assert second == {"batch_size": None, "pool_id": "1", "status": ["SUBMITTED"]}
    with pytest.raises(TolokaInputError, match="no data interval"):
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1", use_data_interval=True).execute(make_context())


def test_inline_result_and_the_limit(monkeypatch):
    fake = _install_with_pool(monkeypatch)
    fake.assignment_pages = [[_assignment(i) for i in range(3)], [_assignment(3)]]
    assert len(TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(make_context())) == 4
    with pytest.raises(TolokaInputError, match=r"More than max_inline=3 .*Pass output="):
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1", max_inline=3).execute(make_context())


def test_ten_thousand_assignments_to_a_file_keep_the_xcom_small(monkeypatch, tmp_path):
    fake = _install_with_pool(monkeypatch)
    fake.assignment_pages = [
        [_assignment(p * 1000 + i, status="ACCEPTED" if i % 4 == 0 else "SUBMITTED") for i in range(1000)]
        for p in range(10)
    ]
    output = tmp_path / "out" / "assignments.jsonl"
    result = TolokaGetAssignmentsOperator(task_id="t", pool_id="1", statuses=["SUBMITTED", "ACCEPTED"],
                                          output=str(output)).execute(make_context())
    assert result == {"path": f"file://{output}", "count": 10000, "max_submitted": "2024-01-01T00:59:00",
                      "status_counts": {"ACCEPTED": 2500, "SUBMITTED": 7500}}
    assert len(json.dumps(result)) < 2048
    lines = output.read_text().splitlines()
    assert len(lines) == 10000 and json.loads(lines[0])["id"] == "a00000"
    assert [p.name for p in output.parent.iterdir()] == ["assignments.jsonl"]  # no temp file left
    with pytest.raises(TolokaInputError, match="Pass output="):
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(make_context())


def test_a_failing_fetch_leaves_no_file(monkeypatch, tmp_path):
    fake = _install_with_pool(monkeypatch)

    def pages():
        yield [_assignment(0)]
        raise InternalApiError(500, "INTERNAL_ERROR", "boom", "r", None, "GET", "/api/v1/assignments")

    fake.assignment_pages = pages()
    output = tmp_path / "a.jsonl"
    with pytest.raises(InternalApiError):
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1", output=str(output)).execute(make_context())
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------- review


def _load(fake, assignments):
    for a in assignments:
        fake.assignments[a["id"]] = dict(a)
    fake.create_pool({"project_id": "7"})


def test_accept_all_and_retry_after_a_partial_first_try(monkeypatch):
    fake = install(monkeypatch)
    assignments = [_assignment(i) for i in range(10)]
    _load(fake, assignments)
    for a in assignments[:4]:  # the first try got this far before it died
        fake.assignments[a["id"]]["status"] = "ACCEPTED"
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=assignments, concurrency=3)
    result = operator.execute(make_context())
    assert result == {"accepted": 6, "rejected": 0, "skipped": 0, "already_done": 4, "failed": 0}
    assert all(a["status"] == "ACCEPTED" for a in fake.assignments.values())


def test_golden_verdict_by_worker_accuracy(monkeypatch, tmp_path):
    fake = install(monkeypatch)
    good = [_assignment(i, user="good", answers=("pos", "neg"), golden=(None, "neg")) for i in range(3)]
    bad = [_assignment(10 + i, user="bad", answers=("pos", "pos"), golden=(None, "neg")) for i in range(3)]
    nogold = [_assignment(20, user="new")]
    done = [_assignment(30, user="bad", status="ACCEPTED")]
    everything = good + bad + nogold + done
    _load(fake, everything)
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in everything))
    verdict = {"golden_accuracy_threshold": 0.8, "reject_comment": "Control tasks failed"}
    result = TolokaReviewAssignmentsOperator(task_id="t", assignments_path=str(path), verdict=verdict).execute(
        make_context()
    )
    assert result == {"accepted": 4, "rejected": 3, "skipped": 1, "already_done": 0, "failed": 0}
    assert {fake.assignments[a["id"]]["public_comment"] for a in bad} == {"Control tasks failed"}
    assert golden_accuracy_by_worker(everything) == {"good": (3, 3), "bad": (0, 3)}


def test_dry_run_sends_nothing(monkeypatch):
    fake = install(monkeypatch)
    assignments = [_assignment(i) for i in range(3)]
    _load(fake, assignments)
    result = TolokaReviewAssignmentsOperator(task_id="t", assignments=assignments, dry_run=True).execute(
        make_context()
    )
    assert result == {"accepted": 3, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0, "dry_run": True}
    assert not [c for c in fake.calls if c[0] in ("accept_assignment", "reject_assignment")]


def verdict_by_answer(assignment):
    answer = assignment["solutions"][0]["output_values"]["label"]
    return {"pos": "accept", "neg": ("reject", "wrong"), "skip": "skip"}.get(answer, answer)


def test_callable_verdict_by_dotted_path(monkeypatch):
    fake = install(monkeypatch)
    assignments = [_assignment(0, answers=("pos",)), _assignment(1, answers=("neg",)),
                   _assignment(2, answers=("skip",))]
    _load(fake, assignments)
    module = sys.modules[__name__].__name__
    result = TolokaReviewAssignmentsOperator(
        task_id="t", assignments=assignments, verdict=f"{module}.verdict_by_answer"
    ).execute(make_context())
    assert result == {"accepted": 1, "rejected": 1, "skipped": 1, "already_done": 0, "failed": 0}
    assert fake.assignments["a00001"]["public_comment"] == "wrong"


def test_callable_returning_junk_fails_before_any_request(monkeypatch):
    fake = install(monkeypatch)
    assignments = [_assignment(0, answers=("pos",)), _assignment(1, answers=("maybe",))]
    _load(fake, assignments)
    module = sys.modules[__name__].__name__
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=assignments,
                                               verdict=f"{module}.verdict_by_answer")
    with pytest.raises(TolokaInputError, match=r"verdict_by_answer returned 'maybe' for assignment a00001"):
        operator.execute(make_context())
    assert "accept_assignment" not in fake.names()


def test_verdict_that_cannot_be_imported(monkeypatch):
    install(monkeypatch)
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=[_assignment(0)],
                                               verdict="no_such_module.decide")
    with pytest.raises(TolokaInputError, match=r"'no_such_module\.decide' .*cannot be imported"):
        operator.execute(make_context())


def test_failures_are_counted_and_fail_the_task_after_the_batch(monkeypatch):
    fake = install(monkeypatch)
    assignments = [_assignment(i) for i in range(5)]
    _load(fake, assignments)
    fake.assignments["a00001"]["status"] = "REJECTED"  # someone rejected it: accepting again is allowed
    fake.assignments["a00002"]["status"] = "ACCEPTED"
    fake.fail_patch["a00003"] = InternalApiError(500, "INTERNAL_ERROR", "boom", "r", None, "PATCH", "/a")
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=assignments,
                                               verdict={"golden_accuracy_threshold": 0.5, "no_golden": "reject"})
    with pytest.raises(AirflowException, match=r"2 of 5 review decisions failed.*a00002: is ACCEPTED, wanted REJECTED"):
        operator.execute(make_context())
    assert fake.assignments["a00004"]["status"] == "REJECTED"  # the batch went on


def test_fetches_submitted_itself_and_warns_past_auto_accept(monkeypatch, capsys):
    fake = install(monkeypatch)
    old = _assignment(0, answers=("neg",))
    _load(fake, [old])
    fake.pools["1"].auto_accept_period_day = 7
    fake.assignment_pages = [[old]]
    module = sys.modules[__name__].__name__
    operator = TolokaReviewAssignmentsOperator(task_id="t", pool_id="1", verdict=f"{module}.verdict_by_answer")
    result = operator.execute(make_context())
    assert result["rejected"] == 1
    assert ("get_assignments_raw", (), {"batch_size": None, "pool_id": "1", "status": ["SUBMITTED"]}) in [
        (n, a, {"batch_size": None, **k}) for n, a, k in fake.calls
    ]
    assert "past their pool's auto-accept period" in capsys.readouterr().out


def test_review_argument_errors():
    with pytest.raises(TolokaInputError, match="at most one"):
        TolokaReviewAssignmentsOperator(task_id="t", assignments=[], assignments_path="x")
    with pytest.raises(TolokaInputError, match="Give 'assignments'"):
        TolokaReviewAssignmentsOperator(task_id="t")
    operator = TolokaReviewAssignmentsOperator(task_id="t", assignments=[], verdict={"threshold": 1})
    with pytest.raises(TolokaInputError, match="golden_accuracy_threshold"):
        operator.decide([_assignment(0)])


def test_review_streams_its_input_and_keeps_only_small_decisions(monkeypatch, tmp_path):
    """The assignments file is read item by item (twice for golden scoring); what is kept is a Decision per item."""
    from toloka_provider.operators import assignments as module

    fake = install(monkeypatch)
    everything = [_assignment(i, user="good", answers=("pos", "neg"), golden=(None, "neg")) for i in range(3)]
    everything += [_assignment(10 + i, user="bad", answers=("pos", "pos"), golden=(None, "neg")) for i in range(2)]
    _load(fake, everything)
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in everything))
    reads = []
    real_iter_jsonl = module.iter_jsonl_numbered

    def counting_iter_jsonl(source, *, argument):
        reads.append(argument)
        yield from real_iter_jsonl(source, argument=argument)

    monkeypatch.setattr(module, "iter_jsonl_numbered", counting_iter_jsonl)
    operator = TolokaReviewAssignmentsOperator(
        task_id="t", assignments_path=str(path), verdict={"golden_accuracy_threshold": 0.8, "reject_comment": "No"}
    )
    with operator.assignments_source(fake) as source:
        assert not isinstance(source, list)  # a file is never loaded as a whole
        decisions = operator.decide(source)
    assert reads == ["assignments_path", "assignments_path"]  # scored, then decided: two streaming passes
    assert decisions == [
        module.Decision(a["id"], "accept" if a["user_id"] == "good" else "reject",
                        None if a["user_id"] == "good" else "No", "1", a["submitted"])
        for a in everything
    ]


def test_review_of_a_pool_spools_to_a_temporary_file_and_removes_it(monkeypatch, tmp_path):
    """Fetching the pool's SUBMITTED assignments itself: pages go to a temp file, which is gone afterwards,
    also when the batch fails."""
    import tempfile

    fake = install(monkeypatch)
    page = [_assignment(i) for i in range(4)]
    _load(fake, page)
    fake.assignment_pages = [page[:2], page[2:]]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fake.fail_patch["a00003"] = InternalApiError(
        status_code=500, code="INTERNAL_ERROR", message="boom", request_id="r", payload=None
    )
    operator = TolokaReviewAssignmentsOperator(task_id="t", pool_id="1", verdict="accept_all")
    with pytest.raises(AirflowException, match="1 of 4 review decisions failed"):
        operator.execute(make_context())
    assert [fake.assignments[a["id"]]["status"] for a in page] == ["ACCEPTED"] * 3 + ["SUBMITTED"]
    assert list(tmp_path.iterdir()) == []
