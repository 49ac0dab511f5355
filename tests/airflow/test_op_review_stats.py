"""The review's per-worker statistics: one JSON line per worker, written atomically, its path in the XCom."""

from __future__ import annotations

import json

import pytest
from test_op_fakes import install, make_context

from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator
from toloka_provider.steps.review import Decision, worker_statistics


def _assignment(i, *, user, answers, golden, status="SUBMITTED", seconds=30):
    return {
        "id": f"a{i}", "pool_id": "1", "user_id": user, "status": status,
        "created": "2024-01-01T00:00:00", "submitted": f"2024-01-01T00:{seconds // 60:02d}:{seconds % 60:02d}",
        "tasks": [{"id": f"t{i}-{k}", **({"known_solutions": [{"output_values": {"label": g}}]} if g else {})}
                  for k, g in enumerate(golden)],
        "solutions": [{"output_values": {"label": a}} for a in answers],
    }  # fmt: skip


def _crowd():
    good = [_assignment(i, user="good", answers=("x", "neg"), golden=(None, "neg"), seconds=20 + 10 * i)
            for i in range(3)]  # fmt: skip
    bad = [
        _assignment(10 + i, user="bad", answers=("x", "pos"), golden=(None, "neg"), seconds=5)
        for i in range(2)
    ]
    lazy = [_assignment(20, user="lazy", answers=("x",), golden=(None,), seconds=90)]
    done = [
        _assignment(
            30, user="good", answers=("y", "neg"), golden=(None, "neg"), status="ACCEPTED", seconds=60
        )
    ]
    return good + bad + lazy + done


def _fake(monkeypatch, assignments):
    fake = install(monkeypatch)
    for a in assignments:
        fake.assignments[a["id"]] = dict(a)
    fake.create_pool({"project_id": "7"})
    return fake


EXPECTED = [
    {"user_id": "bad", "assignments": 2, "golden_seen": 2, "golden_correct": 0,
     "decisions": {"accept": 0, "reject": 2, "skip": 0}, "accuracy": 0.0, "median_seconds": 5.0},
    {"user_id": "good", "assignments": 4, "golden_seen": 4, "golden_correct": 4,
     "decisions": {"accept": 3, "reject": 0, "skip": 0}, "accuracy": 1.0, "median_seconds": 35.0},
    {"user_id": "lazy", "assignments": 1, "golden_seen": 0, "golden_correct": 0,
     "decisions": {"accept": 0, "reject": 0, "skip": 1}, "accuracy": None, "median_seconds": 90.0},
]  # fmt: skip


@pytest.mark.parametrize("dry_run", [False, True])
def test_review_writes_worker_statistics_and_returns_the_path(monkeypatch, tmp_path, dry_run):
    assignments = _crowd()
    fake = _fake(monkeypatch, assignments)
    stats = tmp_path / "stats" / "workers.jsonl"
    result = TolokaReviewAssignmentsOperator(
        task_id="r", assignments=assignments, dry_run=dry_run, worker_stats_path=str(stats),
        verdict={"golden_accuracy_threshold": 0.5, "no_golden": "skip"},
    ).execute(make_context())  # fmt: skip
    expected_counts = {"accepted": 3, "rejected": 2, "skipped": 2, "already_done": 0, "failed": 0}
    assert result == {**expected_counts, **({"dry_run": True} if dry_run else {}),
                      "worker_stats_path": f"file://{stats}"}  # fmt: skip
    assert [json.loads(line) for line in stats.read_text().splitlines()] == EXPECTED
    assert [p.name for p in stats.parent.iterdir()] == ["workers.jsonl"]  # no temporary file left
    sent = [name for name in fake.names() if name.endswith("_assignment")]
    assert sorted(sent) == ([] if dry_run else ["accept_assignment"] * 3 + ["reject_assignment"] * 2)
    assert len(json.dumps(result)) < 512


def test_statistics_from_a_file_input_are_the_same_and_a_retry_rewrites_them_identically(
    monkeypatch, tmp_path
):
    assignments = _crowd()
    _fake(monkeypatch, assignments)
    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    stats = tmp_path / "workers.jsonl"
    kwargs = dict(task_id="r", assignments_path=str(source), worker_stats_path=str(stats),
                  verdict={"golden_accuracy_threshold": 0.5, "no_golden": "skip"})  # fmt: skip
    first = TolokaReviewAssignmentsOperator(**kwargs).execute(make_context())
    content = stats.read_bytes()
    second = TolokaReviewAssignmentsOperator(**kwargs).execute(make_context())  # the retry: all already done
    assert first["accepted"] == 3 and second["already_done"] == 5
    assert stats.read_bytes() == content
    assert [json.loads(line) for line in content.decode().splitlines()] == EXPECTED


def test_without_the_argument_nothing_is_written_and_the_xcom_is_unchanged(monkeypatch, tmp_path):
    assignments = _crowd()
    _fake(monkeypatch, assignments)
    result = TolokaReviewAssignmentsOperator(task_id="r", assignments=assignments).execute(make_context())
    assert set(result) == {"accepted", "rejected", "skipped", "already_done", "failed"}


def test_an_unwritable_statistics_path_fails_before_any_decision_is_sent(monkeypatch, tmp_path):
    assignments = _crowd()
    fake = _fake(monkeypatch, assignments)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    operator = TolokaReviewAssignmentsOperator(
        task_id="r", assignments=assignments, worker_stats_path=str(blocker / "workers.jsonl")
    )
    with pytest.raises(
        TolokaInputError, match=r"^Argument 'worker_stats_path': cannot write .*workers\.jsonl"
    ):
        operator.execute(make_context())
    assert not [name for name in fake.names() if name.endswith("_assignment")]


def test_worker_statistics_tolerate_missing_and_unordered_times():
    rows = worker_statistics(
        [
            {"id": "1", "user_id": "w", "created": None, "submitted": "2024-01-01T00:00:10"},
            {"id": "2", "user_id": "w", "created": "2024-01-01T00:00:10", "submitted": "2024-01-01T00:00:00"},
            {"id": "3", "user_id": "w", "created": "not a date", "submitted": "2024-01-01T00:00:00"},
        ],
        [Decision("1", "accept", None)],
    )
    assert rows == [{"user_id": "w", "assignments": 3, "golden_seen": 0, "golden_correct": 0,
                     "decisions": {"accept": 1, "reject": 0, "skip": 0}, "accuracy": None,
                     "median_seconds": None}]  # fmt: skip
