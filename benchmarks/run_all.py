"""``make bench``: run every benchmark scenario, print the results table, write it to ``benchmarks/results/``.

    .venv/bin/python benchmarks/run_all.py [SCENARIO ...]     # default: all, in order
    BENCH_QUICK=1 .venv/bin/python benchmarks/run_all.py      # smallest sizes, one round (a smoke run)

Writes ``results/RESULTS.md`` (``results/quick/`` for a quick run; the table: targets first, then the figures
behind them, the machine, the command), ``results/<scenario>.json`` (every measurement) and ``results/<scenario>.png`` (a chart each).
A scenario that crashes is reported in the table as an error and the others still run; the exit status is 1
then (a missed target is a result, not an error: exit 0). A scenario whose module is not in the checkout is
"not run" (exit 0). The last lines printed list every target of issue #16 with met / NOT MET / not run and
"N of M targets met"; the same count closes RESULTS.md.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

# Scenario name -> module (its ``run()`` returns a ScenarioResult). Modules are imported when the scenario
# runs, not here: a scenario whose module is missing from this checkout (another branch adds it) or fails to
# import is reported as "not run" and the others still run.
SCENARIOS = {
    "fetch": "bench_fetch",
    "accept": "bench_accept",
    "export_memory": "bench_export_memory",
    "triggerer": "bench_triggerer",
    "shared_waits": "bench_shared_waits",
    "operator_overhead": "bench_operator_overhead",
    "aggregation": "bench_aggregation",
    "emulator": "bench_emulator",
    "models": "bench_models",
}

# The targets of issue #16 per scenario, for the summary of a scenario that did not run (or did not report
# them): each is then listed as "not run" and counted as not met, so that a missing module cannot make the
# count look better. A scenario that ran reports its own targeted rows instead.
ISSUE_TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    "fetch": (
        ("ours typed vs plain requests + json.loads limit", ">= 1.0x"),
        ("ours raw vs plain requests + json.loads limit", ">= 1.5x"),
        ("ours typed vs toloka-kit default page size", ">= 6x"),
        ("ours typed vs toloka-kit page size 1,000", ">= 5x"),
        ("peak RSS 500k / 100k", "<= 1.1"),
    ),
    "accept": (
        ("ours vs toloka-kit loop", ">= 10x"),
        ("ours vs limit (N x latency / concurrency)", ">= 0.85x"),
        ("client CPU per decision", "<= 1 ms"),
    ),
    "triggerer": (("longest callback of ours, GC excluded", "<= 50 ms"),),
    "shared_waits": (
        ("requests per poll interval per connection @10,000", "<= ceil(N/300)+2"),
        ("CPU per polling round @10,000", "<= 0.3 s"),
        ("worst event-loop lateness", "<= 100 ms"),
        ("close seen within one interval", "<= interval + round"),
        ("wrong or missing events", "0"),
    ),
    "emulator": (
        ("assignments served per CPU-second, limit=1000", ">= 100,000/s"),
        ("emulator RSS with 1M assignments", "< 1 GB"),
    ),
    "aggregation": (("each method at 100k answers", "<= 2 s"),),
}


# BENCH_QUICK=1 only: smaller sizes than some scripts' own quick defaults, so that the whole smoke run stays
# about a minute (toloka-kit at 10,000 assignments alone took 45 s of it on the shared machine). Passed only
# when the script's run() takes that keyword, so a script that changes its arguments still runs.
QUICK_ARGS: dict[str, dict[str, object]] = {
    "fetch": {"sizes": (1_000, 2_000)},
    "accept": {"n": 200, "peer_subset": 50},
}


class ScenarioMissing(Exception):
    """The scenario's module is not in this checkout."""


def load_scenario(name: str) -> Callable[[], common.ScenarioResult]:
    module_name = SCENARIOS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise ScenarioMissing(f"module benchmarks/{module_name}.py is not in this checkout") from None
        raise
    run = module.run
    if common.quick() and name in QUICK_ARGS:
        accepted = inspect.signature(run).parameters
        arguments = {key: value for key, value in QUICK_ARGS[name].items() if key in accepted}
        if arguments:
            return functools.partial(run, **arguments)
    return run


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _met(row: common.Row) -> str:
    if row.met is None:
        return "not run"
    return "met" if row.met else "**NOT MET**"


