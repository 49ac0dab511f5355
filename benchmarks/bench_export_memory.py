"""Scenario 3: peak memory of streaming all SUBMITTED assignments of a pool to JSONL, at N = 100k and 1M.

    python benchmarks/bench_export_memory.py    # full run, writes benchmarks/results/export_memory.{json,png}
    BENCH_QUICK=1 python benchmarks/bench_export_memory.py

The exporter runs in a child process of its own and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
(the peak resident set, as ``/usr/bin/time -v`` shows it), both right before the export starts (imports, hook,
client: the floor) and after it. Exporters:

- ``operator``: ``TolokaGetAssignmentsOperator(output=...)`` executed as an Airflow task would run it (connection
  from ``AIRFLOW_CONN_TOLOKA_DEFAULT``, Airflow imported): raw pages of 1,000 written as JSONL;
- ``client``: the bare ``TolokaClient.get_assignments_raw`` loop writing JSONL (no Airflow in the process); a
  reference for the floor, run at the smallest N only (time budget).

Targets: peak RSS flat in N (1M / 100k <= 1.3) and under 200 MB. The emulator holding 1M assignments is a
separate process; its RSS and bulk-load time are reported too.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

EXPORTERS = ("operator", "client")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, url: str, pool_id: str, output: str) -> dict:
    if kind == "operator":
        os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps({"conn_type": "toloka", "password": common.TOKEN, "host": url})
        from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator

        class RecordingTaskInstance:
            def __init__(self) -> None:
                self.xcom: dict = {}

            def xcom_push(self, key: str, value: object) -> None:
                self.xcom[key] = value

        operator = TolokaGetAssignmentsOperator(task_id="export", pool_id=pool_id, output=output, use_data_interval=False)
        operator.hook.get_conn()  # the connection lookup and client belong to the floor, not to the export
        context = {"ti": RecordingTaskInstance()}
        floor = _maxrss_mb()
        started = time.perf_counter()
        returned = operator.execute(context)
        count = returned["count"]
    elif kind == "client":
        from toloka_provider.client import TolokaClient

        client = TolokaClient(common.TOKEN, url=url)
        floor = _maxrss_mb()
        started = time.perf_counter()
        count = 0
        with open(output, "w", encoding="utf-8") as handle:
            for page in client.get_assignments_raw(pool_id=pool_id, status="SUBMITTED"):
                handle.write("".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in page))
                count += len(page)
    else:
        raise ValueError(f"unknown exporter {kind!r}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": count, "floor_mb": floor, "peak_mb": _maxrss_mb(), "bytes": os.path.getsize(output)}


def run(sizes: tuple[int, ...] | None = None, exporters: tuple[str, ...] = EXPORTERS) -> common.ScenarioResult:
    quick = common.quick()
    sizes = sizes or ((2_000, 10_000) if quick else (100_000, 1_000_000))
    result = common.ScenarioResult("export_memory", "3. Export SUBMITTED assignments to JSONL: peak RSS of the exporter")
    measured: dict[int, dict[str, dict]] = {}
    emulator_info: dict[int, dict] = {}
    with common.EmulatorProcess() as emulator, tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for n in sizes:
            started = time.perf_counter()
            pool_id = emulator.pool_with_assignments(n)
            emulator_info[n] = {"bulk_load_seconds": time.perf_counter() - started, "emulator_rss_mb": emulator.rss_mb()}
            measured[n] = {}
            # The bare client is a reference (a process without Airflow); to keep `make bench` within its budget
            # it runs at the smallest N only, the operator (what a DAG runs) at every N.
            for kind in exporters if n == min(sizes) else exporters[:1]:
                output = os.path.join(tmp, f"{kind}-{n}.jsonl")
                figures = common.run_json(common.OUR_PYTHON, __file__, "child", kind, emulator.url, pool_id, output, timeout=1800)
                os.unlink(output)
                if figures["count"] != n:
                    raise RuntimeError(f"{kind} exported {figures['count']} of {n}")
                measured[n][kind] = figures
                common.log(
                    f"export N={n:,} {kind}: peak {figures['peak_mb']:.0f} MB (floor {figures['floor_mb']:.0f} MB), "
                    f"{figures['seconds']:.1f} s, {figures['bytes'] / 1e6:.0f} MB written"
                )
    small, large = min(sizes), max(sizes)
    result.raw = {"sizes": sizes, "measured": {str(n): m for n, m in measured.items()}, "emulator": {str(n): e for n, e in emulator_info.items()}}
    label = {n: f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" for n in sizes}
    for kind in exporters:
        if kind not in measured[large]:
            figures = measured[small][kind]
            result.rows.append(
                common.Row(
                    "3 export", f"{kind}: peak RSS @{label[small]} (reference, no Airflow)", f"{figures['peak_mb']:.0f} MB",
                    detail=f"floor before export {figures['floor_mb']:.0f} MB, {figures['seconds']:.1f} s",
                )
            )
            continue
        growth = measured[large][kind]["peak_mb"] / measured[small][kind]["peak_mb"]
        peak = measured[large][kind]["peak_mb"]
        result.rows.append(
            common.Row(
                "3 export", f"{kind}: peak RSS {label[large]} / {label[small]}", f"{growth:.2f}", "<= 1.3", growth <= 1.3,
                "; ".join(f"{label[n]}: peak {measured[n][kind]['peak_mb']:.0f} MB, floor before export "
                          f"{measured[n][kind]['floor_mb']:.0f} MB, {measured[n][kind]['seconds']:.1f} s" for n in sizes),
            )
        )
        result.rows.append(common.Row("3 export", f"{kind}: peak RSS @{label[large]}", f"{peak:.0f} MB", "< 200 MB", peak < 200))
    result.rows.append(
        common.Row(
            "3 export", "emulator (separate process)", "",
            detail="; ".join(f"{label[n]}: bulk-load {e['bulk_load_seconds']:.0f} s, RSS {e['emulator_rss_mb']:.0f} MB"
                             for n, e in emulator_info.items()),
        )
    )
    result.chart = {
        "kind": "lines",
        "xlabel": "assignments exported (N)",
        "ylabel": "peak RSS of the exporting process, MB",
        "logx": True,
        "series": {
            **{f"{kind} peak": [[n, measured[n][kind]["peak_mb"]] for n in sizes if kind in measured[n]] for kind in exporters},
            **{
                f"{kind} floor (before export)": [[n, measured[n][kind]["floor_mb"]] for n in sizes if kind in measured[n]]
                for kind in exporters
            },
        },
    }
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(*sys.argv[2:6])), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
