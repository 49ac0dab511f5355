"""The two backends of ``toloka_provider.aggregation`` agree: same labels, confidences and worker qualities
within 1e-9, same EM iteration counts, on seeded crowds and on the corner cases; and the ``backend``
argument is checked. The numpy comparisons are skipped where numpy is not installed (the ``fast`` extra).
"""

from __future__ import annotations

import random

import pytest
from synthetic_crowd import make_crowd

from toloka_provider import aggregation as agg

NAMES = list(agg.METHODS)


def _numpy():
    return pytest.importorskip("numpy", reason="the numpy backend needs the 'fast' extra")


def _assert_same(python: agg.AggregationResult, fast: agg.AggregationResult) -> None:
    assert {t: label for t, (label, _) in python.labels.items()} == {
        t: label for t, (label, _) in fast.labels.items()
    }
    for task, (_, confidence) in python.labels.items():
        assert fast.labels[task][1] == pytest.approx(confidence, abs=1e-9, rel=0), task
    assert python.worker_quality.keys() == fast.worker_quality.keys()
    for worker, quality in python.worker_quality.items():
        assert fast.worker_quality[worker] == pytest.approx(quality, abs=1e-9, rel=0), worker
    assert python.iterations == fast.iterations
    # Plain Python values come back from both (JSON-ready, no numpy scalars).
    assert {type(c) for _, c in fast.labels.values()} == {float}
    assert {type(q) for q in fast.worker_quality.values()} == {float}


def _both(method: str, answers: list, **kwargs) -> tuple[agg.AggregationResult, agg.AggregationResult]:
    run = agg.METHODS[method]
    return run(answers, backend="python", **kwargs), run(answers, backend="numpy", **kwargs)


@pytest.mark.parametrize("method", NAMES)
@pytest.mark.parametrize("seed", [3, 7, 19])
def test_backends_agree_on_seeded_crowds(method, seed):
    _numpy()
    answers, _, _ = make_crowd(seed=seed, tasks=400, workers=30, classes=3 + seed % 3)
    _assert_same(*_both(method, answers))


@pytest.mark.parametrize("method", NAMES)
@pytest.mark.parametrize("seed", [5, 11])
def test_backends_agree_with_golden_initialisation(method, seed):
    _numpy()
    answers, _, golden = make_crowd(seed=seed, tasks=400, workers=30, golden_share=0.1)
    python, fast = _both(method, answers, golden=golden)
    _assert_same(python, fast)
    assert all(python.labels[task] == (label, 1.0) for task, label in golden.items())


def _corner_cases() -> list[tuple[str, str, str]]:
    rng = random.Random(2)
    answers = []
    for i in range(40):
        workers = rng.sample([f"w{j}" for j in range(8)], 3)
        answers += [(f"t{i:02d}", w, rng.choice("abc")) for w in workers]
    answers += [
        ("tie", "w0", "a"),
        ("tie", "w1", "b"),  # two votes, two labels: a tie for the voting methods
        ("mirror", "s1", "a"),
        ("mirror", "s2", "b"),  # two workers seen once, symmetric: a tie for every method
        ("alone", "w3", "c"),  # a task with one answer
        ("t00", "once", "b"),  # a worker with one answer
        ("rare", "w5", "d"),  # "d": a class chosen once, by nobody else for any other task
    ]
    return answers


@pytest.mark.parametrize("method", NAMES)
def test_backends_agree_on_corner_cases(method):
    _numpy()
    answers = _corner_cases()
    python, fast = _both(method, answers)
    _assert_same(python, fast)
    assert python.labels["alone"][0] == "c"
    if method in ("majority", "wawa"):  # the EM methods weigh in class priors, which differ here
        # The tie goes to the smallest label; Wawa then weighs s1 (who agreed with that) 1 and s2 0.
        assert python.labels["mirror"] == ("a", 0.5 if method == "majority" else 1.0)
        assert python.labels["rare"] == ("d", 1.0)
    python_g, fast_g = _both(method, answers, golden={"t01": "a", "t02": "c", "tie": "b"})
    _assert_same(python_g, fast_g)
    assert python_g.labels["tie"] == ("b", 1.0)


@pytest.mark.parametrize("method", NAMES)
def test_backends_agree_on_one_label_and_on_one_answer(method):
    _numpy()
    _assert_same(*_both(method, [("t1", "w1", "only")]))
    _assert_same(*_both(method, [("t1", "w1", "x"), ("t2", "w1", "x"), ("t2", "w2", "x")]))


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_ties_go_to_the_smallest_label(backend):
    if backend == "numpy":
        _numpy()
    # Two workers with mirrored histories and balanced classes: every method's posteriors for "m" tie
    # (up to rounding in the sums).
    answers = [(f"t{i}", "p", "a" if i % 2 else "b") for i in range(6)]
    answers += [(f"t{i}", "q", "b" if i % 2 else "a") for i in range(6)]
    answers += [("m", "p", "b"), ("m", "q", "a")]
    for name in NAMES:
        label, confidence = agg.METHODS[name](answers, backend=backend).labels["m"]
        assert label == "a", name
        if name != "wawa":  # Wawa's weights come from the majority's tie-breaks, so they differ
            assert confidence == pytest.approx(0.5, abs=1e-9), name


def test_auto_is_numpy_when_importable_and_python_otherwise(monkeypatch):
    expected = "numpy" if agg.numpy_available() else "python"
    assert agg.resolve_backend("auto") == expected
    assert agg.resolve_backend("python") == "python"
    monkeypatch.setattr(agg, "_numpy_module", lambda: None)
    assert agg.resolve_backend("auto") == "python"
    assert agg.majority_vote([("t1", "w1", "x")], backend="auto").labels == {"t1": ("x", 1.0)}
    with pytest.raises(
        ValueError,
        match=r"^backend 'numpy' needs numpy, which is not installed: pip install "
        r"'toloka-airflow-provider\[fast\]'$",
    ):
        agg.dawid_skene([("t1", "w1", "x")], backend="numpy")


@pytest.mark.parametrize("method", NAMES)
def test_an_unknown_backend_is_refused_before_any_work(method):
    with pytest.raises(ValueError, match=r"^backend must be one of 'auto', 'python', 'numpy', got 'gpu'$"):
        agg.METHODS[method]([], backend="gpu")  # the backend is checked first: no "no answers" error
    with pytest.raises(ValueError, match=r"^backend must be one of .*, got 'gpu'$"):
        agg.aggregate([("t1", "w1", "x")], "majority", backend="gpu")