def summary_rows(
    results: list[common.ScenarioResult], errors: dict[str, str], not_run: dict[str, str]
) -> list[common.Row]:
    """Every targeted row of the scenarios that ran, then the issue's targets of those that did not (met None)."""
    rows = [row for result in results for row in result.rows if row.target]
    for name, why in {**not_run, **errors}.items():
        reason = why.strip().splitlines()[-1] if why.strip() else "not run"
        for metric, target in ISSUE_TARGETS.get(name, ()):
            rows.append(common.Row(name, metric, "not run", target, None, reason))
    return rows


def count_line(rows: list[common.Row]) -> str:
    met = sum(1 for row in rows if row.met)
    missing = sum(1 for row in rows if row.met is None)
    line = f"{met} of {len(rows)} targets met"
    return line + (f" ({missing} not run)" if missing else "")


def render_table(
    results: list[common.ScenarioResult],
    errors: dict[str, str],
    wall: float,
    not_run: dict[str, str] | None = None,
    durations: dict[str, float] | None = None,
) -> str:
    not_run = not_run or {}
    targeted = summary_rows(results, errors, not_run)
    informative = [row for result in results for row in result.rows if not row.target]
    machine = common.machine_description()
    mode = "BENCH_QUICK=1 (smoke sizes: not the real targets)" if common.quick() else "full"
    lines = [
        f"Benchmarks ({mode}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, total wall time {wall / 60:.1f} min.",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} RAM, Python {machine['python']}, "
        f"{machine['os']}; shared with other work while it ran (medians of alternating rounds).",
        "Command: `make bench` (= `.venv/bin/python benchmarks/run_all.py`).",
    ]
    if durations:
        lines.append(
            "Wall time per scenario: "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
            + "."
        )
    lines += [
        "",
        "| Scenario | Ratio / figure | Value | Target | Met | Per round / detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in targeted:
        lines.append(
            f"| {row.scenario} | {_cell(row.metric)} | {row.value} | {row.target} | {_met(row)} | {_cell(row.detail)} |"
        )
    for row in informative:
        lines.append(f"| {row.scenario} | {_cell(row.metric)} | {row.value} | | | {_cell(row.detail)} |")
    for name, why in not_run.items():
        if name not in ISSUE_TARGETS:
            lines.append(f"| {name} | scenario not run | not run | | | {_cell(why)} |")
    for name, error in errors.items():
        lines.append(f"| {name} | scenario failed | error | | | {_cell(error.strip().splitlines()[-1])} |")
    lines += ["", f"**{count_line(targeted)}.**"]
    return "\n".join(lines) + "\n"


def render_summary(
    results: list[common.ScenarioResult], errors: dict[str, str], not_run: dict[str, str] | None = None
) -> str:
    """The lines printed last by ``make bench``: every target with met / not met, then the count."""
    rows = summary_rows(results, errors, not_run or {})
    width = max((len(f"{row.scenario}: {row.metric}") for row in rows), default=0)
    lines = ["Targets (issue #16):"]
    for row in rows:
        label = f"{row.scenario}: {row.metric}"
        verdict = {True: "met", False: "NOT MET", None: "not run"}[row.met]
        lines.append(f"  {verdict:<8} {label:<{width}}  {row.value} (target {row.target})")
    lines.append(count_line(rows))
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
    not_run: dict[str, str] = {}
    durations: dict[str, float] = {}
    for name in chosen:
        common.log(f"=== scenario {name} ===")
        scenario_started = time.perf_counter()
        try:
            result = load_scenario(name)()
            result.save()
            results.append(result)
        except ScenarioMissing as missing:
            not_run[name] = str(missing)
            common.log(f"scenario {name} not run: {missing}")
        except Exception:
            errors[name] = traceback.format_exc()
            common.log(f"scenario {name} failed:\n{errors[name]}")
        durations[name] = time.perf_counter() - scenario_started
        common.log(f"=== scenario {name} took {durations[name]:.0f} s ===")
    table = render_table(results, errors, time.perf_counter() - started, not_run, durations)
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / "RESULTS.md").write_text(table)
    print(table)
    where = common.RESULTS_DIR
    if where.is_relative_to(common.REPO_ROOT):
        where = where.relative_to(common.REPO_ROOT)
    print(f"written to {where}/ (RESULTS.md, *.json, *.png)")
    print()
    print(render_summary(results, errors, not_run), end="")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
