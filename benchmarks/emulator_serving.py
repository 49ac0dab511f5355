"""How fast the emulator serves assignment pages, and whether it holds 200 concurrent connections.

    python benchmarks/emulator_serving.py [--assignments 100000] [--rounds 3] [--connections 200]

It starts the emulator as a separate process (``python -m toloka_provider.emulator --crowd 0``, so that the
client's JSON decoding and garbage collection do not share an interpreter with the server), creates a
project and a pool over HTTP, bulk-loads ``--assignments`` SUBMITTED assignments (5 tasks and 5 solutions
each) through ``POST /_emulator/bulk-load``, then measures:

1. one client (``requests.Session``, keep-alive) paging the pool with ``GET /api/v1/assignments?limit=1000``
   the way the clients export (``sort=id``, ``id_gt=<last id>``): assignments per second, best and median of
   ``--rounds`` full passes;
2. ``--connections`` clients at once, each with its own connection, each fetching ``--pages-per-connection``
   pages of ``limit=100``: requests per second, and the number of errors (non-200 answers and connection
   failures), which must be 0.

The target (issue #3) is >= 20,000 assignments/s served on one core for (1). The wall-clock rate of (1) also
counts the client's own JSON decoding on the same 2 cores, so the script also reads the emulator process's CPU
time (``/proc/<pid>/stat``) around each pass and reports assignments per second of server CPU: that is the
"on one core" figure the target is about. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "benchmark-token"

TARGET_ASSIGNMENTS_PER_SECOND = 20_000


def make_pool(session: requests.Session, url: str) -> str:
    project = session.post(
        f"{url}/api/v1/projects",
        json={
            "public_name": "Benchmark",
            "public_description": "Benchmark",
            "task_spec": {
                "input_spec": {"image": {"type": "url"}},
                "output_spec": {"result": {"type": "string", "allowed_values": ["cat", "dog", "bird"]}},
            },
            "assignments_issuing_type": "AUTOMATED",
        },
        timeout=30,
    )
    project.raise_for_status()
    pool = session.post(
        f"{url}/api/v1/pools",
        json={
            "project_id": project.json()["id"],
            "private_name": "benchmark",
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_task_suites": 3},
        },
        timeout=30,
    )
    pool.raise_for_status()
    return pool.json()["id"]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export_pass(session: requests.Session, url: str, pool_id: str) -> tuple[int, float]:
    """Page through the whole pool once; returns (assignments read, seconds)."""
    count = 0
    last_id = None
    started = time.perf_counter()
    while True:
        params = {"pool_id": pool_id, "status": "SUBMITTED", "sort": "id", "limit": 1000}
        if last_id is not None:
            params["id_gt"] = last_id
        response = session.get(f"{url}/api/v1/assignments", params=params, timeout=60)
        response.raise_for_status()
        page = response.json()
        count += len(page["items"])
        if not page["has_more"]:
            return count, time.perf_counter() - started
        last_id = page["items"][-1]["id"]


def concurrent_clients(url: str, token: str, pool_id: str, connections: int, pages: int) -> tuple[int, int, float]:
    """``connections`` sessions fetch ``pages`` pages each, all at once; returns (ok, errors, seconds)."""
    barrier = threading.Barrier(connections)
    errors = 0
    ok = 0
    lock = threading.Lock()

    def client(index: int) -> None:
        nonlocal errors, ok
        session = requests.Session()
        session.headers["Authorization"] = f"OAuth {token}"
        barrier.wait(timeout=60)
        local_ok = local_errors = 0
        for page in range(pages):
            try:
                response = session.get(
                    f"{url}/api/v1/assignments",
                    params={"pool_id": pool_id, "sort": "id", "limit": 100, "id_gt": f"{index * pages + page:012x}"},
                    timeout=60,
                )
                if response.status_code == 200 and response.json()["items"] is not None:
                    local_ok += 1
                else:
                    local_errors += 1
            except requests.RequestException:
                local_errors += 1
        session.close()
        with lock:
            ok += local_ok
            errors += local_errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(client, range(connections)))
    return ok, errors, time.perf_counter() - started


@contextmanager
def emulator_process():
    """Start ``python -m toloka_provider.emulator`` and yield (URL, pid); terminate it afterwards."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "toloka_provider.emulator", "--crowd", "0", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode} before printing its URL")
            if line.startswith("TOLOKA_EMULATOR_URL="):
                url = line.strip().split("=", 1)[1]
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator did not print its URL within 30 s")
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=100_000, help="assignments to bulk-load (default 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="full export passes for the single client (default 3)")
    parser.add_argument("--connections", type=int, default=200, help="concurrent connections (default 200)")
    parser.add_argument("--pages-per-connection", type=int, default=5, help="pages each concurrent client fetches")
    args = parser.parse_args(argv)

    with emulator_process() as (url, pid):
        session = requests.Session()
        session.headers["Authorization"] = f"OAuth {TOKEN}"
        pool_id = make_pool(session, url)
        started = time.perf_counter()
        loaded = session.post(f"{url}/_emulator/bulk-load", json={"pool_id": pool_id, "count": args.assignments}, timeout=600)
        loaded.raise_for_status()
        print(f"bulk-loaded {args.assignments} assignments in {time.perf_counter() - started:.2f}s")

        rates, server_rates = [], []
        for round_number in range(1, args.rounds + 1):
            cpu_before = process_cpu_seconds(pid)
            count, seconds = export_pass(session, url, pool_id)
            server_cpu = process_cpu_seconds(pid) - cpu_before
            if count != args.assignments:
                print(f"ERROR: pass {round_number} read {count} assignments, expected {args.assignments}")
                return 1
            rates.append(count / seconds)
            server_rates.append(count / server_cpu if server_cpu > 0 else float("inf"))
            print(
                f"single client, pass {round_number}: {count} assignments in {seconds:.2f}s wall = "
                f"{count / seconds:,.0f}/s; server CPU {server_cpu:.2f}s = {server_rates[-1]:,.0f} assignments per CPU-second"
            )
        median, server_median = statistics.median(rates), statistics.median(server_rates)
        verdict = "OK" if server_median >= TARGET_ASSIGNMENTS_PER_SECOND else "BELOW TARGET"
        print(
            f"served on one core (server CPU), GET /api/v1/assignments?limit=1000: median {server_median:,.0f} "
            f"assignments per CPU-second (target >= {TARGET_ASSIGNMENTS_PER_SECOND:,}: {verdict})"
        )
        print(f"end to end with the client's JSON decoding on the same machine: median {median:,.0f} assignments/s")

        ok, errors, seconds = concurrent_clients(
            url, TOKEN, pool_id, args.connections, args.pages_per_connection
        )
        print(
            f"{args.connections} concurrent connections: {ok} requests OK, {errors} errors, "
            f"{ok / seconds:,.0f} requests/s (limit=100 pages)"
        )
        return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
