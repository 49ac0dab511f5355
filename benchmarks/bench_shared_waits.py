"""Shared waits: N pool-wait triggers in one process, shared poller vs per-wait polling, side by side.

    python benchmarks/bench_shared_waits.py          # N = 1,000 and 10,000; writes results/shared_waits.json
    BENCH_QUICK=1 python benchmarks/bench_shared_waits.py

A Toloka stand-in (pools only: the OPEN listing paged by id, one pool by id) runs in its own process and counts
requests per listing pass and per polling window; it closes a few pools at known moments on request. A child
process (one interpreter, one asyncio loop, as in Airflow's triggerer) runs N ``TolokaPoolTrigger`` with the
connection from ``AIRFLOW_CONN_TOLOKA_DEFAULT``, either through the shared poller (what the pool trigger does)
or polling alone (``shared_polling = False``, the per-wait path). Per polling window after the first (start-up):
CPU seconds of the child, requests, the worst event-loop lateness (a watchdog asking to wake every 5 ms; also
shown without the time the thread waited for a CPU taken by other processes, and the longest GC pause), and
each closed pool's event delay. CPU per window is shown without the watchdog's own (measured for 2 s before
the triggers start). What was imported is frozen out of the GC (``gc.freeze()``) before the triggers start. The events are checked: one per closed pool, of the right status; none for the pools left open.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

FIRST_ID = 1_000_000
WATCHDOG_TICK = 0.005
PAGE = 300
CLOSES_PER_WINDOW = 2  # one COMPLETED (success), one MANUAL (failure)


# ---- the stand-in server ------------------------------------------------------------------------------------


def serve(count: int) -> None:
    """Serve ``count`` open pools on a free loopback port; print ``PORT=<n>``; stop when stdin closes."""
    pools = {str(FIRST_ID + n): ["OPEN", None] for n in range(count)}
    ordered = sorted(int(i) for i in pools)
    lock = threading.Lock()
    counts = {"list": 0, "read": 0, "passes": []}  # passes: requests from each pass start to the next

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # control: {"close": {id: reason}}
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                for pool_id, reason in body.get("close", {}).items():
                    pools[pool_id] = ["CLOSED", reason]
                answer = {"list": counts["list"], "read": counts["read"], "passes": counts["passes"]}
            self._send(200, answer)

        def do_GET(self):
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            with lock:
                if len(parts) == 3:
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    after = int(query.get("id_gt", 0))
                    if "id_gt" not in query:
                        counts["passes"].append([0, time.time(), 0.0])
                    if counts["passes"]:
                        counts["passes"][-1][0] += 1
                        counts["passes"][-1][2] = time.time()
                    counts["list"] += 1
                    limit = int(query.get("limit", PAGE))
                    import bisect

                    start = bisect.bisect_right(ordered, after)
                    items = []
                    index = start
                    while index < len(ordered) and len(items) <= limit:
                        pool_id = str(ordered[index])
                        if pools[pool_id][0] == query.get("status", "OPEN"):
                            items.append(pool_id)
                        index += 1
                    more = len(items) > limit
                    body = {
                        "items": [{"id": i, "project_id": "1", "private_name": "p", "status": "OPEN"} for i in items[:limit]],
                        "has_more": more,
                    }
                    status = 200
                else:
                    counts["read"] += 1
                    if counts["passes"]:
                        counts["passes"][-1][0] += 1
                        counts["passes"][-1][2] = time.time()
                    state = pools.get(parts[3])
                    if state is None:
                        status, body = 404, {"code": "DOES_NOT_EXIST", "message": "no such pool"}
                    else:
                        status = 200
                        body = {"id": parts[3], "project_id": "1", "private_name": "p", "status": state[0]}
                        if state[1]:
                            body["last_close_reason"] = state[1]
            self._send(status, body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):  # a client that hung up (cancelled waits): not news
            pass

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT={server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the driver closes the pipe
    server.shutdown()


# ---- the child: N triggers in one loop ----------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _run_queue_wait():
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return lambda: 0.0
    return lambda: int(os.pread(fd, 128, 0).split()[1]) / 1e9


def _post(url: str, body: dict) -> dict:
    import requests

    return requests.post(f"{url}/_ctl", json=body, timeout=60).json()


async def _child(url: str, mode: str, count: int, interval: float, windows: int) -> dict:
    from toloka_provider.triggers.pool import TolokaPoolTrigger

    ids = [str(FIRST_ID + n) for n in range(count)]
    import gc

    gc.collect()
    gc.freeze()  # what is imported stays out of the collections: a GC pause then scans what the waits made
    rss_before = _rss_mb()
    triggers = []
    for pool_id in ids:
        trigger = TolokaPoolTrigger(pool_id, policy={"interval": interval, "progress_interval": 86_400})
        trigger.shared_polling = mode == "shared"
        triggers.append(trigger)
    events: dict[str, tuple[float, dict]] = {}

    async def drive(trigger):
        async for event in trigger.run():
            events[trigger.pool_id] = (time.time(), event.payload)

    lateness: list[tuple[float, float, float]] = []  # (time, late, late without run-queue wait)
    rq = _run_queue_wait()

    async def watchdog():
        loop = asyncio.get_running_loop()
        while True:
            asked, waited = loop.time(), rq()
            await asyncio.sleep(WATCHDOG_TICK)
            late = loop.time() - asked - WATCHDOG_TICK
            lateness.append((time.time(), late, max(0.0, late - (rq() - waited))))

    gc_pauses: list[tuple[float, float]] = []  # (end time, seconds) of each collection
    gc_began = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_began[0] = time.perf_counter()
        else:
            gc_pauses.append((time.time(), time.perf_counter() - gc_began[0]))

    gc.callbacks.append(on_gc)
    dog = asyncio.ensure_future(watchdog())
    # The watchdog's own CPU (200 wake-ups a second) and a control call, before any trigger runs: subtracted
    # from each window's CPU to give the CPU of the waits.
    await asyncio.to_thread(_post, url, {})
    calibration, cpu0 = time.time(), time.process_time()
    await asyncio.sleep(2.0)
    await asyncio.to_thread(_post, url, {})
    baseline = (time.process_time() - cpu0) / (time.time() - calibration)
    tasks = [asyncio.ensure_future(drive(t)) for t in triggers]
    started = time.time()
    window_rows = []
    closes: dict[str, tuple[float, str]] = {}
    cursor = 0
    before = await asyncio.to_thread(_post, url, {})
    cpu = time.process_time()
    for window in range(windows):
        window_start = time.time()
        window_cpu = time.process_time()
        if window >= 1:
            # Mid-window, close the next pools (one success, one failure).
            await asyncio.sleep(interval * 0.4)
            batch = {ids[cursor]: "COMPLETED", ids[cursor + 1]: "MANUAL"}
            cursor += CLOSES_PER_WINDOW
            moment = time.time()
            await asyncio.to_thread(_post, url, {"close": batch})
            for pool_id, reason in batch.items():
                closes[pool_id] = (moment, reason)
        await asyncio.sleep(max(0.0, window_start + interval - time.time()))
        after = await asyncio.to_thread(_post, url, {})
        now_cpu = time.process_time()
        in_window = [x for x in lateness if window_start <= x[0] < time.time()]
        window_rows.append({
            "cpu": now_cpu - cpu,
            "cpu_waits": max(0.0, now_cpu - window_cpu - baseline * (time.time() - window_start)),
            "requests": (after["list"] + after["read"]) - (before["list"] + before["read"]),
            "late": max((x[1] for x in in_window), default=0.0),
            "late_own": max((x[2] for x in in_window), default=0.0),
            "gc": max((x[1] for x in gc_pauses if window_start <= x[0] < time.time()), default=0.0),
        })
        if window == 0:
            rss_steady = _rss_mb()
        before, cpu = after, now_cpu
    await asyncio.sleep(interval * 1.1)  # the last closes are seen
    final = await asyncio.to_thread(_post, url, {})
    dog.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, dog, return_exceptions=True)
    wrong = []
    delays = []
    for pool_id, (moment, reason) in closes.items():
        got = events.get(pool_id)
        expected = "success" if reason == "COMPLETED" else "failure"
        if got is None or got[1].get("status") != expected:
            wrong.append((pool_id, reason, got))
        else:
            delays.append(got[0] - moment)
    extra = [(p, e) for p, e in events.items() if p not in closes]
    return {
        "mode": mode, "count": count, "interval": interval, "windows": window_rows, "start": started,
        "passes": final["passes"], "wrong": wrong[:5] + extra[:5], "wrong_count": len(wrong) + len(extra),
        "delays": delays, "closed": len(closes), "rss_per_wait_kb": (rss_steady - rss_before) * 1024 / count,
    }


def child(url: str, mode: str, count: int, interval: float, windows: int) -> dict:
    os.environ["AIRFLOW_CONN_TOLOKA_DEFAULT"] = json.dumps(
        {"conn_type": "toloka", "password": common.TOKEN, "host": url, "extra": {"retries": 0}}
    )
    import toloka_provider.triggers.pool  # noqa: F401  (imports are not part of the measurement)

    return asyncio.run(_child(url, mode, count, interval, windows))


# ---- the driver ---------------------------------------------------------------------------------------------


def measure(mode: str, count: int, interval: float, windows: int) -> dict:
    server = subprocess.Popen(
        [sys.executable, __file__, "serve", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip().split("=", 1)[1]
        url = f"http://127.0.0.1:{port}"
        common.log(f"shared_waits: {mode} x {count:,}, interval {interval:g} s, {windows} windows")
        return common.run_json(sys.executable, __file__, "child", url, mode, str(count), str(interval), str(windows),
                               timeout=windows * interval * 4 + 600)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


def run(sizes: tuple[int, ...] | None = None, interval: float | None = None, windows: int | None = None) -> common.ScenarioResult:
    quick = common.quick()
    sizes = sizes or ((300, 2_000) if quick else (1_000, 10_000))
    interval = interval or (4.0 if quick else 10.0)
    windows = windows or (3 if quick else 5)
    result = common.ScenarioResult("shared_waits", "Pool waits in one triggerer: shared poller vs per-wait polling")
    for count in sizes:
        # Per-wait polling sends N requests per interval by construction; it is measured at the first size only.
        modes = ("shared", "per-wait") if count == sizes[0] else ("shared",)
        for mode in modes:
            data = measure(mode, count, interval, windows)
            result.raw[f"{mode}@{count}"] = data
            steady = data["windows"][1:]
            label = f"{mode} @{count:,}"
            if mode == "shared":
                passes = [p[0] for p in data["passes"][1:]]  # the first pass is the start-up's
                per_round = max(passes or [0])
                target = math.ceil(count / PAGE) + 2
                result.rows.append(common.Row("shared_waits", f"requests per poll interval per connection, {label}",
                                              str(per_round), f"<= {target}", per_round <= target,
                                              "per listing pass: " + common.fmt_rounds(passes, digits=0)))
            else:
                per_window = max(w["requests"] for w in steady)
                result.rows.append(common.Row("shared_waits", f"requests per poll interval, {label}", str(per_window),
                                              "", None, "per window: " + common.fmt_rounds([w["requests"] for w in steady], digits=0)))
            cpu = max(w["cpu_waits"] for w in steady)
            cpu_target = count >= 10_000 and mode == "shared"
            result.rows.append(common.Row("shared_waits", f"CPU per polling round, {label}", f"{cpu:.3f} s",
                                          "<= 0.3 s" if cpu_target else "", (cpu <= 0.3) if cpu_target else None,
                                          "per window, watchdog excluded: "
                                          + common.fmt_rounds([w["cpu_waits"] for w in steady], "s", 3)
                                          + "; with it: " + common.fmt_rounds([w["cpu"] for w in steady], "s", 3)))
            late = max(w["late"] for w in steady)
            late_own = max(w["late_own"] for w in steady)
            is_target = mode == "shared"
            result.rows.append(common.Row("shared_waits", f"worst event-loop lateness, {label}", f"{late * 1000:.0f} ms",
                                          "<= 100 ms" if is_target else "", (late <= 0.1) if is_target else None,
                                          f"without CPU-queue wait: {late_own * 1000:.0f} ms; longest GC pause "
                                          f"{max(w['gc'] for w in steady) * 1000:.0f} ms"))
            worst = max(data["delays"], default=math.inf)
            # The next round after a close sees it: its event comes at most one interval plus that round's own
            # duration (the listing pages and the pool's read) after the close.
            rounds = [p[2] - p[1] for p in data["passes"][1:]] if mode == "shared" else []
            longest = max(rounds, default=0.0)
            result.rows.append(common.Row("shared_waits", f"close seen within one interval, {label}",
                                          f"{worst:.2f} s worst", f"<= {interval:g} s + round",
                                          worst <= interval + longest + 0.05,
                                          f"{len(data['delays'])} closes; longest listing pass {longest:.2f} s"))
            result.rows.append(common.Row("shared_waits", f"wrong or missing events, {label}", str(data["wrong_count"]),
                                          "0", data["wrong_count"] == 0, json.dumps(data["wrong"])[:200]))
            result.rows.append(common.Row("shared_waits", f"memory per wait, {label}", f"{data['rss_per_wait_kb']:.1f} KB",
                                          "", None, "RSS after the first window minus before the triggers, / N"))
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        url, mode, count, interval, windows = sys.argv[2:7]
        print(json.dumps(child(url, mode, int(count), float(interval), int(windows))))
        return
    result = run()
    result.save()
    for row in result.rows:
        verdict = "" if row.met is None else ("met" if row.met else "NOT MET")
        print(f"{row.metric:60} {row.value:>12} {row.target:>10} {verdict:8} {row.detail}")


if __name__ == "__main__":
    main()
