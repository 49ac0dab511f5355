"""Scenario 4: 1,000 pool-wait triggers in one event loop, polling every 10 s against the emulator.

    python benchmarks/bench_triggerer.py        # full run, writes benchmarks/results/triggerer.{json,png}
    BENCH_QUICK=1 python benchmarks/bench_triggerer.py

The driver creates N open pools (one task each, so they stay OPEN: the crowd is paused), then a child process
(one interpreter, one asyncio loop, as in Airflow's triggerer) runs N ``TolokaPoolTrigger(poll_interval=10)``
directly, with the connection supplied through ``AIRFLOW_CONN_TOLOKA_DEFAULT``. It measures, per polling
window of ``poll_interval`` seconds: CPU seconds of the process (``time.process_time``) and the worst
event-loop block, seen by a watchdog task that asks to wake every 5 ms and records how late it wakes. The first
window includes every trigger's start-up (connection read, client creation, first request); the later ones
are the steady state. The emulator's request counters give the requests per polling round.

On paper, the old provider's design (a sensor poking in a worker slot) for the same 1,000 waits: see the rows
this script adds (slots held, requests per poke).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

WATCHDOG_TICK = 0.005
VARIANTS = ("as-is", "patched")


async def _run_triggers(pool_ids: list[str], interval: float, windows: int) -> dict:
    from toloka_provider.triggers.pool import TolokaPoolTrigger

    polls = [0]

    class CountingPoolTrigger(TolokaPoolTrigger):
        """Counts completed checks (to know when every trigger has started); nothing else changes."""

        async def check(self, client):  # type: ignore[override]
            outcome = await super().check(client)
            polls[0] += 1
            return outcome

    loop = asyncio.get_running_loop()
    worst = {"start-up": 0.0}
    phase = ["start-up"]
    stop = asyncio.Event()

    async def watchdog() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(WATCHDOG_TICK)
            late = loop.time() - before - WATCHDOG_TICK
            worst[phase[0]] = max(worst.get(phase[0], 0.0), late)

    events: list = []

    async def drive(trigger: TolokaPoolTrigger) -> None:
        async for event in trigger.run():
            events.append(event)

    guard = asyncio.create_task(watchdog())
    await asyncio.sleep(WATCHDOG_TICK * 2)
    started, cpu_started = loop.time(), time.process_time()
    tasks = [asyncio.create_task(drive(CountingPoolTrigger(pool_id=pool_id, poll_interval=interval))) for pool_id in pool_ids]
    # Start-up: until every trigger has read its connection, made its client and finished its first check.
    while polls[0] < len(pool_ids) and not events:
        await asyncio.sleep(0.05)
    startup = {"seconds": loop.time() - started, "cpu": time.process_time() - cpu_started}
    cpu_per_window, polls_per_window = [], []
    for window in range(windows):
        phase[0] = f"window {window + 1}"
        cpu_before, polls_before = time.process_time(), polls[0]
        await asyncio.sleep(interval)
        cpu_per_window.append(time.process_time() - cpu_before)
        polls_per_window.append(polls[0] - polls_before)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await guard
    return {
        "startup": startup,
        "worst_block_startup": worst["start-up"],
        "cpu_per_window": cpu_per_window,
        "polls_per_window": polls_per_window,
        "worst_block_per_window": [worst.get(f"window {w + 1}", 0.0) for w in range(windows)],
        "events_before_end": len(events),
        "polls_total": polls[0],
    }


def _share_ssl_context() -> None:
    """The patch proposed for ``client/aio.py`` (see the README): one SSL context per process instead of one per
    ``httpx.AsyncClient``. Applied here only in the clearly labelled "patched" run, by wrapping httpx's factory."""
    import functools

    import httpx._transports.default as transport_module

    transport_module.create_ssl_context = functools.lru_cache(maxsize=8)(transport_module.create_ssl_context)


def child(url: str, pool_file: str, interval: float, windows: int, variant: str = "as-is") -> dict:
    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps({"conn_type": "toloka", "password": common.TOKEN, "host": url})
    pool_ids = Path(pool_file).read_text().split()
    import toloka_provider.triggers.pool  # noqa: F401  (imports are not part of the measurement)

    if variant == "patched":
        _share_ssl_context()
    return asyncio.run(_run_triggers(pool_ids, interval, windows))


def _open_pools(emulator: common.EmulatorProcess, count: int) -> list[str]:
    project_id = emulator.new_project()
    pool_ids = []
    for number in range(count):
        pool_id = emulator.new_pool(project_id, name=f"wait-{number}")
        emulator.api(
            "POST",
            "tasks",
            {"pool_id": pool_id, "input_values": {"image": f"https://example.com/{number}.jpg"}, "overlap": 3},
            params={"open_pool": "true"},
        )
        pool_ids.append(pool_id)
    return pool_ids


