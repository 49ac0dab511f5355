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
import collections
import gc
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

WATCHDOG_TICK = 0.005
# The sampler looks at the loop thread's stack while a callback has run longer than this (outside GC).
SAMPLE_AFTER = 0.015


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _stack_of(frame) -> str:
    """The innermost frames of a stack as ``module:function`` (our package, httpx, airflow...), innermost last."""
    names = []
    while frame is not None and len(names) < 8:
        module = frame.f_globals.get("__name__", "?")
        if not module.startswith(("asyncio", "threading", "__main__")):
            names.append(f"{module}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(names)


class _RunQueueWait:
    """Seconds this thread has spent runnable but not running (another process had the CPU), from
    ``/proc/thread-self/schedstat`` (Linux); 0.0 where it cannot be read."""

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self.fd = None

    def __call__(self) -> float:
        if self.fd is None:
            return 0.0
        return int(os.pread(self.fd, 128, 0).split()[1]) / 1e9


class _Sampler(threading.Thread):
    """A diagnostic: which code a long callback is in. It samples the loop thread's stack every 2 ms while a
    callback has run for more than SAMPLE_AFTER; a GC pause holds the GIL, so no sample lands inside one."""

    def __init__(self, loop_thread: int) -> None:
        super().__init__(daemon=True)
        self.loop_thread = loop_thread
        self.begun: float | None = None
        self.phase = ""
        self.samples: collections.Counter[tuple[str, str]] = collections.Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.002):
            begun = self.begun
            if begun is not None and time.perf_counter() - begun > SAMPLE_AFTER:
                frame = sys._current_frames().get(self.loop_thread)
                if frame is not None and self.begun == begun:
                    self.samples[(self.phase, _stack_of(frame))] += 1

    def top(self, count: int = 8) -> list[list]:
        return [[phase, stack, n] for (phase, stack), n in self.samples.most_common(count)]


