"""``make test-deploy-oldest``: metrics and the pool-closed watcher on a real deployment of Airflow 3.2.

Runs in the support matrix's oldest venv (Python 3.10 + Airflow 3.2.x, the provider editable with ``[dev]``):
``.matrix/py3.10-airflow3.2/bin/python deploy/oldest.py``. The stack is ``make up``'s shape (``deploy/stack.py``,
embedded): SQLite, LocalExecutor (the tasks run under the scheduler), dag-processor, triggerer, api-server and
the emulator as separate processes, each component sending StatsD to a receiver in this process (UDP on
127.0.0.1) with its own name as the prefix.

1. ``text_classification`` with the crowd paused until ``wait_for_pool`` is deferred, so its trigger polls the
   pool from the triggerer; then the crowd resumes and the run must succeed.
2. ``pool_closed_consumer`` watches a project of its own: one of its pools, closed while the sensor is deferred,
   must be one asset event and one successful asset-triggered run, and nothing more in a quiet window.
3. Metrics: the task runner's ``toloka.`` metrics arrive (tasks uploaded and decisions equal to the emulator's
   counts, the spend, API requests by group); the triggerer's ``toloka.`` names are those measured on 3.2
   (``docs/metrics.md``) and ``triggers.failed`` stays 0; every API request the emulator served arrived as a
   component's ``toloka.api.requests`` or was made by this script's own client.
4. The Toloka token is in no file under the deployment root (component and task logs, the SQLite database).

Exit status 0 when every check passed. Every process is stopped at the end, on failure and on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "deploy")]

from run_deploy import (  # noqa: E402 - deploy/ is on the path from here on
    POOL_EVENTS_DAG,
    STATE,
    PoolEvents,
    StatsdReceiver,
    check_token_nowhere,
    received_metrics,
    step,
    stop_on_signals,
    trigger,
    wait_dags_parsed,
    wait_deferred,
    wait_state,
)
from stack import Api, Stack, check, keep_logs, scenario_run, wait_for  # noqa: E402

ARTIFACTS = STATE / "oldest"
DAG_ID = "text_classification"
# The emulator numbers projects from 100000001 in creation order; the watched project is created first, before
# text_classification creates its own (checked), so the labelling pool's closes are not watched.
WATCHED_PROJECT = "100000001"
QUIET_SECONDS = 10
POLL_INTERVAL = 2  # the examples' pool polls and the watcher's, in seconds
POOL_READS = "GET /api/v1/pools/{id} 200"  # the emulator's counter of pool reads
# What the Airflow 3.2 triggerer lets through of ours, measured: the API request metrics of the triggers' clients
# (the deferred pool sensor's trigger reads its pool, the watcher lists the project's pools), as on 3.3; and
# ``projects`` when the watcher's first listing is empty (it then reads the project once, to know it exists).
TRIGGERER_TOLOKA_METRICS = {"toloka.api.requests", "toloka.api.pools.requests", "toloka.api.duration"}
TRIGGERER_TOLOKA_MAYBE = {"toloka.api.projects.requests"}


class Requests:
    """This script's own client requests, counted by the client's observer as ``"METHOD endpoint STATUS"``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, event) -> None:
        self.counts[f"{event.method} {event.endpoint} {event.status}"] += 1


def api_requests(counters: dict) -> int:
    """The Toloka API requests the emulator served (not its ``/_emulator`` control routes)."""
    return sum(count for key, count in counters["requests"].items() if key.split(" ")[1].startswith("/api/"))


def create_watched_project(client) -> None:
    project = client.create_project(
        {
            "public_name": "watched by pool_closed_consumer (deploy test)",
            "task_spec": {
                "input_spec": {"ticket_id": {"type": "string"}, "text": {"type": "string"}},
                "output_spec": {"label": {"type": "string", "allowed_values": ["a", "b"]}},
                "view_spec": {"type": "classic", "markup": "{{text}}"},
            },
            "assignments_issuing_type": "AUTOMATED",
        }
    )
    check(str(project.id) == WATCHED_PROJECT, f"the watched project is {project.id}")


