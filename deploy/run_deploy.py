"""``make test-deploy`` and ``make up``: the example DAGs on a real, multi-process Airflow 3.

    python3 deploy/run_deploy.py test   # distributed stack, the scenario below, then everything stopped
    python3 deploy/faults.py            # the same stack under faults (make test-deploy-faults)
    python3 deploy/run_deploy.py up     # SQLite + LocalExecutor, in the foreground until Ctrl-C

Run with any Python 3; it first makes sure of what it needs (idempotent, quick when already there): the
Debian packages ``postgresql``, ``redis-server`` and ``chromium`` (apt), and its own virtualenv
``.deploy/venv`` (Airflow 3.3, the Celery and Amazon providers, moto, Playwright; ``deploy/requirements.txt``),
rebuilt when that file or ``pyproject.toml`` changes, with the provider installed from a wheel built from this
checkout (not editable). Then it re-runs itself in that venv.

The ``test`` scenario (``deploy/stack.py`` has the processes):

1. ``incremental_review`` over two 15-minute intervals (assignments bulk-loaded into a review pool, the
   emulator clock moved between them), the second interval run twice: each assignment decided once.
2. ``text_classification`` with the crowd paused: the pool sensor must be ``deferred`` with no worker slot held
   (no running task instance, no active Celery task); the triggerer is restarted while it is deferred; the
   crowd resumed. The run must succeed with label accuracy >= 0.9, the labels in the S3 store (none on local
   disk), tasks spread over both workers, and ``labels_consumer`` run from the Asset event reading every label.
   Alongside it ``pool_closed_consumer`` (an ``AssetWatcher`` on that run's project, polled every second): a pool
   closed before the triggerer restart, one closed while no triggerer runs, and the labelling pool's three closes
   (the first wait and two relabel rounds) are each one asset event consumed by exactly one successful run, with
   the pool id in the event; nothing is emitted twice across the restart or in a quiet window after the run.
3. A browser (Playwright + Debian's chromium) checks the UI (``deploy/browser.py``); screenshots go to
   ``.deploy/artifacts/``.
4. Lineage: every Airflow component has OpenLineage's file transport (one file per event, named after the
   component); the text_classification run's events come from the Celery workers and their inputs and outputs
   join the tasks file -> the pool -> the assignments file -> the labels file (objects in the S3 store), on
   the names exactly as the events carry them: a file named differently by an operator and a ``@task`` fails.
5. Metrics: a StatsD receiver in this process (UDP on 127.0.0.1); each component sends with its own name as
   the prefix. The workers' ``toloka.`` metrics (tasks uploaded, decisions, the spend estimate, API requests)
   must arrive, and the reviews' ``toloka.pool.<id>.spend.usd`` must equal the rewards of each pool's accepted
   assignments; what arrives from the triggerer is checked as ``docs/metrics.md`` describes it (no trigger
   failed).
6. ``shared_pool_waits`` (``deploy/dags/``, a DAG bundle of the deployment's own): ten deferrable pool sensors on
   one connection (a second emulator, so that its counters hold only their polls) wait at once in the triggerer's
   shared poll loop: over six poll intervals its requests stay within ceil(10/300)+2 per interval (listings of the
   open pools, not a read per wait); then eight pools complete (success), one is closed by hand (that sensor
   fails with MANUAL) and one, which no worker may take, passes its deadline (that sensor times out).
7. The Toloka token appears in no task log, component log, lineage event, ``pg_dump`` of the metadata DB, or
   store object.

Exit status 0 when every check passed. Every process is stopped at the end, on failure and on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from stack import CheckFailed, check

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".deploy"
VENV = STATE / "venv"
VENV_PYTHON = VENV / "bin" / "python"
ARTIFACTS = STATE / "artifacts"
REQUIREMENTS = REPO / "deploy" / "requirements.txt"
LOCK = REPO / "deploy" / "requirements-lock.txt"  # constraints: a cold install without resolver backtracking
APT_PACKAGES = {"postgresql": "/usr/lib/postgresql", "redis-server": "/usr/bin/redis-server", "chromium": "/usr/bin/chromium"}


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


# -- bootstrap (system Python) ---------------------------------------------------------------------------------
def ensure_apt() -> None:
    missing = [name for name, path in APT_PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    step(f"apt-get install {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def _run_logged(command: list[str], log_name: str) -> None:
    """Run a setup command with its output in .deploy/<log_name> (pip is chatty); show the tail on failure."""
    STATE.mkdir(exist_ok=True)
    log_path = STATE / log_name
    with open(log_path, "ab") as log_file:
        code = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT).returncode
    if code != 0:
        lines = log_path.read_text(errors="replace").splitlines()
        print("\n".join(line for line in lines[-40:] if "is ignored" not in line), file=sys.stderr)
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({code}); full log {log_path}")


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    stamp = VENV / ".requirements"
    wanted = _digest(REQUIREMENTS, LOCK, REPO / "pyproject.toml")
    if not (VENV_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted):
        step(f"building {VENV.relative_to(REPO)} (deploy/requirements.txt)")
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
        _run_logged([*pip, "--upgrade", "pip"], "pip.log")
        _run_logged([*pip, "-r", str(REQUIREMENTS), "-c", str(LOCK)], "pip.log")
        stamp.write_text(wanted)
    # The provider from a wheel of this checkout, reinstalled whenever its sources change.
    wheel_stamp = VENV / ".provider"
    wanted_wheel = _digest(REPO / "toloka_provider", REPO / "pyproject.toml")
    if not (wheel_stamp.exists() and wheel_stamp.read_text() == wanted_wheel):
        step("building and installing the provider wheel")
        wheels = STATE / "wheels"
        shutil.rmtree(wheels, ignore_errors=True)
        _run_logged([str(VENV_PYTHON), "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO)], "pip.log")
        (wheel,) = wheels.glob("toloka_airflow_provider-*.whl")
        _run_logged(
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)], "pip.log"
        )
        shutil.rmtree(REPO / "build", ignore_errors=True)
        wheel_stamp.write_text(wanted_wheel)


def bootstrap(argv: list[str], script: Path = Path(__file__)) -> None:
    """Make sure of the prerequisites, then run ``script`` again with ``argv`` in the deploy venv."""
    started = time.monotonic()
    ensure_apt()
    ensure_venv()
    step(f"prerequisites ready in {time.monotonic() - started:.0f} s")
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(script.resolve()), *argv])


def in_deploy_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def stop_on_signals() -> None:
    """SIGTERM (CI cancelling the job) stops the stack like Ctrl-C does.

    SIGINT too, explicitly: a shell that starts us in the background sets it to "ignore", and Python then
    installs no KeyboardInterrupt handler of its own.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


# -- the scenario (deploy venv) --------------------------------------------------------------------------------
def wait_state(api, dag_id: str, run_id: str, states: set[str], timeout: float) -> str:
    from stack import wait_for

    def done():
        state = api.run_state(dag_id, run_id)
        return state if state in states else None

    try:
        return wait_for(f"{dag_id} run {run_id}", done, timeout, interval=2)
    except TimeoutError:
        raise CheckFailed(f"{dag_id} {run_id}: {api.task_states(dag_id, run_id)}") from None