def _describe(handle: asyncio.events.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        return getattr(coroutine, "__qualname__", repr(coroutine))
    return getattr(callback, "__qualname__", repr(callback))


async def _run_triggers(pool_ids: list[str], interval: float, windows: int, gc_mode: str) -> dict:
    from toloka_provider.triggers.pool import TolokaPoolTrigger

    polls = [0, 0]  # completed checks, failed requests

    class CountingPoolTrigger(TolokaPoolTrigger):
        """Counts completed checks (to know when every trigger has started); nothing else changes."""

        async def _wait_for_event(self, client):  # type: ignore[override]
            return await super()._wait_for_event(_CountingClient(client, polls))

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
        # As Airflow's triggerer does: iterate the trigger's run(). A step of this task is trigger code.
        async for event in trigger.run():
            events.append(event)

    # Garbage-collector pauses, timed from gc.callbacks (start/stop of every collection): per generation the
    # longest, the count and the total; ``gc_total`` lets a callback subtract the pauses that fell inside it.
    gc_longest: dict[int, float] = {}
    gc_longest_cpu: dict[int, float] = {}
    gc_count: dict[int, int] = {}
    gc_sum: dict[int, float] = {}
    gc_total = [0.0]  # wall seconds of every pause (any thread's: a collection holds the GIL, the loop waits)
    gc_cpu_loop = [0.0]  # CPU seconds of the pauses the loop thread itself ran
    gc_started = [0.0, 0.0]
    loop_thread = threading.get_ident()

    def on_gc(gc_phase: str, info: dict) -> None:
        if gc_phase == "start":
            gc_started[0], gc_started[1] = time.perf_counter(), time.thread_time()
            return
        pause = time.perf_counter() - gc_started[0]
        generation = info["generation"]
        pause_cpu = time.thread_time() - gc_started[1]
        gc_longest_cpu[generation] = max(gc_longest_cpu.get(generation, 0.0), pause_cpu)
        if threading.get_ident() == loop_thread:
            gc_cpu_loop[0] += pause_cpu
        gc_total[0] += pause
        gc_longest[generation] = max(gc_longest.get(generation, 0.0), pause)
        gc_count[generation] = gc_count.get(generation, 0) + 1
        gc_sum[generation] = gc_sum.get(generation, 0.0) + pause

    # Per phase, for the callbacks of ours (the benchmark's own watchdog and main coroutine are left out; every
    # other callback runs trigger, hook, client or httpx code):
    # - ``own``: the loop thread's CPU time in the callback minus the CPU of the GC pauses inside it: our own
    #   work. The target is judged on it: on this shared machine (load average 10-20 on 2 CPUs while it ran),
    #   wall time inside a callback is mostly other processes' turn.
    # - ``wall``: wall time minus GC pauses minus the time the thread sat runnable while another process had
    #   the CPU (/proc/thread-self/schedstat). The rest is our work plus time off the CPU without being
    #   runnable: a blocking call, or the GIL held by a worker thread (anyio's getaddrinfo, to_thread) that
    #   the OS preempted. A blocking call of ours would show here and not in ``own``.
    # - ``whole``: the callback as the loop saw it, GC pauses and all.
    own: dict[str, tuple[float, str]] = {}
    wall: dict[str, tuple[float, str]] = {}
    whole: dict[str, tuple[float, float, str]] = {}
    original_run = asyncio.events.Handle._run
    benchmark_steps = ("_run_triggers.<locals>.watchdog", "_run_triggers")
    sampler = _Sampler(loop_thread)
    schedstat = _RunQueueWait()
    nothing = (0.0, "")

    def timed_run(handle: asyncio.events.Handle) -> None:
        begun, begun_cpu, queued_before = time.perf_counter(), time.thread_time(), schedstat()
        gc_before, gc_cpu_before = gc_total[0], gc_cpu_loop[0]
        sampler.phase, sampler.begun = phase[0], begun
        original_run(handle)
        sampler.begun = None
        took = time.perf_counter() - begun
        name = phase[0]
        if took <= 0.002 and own.get(name, nothing)[0] > 0.002:
            return  # cheap exit for the many short callbacks (no callback exceeds its own wall time)
        cpu = time.thread_time() - begun_cpu
        in_gc, in_gc_cpu = gc_total[0] - gc_before, gc_cpu_loop[0] - gc_cpu_before
        mine = max(cpu - in_gc_cpu, 0.0)
        if mine <= own.get(name, nothing)[0] and took - in_gc <= wall.get(name, nothing)[0] and took <= whole.get(
            name, (0.0, 0.0, "")
        )[0]:
            return
        what = _describe(handle)
        if what in benchmark_steps:
            return
        queued = max(schedstat() - queued_before, 0.0)
        off_cpu = max(took - in_gc - queued - mine, 0.0)
        what = (
            f"{what}: {_ms(mine)} CPU of ours, {_ms(in_gc)} GC, {_ms(queued)} waiting for a CPU, {_ms(off_cpu)} "
            f"off the CPU otherwise"
        )
        if mine > own.get(name, nothing)[0]:
            own[name] = (mine, what)
        if max(took - in_gc - queued, 0.0) > wall.get(name, nothing)[0]:
            wall[name] = (max(took - in_gc - queued, 0.0), what)
        if took > whole.get(name, (0.0, 0.0, ""))[0]:
            whole[name] = (took, in_gc, what)

    if gc_mode == "freeze":
        # What a deployment can do before the triggerer takes work: move everything alive now (Airflow's and
        # our imported modules, settings, ...) to the permanent generation, out of every later collection.
        gc.collect()
        gc.freeze()
    gc.callbacks.append(on_gc)
    if os.environ.get("BENCH_TRIGGER_SAMPLES"):
        # Off by default: under load the sampler thread, preempted while it holds the GIL, stalls the loop.
        sampler.start()
    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    guard = asyncio.create_task(watchdog())
    await asyncio.sleep(WATCHDOG_TICK * 2)
    started, cpu_started = loop.time(), time.process_time()
    tasks = [asyncio.create_task(drive(CountingPoolTrigger(pool_id=pool_id, poll_interval=interval))) for pool_id in pool_ids]
    # Start-up: until every trigger has read its connection, made its client and finished its first check.
    while polls[0] < len(pool_ids) and not events:
        await asyncio.sleep(0.05)
    startup = {"seconds": loop.time() - started, "cpu": time.process_time() - cpu_started}
    tracked_after_startup = len(gc.get_objects())
    startup_gc = {str(g): [gc_count.get(g, 0), gc_sum.get(g, 0.0), gc_longest.get(g, 0.0)] for g in range(3)}
    cpu_per_window, polls_per_window, gc_per_window = [], [], []
    for window in range(windows):
        phase[0] = f"window {window + 1}"
        cpu_before, polls_before, gc_before = time.process_time(), polls[0], gc_total[0]
        await asyncio.sleep(interval)
        cpu_per_window.append(time.process_time() - cpu_before)
        polls_per_window.append(polls[0] - polls_before)
        gc_per_window.append(gc_total[0] - gc_before)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await guard
    asyncio.events.Handle._run = original_run  # type: ignore[method-assign]
    sampler.stopping.set()
    gc.callbacks.remove(on_gc)
    phases = ["start-up", *(f"window {w + 1}" for w in range(windows))]
    return {
        "gc_mode": gc_mode,
        "gc_thresholds": list(gc.get_threshold()),
        "gc_frozen_objects": gc.get_freeze_count(),
        "gc_by_generation": {
            str(g): {
                "count": gc_count.get(g, 0),
                "total": gc_sum.get(g, 0.0),
                "longest": gc_longest.get(g, 0.0),
                "longest_cpu": gc_longest_cpu.get(g, 0.0),
            }
            for g in range(3)
        },
        "tracked_objects_after_startup": tracked_after_startup,
        "failed_requests": polls[1],
        "gc_startup_by_generation": startup_gc,
        "gc_seconds_per_window": gc_per_window,
        "longest_own_callback": {name: own.get(name, nothing) for name in phases},
        "longest_wall_callback": {name: wall.get(name, nothing) for name in phases},
        "longest_whole_callback": {name: whole.get(name, (0.0, 0.0, "")) for name in phases},
        "startup": startup,
        "worst_block_startup": worst["start-up"],
        "cpu_per_window": cpu_per_window,
        "polls_per_window": polls_per_window,
        "worst_block_per_window": [worst.get(f"window {w + 1}", 0.0) for w in range(windows)],
        "events_before_end": len(events),
        "polls_total": polls[0],
        "long_callback_samples": sampler.top(),
    }


class _CountingClient:
    """The trigger's client, counting the requests it sends (one per poll): a completed check, without
    changing the trigger's own code path."""

    def __init__(self, client, polls: list[int]) -> None:
        self._client = client
        self._polls = polls

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    async def _perform(self, *args, **kwargs):
        try:
            answer = await self._client._perform(*args, **kwargs)
        except Exception:
            self._polls[1] += 1  # a failed request (after the client's retries): not a completed check
            raise
        self._polls[0] += 1
        return answer


def child(url: str, pool_file: str, interval: float, windows: int, gc_mode: str = "default") -> dict:
    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps({"conn_type": "toloka", "password": common.TOKEN, "host": url})
    pool_ids = Path(pool_file).read_text().split()
    import toloka_provider.triggers.pool  # noqa: F401  (imports are not part of the measurement)

    return asyncio.run(_run_triggers(pool_ids, interval, windows, gc_mode))


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


GC_MODES = ("default", "freeze")
TARGET_MS = 50.0


def _gc_text(by_generation: dict) -> str:
    return "; ".join(
        f"gen{g}: {figures['count']} pauses, longest {_ms(figures['longest'])} ({_ms(figures.get('longest_cpu', 0.0))} CPU), "
        f"total {_ms(figures['total'])}"
        for g, figures in by_generation.items()
    )


def run(
    triggers: int | None = None,
    interval: float | None = None,
    windows: int | None = None,
    gc_modes: tuple[str, ...] = GC_MODES,
) -> common.ScenarioResult:
    quick = common.quick()
    triggers = triggers or (100 if quick else 1000)
    interval = interval or (1.0 if quick else 10.0)
    windows = windows or (2 if quick else 3)
    result = common.ScenarioResult("triggerer", f"4. {triggers:,} pool triggers in one event loop, poll every {interval:g} s")
    runs: dict[str, dict] = {}
    with common.EmulatorProcess() as emulator, tempfile.NamedTemporaryFile("w", suffix=".txt") as pool_file:
        started = time.perf_counter()
        pool_ids = _open_pools(emulator, triggers)
        common.log(f"opened {triggers:,} pools in {time.perf_counter() - started:.1f} s")
        pool_file.write("\n".join(pool_ids))
        pool_file.flush()
        for mode in gc_modes:
            before = _pool_gets(emulator.control("GET", "counters"))
            figures = common.run_json(
                common.OUR_PYTHON, __file__, "child", emulator.url, pool_file.name, str(interval), str(windows), mode,
                timeout=windows * interval + 600,
            )
            figures["pool_requests"] = _pool_gets(emulator.control("GET", "counters")) - before
            runs[mode] = figures
            for phase, stack, count in figures["long_callback_samples"][:5]:
                common.log(f"  long-callback sample x{count} in {phase}: {stack}")
            own = figures["longest_own_callback"]
            common.log(
                f"triggers (gc {mode}): start-up {figures['startup']['seconds']:.1f} s (CPU {figures['startup']['cpu']:.1f} s); "
                f"CPU per window {common.fmt_rounds(figures['cpu_per_window'], ' s')}; longest callback of ours, GC "
                f"excluded, per phase: " + ", ".join(f"{name} {_ms(v[0])} ({v[1]})" for name, v in own.items())
                + f"; GC {_gc_text(figures['gc_by_generation'])}"
            )
    result.raw = {"triggers": triggers, "interval": interval, "windows": windows, "runs": runs}
    figures = runs[gc_modes[0]]
    cpu = figures["cpu_per_window"]
    lateness = [w * 1000 for w in figures["worst_block_per_window"]]
    own = figures["longest_own_callback"]
    whole = figures["longest_whole_callback"]
    worst_name = max(own, key=lambda name: own[name][0])
    worst_own = own[worst_name]
    worst_whole_name = max(whole, key=lambda name: whole[name][0])
    worst_whole = whole[worst_whole_name]
    label = f"{triggers:,} triggers"
    wall = figures["longest_wall_callback"]
    worst_wall_name = max(wall, key=lambda name: wall[name][0])
    worst_wall = wall[worst_wall_name]
    result.rows = [
        common.Row(
            "4 triggerer", f"longest callback of ours, GC excluded ({label})", _ms(worst_own[0]), f"<= {TARGET_MS:g} ms",
            worst_own[0] * 1000 <= TARGET_MS,
            f"the loop thread's CPU in one callback minus its GC pauses; in {worst_name}: {worst_own[1]}; per phase "
            + ", ".join(f"{name} {_ms(value[0])}" for name, value in own.items())
            + " (start-up = connection read, client creation and first poll of every trigger)",
        ),
        common.Row(
            "4 triggerer", "longest callback of ours in wall time, GC and waits for a CPU excluded", _ms(worst_wall[0]),
            detail=f"in {worst_wall_name}: {worst_wall[1]}; per phase "
            + ", ".join(f"{name} {_ms(value[0])}" for name, value in wall.items())
            + "; 'off the CPU otherwise' is a blocking call or the GIL held by a preempted worker thread",
        ),
        common.Row(
            "4 triggerer", "longest callback counted whole (GC pauses inside included)", _ms(worst_whole[0]),
            detail=f"in {worst_whole_name}, of which GC {_ms(worst_whole[1])}: {worst_whole[2]}; per phase "
            + ", ".join(f"{name} {_ms(v[0])} (GC {_ms(v[1])})" for name, v in whole.items()),
        ),
        common.Row(
            "4 triggerer", "GC pauses by generation (default thresholds)",
            _ms(max(g["longest"] for g in figures["gc_by_generation"].values())),
            detail=f"{_gc_text(figures['gc_by_generation'])}; thresholds {figures['gc_thresholds']}; "
            f"{figures['tracked_objects_after_startup']:,} objects tracked after start-up "
            f"({figures['tracked_objects_after_startup'] / max(triggers, 1):,.0f} per trigger, Airflow's imports included)",
        ),
    ]
    if "freeze" in runs:
        frozen = runs["freeze"]
        frozen_whole = max(frozen["longest_whole_callback"].values(), key=lambda v: v[0])
        frozen_own = max(frozen["longest_own_callback"].values(), key=lambda v: v[0])
        result.rows.append(
            common.Row(
                "4 triggerer", "GC pauses with gc.freeze() before the triggers start (deployment option)",
                _ms(max(g["longest"] for g in frozen["gc_by_generation"].values())),
                detail=f"{frozen['gc_frozen_objects']:,} objects frozen; {_gc_text(frozen['gc_by_generation'])}; longest "
                f"callback whole {_ms(frozen_whole[0])} (GC {_ms(frozen_whole[1])}), of ours GC excluded "
                f"{_ms(frozen_own[0])} CPU; start-up {frozen['startup']['seconds']:.1f} s; CPU per window "
                f"{common.fmt_rounds(frozen['cpu_per_window'], ' s')}",
            )
        )
    result.rows += [
        common.Row(
            "4 triggerer", f"CPU s per polling round, {label}", f"{common.median(cpu):.2f} s",
            detail=f"= {100 * common.median(cpu) / interval:.0f}% of one core at a {interval:g} s interval; per window "
            f"{common.fmt_rounds(cpu, ' s')}; of which GC {common.fmt_rounds(figures['gc_seconds_per_window'], ' s')}; "
            f"polls per window {figures['polls_per_window']}",
        ),
        common.Row(
            "4 triggerer", "worst event-loop lateness (watchdog, 5 ms tick)", f"{max(lateness):.0f} ms",
            detail=f"per window {common.fmt_rounds(lateness, ' ms', 0)}; includes waiting behind the burst of ready "
            f"callbacks when every trigger's poll is answered at once (all started together here: the worst case)",
        ),
        common.Row(
            "4 triggerer", "start-up of all triggers", f"{figures['startup']['seconds']:.1f} s",
            detail=f"CPU {figures['startup']['cpu']:.1f} s; watchdog lateness {1000 * figures['worst_block_startup']:.0f} ms "
            f"(connection read, client creation, first poll of every trigger)",
        ),
        common.Row(
            "4 triggerer", "requests per trigger poll",
            f"{figures['pool_requests'] / max(figures['polls_total'], 1):.2f}",
            detail=f"{figures['pool_requests']:,} pool GETs for {figures['polls_total']:,} completed polls (start-up "
            f"included); failed requests {figures['failed_requests']}; events before the end: "
            f"{figures['events_before_end']} (expected 0)",
        ),
        common.Row(
            "4 triggerer", "old provider (poke-mode sensor), on paper", f"{triggers:,} slots",
            detail=f"one worker slot held per wait for its whole duration ({triggers:,} slots for {triggers:,} waits, vs 0 "
            f"worker slots and one triggerer process here); 1 request per poke (GET pool), as 1 per trigger poll here; "
            f"reschedule mode frees the slot but pays a full task start (process, DAG parse) per poke",
        ),
    ]
    steady = [f"window {w + 1}" for w in range(windows)]
    result.chart = {
        "kind": "lines",
        "xlabel": f"steady polling window ({interval:g} s each)",
        "ylabel": "seconds",
        "series": {
            "CPU seconds in window": [[i + 1, c] for i, c in enumerate(cpu)],
            "longest callback of ours, GC excluded": [[i + 1, own[name][0]] for i, name in enumerate(steady)],
            "longest callback, GC included": [[i + 1, whole[name][0]] for i, name in enumerate(steady)],
            "watchdog lateness": [[i + 1, w / 1000] for i, w in enumerate(lateness)],
        },
    }
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), *sys.argv[6:7])), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
