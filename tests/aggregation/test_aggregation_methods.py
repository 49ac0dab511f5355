"""Local aggregation methods on small hand-made crowds: exact labels, confidences, worker quality, errors."""

from __future__ import annotations

import math

import pytest

from toloka_provider import aggregation as agg

ALL = list(agg.METHODS.values())


def _labels(result: agg.AggregationResult) -> dict:
    return {task: label for task, (label, _) in result.labels.items()}


@pytest.mark.parametrize("method", ALL, ids=list(agg.METHODS))
def test_unanimous_answers_win_with_full_confidence(method):
    answers = [("t1", w, "cat") for w in ("a", "b", "c")] + [("t2", w, "dog") for w in ("a", "b", "c")]
    result = method(answers)
    assert _labels(result) == {"t1": "cat", "t2": "dog"}
    assert all(confidence == pytest.approx(1.0, abs=1e-3) for _, confidence in result.labels.values())
    assert set(result.worker_quality) == {"a", "b", "c"}
    assert all(q == pytest.approx(1.0, abs=1e-3) for q in result.worker_quality.values())


def test_majority_vote_share_and_tie_break():
    answers = [("t1", "a", "x"), ("t1", "b", "y"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "x")]
    result = agg.majority_vote(answers)
    assert result.labels["t1"] == ("y", pytest.approx(2 / 3))
    # A tie goes to the smallest label, whatever the order of the answers.
    assert result.labels["t2"] == ("x", 0.5)
    assert agg.majority_vote(list(reversed(answers))).labels["t2"] == ("x", 0.5)
    # Quality: agreement with the aggregate. a: t1 no, t2 no -> 0; b: yes, yes -> 1; c: yes -> 1.
    assert result.worker_quality == {"a": 0.0, "b": 1.0, "c": 1.0}


def _reliable_vs_noisy() -> list[tuple[str, str, str]]:
    """Three reliable workers agree everywhere; two colluding spammers always say "z"."""
    answers = []
    for i in range(30):
        truth = "x" if i % 2 else "y"
        task = f"t{i:02d}"
        answers += [(task, w, truth) for w in ("good1", "good2", "good3")]
        answers += [(task, w, "z") for w in ("spam1", "spam2")]
    return answers


@pytest.mark.parametrize("method", [agg.wawa, agg.one_coin_dawid_skene, agg.dawid_skene], ids=["wawa", "one_coin", "ds"])
def test_quality_separates_reliable_workers_from_spammers(method):
    result = method(_reliable_vs_noisy())
    quality = result.worker_quality
    assert min(quality["good1"], quality["good2"], quality["good3"]) > 0.9
    assert max(quality["spam1"], quality["spam2"]) < 0.1
    assert all(label in ("x", "y") for label in _labels(result).values())


def test_weighted_vote_overrules_a_majority_of_unreliable_workers():
    # Two workers who disagree with everyone else elsewhere outvote one reliable worker by count on t_hard,
    # but weigh less: Wawa follows the reliable one.
    answers = []
    for i in range(20):
        task = f"t{i}"
        answers += [(task, "good", "a"), (task, "peer1", "a"), (task, "peer2", "a")]
        answers += [(task, "bad1", "b"), (task, "bad2", "c")]
    answers += [("t_hard", "good", "a"), ("t_hard", "bad1", "b"), ("t_hard", "bad2", "b")]
    assert agg.majority_vote(answers).labels["t_hard"][0] == "b"
    assert agg.wawa(answers).labels["t_hard"][0] == "a"


@pytest.mark.parametrize("method", ALL, ids=list(agg.METHODS))
def test_golden_tasks_keep_their_known_label(method):
    answers = [("g1", "a", "x"), ("g1", "b", "x"), ("g1", "c", "y"), ("t1", "a", "y"), ("t1", "c", "y")]
    result = method(answers, golden={"g1": "y", "not_answered": "x"})
    assert result.labels["g1"] == ("y", 1.0)
    assert "not_answered" not in result.labels


def test_golden_initialisation_trusts_the_worker_who_is_right_on_golden():
    # "lone" is right on every golden task, the pair is wrong there; on t1 the pair outvote "lone".
    answers = []
    for i in range(10):
        answers += [(f"g{i}", "lone", "x"), (f"g{i}", "pair1", "y"), (f"g{i}", "pair2", "y")]
    answers += [("t1", "lone", "x"), ("t1", "pair1", "y"), ("t1", "pair2", "y")]
    golden = {f"g{i}": "x" for i in range(10)}
    assert agg.majority_vote(answers).labels["t1"][0] == "y"
    for method in (agg.wawa, agg.one_coin_dawid_skene, agg.dawid_skene):
        result = method(answers, golden=golden)
        assert result.labels["t1"][0] == "x", method.__name__
        assert result.worker_quality["lone"] > result.worker_quality["pair1"], method.__name__


@pytest.mark.parametrize("method", ALL, ids=list(agg.METHODS))
def test_confidences_are_probabilities_and_results_are_deterministic(method):
    answers = [(f"t{i % 7}", f"w{i % 5}", f"l{(i * 3) % 4}") for i in range(60)]
    first = method(answers)
    second = method(list(reversed(answers)))
    assert first.labels == second.labels
    for _label, confidence in first.labels.values():
        assert 0.0 <= confidence <= 1.0 and math.isfinite(confidence)
    assert all(0.0 <= q <= 1.0 for q in first.worker_quality.values())


@pytest.mark.parametrize("method", ALL, ids=list(agg.METHODS))
def test_a_single_label_and_a_single_answer(method):
    result = method([("t1", "w1", "only")])
    assert result.labels == {"t1": ("only", pytest.approx(1.0))}


def test_mixed_label_types_sort_without_error():
    result = agg.majority_vote([("t1", "a", 1), ("t1", "b", "1"), (2, "c", 1)])
    assert result.labels[2] == (1, 1.0)


@pytest.mark.parametrize("bad", [[], [("t1", "a")], [["t1", "a", "x"]], [("t1", "a", "x", "extra")]])
def test_bad_answers_are_refused_with_the_shape_expected(bad):
    with pytest.raises(ValueError, match=r"no answers|\(task_id, worker_id, label\)"):
        agg.dawid_skene(bad)


def test_unknown_golden_label_and_unknown_method():
    with pytest.raises(ValueError, match="golden label 'q' of task 't1'"):
        agg.dawid_skene([("t1", "a", "x")], golden={"t1": "q"})
    with pytest.raises(ValueError, match=r"method must be one of \['dawid_skene', 'majority', 'one_coin', 'wawa'\]"):
        agg.aggregate([("t1", "a", "x")], "glad")


def test_em_stops_within_its_iteration_budget():
    answers = [(f"t{i}", f"w{(i * 7 + j) % 9}", f"l{(i + j * (i % 3)) % 3}") for i in range(50) for j in range(3)]
    for method in (agg.one_coin_dawid_skene, agg.dawid_skene):
        assert 1 <= method(answers, max_iterations=3).iterations <= 3