def _pool_gets(counters: dict) -> int:
    return sum(n for key, n in counters.get("requests", {}).items() if key.startswith("GET /api/v1/pools/"))


def run(triggers: int | None = None, interval: float | None = None, windows: int | None = None) -> common.ScenarioResult:
    quick = common.quick()
    triggers = triggers or (100 if quick else 1000)
    interval = interval or (2.0 if quick else 10.0)
    windows = windows or (2 if quick else 3)
    result = common.ScenarioResult("triggerer", f"4. {triggers:,} pool triggers in one event loop, poll every {interval:g} s")
    measured: dict[str, dict] = {}
    with common.EmulatorProcess() as emulator, tempfile.NamedTemporaryFile("w", suffix=".txt") as pool_file:
        started = time.perf_counter()
        pool_ids = _open_pools(emulator, triggers)
        common.log(f"opened {triggers:,} pools in {time.perf_counter() - started:.1f} s")
        pool_file.write("\n".join(pool_ids))
        pool_file.flush()
        for variant in VARIANTS:
            before = _pool_gets(emulator.control("GET", "counters"))
            figures = common.run_json(
                common.OUR_PYTHON, __file__, "child", emulator.url, pool_file.name, str(interval), str(windows), variant,
                timeout=windows * interval + 600,
            )
            figures["pool_requests"] = _pool_gets(emulator.control("GET", "counters")) - before
            measured[variant] = figures
            common.log(
                f"triggers {variant}: start-up {figures['startup']['seconds']:.1f} s (CPU {figures['startup']['cpu']:.1f} s, "
                f"worst block {figures['worst_block_startup'] * 1000:.0f} ms); CPU per window {common.fmt_rounds(figures['cpu_per_window'], ' s')}; "
                f"worst block per window {common.fmt_rounds([w * 1000 for w in figures['worst_block_per_window']], ' ms', 0)}"
            )
    result.raw = {"triggers": triggers, "interval": interval, "windows": windows, "measured": measured}
    for variant in VARIANTS:
        figures = measured[variant]
        label = "as shipped" if variant == "as-is" else "with the proposed shared-SSL-context patch"
        cpu = figures["cpu_per_window"]
        result.rows += [
            common.Row(
                "4 triggerer", f"CPU s per polling round ({label})", f"{common.median(cpu):.2f} s",
                detail=f"{triggers:,} triggers, = {100 * common.median(cpu) / interval:.0f}% of one core at a {interval:g} s "
                f"interval; per window {common.fmt_rounds(cpu, ' s')}; polls per window {figures['polls_per_window']}",
            ),
            common.Row(
                "4 triggerer", f"worst event-loop block, steady ({label})", f"{1000 * max(figures['worst_block_per_window']):.0f} ms",
                detail=f"watchdog tick {WATCHDOG_TICK * 1000:.0f} ms; per window "
                f"{common.fmt_rounds([w * 1000 for w in figures['worst_block_per_window']], ' ms', 0)}",
            ),
            common.Row(
                "4 triggerer", f"start-up of all triggers ({label})", f"{figures['startup']['seconds']:.1f} s",
                detail=f"CPU {figures['startup']['cpu']:.1f} s; worst loop block {1000 * figures['worst_block_startup']:.0f} ms "
                f"(connection read, client creation, first poll of every trigger)",
            ),
        ]
    figures = measured["as-is"]
    result.rows += [
        common.Row(
            "4 triggerer", "requests per trigger poll",
            f"{figures['pool_requests'] / max(figures['polls_total'], 1):.2f}",
            detail=f"{figures['pool_requests']:,} pool GETs for {figures['polls_total']:,} polls (start-up included); "
            f"events before the end: {figures['events_before_end']} (expected 0)",
        ),
        common.Row(
            "4 triggerer", "old provider (poke-mode sensor), on paper", f"{triggers:,} slots",
            detail=f"one worker slot held per wait for its whole duration ({triggers:,} slots for {triggers:,} waits, vs 0 "
            f"worker slots and one triggerer process here); 1 request per poke (GET pool), as 1 per trigger poll here; "
            f"reschedule mode frees the slot but pays a full task start (process, DAG parse) per poke",
        ),
    ]
    result.chart = {
        "kind": "bars",
        "xlabel": "seconds",
        "series": {
            **{f"CPU per {interval:g} s round ({v})": common.median(measured[v]["cpu_per_window"]) for v in VARIANTS},
            **{f"worst loop block, steady ({v})": max(measured[v]["worst_block_per_window"]) for v in VARIANTS},
            **{f"start-up of all triggers ({v})": measured[v]["startup"]["seconds"] for v in VARIANTS},
        },
    }
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6])), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
