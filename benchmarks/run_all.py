"""``make bench``: run every benchmark scenario, print the results table, write it to ``benchmarks/results/``.

    .venv/bin/python benchmarks/run_all.py [SCENARIO ...]     # default: all, in order
    BENCH_QUICK=1 .venv/bin/python benchmarks/run_all.py      # smallest sizes, one round (a smoke run)

Writes ``results/RESULTS.md`` (``results/quick/`` for a quick run) (the table: ratios and targets first, then the figures behind them, the machine,
the command), ``results/<scenario>.json`` (every measurement) and ``results/<scenario>.png`` (a chart each).
A scenario that crashes is reported in the table as an error and the others still run; the exit status is 1
then (a missed target is a result, not an error: exit 0).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common
import bench_accept
import bench_aggregation
import bench_export_memory
import bench_fetch
import bench_operator_overhead
import bench_triggerer

SCENARIOS = {
    "fetch": bench_fetch.run,
    "accept": bench_accept.run,
    "export_memory": bench_export_memory.run,
    "triggerer": bench_triggerer.run,
    "operator_overhead": bench_operator_overhead.run,
    "aggregation": bench_aggregation.run,
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(results: list[common.ScenarioResult], errors: dict[str, str], wall: float) -> str:
    targeted = [row for result in results for row in result.rows if row.target]
    informative = [row for result in results for row in result.rows if not row.target]
    machine = common.machine_description()
    mode = "BENCH_QUICK=1 (smoke sizes: not the real targets)" if common.quick() else "full"
    lines = [
        f"Benchmarks ({mode}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, total wall time {wall / 60:.1f} min.",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['os']}; shared with other work while it ran (medians of alternating rounds).",
        "Command: `make bench` (= `.venv/bin/python benchmarks/run_all.py`).",
        "",
        "| Scenario | Ratio / figure | Value | Target | Met | Per round / detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in targeted:
        met = "yes" if row.met else "**NO**"
        lines.append(f"| {row.scenario} | {_cell(row.metric)} | {row.value} | {row.target} | {met} | {_cell(row.detail)} |")
    for row in informative:
        lines.append(f"| {row.scenario} | {_cell(row.metric)} | {row.value} | | | {_cell(row.detail)} |")
    for name, error in errors.items():
        lines.append(f"| {name} | scenario failed | error | | | {_cell(error.strip().splitlines()[-1])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    chosen = argv or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    common.peer_python()  # made once up front (not inside any measurement)
    results: list[common.ScenarioResult] = []
    errors: dict[str, str] = {}
    for name in chosen:
        common.log(f"=== scenario {name} ===")
        scenario_started = time.perf_counter()
        try:
            result = SCENARIOS[name]()
            result.save()
            results.append(result)
        except Exception:
            errors[name] = traceback.format_exc()
            common.log(f"scenario {name} failed:\n{errors[name]}")
        common.log(f"=== scenario {name} took {time.perf_counter() - scenario_started:.0f} s ===")
    table = render_table(results, errors, time.perf_counter() - started)
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / "RESULTS.md").write_text(table)
    print(table)
    print(f"written to {common.RESULTS_DIR.relative_to(common.REPO_ROOT)}/ (RESULTS.md, *.json, *.png)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
