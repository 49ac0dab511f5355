"""``TolokaAggregateLocallyOperator(backend=...)``: checked when the DAG is parsed (the value) and when the
task runs (numpy installed for ``"numpy"``), and both backends write the same files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))

from test_op_fakes import make_context

from toloka_provider import aggregation as agg
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator


def _assignments(path: Path) -> Path:
    rows = []
    for user, answers in {"r1": "aab", "r2": "aab", "r3": "abb", "spam": "bbb"}.items():
        rows.append(
            {
                "id": f"a-{user}",
                "user_id": user,
                "status": "SUBMITTED",
                "tasks": [{"id": f"t{i}", "input_values": {"n": i}} for i in range(3)],
                "solutions": [{"output_values": {"c": label}} for label in answers],
            }
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _operator(tmp_path: Path, backend: str, method: str = "dawid_skene") -> TolokaAggregateLocallyOperator:
    return TolokaAggregateLocallyOperator(
        task_id="t",
        assignments_path=str(_assignments(tmp_path / "a.jsonl")),
        fields=["c"],
        method=method,
        output=str(tmp_path / f"labels-{backend}.jsonl"),
        worker_quality_output=str(tmp_path / f"q-{backend}.jsonl"),
        backend=backend,
    )


def test_an_unknown_backend_fails_when_the_dag_is_parsed(tmp_path):
    with pytest.raises(
        TolokaInputError, match=r"^'backend' must be one of 'auto', 'python', 'numpy', got 'gpu'$"
    ):
        _operator(tmp_path, "gpu")


def test_numpy_missing_on_the_worker_fails_the_task_naming_the_argument(tmp_path, monkeypatch):
    operator = _operator(tmp_path, "numpy")  # parsing does not need numpy
    monkeypatch.setattr(agg, "_numpy_module", lambda: None)
    with pytest.raises(
        TolokaInputError,
        match=r"^Argument 'backend': backend 'numpy' needs numpy, which is not "
        r"installed: pip install 'toloka-airflow-provider\[fast\]'$",
    ):
        operator.execute(make_context())
    assert not (tmp_path / "labels-numpy.jsonl").exists()
    # "auto" falls back to pure Python there.
    assert _operator(tmp_path, "auto").execute(make_context())["count"] == 3


@pytest.mark.parametrize("method", list(agg.METHODS))
def test_both_backends_write_the_same_labels_and_qualities(tmp_path, method):
    pytest.importorskip("numpy", reason="the numpy backend needs the 'fast' extra")
    for backend in ("python", "numpy"):
        result = _operator(tmp_path, backend, method).execute(make_context())
        assert result["count"] == 3 and result["method"] == method
    for prefix in ("labels", "q"):
        python = (tmp_path / f"{prefix}-python.jsonl").read_text()
        assert python and python == (tmp_path / f"{prefix}-numpy.jsonl").read_text(), prefix
