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
    "bench_shared_waits", "run_all",
)
ALL_SCENARIOS = {
    "fetch", "accept", "export_memory", "triggerer", "operator_overhead", "aggregation", "emulator", "models",
    "shared_waits",
}


@pytest.fixture(scope="module")
def bench_path():
    sys.path.insert(0, str(BENCH_DIR))
    yield
    sys.path.remove(str(BENCH_DIR))


@pytest.mark.parametrize("name", SCENARIO_MODULES)
def test_scenario_module_imports(bench_path, name):
    module = importlib.import_module(name)
    if name == "run_all":
        assert set(module.SCENARIOS) == ALL_SCENARIOS
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
    assert body[0].startswith("| 9 x | a vs b | 1.50x | >= 2x | **NOT MET** |")
    assert body[1].startswith("| 9 x | informative | 1 s |")


def _two_targets(common):
    result = common.ScenarioResult("x", "X")
    result.rows = [
        common.Row("1 fetch", "typed vs limit", "0.91x", ">= 0.8x", True, "per round [0.91x]"),
        common.Row("1 fetch", "raw vs limit", "1.05x", ">= 1.2x", False, "per round [1.05x]"),
        common.Row("1 fetch", "median time", "3.1 s"),
    ]
    return result


def test_table_and_summary_say_met_or_not_met_and_count_the_targets(bench_path):
    common = importlib.import_module("_common")
    run_all = importlib.import_module("run_all")
    results = [_two_targets(common)]

    table = run_all.render_table(results, {}, 60.0)
    summary = run_all.render_summary(results, {})

    rows = [line for line in table.splitlines() if line.startswith("| 1 fetch")]
    assert rows[0] == "| 1 fetch | typed vs limit | 0.91x | >= 0.8x | met | per round [0.91x] |"
    assert rows[1] == "| 1 fetch | raw vs limit | 1.05x | >= 1.2x | **NOT MET** | per round [1.05x] |"
    assert rows[2] == "| 1 fetch | median time | 3.1 s | | |  |"
    assert table.rstrip().endswith("**1 of 2 targets met.**")
    lines = summary.splitlines()
    assert lines[0] == "Targets (issue #16):"
    assert lines[1].split() == ["met", "1", "fetch:", "typed", "vs", "limit", "0.91x", "(target", ">=", "0.8x)"]
    assert lines[2].split()[:2] == ["NOT", "MET"] and "raw vs limit" in lines[2]
    assert lines[-1] == "1 of 2 targets met"
    assert "median time" not in summary  # informative rows have no target


def test_a_scenario_whose_module_is_missing_is_not_run_and_its_targets_count_as_not_met(bench_path, monkeypatch):
    common = importlib.import_module("_common")
    run_all = importlib.import_module("run_all")
    monkeypatch.setitem(run_all.SCENARIOS, "emulator", "bench_no_such_module_here")
    with pytest.raises(run_all.ScenarioMissing, match=r"bench_no_such_module_here\.py is not in this checkout"):
        run_all.load_scenario("emulator")

    not_run = {"emulator": "module benchmarks/bench_no_such_module_here.py is not in this checkout"}
    results = [_two_targets(common)]
    table = run_all.render_table(results, {}, 60.0, not_run)
    summary = run_all.render_summary(results, {}, not_run)

    emulator_rows = [line for line in table.splitlines() if line.startswith("| emulator")]
    assert len(emulator_rows) == len(run_all.ISSUE_TARGETS["emulator"]) == 2
    assert all("| not run | " in line for line in emulator_rows)
    assert table.rstrip().endswith("**1 of 4 targets met (2 not run).**")
    assert summary.splitlines()[-1] == "1 of 4 targets met (2 not run)"
    assert sum(line.lstrip().startswith("not run") for line in summary.splitlines()) == 2


def test_run_all_main_reports_a_missing_scenario_as_not_run_and_exits_0(bench_path, monkeypatch, tmp_path, capsys):
    common = importlib.import_module("_common")
    run_all = importlib.import_module("run_all")
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(common, "peer_python", lambda: None)
    monkeypatch.setitem(run_all.SCENARIOS, "models", "bench_no_such_module_here")

    assert run_all.main(["models"]) == 0

    out = capsys.readouterr().out
    assert "| models | scenario not run | not run |" in out
    assert out.rstrip().endswith("0 of 0 targets met")
    assert (tmp_path / "RESULTS.md").read_text().rstrip().endswith("**0 of 0 targets met.**")


def test_quick_arguments_reach_only_a_run_that_takes_them(bench_path, monkeypatch):
    run_all = importlib.import_module("run_all")
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setitem(run_all.QUICK_ARGS, "fetch", {"sizes": (1_000, 2_000), "no_such_argument": 1})

    run = run_all.load_scenario("fetch")

    assert run.keywords == {"sizes": (1_000, 2_000)}
    monkeypatch.setenv("BENCH_QUICK", "0")
    assert run_all.load_scenario("fetch") is importlib.import_module("bench_fetch").run
