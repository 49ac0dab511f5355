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
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

WATCHDOG_TICK = 0.005


def _describe(handle: asyncio.events.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        return getattr(coroutine, "__qualname__", repr(coroutine))
    return getattr(callback, "__qualname__", repr(callback))


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

    # The longest single callback (one task step): a true block, unlike the watchdog's lateness, which also
    # counts the queue of ready callbacks ahead of it (a burst of 1,000 polls answered at once).
    longest = {"start-up": (0.0, "")}
    original_run = asyncio.events.Handle._run

    def timed_run(handle: asyncio.events.Handle) -> None:
        begun, begun_cpu = time.perf_counter(), time.thread_time()
        original_run(handle)
        took = time.perf_counter() - begun
        if took > longest.get(phase[0], (0.0, ""))[0]:
            # CPU time next to wall time: a long wall time with little CPU means the OS ran something else.
            longest[phase[0]] = (took, f"{_describe(handle)}, {1000 * (time.thread_time() - begun_cpu):.0f} ms CPU")

    # Garbage-collector pauses, the usual suspect for a long step in a process holding many objects.
    gc_pauses: dict[int, float] = {}
    gc_started = [0.0]

    def on_gc(gc_phase: str, info: dict) -> None:
        if gc_phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            generation = info["generation"]
            gc_pauses[generation] = max(gc_pauses.get(generation, 0.0), time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
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
    asyncio.events.Handle._run = original_run  # type: ignore[method-assign]
    gc.callbacks.remove(on_gc)
    return {
        "longest_gc_pause_by_generation": {str(g): p for g, p in sorted(gc_pauses.items())},
        "longest_callback_startup": longest["start-up"],
        "longest_callback_per_window": [longest.get(f"window {w + 1}", (0.0, "")) for w in range(windows)],
        "startup": startup,
        "worst_block_startup": worst["start-up"],
        "cpu_per_window": cpu_per_window,
        "polls_per_window": polls_per_window,
        "worst_block_per_window": [worst.get(f"window {w + 1}", 0.0) for w in range(windows)],
        "events_before_end": len(events),
        "polls_total": polls[0],
    }


def child(url: str, pool_file: str, interval: float, windows: int) -> dict:
    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps({"conn_type": "toloka", "password": common.TOKEN, "host": url})
    pool_ids = Path(pool_file).read_text().split()
    import toloka_provider.triggers.pool  # noqa: F401  (imports are not part of the measurement)

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
    with common.EmulatorProcess() as emulator, tempfile.NamedTemporaryFile("w", suffix=".txt") as pool_file:
        started = time.perf_counter()
        pool_ids = _open_pools(emulator, triggers)
        common.log(f"opened {triggers:,} pools in {time.perf_counter() - started:.1f} s")
        pool_file.write("\n".join(pool_ids))
        pool_file.flush()
        before = _pool_gets(emulator.control("GET", "counters"))
        figures = common.run_json(
            common.OUR_PYTHON, __file__, "child", emulator.url, pool_file.name, str(interval), str(windows),
            timeout=windows * interval + 600,
        )
        figures["pool_requests"] = _pool_gets(emulator.control("GET", "counters")) - before
    cpu = figures["cpu_per_window"]
    lateness = [w * 1000 for w in figures["worst_block_per_window"]]
    callbacks = figures["longest_callback_per_window"]
    worst_callback = max(callbacks, key=lambda pair: pair[0])
    common.log(
        f"triggers: start-up {figures['startup']['seconds']:.1f} s (CPU {figures['startup']['cpu']:.1f} s); CPU per window "
        f"{common.fmt_rounds(cpu, ' s')}; watchdog lateness {common.fmt_rounds(lateness, ' ms', 0)}; longest callback "
        f"{worst_callback[0] * 1000:.0f} ms ({worst_callback[1]})"
    )
    result.raw = {"triggers": triggers, "interval": interval, "windows": windows, **figures}
    result.rows = [
        common.Row(
            "4 triggerer", f"CPU s per polling round, {triggers:,} triggers", f"{common.median(cpu):.2f} s",
            detail=f"= {100 * common.median(cpu) / interval:.0f}% of one core at a {interval:g} s interval; per window "
            f"{common.fmt_rounds(cpu, ' s')}; polls per window {figures['polls_per_window']}",
        ),
        common.Row(
            "4 triggerer", "worst event-loop block: longest single callback", f"{worst_callback[0] * 1000:.0f} ms",
            detail=f"in {worst_callback[1]}; per window {common.fmt_rounds([c[0] * 1000 for c in callbacks], ' ms', 0)}; "
            f"longest GC pause by generation (ms): "
            + ", ".join(f"gen{g} {p * 1000:.0f}" for g, p in figures["longest_gc_pause_by_generation"].items()),
        ),
        common.Row(
            "4 triggerer", "worst event-loop lateness (watchdog, 5 ms tick)", f"{max(lateness):.0f} ms",
            detail=f"per window {common.fmt_rounds(lateness, ' ms', 0)}; includes waiting behind the burst of ready "
            f"callbacks when every trigger's poll is answered at once (all started together here: the worst case)",
        ),
        common.Row(
            "4 triggerer", "start-up of all triggers", f"{figures['startup']['seconds']:.1f} s",
            detail=f"CPU {figures['startup']['cpu']:.1f} s; longest callback {figures['longest_callback_startup'][0] * 1000:.0f} ms "
            f"({figures['longest_callback_startup'][1]}); watchdog lateness {1000 * figures['worst_block_startup']:.0f} ms "
            f"(connection read, client creation, first poll of every trigger)",
        ),
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
        "kind": "lines",
        "xlabel": f"steady polling window ({interval:g} s each)",
        "ylabel": "seconds",
        "series": {
            "CPU seconds in window": [[i + 1, c] for i, c in enumerate(cpu)],
            "longest single callback": [[i + 1, c[0]] for i, c in enumerate(callbacks)],
            "watchdog lateness": [[i + 1, w / 1000] for i, w in enumerate(lateness)],
        },
    }
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
