"""Scenario 2: accept 10k SUBMITTED assignments against an emulator that adds 20 ms to every request.

    python benchmarks/bench_accept.py           # full run, writes benchmarks/results/accept.{json,png}
    BENCH_QUICK=1 python benchmarks/bench_accept.py

Contenders (each round: a fresh pool per contender, each contender one pass in a fresh process):

- ``ours``: the review operator's engine, ``TolokaReviewAssignmentsOperator._send_all`` (what ``execute`` calls)
  with the operator's default settings (its default concurrency, read from the operator, not assumed), over
  ``TolokaClient`` made as the hook makes it. The decisions ("accept_all") are made before the clock starts, as
  the operator does; the timed part is sending them.
- ``toloka-kit``: ``accept_assignment`` in a loop, as its docs show. At 20 ms a request, 10k take 200+ s, so it
  runs on a documented subset (``PEER_SUBSET`` assignments) and its time is extrapolated linearly to N (each
  accept is one independent request of the same cost; the table says so).
- ``limit``: ``N x latency / concurrency`` (the server's added latency alone, with the operator's default
  number in flight).

Targets (issue 16): ours >= 10x toloka-kit; ours >= 0.85x the limit (limit time / our time); client CPU per
decision <= 1 ms (all threads of the client process over the timed part, divided by N).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

LATENCY_MS = 20


def child(url: str, pool_id: str) -> dict:
    """One pass of our engine over every SUBMITTED assignment of the pool."""
    from toloka_provider.client import TolokaClient
    from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator

    client = TolokaClient(common.TOKEN, url=url)
    operator = TolokaReviewAssignmentsOperator(task_id="review", pool_id=pool_id, verdict="accept_all")  # defaults
    with operator.assignments_source(client) as assignments:
        decisions = operator.decide(assignments)
    counts = {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}
    cpu_started = time.process_time()
    started = time.perf_counter()
    failures = operator._send_all(client, decisions, counts)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_started,  # all threads of this process
        "counts": counts,
        "failures": failures[:3],
        "concurrency": operator.concurrency,
    }


def run(n: int | None = None, peer_subset: int | None = None, rounds: int | None = None) -> common.ScenarioResult:
    quick = common.quick()
    n = n or (400 if quick else 10_000)
    peer_subset = peer_subset or (100 if quick else 500)
    rounds = rounds or (1 if quick else 3)
    peer = common.peer_python()
    result = common.ScenarioResult("accept", f"2. Accept {n:,} assignments, {LATENCY_MS} ms latency per request")
    ours: list[float] = []
    kit_extrapolated: list[float] = []
    kit_measured: list[float] = []
    client_cpu: list[float] = []
    server_cpu: list[float] = []
    concurrency = 0  # the operator's default, reported by the child
    with common.EmulatorProcess("--latency", str(LATENCY_MS)) as emulator:
        for round_index in range(rounds):
            for kind in common.rotate(("ours", "toloka-kit"), round_index):
                if kind == "ours":
                    pool_id = emulator.pool_with_assignments(n)
                    emulator_cpu = common.cpu_seconds_of_pid(emulator.pid)
                    measured = common.run_json(common.OUR_PYTHON, __file__, "child", emulator.url, pool_id)
                    # The emulator's CPU over the child's life (its start-up and the untimed fetch included).
                    server_cpu.append(common.cpu_seconds_of_pid(emulator.pid) - emulator_cpu)
                    client_cpu.append(measured["cpu_seconds"])
                    if measured["counts"]["accepted"] != n or measured["counts"]["failed"]:
                        raise RuntimeError(f"our engine did not accept all {n}: {measured}")
                    concurrency = measured["concurrency"]
                    ours.append(measured["seconds"])
                    common.log(f"accept round {round_index + 1}/{rounds} ours: {measured['seconds']:.2f} s for {n:,}")
                else:
                    pool_id = emulator.pool_with_assignments(peer_subset)
                    measured = common.run_json(
                        peer, common.BENCH_DIR / "_peer_tolokakit.py", "accept", emulator.url, common.TOKEN, pool_id, str(peer_subset)
                    )
                    if measured["accepted"] != peer_subset:
                        raise RuntimeError(f"toloka-kit accepted {measured['accepted']} of {peer_subset}")
                    kit_measured.append(measured["seconds"])
                    kit_extrapolated.append(measured["seconds"] * n / peer_subset)
                    common.log(
                        f"accept round {round_index + 1}/{rounds} toloka-kit: {measured['seconds']:.2f} s for "
                        f"{peer_subset:,} -> {kit_extrapolated[-1]:.1f} s for {n:,}"
                    )
        counters = emulator.control("GET", "counters")
    limit = n * LATENCY_MS / 1000 / concurrency
    vs_kit = common.ratio_rounds(kit_extrapolated, ours)
    vs_limit = [limit / t for t in ours]
    result.raw = {
        "n": n, "latency_ms": LATENCY_MS, "rounds": rounds, "peer_subset": peer_subset, "concurrency": concurrency,
        "ours_seconds": ours, "toloka_kit_seconds_subset": kit_measured, "toloka_kit_seconds_extrapolated": kit_extrapolated,
        "limit_seconds": limit, "double_decisions": counters.get("double_decisions"),
        "ours_client_cpu_seconds": client_cpu, "emulator_cpu_seconds_during_ours": server_cpu,
    }
    result.rows = [
        common.Row(
            "2 accept", f"ours vs toloka-kit loop @{n // 1000 or n}{'k' if n >= 1000 else ''}",
            f"{common.median(vs_kit):.1f}x", ">= 10x", common.median(vs_kit) >= 10,
            f"per round {common.fmt_rounds(vs_kit, 'x', 1)}; toloka-kit measured on {peer_subset:,} and extrapolated "
            f"linearly to {n:,}",
        ),
        common.Row(
            "2 accept", "ours vs limit (N x latency / concurrency)", f"{common.median(vs_limit):.2f}x", ">= 0.85x",
            common.median(vs_limit) >= 0.85,
            f"limit {limit:.1f} s at the operator's default concurrency {concurrency}; per round "
            f"{common.fmt_rounds(vs_limit, 'x')}",
        ),
        common.Row(
            "2 accept", "median time", "",
            detail=f"ours {common.median(ours):.1f} s ({n / common.median(ours):,.0f}/s); toloka-kit "
            f"{common.median(kit_measured):.1f} s for {peer_subset:,} ({peer_subset / common.median(kit_measured):,.0f}/s, "
            f"{common.median(kit_extrapolated):.0f} s for {n:,}); double decisions: {counters.get('double_decisions')}",
        ),
        common.Row(
            "2 accept", "client CPU per decision, ours", f"{1000 * common.median(client_cpu) / n:.2f} ms", "<= 1 ms",
            1000 * common.median(client_cpu) / n <= 1.0,
            f"per round {common.fmt_rounds([1000 * c / n for c in client_cpu], ' ms')}; client {common.median(client_cpu):.1f} s "
            f"CPU (all threads) for {n:,} accepts",
        ),
        common.Row(
            "2 accept", "emulator CPU per accept", f"{1000 * common.median(server_cpu) / n:.2f} ms",
            detail=f"emulator {common.median(server_cpu):.1f} s CPU over the client's life for {n:,} accepts, on "
            f"{os.cpu_count()} cores shared by both (and by whatever else runs): the limit counts none of it",
        ),
    ]
    result.chart = {
        "kind": "bars",
        "xlabel": f"seconds to accept {n:,} (median; toloka-kit extrapolated)",
        "series": {
            f"ours (engine, {concurrency} in flight)": common.median(ours),
            "limit N x latency / concurrency": limit,
            "toloka-kit loop": common.median(kit_extrapolated),
        },
    }
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