def run_labelling(stack, api, pool_events: PoolEvents, mine: Requests) -> tuple[str, int]:
    """text_classification with a deferred sensor; a watched pool closed meanwhile. Returns the probe pool, polls seen."""
    step(f"{DAG_ID} with the crowd paused: wait_for_pool must defer to the 3.2 triggerer")
    stack.crowd("pause")
    api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    run_id = trigger(api, DAG_ID, f"oldest_{uuid.uuid4().hex[:8]}")

    wait_deferred(api, DAG_ID, run_id, 300)
    # From now on the pool reads are the sensor's trigger's and this script's (the watcher lists pools, GET /pools).
    polls_before = stack.emulator_counters()["requests"].get(POOL_READS, 0) - mine.counts[POOL_READS]
    project_id = str(api.xcom(DAG_ID, run_id, "create_project"))
    check(project_id != WATCHED_PROJECT, f"{DAG_ID}'s project {project_id} is not the watched one")

    step("pool_closed_consumer: a pool of the watched project closed while the sensor is deferred")
    asset = wait_for("the pool watcher registered", lambda: (a := pool_events.asset()) and a.get("watchers") and a, 60, 2)
    check(bool(asset["watchers"]), f"asset {asset['name']} has its watcher ({asset['watchers'][0]['name']})")
    probe = pool_events._open_pool("closed while wait_for_pool is deferred", project_id=WATCHED_PROJECT)
    pool_events.client.close_pool(probe)
    wait_for(f"the close of pool {probe} as an asset event",
             lambda: [e for e in pool_events.events() if pool_events.payload(e).get("pool_id") == probe], 90, 1)  # fmt: skip
    pool_events.quiet_from = time.monotonic()
    check(True, f"pool {probe} closed: an asset event from the 3.2 triggerer's watcher")

    def polled():
        polls = stack.emulator_counters()["requests"].get(POOL_READS, 0) - mine.counts[POOL_READS] - polls_before
        return polls if polls >= 3 else None

    polls = wait_for("the deferred sensor's trigger polling the pool", polled, 120, interval=1)
    check(True, f"the deferred sensor's trigger polled the pool from the triggerer ({polls} reads)")
    check(api.task_states(DAG_ID, run_id)["wait_for_pool"] == "deferred", "still deferred")
    stack.crowd("resume")
    state = wait_state(api, DAG_ID, run_id, {"success", "failed"}, 600)
    check(state == "success", f"{DAG_ID} {run_id}: {state} ({api.task_states(DAG_ID, run_id)})")
    return probe, polls


def check_watcher(pool_events: PoolEvents, probe: str) -> None:
    step("pool_closed_consumer: one close, one asset event, one run")

    def settled():
        snapshot = pool_events._snapshot()
        return snapshot if snapshot and snapshot[1] else None

    wait_for("the consumer run finished", settled, 120, interval=2)
    remaining = QUIET_SECONDS - (time.monotonic() - pool_events.quiet_from)
    if remaining > 0:
        time.sleep(remaining)
    events, runs, consumed = wait_for("the consumer runs finished", pool_events._snapshot, 60, interval=2)
    payloads = [pool_events.payload(event) for event in events]
    closes = [(p.get("pool_id"), p.get("project_id"), p.get("close_reason")) for p in payloads]
    check(closes == [(probe, WATCHED_PROJECT, "MANUAL")], f"exactly one asset event, for the probe's close: {closes}")
    check((events[0].get("extra") or {}).get("from_trigger"), "the event came from the watcher's trigger")
    check([r["run_type"] for r in runs] == ["asset_triggered"] and runs[0]["state"] == "success",
          f"one asset-triggered run, successful: {[(r['run_type'], r['state']) for r in runs]}")  # fmt: skip
    check(consumed == {events[0]["id"]: [runs[0]["dag_run_id"]]}, f"the run consumed that event {consumed}")
    written = pool_events.api.xcom(POOL_EVENTS_DAG, runs[0]["dag_run_id"], "summarize_closed_pools")
    check(len(written) == 1 and Path(written[0].split("://", 1)[-1]).is_file(), f"its summary file {written}")