def trigger(api, dag_id: str, run_id: str, **body) -> str:
    api("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, **body})
    return run_id


def wait_dags_parsed(api, dag_ids: set[str]) -> None:
    from stack import wait_for

    def parsed():
        found = {dag["dag_id"] for dag in api.get("/dags?limit=100")["dags"]}
        errors = api.get("/importErrors")["import_errors"]
        if errors:
            raise CheckFailed(f"import errors: {errors}")
        return dag_ids <= found

    wait_for("the example DAGs parsed", parsed, 240, interval=2)


def wait_deferred(api, dag_id: str, run_id: str, timeout: float, task_id: str = "wait_for_pool") -> None:
    """Wait until ``task_id`` of the run is deferred (a failed task of the run fails the check at once)."""
    from stack import wait_for

    def deferred():
        states = api.task_states(dag_id, run_id)
        if any(state == "failed" for state in states.values()):
            raise CheckFailed(f"a task failed: {states}")
        return states.get(task_id) == "deferred"

    wait_for(f"{task_id} deferred", deferred, timeout, interval=2)
    check(True, f"{task_id} is deferred while the crowd is paused")


def run_incremental_review(stack, api) -> None:
    """Two intervals, the second run twice: every bulk-loaded assignment decided exactly once."""
    from stack import http_json

    step("incremental_review: two 15-minute intervals (and the second again)")
    from toloka_provider.client import TolokaClient

    client = TolokaClient(token=stack.token, url=stack.emulator_url)
    project = client.create_project(
        {
            "public_name": "incremental review (deploy test)",
            "task_spec": {
                "input_spec": {"text": {"type": "string"}},
                "output_spec": {"label": {"type": "string", "allowed_values": ["a", "b"]}},
                "view_spec": {"type": "classic", "markup": "{{text}}"},
            },
            "assignments_issuing_type": "AUTOMATED",
        }
    )
    pool = client.create_pool(
        {
            "project_id": project.id, "private_name": "review me", "may_contain_adult_content": False,
            "reward_per_assignment": 0.01, "assignment_max_duration_seconds": 300, "will_expire": "2099-01-01T00:00:00",
            "auto_accept_solutions": False, "defaults": {"default_overlap_for_new_task_suites": 1},
        }
    )  # fmt: skip
    pool_id = str(pool.id)
    before = stack.emulator_counters()
    # Emulator clock to 5 min past the next quarter hour q; batches at q+5 and q+20; runs for the intervals
    # ending q+15 and q+30 fetch [end-16 min, end-1 min): one batch each.
    now = datetime.fromisoformat(http_json(f"{stack.emulator_url}/_emulator/health")["now"].replace("Z", "+00:00"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    quarter = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) + timedelta(minutes=15)
    advance = (quarter + timedelta(minutes=5) - now).total_seconds()
    sizes = (4, 6)
    for index, size in enumerate(sizes):
        http_json(f"{stack.emulator_url}/_emulator/clock/advance", "POST", {"seconds": advance if index == 0 else 900})
        http_json(f"{stack.emulator_url}/_emulator/bulk-load", "POST", {"pool_id": pool_id, "count": size, "status": "SUBMITTED"})
    try:
        api("POST", "/variables", {"key": "toloka_review_pool_id", "value": pool_id})
    except RuntimeError:  # already there (a stack reused while developing)
        api("PATCH", "/variables/toloka_review_pool_id", {"key": "toloka_review_pool_id", "value": pool_id})
    api("PATCH", "/dags/incremental_review", {"is_paused": False})
    runs = []
    for number, end in enumerate((quarter + timedelta(minutes=15), quarter + timedelta(minutes=30), quarter + timedelta(minutes=30))):
        start = end - timedelta(minutes=15)
        # The intervals are in the emulator's future; the scheduler refuses a logical date in Airflow's, so the
        # logical date is a day back and the data interval (all the DAG reads) is given explicitly.
        logical = end - timedelta(days=1, seconds=number)
        run_id = trigger(
            api, "incremental_review", f"deploy_review_{number}",
            logical_date=logical.isoformat(), data_interval_start=start.isoformat(), data_interval_end=end.isoformat(),
            conf={"pool_id": pool_id},
        )  # fmt: skip
        state = wait_state(api, "incremental_review", run_id, {"success", "failed"}, 300)
        check(state == "success", f"incremental_review {run_id} ({start:%H:%M}-{end:%H:%M}): {state}")
        runs.append(api.xcom("incremental_review", run_id, "append_decisions"))
    api("PATCH", "/dags/incremental_review", {"is_paused": True})
    after = stack.emulator_counters()
    decided = (after["assignments_accepted"] + after["assignments_rejected"]) - (
        before["assignments_accepted"] + before["assignments_rejected"]
    )
    check(after["double_decisions"] == 0, "no assignment decided twice (emulator counters)")
    check(decided == sum(sizes), f"{decided} assignments decided, {sum(sizes)} loaded")
    check([run["added"] for run in runs] == [4, 6, 0], f"decisions added per run {[r['added'] for r in runs]} == [4, 6, 0]")
    check(all(run["path"].startswith("s3://aws_default@") for run in runs), "decision files in the S3 store")


def check_test_connection(stack, api) -> None:
    """[core] test_connection = Enabled: the REST call without host/port tests the saved connection (README)."""
    step("testing the saved toloka_default connection through the REST API")
    result = api("POST", "/connections/test", {"connection_id": "toloka_default", "conn_type": "toloka"})
    check(result["status"] is True and "Connected as requester" in result["message"], f"connection test: {result}")
    # What the 3.3.2 UI posts for a saved connection (port 0 for an empty port, the masked password): refused.
    ui_body = {"connection_id": "toloka_default", "conn_type": "toloka", "host": stack.emulator_url, "port": 0, "password": "***"}
    try:
        api("POST", "/connections/test", ui_body)
        print("    note: the UI-shaped test request was accepted (the Airflow bug of 3.3.2 seems fixed)", flush=True)
    except RuntimeError as error:
        print(f"    note: the UI-shaped test request is refused as on Airflow 3.3.2: {str(error)[:140]}", flush=True)


def store_objects(stack) -> dict[str, bytes]:
    s3 = stack.s3()
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="toloka-labels"):
        for item in page.get("Contents", []):
            objects[item["Key"]] = s3.get_object(Bucket="toloka-labels", Key=item["Key"])["Body"].read()
    return objects


def celery_active(stack) -> dict:
    code = (
        "import json\n"
        "from airflow.providers.celery.executors.celery_executor import app\n"
        "print('ACTIVE=' + json.dumps(app.control.inspect(timeout=5).active() or {}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=stack.env, capture_output=True, text=True, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith("ACTIVE="):
            return json.loads(line[7:])
    raise CheckFailed(f"celery inspect failed: {done.stderr[-2000:]}")


POOL_EVENTS_DAG = "pool_closed_consumer"
POOL_EVENTS_ASSET = "toloka_pool_closed"
# The watcher's trigger is fixed when the DAG file is parsed, long before text_classification creates its
# project; the emulator numbers projects in creation order from 100000001, and the scenario creates the review
# project first, so the run's project is the second. Checked against the run's create_project XCom.
WATCHED_PROJECT = "100000002"
POOL_EVENTS_ENV = {"TOLOKA_POOL_EVENTS_PROJECT_ID": WATCHED_PROJECT, "TOLOKA_POOL_EVENTS_POLL_INTERVAL": "1",
                   "TOLOKA_POOL_EVENTS_COMPLETED": "1"}  # fmt: skip
QUIET_SECONDS = 12  # after the last close: a dozen polls with no new event


class PoolEvents:
    """``pool_closed_consumer`` on the real triggerer: every close of a pool of the project is one run, none twice."""

    def __init__(self, stack, api) -> None:
        from toloka_provider.client import TolokaClient

        self.api = api
        self.client = TolokaClient(token=stack.token, url=stack.emulator_url)
        self.probes: dict[str, str] = {}
        self.quiet_from = time.monotonic()

    def unpause(self) -> None:
        # A watcher runs only for an asset an unpaused DAG is scheduled on (registered at the next parse). Only
        # once its project exists: a watcher of a missing project fails (the project id is wrong), and Airflow
        # starts a failed watcher's trigger again every second or two, each one counted in triggers.failed.
        self.api("PATCH", f"/dags/{POOL_EVENTS_DAG}", {"is_paused": False})
        self.api("PATCH", f"/dags/{COMPLETED_EVENTS_DAG}", {"is_paused": False})  # the second watcher's DAG

    def asset(self) -> dict | None:
        found = self.api.get(f"/assets?name_pattern={POOL_EVENTS_ASSET}&limit=10")["assets"]
        return next((asset for asset in found if asset["name"] == POOL_EVENTS_ASSET), None)

    def events(self) -> list[dict]:
        asset = self.asset()
        if asset is None:
            return []
        return self.api.get(f"/assets/events?asset_id={asset['id']}&limit=100&order_by=timestamp")["asset_events"]

    @staticmethod
    def payload(event: dict) -> dict:
        return (event.get("extra") or {}).get("payload") or {}

    def _open_pool(self, name: str, project_id: str = WATCHED_PROJECT) -> str:
        pool = self.client.create_pool(
            {
                "project_id": project_id, "private_name": name, "may_contain_adult_content": False,
                "reward_per_assignment": 0.01, "assignment_max_duration_seconds": 300,
                "will_expire": "2099-01-01T00:00:00", "defaults": {"default_overlap_for_new_task_suites": 1},
            }
        )  # fmt: skip
        # One task (a pool without any cannot be opened); the crowd is paused, so it stays open until closed.
        task = {"pool_id": str(pool.id), "input_values": {"ticket_id": f"probe-{pool.id}", "text": name}, "overlap": 1}
        self.client.create_tasks([task], async_mode=False)
        self.client.open_pool(str(pool.id))
        return str(pool.id)

    def before_restart(self, project_id: str) -> None:
        """While the sensor is deferred: one pool closed now (its event must be in before the restart)."""
        from stack import wait_for

        started = time.monotonic()
        check(project_id == WATCHED_PROJECT, f"text_classification's project {project_id} is the watched one")
        asset = wait_for("the pool watcher registered", lambda: (a := self.asset()) and a.get("watchers") and a, 60, 2)
        check(bool(asset["watchers"]), f"asset {POOL_EVENTS_ASSET} has its watcher ({asset['watchers'][0]['name']})")
        before, down = self._open_pool("closed before the restart"), self._open_pool("closed while no triggerer runs")
        self.probes = {"before": before, "down": down}
        self.client.close_pool(before)
        wait_for(f"the close of pool {before} as an asset event",
                 lambda: [e for e in self.events() if self.payload(e).get("pool_id") == before], 60, 1)  # fmt: skip
        check(True, f"pool {before} closed: its asset event is in before the triggerer restart "
                    f"({time.monotonic() - started:.0f} s)")  # fmt: skip

    def while_down(self) -> None:
        self.client.close_pool(self.probes["down"])
        print(f"    pool {self.probes['down']} closed while no triggerer runs", flush=True)

    def _snapshot(self) -> tuple[list[dict], list[dict], dict[int, list[str]]] | None:
        events = self.events()
        runs = self.api.get(f"/dags/{POOL_EVENTS_DAG}/dagRuns?limit=100")["dag_runs"]
        if any(run["state"] not in ("success", "failed") for run in runs):
            return None
        consumed: dict[int, list[str]] = {}
        for run in runs:
            quoted = urllib.parse.quote(run["dag_run_id"], safe="")
            upstream = self.api.get(f"/dags/{POOL_EVENTS_DAG}/dagRuns/{quoted}/upstreamAssetEvents")["asset_events"]
            for event in upstream:
                consumed.setdefault(event["id"], []).append(run["dag_run_id"])
        return events, runs, consumed

    def check(self, stack, pool_id: str) -> None:
        from stack import wait_for

        step("pool_closed_consumer: one run per pool close (AssetWatcher), none twice across the triggerer restart")
        expected = {self.probes["before"]: ["MANUAL"], self.probes["down"]: ["MANUAL"], pool_id: ["COMPLETED"] * 3}

        def settled():
            snapshot = self._snapshot()
            if snapshot is None or len(snapshot[0]) < sum(map(len, expected.values())):
                return None
            events, _, consumed = snapshot
            return snapshot if all(event["id"] in consumed for event in events) else None

        started = time.monotonic()
        try:
            wait_for("every pool event consumed by a finished run", settled, 180, interval=3)
        except TimeoutError:
            pass  # the checks below say what is missing
        remaining = QUIET_SECONDS - (time.monotonic() - self.quiet_from)
        if remaining > 0:
            time.sleep(remaining)
        snapshot = wait_for("the consumer runs finished", self._snapshot, 120, interval=2)
        events, runs, consumed = snapshot
        quiet = time.monotonic() - self.quiet_from
        closes: dict[str, list[str]] = {}
        for event in events:
            payload = self.payload(event)
            closes.setdefault(str(payload.get("pool_id")), []).append(str(payload.get("close_reason")))
        named = ", ".join(f"{pool} x{len(reasons)}" for pool, reasons in closes.items())
        check(closes == expected, f"one event per close: {named} (the probe closed before the restart, the one closed "
              f"while no triggerer ran, the labelling pool's wait and two rounds; expected {expected})")  # fmt: skip
        check(all(PoolEvents.payload(e).get("project_id") == WATCHED_PROJECT and (e.get("extra") or {}).get("from_trigger")
                  for e in events), f"all {len(events)} events from the watcher, for project {WATCHED_PROJECT}")  # fmt: skip
        payloads = [self.payload(e) for e in events]
        keys = [p["event_key"] for p in payloads]
        check(len(set(keys)) == len(keys) and all(p["event_key"] == f"{p['pool_id']}@{p['last_stopped']}" for p in payloads),
              "event keys distinct, each <pool id>@<last_stopped>")  # fmt: skip
        last = max(p["last_stopped"] for p in payloads if p["pool_id"] == pool_id)
        check(_utc(last) == _utc(self.client.get_pool(pool_id).last_stopped), f"the last event is the pool's last close {last}")
        doubles = {event_id: run_ids for event_id, run_ids in consumed.items() if len(run_ids) != 1}
        check(not doubles and {e["id"] for e in events} == set(consumed), f"each event triggered exactly one run {doubles}")
        check(all(r["run_type"] == "asset_triggered" and r["state"] == "success" for r in runs),
              f"{len(runs)} {POOL_EVENTS_DAG} runs, all asset-triggered and successful")  # fmt: skip
        objects = store_objects(stack)
        written = [path for run in runs for path in api_xcom_list(self.api, run["dag_run_id"])]
        summaries = sorted(path.split("@toloka-labels/", 1)[-1] for path in written)
        wanted = sorted(f"examples/pool_closed/{k.replace(':', '-')}.json" for k in keys)
        check(summaries == wanted and all(key in objects for key in wanted), f"{len(wanted)} pool summaries in the S3 store")
        check(len(self.events()) == len(events), f"no new event in a quiet window of {quiet:.0f} s after the last close")
        print(f"    pool events checked in {time.monotonic() - started:.0f} s", flush=True)


COMPLETED_EVENTS_DAG = "pool_completed_consumer"


def check_shared_watchers(stack, pool_events: PoolEvents, pool_id: str) -> None:
    """The second watcher on the project (COMPLETED closes only, its own asset) got exactly its events, each run
    once, and the two watchers made one listing stream in the triggerer (Airflow 3.3 shared streams)."""
    from stack import wait_for

    step("pool_completed_consumer: a second watcher on the same project, sharing the first one's listing")
    api = pool_events.api
    asset = next(a for a in api.get("/assets?name_pattern=toloka_pool_completed&limit=10")["assets"]
                 if a["name"] == "toloka_pool_completed")  # fmt: skip

    def settled():
        events = api.get(f"/assets/events?asset_id={asset['id']}&limit=100")["asset_events"]
        runs = api.get(f"/dags/{COMPLETED_EVENTS_DAG}/dagRuns?limit=100")["dag_runs"]
        if len(events) < 3 or any(run["state"] not in ("success", "failed") for run in runs):
            return None
        consumed: dict[int, list[str]] = {}
        for run in runs:
            quoted = urllib.parse.quote(run["dag_run_id"], safe="")
            for event in api.get(f"/dags/{COMPLETED_EVENTS_DAG}/dagRuns/{quoted}/upstreamAssetEvents")["asset_events"]:
                consumed.setdefault(event["id"], []).append(run["dag_run_id"])
        return (events, runs, consumed) if {e["id"] for e in events} <= set(consumed) else None

    events, runs, consumed = wait_for("the completed-pool events consumed by finished runs", settled, 120, interval=2)
    payloads = [PoolEvents.payload(e) for e in events]
    check(sorted((p.get("pool_id"), p.get("close_reason")) for p in payloads) == [(pool_id, "COMPLETED")] * 3
          and len({p.get("event_key") for p in payloads}) == 3,
          f"the second watcher: the three COMPLETED closes of pool {pool_id}, none of the MANUAL probes, none twice")  # fmt: skip
    check(all(len(run_ids) == 1 for run_ids in consumed.values())
          and all(r["state"] == "success" and r["run_type"] == "asset_triggered" for r in runs),
          f"each of its events ran {COMPLETED_EVENTS_DAG} once; {len(runs)} runs, all asset-triggered and successful")  # fmt: skip
    window, interval = 10.0, float(POOL_EVENTS_ENV["TOLOKA_POOL_EVENTS_POLL_INTERVAL"])
    before = stack.emulator_counters()["requests"].get("GET /api/v1/pools 200", 0)
    time.sleep(window)
    listed = stack.emulator_counters()["requests"].get("GET /api/v1/pools 200", 0) - before
    check(0 < listed <= 1.3 * window / interval + 1, f"one listing stream for the two watchers: {listed} pool listings "
          f"in {window:.0f} s at a {interval:.0f} s interval (one stream each would make about {2 * window / interval:.0f})")  # fmt: skip


def _utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def api_xcom_list(api, run_id: str) -> list[str]:
    return api.xcom(POOL_EVENTS_DAG, run_id, "summarize_closed_pools") or []


def run_text_classification(stack, api, browser, pool_events: PoolEvents) -> str:
    import report  # dags_examples/demo/report.py: truth file and accuracy
    from stack import wait_for

    step("text_classification with the crowd paused: the pool sensor must really defer")
    dag_id = "text_classification"
    stack.crowd("pause")
    api("PATCH", "/dags/labels_consumer", {"is_paused": False})
    api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    run_id = trigger(api, dag_id, f"deploy_{uuid.uuid4().hex[:8]}")

    def project_created():
        state = api.task_states(dag_id, run_id).get("create_project")
        if state == "failed":
            raise CheckFailed(f"create_project failed: {api.task_states(dag_id, run_id)}")
        return state == "success"

    wait_for("create_project", project_created, 300, interval=2)
    pool_events.unpause()

    wait_deferred(api, dag_id, run_id, 600)
    time.sleep(3)  # a moment for the triggerer to pick the trigger up
    running = [ti["task_id"] for ti in api.task_instances(dag_id, run_id) if ti["state"] == "running"]
    check(running == [], f"no task instance running while deferred ({running})")
    active = celery_active(stack)
    check(len(active) == 2, f"both Celery workers answer ({sorted(active)})")
    busy = {worker: [t.get("name") for t in tasks] for worker, tasks in active.items() if tasks}
    check(not busy, f"no Celery worker slot held while deferred ({busy})")
    if browser is not None:
        browser.check_deferred(run_id)

    pool_events.before_restart(str(api.xcom(dag_id, run_id, "create_project")))

    step("restarting the triggerer while the sensor is deferred (a watched pool closes while it is down)")
    stack.restart_triggerer(while_down=pool_events.while_down)
    time.sleep(5)
    check(api.task_states(dag_id, run_id)["wait_for_pool"] == "deferred", "still deferred after the triggerer restart")
    stack.crowd("resume")
    state = wait_state(api, dag_id, run_id, {"success", "failed"}, 900)
    check(state == "success", f"{dag_id} {run_id}: {state} ({api.task_states(dag_id, run_id)})")
    pool_events.quiet_from = time.monotonic()  # the pool's last close is behind
    tis = api.task_instances(dag_id, run_id)
    hosts = sorted({ti["hostname"] for ti in tis if ti.get("hostname")})
    check(hosts == ["worker-1", "worker-2"], f"tasks ran on both Celery workers ({hosts})")
    check(tis and all(ti["state"] == "success" for ti in tis), f"all {len(tis)} tasks succeeded")

    labels_info = api.xcom(dag_id, run_id, "write_labels")
    labels_url = labels_info["labels_jsonl"]
    check(labels_url.startswith("s3://aws_default@toloka-labels/"), f"labels written to the store: {labels_url}")
    key = labels_url.split("@toloka-labels/", 1)[1]
    objects = store_objects(stack)
    check(key in objects, f"s3://toloka-labels/{key} is in the bucket")
    labels = [json.loads(line) for line in objects[key].decode().splitlines() if line.strip()]
    scored = report.label_accuracy(labels, report.load_truth())
    check(scored.scored == 360 and scored.missing == 0, f"{scored.scored} tickets labelled")
    check(scored.accuracy >= 0.9, f"label accuracy {scored.accuracy:.3f} >= 0.9")
    local = [str(p) for p in stack.root.rglob("labels.jsonl")] + [str(p) for p in (REPO / "airflow_home").rglob(f"*{run_id}*")]
    check(local == [], f"no labels on local disk ({local[:3]})")

    step("labels_consumer: run by the Asset event, reads every label")

    def consumer_run():
        runs = api.get("/dags/labels_consumer/dagRuns?limit=10")["dag_runs"]
        done = [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] in ("success", "failed")]
        return done[0] if done else None

    consumer = wait_for("labels_consumer run", consumer_run, 300, interval=3)
    check(consumer["state"] == "success", f"labels_consumer {consumer['dag_run_id']} ({consumer['run_type']}): {consumer['state']}")
    summaries = api.xcom("labels_consumer", consumer["dag_run_id"], "summarize_labels")
    check([s["total"] for s in summaries] == [360], f"labels_consumer read {[s['total'] for s in summaries]} labels")
    check(summaries[0]["labels"] == labels_url, "from the labels file of the producing run")
    return run_id


SHARED_WAITS_DAG = "shared_pool_waits"  # deploy/dags/shared_pool_waits.py
SHARED_WAITS_WINDOW = 6  # poll intervals over which the triggerer's requests are counted


def run_shared_waits(stack, api) -> None:
    """Ten deferred pool waits on one connection: one shared poll loop in the triggerer, each its own outcome.

    The waits use a second emulator of their own (connection ``toloka_shared_waits``), so that its request
    counters hold nothing but the triggerer's polls while they wait.
    """
    import math

    from shared_pool_waits import COMPLETED, CONN_ID, DEADLINE, POLL_INTERVAL
    from stack import http_json, wait_for

    from toloka_provider.client import TolokaClient

    waits = COMPLETED + 2
    step(f"{SHARED_WAITS_DAG}: {waits} deferred pool waits on one connection, polled together by the triggerer")
    started = time.monotonic()
    url = stack.start_emulator("emulator-shared")
    http_json(f"{url}/_emulator/crowd/pause", "POST", {})
    api("POST", "/connections", {"connection_id": CONN_ID, "conn_type": "toloka", "host": url, "password": stack.token,
                                 "extra": json.dumps({"timeout": 20, "retries": 5})})  # fmt: skip
    client = TolokaClient(token=stack.token, url=url)
    project = client.create_project(
        {
            "public_name": "shared waits (deploy test)",
            "task_spec": {
                "input_spec": {"text": {"type": "string"}},
                "output_spec": {"label": {"type": "string"}},
                "view_spec": {"type": "classic", "markup": "{{text}}"},
            },
            "assignments_issuing_type": "AUTOMATED",
        }
    )
    # A filter on a skill no worker has: the crowd never takes the last pool, which stays open past its deadline.
    nobody = client.create_skill({"name": "held by nobody"})
    pool_ids = []
    for number in range(waits):
        body = {
            "project_id": project.id, "private_name": f"shared wait {number}", "may_contain_adult_content": False,
            "reward_per_assignment": 0.01, "assignment_max_duration_seconds": 300, "will_expire": "2099-01-01T00:00:00",
            "auto_accept_solutions": False, "defaults": {"default_overlap_for_new_task_suites": 1},
        }  # fmt: skip
        if number == waits - 1:
            body["filter"] = {"and": [{"category": "skill", "key": str(nobody.id), "operator": "GTE", "value": 1}]}
        pool_id = str(client.create_pool(body).id)
        client.create_tasks([{"pool_id": pool_id, "input_values": {"text": f"wait {number}"}, "overlap": 1}], async_mode=False)
        client.open_pool_async(pool_id)  # all opening at once; waited for below
        pool_ids.append(pool_id)

    def pools_in(status: str, ids: list[str]) -> bool:
        return all(client.get_pool(pool_id).status == status for pool_id in ids)

    wait_for(f"{waits} pools open", lambda: pools_in("OPEN", pool_ids), 60, interval=0.5)
    completed, by_hand, past_deadline = pool_ids[:COMPLETED], pool_ids[COMPLETED], pool_ids[COMPLETED + 1]
    api("PATCH", f"/dags/{SHARED_WAITS_DAG}", {"is_paused": False})
    run_id = trigger(api, SHARED_WAITS_DAG, f"shared_{uuid.uuid4().hex[:8]}", conf={"pool_ids": pool_ids})

    def all_deferred():
        states = api.task_states(SHARED_WAITS_DAG, run_id)
        late = states.get("wait_past_deadline") in ("deferred", "failed")  # its deadline may come first on a slow box
        others = [state for task, state in states.items() if task != "wait_past_deadline"]
        return len(states) == waits and late and all(state == "deferred" for state in others) and states

    states = wait_for("every shared wait deferred", all_deferred, 240, interval=1)
    active = sum(1 for state in states.values() if state == "deferred")
    print(f"    {active} waits deferred after {time.monotonic() - started:.0f} s", flush=True)
    time.sleep(POLL_INTERVAL)  # the rounds in which the last waits joined are behind

    def polls() -> tuple[int, int]:
        requests = http_json(f"{url}/_emulator/counters")["requests"]
        return requests.get("GET /api/v1/pools 200", 0), requests.get("GET /api/v1/pools/{id} 200", 0)

    before = polls()
    time.sleep(SHARED_WAITS_WINDOW * POLL_INTERVAL)
    after = polls()
    listings, reads = after[0] - before[0], after[1] - before[1]
    bound = math.ceil(active / 300) + 2
    per_interval = (listings + reads) / SHARED_WAITS_WINDOW
    print(f"    in {SHARED_WAITS_WINDOW} intervals of {POLL_INTERVAL:g} s: {listings} listings of the open pools, "
          f"{reads} single-pool reads ({per_interval:.2f} requests per interval for {active} waits)", flush=True)  # fmt: skip
    # A window need not start on a round: one interval more of rounds is allowed for its two edges.
    check(listings >= 1 and listings + reads <= (SHARED_WAITS_WINDOW + 1) * bound,
          f"the triggerer polled {active} waits with {listings + reads} requests in {SHARED_WAITS_WINDOW} intervals "
          f"(<= ceil({active}/300)+2 = {bound} per interval, edges included; alone they take {active} per interval)")  # fmt: skip
    check(reads < SHARED_WAITS_WINDOW * active / 2, f"{reads} single-pool reads, not one per wait per interval")

    client.close_pool_async(by_hand)
    wait_for(f"pool {by_hand} closed", lambda: pools_in("CLOSED", [by_hand]), 60, interval=0.5)  # before the crowd
    http_json(f"{url}/_emulator/crowd/resume", "POST", {})
    state = wait_state(api, SHARED_WAITS_DAG, run_id, {"success", "failed"}, DEADLINE + 120)
    states = api.task_states(SHARED_WAITS_DAG, run_id)
    wanted = {**{f"wait_completed_{n}": "success" for n in range(COMPLETED)}, "wait_closed_by_hand": "failed",
              "wait_past_deadline": "failed"}  # fmt: skip
    check(state == "failed" and states == wanted, f"{SHARED_WAITS_DAG} {run_id}: {state}, each wait its own outcome {states}")
    results = [api.xcom(SHARED_WAITS_DAG, run_id, f"wait_completed_{n}") for n in range(COMPLETED)]
    check(results == [{"pool_id": p, "pool_status": "CLOSED", "close_reason": "COMPLETED"} for p in completed],
          f"the {COMPLETED} completed pools' waits returned their own pool, CLOSED, COMPLETED")  # fmt: skip

    def task_log(task_id: str) -> str:
        folder = stack.home / "logs" / f"dag_id={SHARED_WAITS_DAG}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "\n".join(path.read_text(errors="replace") for path in sorted(folder.rglob("*.log")))

    def logged(task_id: str, text: str) -> bool:
        try:
            return bool(wait_for(f"{task_id}'s log", lambda: text in task_log(task_id), 30, interval=1))
        except TimeoutError:
            return False

    check(logged("wait_closed_by_hand", f"Toloka pool {by_hand} closed with reason MANUAL"),
          f"wait_closed_by_hand failed: pool {by_hand} closed with reason MANUAL")  # fmt: skip
    check(logged("wait_past_deadline", f"Toloka pool {past_deadline} did not finish before the deadline")
          and client.get_pool(past_deadline).status == "OPEN",
          f"wait_past_deadline failed at its {DEADLINE:g} s deadline, pool {past_deadline} still open")  # fmt: skip
    api("PATCH", f"/dags/{SHARED_WAITS_DAG}", {"is_paused": True})
    print(f"    shared waits checked in {time.monotonic() - started:.0f} s", flush=True)


class StatsdReceiver:
    """A StatsD server on 127.0.0.1 (a free UDP port): a thread keeps every metric line, up to ``limit`` lines."""

    def __init__(self, limit: int = 500_000):
        self.limit = limit
        self.lines: list[str] = []
        self.dropped = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="statsd-receiver", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode("utf-8", "replace").splitlines():
                if len(self.lines) < self.limit:
                    self.lines.append(line)
                else:
                    self.dropped += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def metrics(self) -> dict[str, dict[str, list[float]]]:
        """``{component: {name without the prefix: [values]}}`` from lines ``<component>.<name>:<value>|<type>``."""
        found: dict[str, dict[str, list[float]]] = {}
        for line in list(self.lines):
            match = re.fullmatch(r"([^.:|]+)\.([^:|]+):(-?[0-9.eE+-]+)\|(c|g|ms|h|s)(\|.*)?", line.strip())
            if match:
                component, name, value = match.group(1), match.group(2), float(match.group(3))
                found.setdefault(component, {}).setdefault(name, []).append(value)
        return found


def received_metrics(receiver: StatsdReceiver, whose: str) -> dict[str, dict[str, list[float]]]:
    """What the receiver got, by component, after a moment for the last datagrams; printed; none dropped."""
    step(f"metrics: what the StatsD receiver on 127.0.0.1:{receiver.port} got from {whose}")
    time.sleep(2)  # UDP: a moment for the last datagrams of the last task
    metrics = receiver.metrics()
    for component in sorted(metrics):
        names = metrics[component]
        ours = sorted(name for name in names if name.startswith("toloka."))
        print(f"    {component}: {len(names)} metric names, {sum(map(len, names.values()))} values; "
              f"toloka.*: {', '.join(ours) or 'none'}", flush=True)  # fmt: skip
    check(receiver.dropped == 0, f"{len(receiver.lines)} metric lines received, none beyond the receiver's bound")
    return metrics


def check_metrics(stack, receiver: StatsdReceiver, counters: dict) -> None:
    """The workers' ``toloka.`` metrics arrived and agree with the emulator; the triggerer's as documented."""
    metrics = received_metrics(receiver, "each component")
    workers = [metrics.get(f"worker-{number}", {}) for number in (1, 2)]

    def total(name: str) -> float:
        return sum(sum(values.get(name, [])) for values in workers)

    check(all(any(n.startswith("toloka.") for n in values) for values in workers), "toloka.* metrics from both workers")
    check(total("toloka.tasks.uploaded") >= 360, f"toloka.tasks.uploaded from the workers: {total('toloka.tasks.uploaded'):.0f} (>= the 360 tickets)")
    accepted, rejected = total("toloka.assignments.accepted"), total("toloka.assignments.rejected")
    check((accepted, rejected) == (counters["assignments_accepted"], counters["assignments_rejected"]),
          f"toloka.assignments.accepted/rejected {accepted:.0f}/{rejected:.0f} == the emulator's decisions "
          f"{counters['assignments_accepted']}/{counters['assignments_rejected']}")  # fmt: skip
    check_review_spend(stack, workers)
    estimates = [v for values in workers for v in values.get("toloka.spend.estimate_usd", [])]
    check(estimates and all(v > 0 for v in estimates), f"toloka.spend.estimate_usd gauges from the workers {estimates[:5]}")
    requests = total("toloka.api.requests")
    groups = sorted({n.split(".")[2] for values in workers for n in values if re.fullmatch(r"toloka\.api\.[^.]+\.requests", n)})
    check(requests > 0 and {"pools", "tasks"} <= set(groups), f"toloka.api.requests {requests:.0f} from the workers, groups {groups}")
    check(any(n.startswith("toloka.api.duration") for values in workers for n in values), "toloka.api.duration timers")
    triggerer = metrics.get("triggerer", {})
    check("triggerer_heartbeat" in triggerer and "triggers.running" in triggerer,
          "the triggerer's own Airflow metrics arrive (triggerer_heartbeat, triggers.running)")  # fmt: skip
    # Every trigger of the run ends with an event (failures, timeouts and errors are events too); the restart
    # cancels the running ones, which is no failure. A trigger that raised would count here (docs/metrics.md).
    failed, succeeded = sum(triggerer.get("triggers.failed", [])), sum(triggerer.get("triggers.succeeded", []))
    check(failed == 0 and succeeded > 0, f"triggers.failed {failed:.0f} (no trigger raised), triggers.succeeded {succeeded:.0f}")
    # The deferred pool sensor's trigger and the pool-closed watcher poll through the hook's clients.
    polled = {group: len(triggerer.get(f"toloka.api.{group}.requests", [])) for group in ("pools", "projects")}
    check(all(polled.values()) and "toloka.api.duration" in triggerer,
          f"toloka.api.* from the triggerer's deferred waits and watcher: requests by group {polled}")  # fmt: skip


def check_review_spend(stack, workers: list[dict[str, list[float]]]) -> None:
    """``toloka.spend.usd`` (what=assignments) per pool == the rewards of the pool's ACCEPTED assignments."""
    from decimal import Decimal

    from toloka_provider.client import TolokaClient

    client = TolokaClient(token=stack.token, url=stack.emulator_url)
    accepted: dict[str, Decimal] = {}
    for pool in client.get_pools():
        rewards = [a.reward or Decimal(0) for a in client.get_assignments(pool_id=str(pool.id), status="ACCEPTED")]
        if rewards:
            accepted[str(pool.id)] = sum(rewards, Decimal(0))

    def usd(values: list[float]) -> Decimal:  # each value as sent (cents), summed exactly
        return sum((Decimal(repr(v)) for v in values), Decimal(0))

    sent = {}
    for values in workers:
        for name, found in values.items():
            match = re.fullmatch(r"toloka\.pool\.([^.]+)\.spend\.usd", name)
            if match:
                sent[match.group(1)] = sent.get(match.group(1), Decimal(0)) + usd(found)
    total = usd([v for values in workers for v in values.get("toloka.spend.usd", [])])
    shown = {pool_id: str(amount) for pool_id, amount in sorted(accepted.items())}
    check(accepted and sent == accepted, f"toloka.pool.<id>.spend.usd from the reviews == the rewards of each pool's "
          f"accepted assignments in the emulator {shown} (sent {dict((k, str(v)) for k, v in sorted(sent.items()))})")  # fmt: skip
    check(total == sum(accepted.values(), Decimal(0)), f"toloka.spend.usd total {total} == the accepted rewards (no bonuses paid)")


LINEAGE_FILE = re.compile(r"(?P<component>.+)-\d{8}-\d{6}\.\d+\.json")


def lineage_events(stack) -> list[tuple[str, dict]]:
    """``(component, event)`` for every file OpenLineage's file transport wrote (one event per file)."""
    events = []
    for path in sorted(stack.lineage_dir.iterdir()):
        match = LINEAGE_FILE.fullmatch(path.name)
        if match:
            events.append((match.group("component"), json.loads(path.read_text())))
    return events


def check_lineage(stack, api, run_id: str) -> None:
    """The run's events come from the Celery workers and join tasks file -> pool -> assignments -> labels."""
    from stack import DAGS_FOLDER

    step("lineage: the OpenLineage events of the text_classification run")
    events = lineage_events(stack)
    by_component: dict[str, int] = {}
    for component, _ in events:
        by_component[component] = by_component.get(component, 0) + 1
    print(f"    {len(events)} events by component: {by_component}", flush=True)
    dag_id = "text_classification"
    ours = [(c, e) for c, e in events if e.get("job", {}).get("name", "").startswith(dag_id + ".")]
    complete = {e["job"]["name"].split(".", 1)[1]: (c, e) for c, e in ours if e.get("eventType") == "COMPLETE"}
    tasks = {ti["task_id"] for ti in api.task_instances(dag_id, run_id)}
    check(set(complete) == tasks, f"a COMPLETE event for each of the run's {len(tasks)} tasks (missing {sorted(tasks - set(complete))})")
    sources = sorted({c for c, _ in ours})
    check(sources == ["worker-1", "worker-2"], f"the run's task events came from the Celery workers ({sources})")

    # One name per file: the provider's operators name a file as the OpenLineage provider names an Asset with its
    # URL (docs/lineage.md), which is what Airflow's hook-level lineage does for the @task steps' files; the
    # graph is joined on the names exactly as the events carry them.
    def key(dataset: dict) -> tuple[str, str]:
        return dataset["namespace"], dataset["name"]

    def edges(task_id: str) -> tuple[set, set]:
        event = complete[task_id][1]
        return {key(d) for d in event.get("inputs") or []}, {key(d) for d in event.get("outputs") or []}

    namespaces: dict[str, set[str]] = {}
    for _, event in complete.values():
        for dataset in (event.get("inputs") or []) + (event.get("outputs") or []):
            namespaces.setdefault(dataset["name"], set()).add(dataset["namespace"])
    differing = {name: sorted(found) for name, found in namespaces.items() if len(found) > 1}
    check(not differing, f"each file has one name in the run's events, from the operators and the @task steps alike "
          f"({len(namespaces)} names; differing: {differing})")  # fmt: skip

    pool_id = str(api.xcom(dag_id, run_id, "create_pool"))
    host = urllib.parse.urlsplit(stack.emulator_url).netloc
    pool = (f"toloka://{host}", f"pools/{pool_id}")
    tasks_file = ("file", str(DAGS_FOLDER / "data" / "support_tickets" / "tasks.jsonl"))
    labels_url = api.xcom(dag_id, run_id, "write_labels")["labels_jsonl"]
    folder = labels_url.split("@toloka-labels/", 1)[1].rsplit("/", 1)[0]
    # The store's namespace as the installed OpenLineage provider names an Asset with the labels file's URL.
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    translated = translate_airflow_asset(Asset(uri=labels_url), None)
    check(translated is not None and translated.name == f"{folder}/labels.jsonl",
          f"the OpenLineage provider names {labels_url} ({translated})")  # fmt: skip
    store = translated.namespace
    print(f"    the store's namespace, as the OpenLineage provider names it: {store}", flush=True)
    assignments_file, votes_file, aggregated_file, labels_file = (
        (store, f"{folder}/{name}") for name in ("assignments.jsonl", "votes.jsonl", "aggregated.jsonl", "labels.jsonl")
    )
    steps = ("upload_tasks", "fetch_assignments", "review_assignments", "merge_copies", "aggregate", "write_labels")
    summary = {task: (sorted(edges(task)[0]), sorted(edges(task)[1])) for task in steps}
    check(edges("upload_tasks") == ({tasks_file}, {pool}), f"upload_tasks: the tasks file -> pool {pool_id} {summary['upload_tasks']}")
    check(edges("fetch_assignments") == ({pool}, {assignments_file}), f"fetch_assignments: the pool -> {store}/{assignments_file[1]}")
    check(edges("review_assignments") == ({assignments_file}, {pool}), "review_assignments: the assignments file -> the pool")
    check(edges("merge_copies") == ({assignments_file}, {votes_file}), f"merge_copies: the assignments file -> votes.jsonl {summary['merge_copies']}")
    check(edges("aggregate") == ({votes_file}, {aggregated_file}), "aggregate: votes.jsonl -> aggregated.jsonl")
    check(edges("write_labels") == ({aggregated_file}, {labels_file}), f"write_labels: aggregated.jsonl -> labels.jsonl {summary['write_labels']}")
    graph: dict[tuple, set] = {}
    for _, event in complete.values():
        for source in event.get("inputs") or []:
            graph.setdefault(key(source), set()).update(key(target) for target in event.get("outputs") or [])
    seen, frontier = {tasks_file}, [tasks_file]
    while frontier:
        for target in graph.get(frontier.pop(), set()) - seen:
            seen.add(target)
            frontier.append(target)
    check({pool, assignments_file, aggregated_file, labels_file} <= seen,
          "one graph: the labels file is reached from the tasks file through the pool and the assignments file")  # fmt: skip
    facets = complete["upload_tasks"][1]["run"]["facets"]
    check(facets["externalQuery"]["externalQueryId"] == pool_id and facets["toloka"]["objects"] == {"pool_id": pool_id},
          f"upload_tasks' run facets name pool {pool_id}")  # fmt: skip


def check_token_nowhere(stack) -> None:
    step("the Toloka token: in no log, lineage event, database dump or store object")
    token = stack.token.encode()
    scanned = 0
    hits = []
    for path in stack.root.rglob("*"):
        if path.is_file() and "pgdata" not in path.parts:
            scanned += 1
            if token in path.read_bytes():
                hits.append(str(path.relative_to(stack.root)))
    check(hits == [], f"token in none of {scanned} files under the deployment root (task + component logs) {hits}")
    if stack.lineage_dir is not None:  # inside the root, so scanned above; counted here so that none goes unseen
        lineage_files = [p for p in stack.lineage_dir.iterdir() if p.is_file()]
        check(len(lineage_files) > 40 and not [p for p in lineage_files if token in p.read_bytes()],
              f"token in none of the {len(lineage_files)} OpenLineage event files")  # fmt: skip
    task_logs = list((stack.home / "logs").rglob("*.log"))
    check(len(task_logs) > 20, f"{len(task_logs)} task log files scanned among them")
    if not stack.distributed:  # SQLite: the database file is under the root, scanned above
        return
    dump = stack.pg_dump()
    check(len(dump) > 100_000 and token not in dump, f"token not in pg_dump ({len(dump)} bytes)")
    objects = store_objects(stack)
    check(not [k for k, body in objects.items() if token in body], f"token in none of {len(objects)} store objects")


def scenario() -> int:
    sys.path[:0] = [str(REPO / "deploy"), str(REPO / "deploy" / "dags"), str(REPO / "dags_examples" / "demo")]
    from stack import Api, Stack, keep_logs, scenario_run

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="toloka-deploy-"))
    os.chmod(root, 0o755)  # the postgres user must reach its data directory
    token = f"deploy-secret-{uuid.uuid4().hex}"
    receiver = StatsdReceiver()
    stack = Stack(
        root, distributed=True, token=token, crowd_speed=100, poll_interval=3, extra_env=POOL_EVENTS_ENV,
        lineage_dir=root / "lineage", statsd_port=receiver.port, dag_bundles={"deploy-dags": REPO / "deploy" / "dags"},
    )  # fmt: skip
    browser = None
    with scenario_run(stack) as run:
        try:
            step(f"starting Postgres, Redis, moto (S3), the emulator and Airflow (CeleryExecutor, 2 workers) in {root}")
            stack.start()
            print(f"    api-server {stack.api_url}   emulator {stack.emulator_url}   s3 {stack.s3_url}", flush=True)
            api = Api(stack.api_url, "admin", stack.admin_password())
            wait_dags_parsed(api, {"text_classification", "labels_consumer", "incremental_review", POOL_EVENTS_DAG, SHARED_WAITS_DAG})
            pool_events = PoolEvents(stack, api)
            print(f"    up in {time.monotonic() - started:.0f} s", flush=True)
            if os.environ.get("TOLOKA_DEPLOY_BROWSER", "1") != "0":
                from browser import Browser

                shutil.rmtree(ARTIFACTS, ignore_errors=True)
                browser = Browser(stack, ARTIFACTS, stack.admin_password())
                browser.check_connection_form()
            check_test_connection(stack, api)
            run_incremental_review(stack, api)
            run_id = run_text_classification(stack, api, browser, pool_events)
            if browser is not None:
                browser.check_finished_run(run_id, task_count=21)
                browser.close()
                browser = None
            pool_events.check(stack, str(api.xcom("text_classification", run_id, "create_pool")))
            check_shared_watchers(stack, pool_events, str(api.xcom("text_classification", run_id, "create_pool")))
            run_shared_waits(stack, api)
            check_lineage(stack, api, run_id)
            check_metrics(stack, receiver, stack.emulator_counters())
            check_token_nowhere(stack)
        finally:
            if browser is not None:
                browser.close()
    receiver.stop()
    keep_logs(stack, ARTIFACTS / "logs")
    if stack.lineage_dir is not None and stack.lineage_dir.exists():
        shutil.rmtree(ARTIFACTS / "lineage", ignore_errors=True)
        shutil.copytree(stack.lineage_dir, ARTIFACTS / "lineage")
    (ARTIFACTS / "statsd.txt").write_text("\n".join(receiver.lines) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    ok = run.ok
    print(f"\n{'PASSED' if ok else 'FAILED'}: make test-deploy in {time.monotonic() - started:.0f} s; artefacts in {ARTIFACTS}")
    return 0 if ok else 1


def up() -> int:
    """``make up``: SQLite, LocalExecutor, local outputs, the emulator; triggers the labeling DAG; Ctrl-C stops."""
    sys.path[:0] = [str(REPO / "deploy")]
    from stack import Api, Stack

    root = STATE / "up"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    stack = Stack(root, distributed=False, token=f"up-{uuid.uuid4().hex[:12]}", crowd_speed=20, poll_interval=5)
    try:
        step("starting the emulator and Airflow (SQLite, LocalExecutor): scheduler, dag-processor, triggerer, api-server")
        stack.start()
        password = stack.admin_password()
        api = Api(stack.api_url, "admin", password)
        wait_dags_parsed(api, {"text_classification", "labels_consumer"})
        for dag_id in ("text_classification", "labels_consumer"):
            api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run_id = trigger(api, "text_classification", f"up_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        print(
            f"\n  Airflow UI   {stack.api_url}   (login: admin / {password})\n"
            f"  DAG run      {stack.api_url}/dags/text_classification/runs/{run_id}\n"
            f"  emulator     {stack.emulator_url}   (connection toloka_default)\n"
            f"  outputs      {root / 'outputs'}\n  logs         {stack.logs}\n\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(proc.alive() for proc in stack.procs):
            time.sleep(1)
        dead = [proc for proc in stack.procs if not proc.alive()]
        print(f"{dead[0].name} exited:\n{dead[0].tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)
        return 0
    finally:
        stack.stop()


def serve() -> int:
    """Development aid: the distributed stack with nothing run on it, its addresses in .deploy/serve.json."""
    sys.path[:0] = [str(REPO / "deploy")]
    from stack import Stack

    root = Path(tempfile.mkdtemp(prefix="toloka-deploy-serve-"))
    os.chmod(root, 0o755)
    stack = Stack(root, distributed=True, token=f"deploy-secret-{uuid.uuid4().hex}", crowd_speed=100, poll_interval=3)
    info = STATE / "serve.json"
    try:
        stack.start()
        info.write_text(json.dumps({"root": str(root), "api": stack.api_url, "emulator": stack.emulator_url,
                                    "s3": stack.s3_url, "token": stack.token, "password": stack.admin_password(),
                                    "env": stack.env, "ports": stack.ports}))  # fmt: skip
        print(f"serving; {info}", flush=True)
        while info.exists() and all(proc.alive() for proc in stack.procs):
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        info.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("test", "up", "serve"):
        print(__doc__, file=sys.stderr)
        return 2
    if not in_deploy_venv():
        bootstrap(argv)  # does not return
    stop_on_signals()
    return {"test": scenario, "up": up, "serve": serve}[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
