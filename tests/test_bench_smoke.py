"""Keeps the benchmark scripts from rotting: every scenario module imports, and the smallest configuration of
scenario 1 runs for our two contenders against a real emulator subprocess. Nothing timed is asserted."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SCENARIO_MODULES = (
    "bench_fetch", "bench_accept", "bench_export_memory", "bench_triggerer", "bench_operator_overhead", "bench_aggregation",
    "run_all",
)


@pytest.fixture(scope="module")
def bench_path():
    sys.path.insert(0, str(BENCH_DIR))
    yield
    sys.path.remove(str(BENCH_DIR))


@pytest.mark.parametrize("name", SCENARIO_MODULES)
def test_scenario_module_imports(bench_path, name):
    module = importlib.import_module(name)
    if name == "run_all":
        assert set(module.SCENARIOS) == {"fetch", "accept", "export_memory", "triggerer", "operator_overhead", "aggregation"}
    else:
        assert callable(module.run)


@pytest.mark.integration
@pytest.mark.slow
def test_fetch_scenario_smallest_configuration_runs_for_ours(bench_path, monkeypatch, tmp_path):
    common = importlib.import_module("_common")
    bench_fetch = importlib.import_module("bench_fetch")
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)

    result = bench_fetch.run(sizes=(300,), rounds=1, contenders=("ours typed", "ours raw"))

    times = result.raw["seconds"]["300"]
    assert set(times) == {"ours typed", "ours raw"}
    assert all(len(values) == 1 and values[0] > 0 for values in times.values())
    # No toloka-kit contender was asked for, so no ratio row refers to it and no peer venv was needed.
    assert all("toloka-kit" not in row.metric for row in result.rows)
    result.chart = None  # the chart venv (matplotlib) is not part of the test suite
    result.save()
    saved = json.loads((tmp_path / "fetch.json").read_text())
    assert saved["raw"]["sizes"] == [300]


def test_render_table_puts_targets_first_and_flags_misses(bench_path):
    common = importlib.import_module("_common")
    run_all = importlib.import_module("run_all")
    result = common.ScenarioResult("x", "X")
    result.rows = [
        common.Row("9 x", "informative", "1 s"),
        common.Row("9 x", "a vs b", "1.50x", ">= 2x", False, "per round [1.50x]"),
    ]

    table = run_all.render_table([result], {}, 60.0)

    body = [line for line in table.splitlines() if line.startswith("| 9 x")]
    assert body[0].startswith("| 9 x | a vs b | 1.50x | >= 2x | **NO** |")
    assert body[1].startswith("| 9 x | informative | 1 s |")