def check_metrics(stack, receiver: StatsdReceiver, mine: Requests, trigger_polls: int) -> None:
    metrics = received_metrics(receiver, "each Airflow 3.2 component")
    counters = stack.emulator_counters()
    tasks = metrics.get("scheduler", {})  # LocalExecutor: the task runner is a child of the scheduler

    def total(name: str) -> float:
        return sum(tasks.get(name, []))

    uploaded = total("toloka.tasks.uploaded")
    created = counters["created"].get("task", 0) - 1  # less the probe pool's one task, created by this script
    check(uploaded == created and uploaded >= 360, f"toloka.tasks.uploaded {uploaded:.0f} == the {created} tasks the DAG created")
    accepted, rejected = total("toloka.assignments.accepted"), total("toloka.assignments.rejected")
    decided = (counters["assignments_accepted"], counters["assignments_rejected"])
    check((accepted, rejected) == decided and accepted > 0,
          f"toloka.assignments.accepted/rejected {accepted:.0f}/{rejected:.0f} == the emulator's decisions {decided}")  # fmt: skip
    spent = total("toloka.spend.usd")
    estimates = tasks.get("toloka.spend.estimate_usd", [])
    check(spent > 0 and estimates and all(v > 0 for v in estimates),
          f"toloka.spend.usd {spent:.2f} and toloka.spend.estimate_usd {estimates[:3]} from the task runner")  # fmt: skip
    groups = sorted(n.split(".")[2] for n in tasks if n.startswith("toloka.api.") and n.endswith(".requests") and n.count(".") == 3)
    check({"pools", "tasks", "assignments"} <= set(groups) and "toloka.api.duration" in tasks,
          f"toloka.api.requests by group from the task runner {groups}, and toloka.api.duration")  # fmt: skip

    triggerer = metrics.get("triggerer", {})
    check("triggerer_heartbeat" in triggerer and "triggers.running" in triggerer,
          "the triggerer's own Airflow metrics arrive (triggerer_heartbeat, triggers.running)")  # fmt: skip
    failed = sum(triggerer.get("triggers.failed", []))
    check(failed == 0, f"triggers.failed {failed:.0f}: every trigger ended with an event")
    from_triggerer = {name for name in triggerer if name.startswith("toloka.")}
    check(TRIGGERER_TOLOKA_METRICS <= from_triggerer <= TRIGGERER_TOLOKA_METRICS | TRIGGERER_TOLOKA_MAYBE,
          f"toloka.* from the 3.2 triggerer: {sorted(from_triggerer)} (measured: {sorted(TRIGGERER_TOLOKA_METRICS)}, "
          f"maybe {sorted(TRIGGERER_TOLOKA_MAYBE)})")  # fmt: skip
    # Every API request the emulator served is either counted by a component's toloka.api.requests or made by this
    # script's client (if the triggerer's were not let through, its polls would be the difference).
    metered = {component: sum(values.get("toloka.api.requests", [])) for component, values in metrics.items()}
    served = api_requests(counters)
    unmetered = served - sum(metered.values()) - sum(mine.counts.values())
    print(f"    API requests: {served} served = {metered} metered + {sum(mine.counts.values())} by this script "
          f"+ {unmetered} unmetered", flush=True)  # fmt: skip
    check(unmetered == 0, f"every API request the emulator served arrived as a toloka.api.requests ({unmetered} did not)")
    pool_reads = len(triggerer.get("toloka.api.pools.requests", []))
    check(pool_reads >= trigger_polls, f"toloka.api.pools.requests {pool_reads} from the triggerer >= the {trigger_polls} "
          "pool reads of the deferred sensor's trigger counted by the emulator")  # fmt: skip


def scenario() -> int:
    import airflow

    from toloka_provider.client import TolokaClient

    started = time.monotonic()
    if not airflow.__version__.startswith("3.2."):
        print(f"deploy/oldest.py needs Airflow 3.2.x (make test-deploy-oldest); this is {airflow.__version__}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="toloka-deploy-oldest-"))
    token = f"deploy-secret-{uuid.uuid4().hex}"
    receiver = StatsdReceiver()
    # With a start instant the watcher emits every close after it, whether or not its first poll came first.
    since = datetime.now(timezone.utc).isoformat()
    env = {
        "TOLOKA_POOL_EVENTS_PROJECT_ID": WATCHED_PROJECT, "TOLOKA_POOL_EVENTS_SINCE": since,
        "TOLOKA_POOL_EVENTS_POLL_INTERVAL": str(POLL_INTERVAL),
    }  # fmt: skip
    stack = Stack(
        root, distributed=False, token=token, crowd_speed=100, poll_interval=POLL_INTERVAL, extra_env=env,
        statsd_port=receiver.port,
    )  # fmt: skip
    with scenario_run(stack, check_left=True) as run:
        step(f"starting Airflow {airflow.__version__} (SQLite, LocalExecutor) and the emulator in {root}")
        stack.start()
        api = Api(stack.api_url, "admin", stack.admin_password())
        wait_dags_parsed(api, {DAG_ID, POOL_EVENTS_DAG})
        print(f"    up in {time.monotonic() - started:.0f} s", flush=True)
        mine = Requests()
        pool_events = PoolEvents(stack, api)
        pool_events.client = TolokaClient(token=token, url=stack.emulator_url, observer=mine)
        create_watched_project(pool_events.client)
        api("PATCH", f"/dags/{POOL_EVENTS_DAG}", {"is_paused": False})  # its watcher starts (the project exists)
        probe, polls = run_labelling(stack, api, pool_events, mine)
        check_watcher(pool_events, probe)
        check_metrics(stack, receiver, mine, polls)
        check_token_nowhere(stack)
    receiver.stop()
    keep_logs(stack, ARTIFACTS)  # the task logs hold the deferred sensor's trigger log
    (ARTIFACTS / "statsd.txt").write_text("\n".join(receiver.lines) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'PASSED' if run.ok else 'FAILED'}: make test-deploy-oldest in {time.monotonic() - started:.0f} s; artefacts in {ARTIFACTS}")
    return 0 if run.ok else 1


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(scenario())
