"""Operators against the emulator at their edges: a wrong pool id, a bad task file, a verdict that fails.

Through the real hook and client: each case fails with the exact class, names the argument (the file, line
and column), never shows the token, and leaves nothing behind on the server (nothing created, nothing
decided) or on disk (no output, no temporary file).
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
from rel_b_support import connection_json, make_context, text_classification_setup

from toloka_provider.client import TolokaClient
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.tasks import TolokaCreateTasksOperator

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


@pytest.fixture(scope="module")
def world():
    from toloka_provider.emulator import TolokaEmulator

    with TolokaEmulator(crowd=0, operation_delay=0.0) as emu:
        client = TolokaClient(emu.token, url=emu.url)
        _, pool = text_classification_setup(client)
        emu.bulk_load_assignments(pool.id, 3)
        yield emu, str(pool.id)
        client.close()


@pytest.fixture
def emu_pool(world, monkeypatch):
    emu, pool_id = world
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", connection_json(host=emu.url, password=emu.token))
    return emu, pool_id


def _state(emu) -> dict[str, Any]:
    counters = emu.counters()
    return {
        "created": {kind: n for kind, n in counters["created"].items() if kind != "operation"},
        "decided": (counters["assignments_accepted"], counters["assignments_rejected"]),
    }


def _fails(emu, tmp_path, run, error_class, *fragments: str) -> str:
    before, files = _state(emu), sorted(tmp_path.rglob("*"))
    with pytest.raises(error_class) as raised:
        run()
    assert type(raised.value) is error_class, f"{type(raised.value).__name__}: {raised.value}"
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message
    assert emu.token not in message and emu.token not in repr(raised.value.args)
    assert _state(emu) == before
    assert sorted(tmp_path.rglob("*")) == files
    return message


@pytest.mark.parametrize("pool_id", ["999999", "12x"])
def test_fetch_from_a_pool_that_does_not_exist(emu_pool, tmp_path, pool_id):
    emu, _ = emu_pool
    operator = TolokaGetAssignmentsOperator(
        task_id="get", pool_id=pool_id, output=str(tmp_path / "out" / "a.jsonl")
    )
    _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaApiFailure,
           f"Argument 'pool_id': Toloka pool {pool_id} does not exist for this account and environment",
           f"GET /api/v1/pools/{pool_id}", "(not retried)")  # fmt: skip


@pytest.mark.parametrize("pool_id", ["None", ""])
def test_fetch_and_review_of_a_none_or_empty_pool_id(emu_pool, tmp_path, pool_id):
    emu, _ = emu_pool
    for operator in (
        TolokaGetAssignmentsOperator(task_id="get", pool_id=pool_id, output=str(tmp_path / "a.jsonl")),
        TolokaReviewAssignmentsOperator(task_id="review", pool_id=pool_id),
    ):
        _fails(emu, tmp_path, lambda op=operator: op.execute(make_context()), TolokaInputError,
               f"Argument 'pool_id' must be a pool id, got {pool_id!r}")  # fmt: skip


def test_review_of_a_pool_that_does_not_exist(emu_pool, tmp_path):
    emu, _ = emu_pool
    operator = TolokaReviewAssignmentsOperator(task_id="review", pool_id="999999")
    _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaApiFailure,
           "Argument 'pool_id'", "pool '999999' does not exist")  # fmt: skip


def test_a_task_file_broken_after_the_first_chunks_creates_nothing(emu_pool, tmp_path):
    emu, pool_id = emu_pool
    lines = [f'{{"input_values": {{"text": "t{i}", "ticket_id": "T{i}"}}, "overlap": 1}}' for i in range(6)]
    lines.insert(5, '{"input_values": {"text": "t", "ticket_id": "T"}, "overlap": "1"}')
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    operator = TolokaCreateTasksOperator(task_id="up", pool_id=pool_id, tasks_path=str(path), chunk_size=2)
    _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaInputError,
           f"Argument 'tasks_path': file {path} line 6: task #5: overlap must be a whole number >= 1, got '1'")  # fmt: skip


def test_a_csv_with_a_repeated_header_creates_nothing(emu_pool, tmp_path):
    emu, pool_id = emu_pool
    path = tmp_path / "tasks.csv"
    path.write_text("INPUT:text,INPUT:ticket_id,INPUT:text\na,T1,b\n", encoding="utf-8")
    operator = TolokaCreateTasksOperator(task_id="up", pool_id=pool_id, tasks_path=str(path))
    _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaInputError,
           "line 1, column 3: header 'INPUT:text' repeats column 1")  # fmt: skip


def test_a_csv_with_a_bom_uploads(emu_pool, tmp_path):
    emu, pool_id = emu_pool
    path = tmp_path / "tasks.csv"
    path.write_bytes(b"\xef\xbb\xbfINPUT:text,INPUT:ticket_id,OVERLAP\na,T1,1\nb,T2,2\n")
    before = _state(emu)["created"].get("task", 0)
    result = TolokaCreateTasksOperator(task_id="up", pool_id=pool_id, tasks_path=str(path)).execute(
        make_context()
    )
    assert result == {"pool_id": pool_id, "created": 2, "failed": 0, "errors_sample": {}}
    assert _state(emu)["created"]["task"] == before + 2


def rel_verdict_raises(assignment: dict):
    raise RuntimeError(f"model unavailable for {assignment['id']}")


def test_a_raising_verdict_decides_nothing_on_the_server(emu_pool, tmp_path, monkeypatch):
    emu, pool_id = emu_pool
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    operator = TolokaReviewAssignmentsOperator(
        task_id="review", pool_id=pool_id, verdict=f"{__name__}.rel_verdict_raises"
    )
    message = _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaInputError,
                     f"verdict callable {__name__}.rel_verdict_raises raised RuntimeError: model unavailable for",
                     "No decision was sent")  # fmt: skip
    assert "for assignment " in message


def test_a_nan_threshold_decides_nothing(emu_pool, tmp_path):
    emu, pool_id = emu_pool
    operator = TolokaReviewAssignmentsOperator(
        task_id="review", pool_id=pool_id, verdict={"golden_accuracy_threshold": math.nan}
    )
    _fails(emu, tmp_path, lambda: operator.execute(make_context()), TolokaInputError,
           "'golden_accuracy_threshold' must be a fraction in [0, 1] (a number from 0 to 1: 0.9, not 90), got nan")  # fmt: skip


def test_the_steps_import_neither_airflow_nor_the_operators():
    """The domain steps sit between operators and the client: usable (and testable) without Airflow."""
    code = (
        "import sys, pkgutil, importlib, toloka_provider.steps as s\n"
        "[importlib.import_module(f's.{m.name}'.replace('s.', 'toloka_provider.steps.', 1)) "
        "for m in pkgutil.iter_modules(s.__path__)]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow' or m.startswith('toloka_provider.operators'))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
