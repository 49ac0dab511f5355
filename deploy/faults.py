"""``make test-deploy-faults``: the quality-control example on the distributed stack, under faults.

``text_classification_qc`` runs twice on the stack of ``make test-deploy`` (``deploy/stack.py``), each run against
its own fresh emulator with the same seeded crowd: first with no fault (the reference), then with Toloka faults
on for the whole run (5xx, 429 with Retry-After, dropped connections, answers lost after the effect) and, at
chosen moments, the deployment itself failing:

* the scheduler restarted while tasks upload;
* Postgres (the metadata database) restarted, then Redis (the Celery broker), while ``wait_for_pool`` is deferred;
* ``SIGKILL`` of the Celery worker running a review task, part-way through its decisions, and of the one paying
  the bonuses, after the payment was sent and before the task ended. The worker is found from the task instance
  (its hostname and pid, through the REST API), never by name; Airflow must find the task without heartbeat
  (``[scheduler] task_instance_heartbeat_timeout``, short here) and run its next try on the other worker.

An Airflow component that exits on its own (e.g. when the database goes away) is started again, as a process
supervisor would in production, and the scenario says so. The checks come from the emulators' own counters and
state, the REST API and the S3 store, not from logs: every assignment decided once and none left, every object
(task, pool, bonus, ban, skill ...) created as often as in the reference, the bonuses equal, the balance equal to
the starting one minus what the run reports as spent, the labels equal to the reference's, retries visible in
the try numbers, the token in no log, dump or stored object, and no process left when the stack is stopped.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import urllib.error
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "text_classification_qc"
# For the whole faulty run: about one request in seven fails at first (the client retries, Airflow retries the
# task when the client gives up).
FAULTS = {"500": 0.03, "502": 0.01, "503": 0.02, "429": 0.03, "drop": 0.02, "lost": 0.03}
# Narrower windows that slow one step down enough to kill its worker part-way (each 429 costs its Retry-After).
SLOW_DECISIONS = {"spec": {"429": 0.2, "lost": 0.05}, "paths": ["/api/v1/assignments"], "methods": ["PATCH"]}
SLOW_OPERATIONS = {"spec": {"429": 0.6}, "paths": ["/api/v1/operations"], "methods": ["GET"]}
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "celery-worker-1", "celery-worker-2")
FAULTS_ENV = {
    # A task whose worker died is failed (and retried) 30 s after its last heartbeat instead of 5 minutes.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # A task whose Celery message was lost with the broker is queued again after 2 minutes, not 10.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    # The store's connection in the URL itself: text_classification_qc reads TOLOKA_EXAMPLES_OUTPUT as it is
    # (it does not add TOLOKA_EXAMPLES_OUTPUT_CONN_ID as text_classification does).
    "TOLOKA_EXAMPLES_OUTPUT": "s3://aws_default@toloka-labels/examples",
}
RUN_TIMEOUT = 1500


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def note(message: str) -> None:
    print(f"    {message}", flush=True)


class Emulator:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def control(self, path: str, method: str = "GET", body=None):
        from stack import http_json

        return http_json(f"{self.url}/_emulator/{path}", method, body)

    def counters(self) -> dict:
        return self.control("counters")

    def decided(self) -> int:
        counters = self.counters()
        return counters["assignments_accepted"] + counters["assignments_rejected"]

    def faults(self, spec=None, paths=None, methods=None) -> None:
        if spec:
            self.control("faults", "PUT", {"spec": spec, "paths": paths, "methods": methods})
        else:
            self.control("faults", "DELETE")

    def client(self):
        from toloka_provider.client import TolokaClient

        return TolokaClient(token=self.token, url=self.url)

    def requests(self, method: str, path: str) -> int:
        """Requests that reached the handler (not refused by an injected fault) for a route template."""
        return sum(
            count for key, count in self.counters()["requests"].items()
            if key.startswith(f"{method} {path} ") and "fault:" not in key
        )  # fmt: skip


def set_toloka_host(api, url: str) -> None:
    api("PATCH", "/connections/toloka_default?update_mask=host", {"connection_id": "toloka_default", "conn_type": "toloka", "host": url})
    host = api.get("/connections/toloka_default")["host"]
    if host != url:
        raise RuntimeError(f"toloka_default host is {host!r} after the PATCH, expected {url!r}")


def safe(call, default=None):
    """A REST call that may fail while the database restarts: None (or ``default``) instead of an error."""
    try:
        return call()
    except (RuntimeError, OSError, urllib.error.URLError, ValueError):
        return default


def collect(stack, api, emulator: Emulator, run_id: str, start_balance: Decimal) -> dict:
    """What a run left: in the emulator (objects, decisions, bonuses, balance), in Airflow, in the store."""
    from run_deploy import store_objects

    client = emulator.client()
    counters = emulator.counters()
    tis = {ti["task_id"]: ti for ti in api.task_instances(DAG_ID, run_id)}
    written = api.xcom(DAG_ID, run_id, "write_labels")
    folder = str(written["folder"])
    prefix = folder.split("@toloka-labels/", 1)[-1] if "@" in folder else folder.split("toloka-labels/", 1)[-1]
    objects = store_objects(stack)
    labels = objects.get(f"{prefix}/labels.jsonl")
    pools = {name: str(api.xcom(DAG_ID, run_id, name)) for name in ("create_pool", "create_relabel_pool")}
    assignments = {
        name: Counter((str(a["user_id"]), a["status"]) for page in client.get_assignments_raw(pool_id=pool) for a in page)
        for name, pool in pools.items()
    }  # fmt: skip
    bonuses = sorted((str(b.user_id), str(Decimal(str(b.amount)))) for b in client.get_user_bonuses())
    return {
        "run_id": run_id,
        "counters": counters,
        "tis": tis,
        "spent": Decimal(str(written["spent"])),
        "start_balance": start_balance,
        "balance": client.get_requester().balance,
        "labels": labels,
        "label_count": written["count"],
        "assignments": assignments,
        "bonuses": bonuses,
        "review": {name: api.xcom(DAG_ID, run_id, name) for name in ("review_main", "review_relabel")},
    }


def run_reference(stack, api, emulator: Emulator) -> dict:
    from run_deploy import check, trigger, wait_state

    step(f"{DAG_ID}: the reference run, no fault, on its own emulator")
    set_toloka_host(api, emulator.url)
    start_balance = emulator.client().get_requester().balance
    run_id = trigger(api, DAG_ID, f"faults_reference_{uuid.uuid4().hex[:6]}")
    state = wait_state(api, DAG_ID, run_id, {"success", "failed"}, RUN_TIMEOUT)
    states = api.task_states(DAG_ID, run_id)
    check(state == "success", f"reference {run_id}: {state}" + (f" ({states})" if state != "success" else f", {len(states)} tasks"))
    return collect(stack, api, emulator, run_id, start_balance)


class FaultyRun:
    """The run under faults: a loop that watches the task instances and breaks things at the chosen moments."""

    def __init__(self, stack, api, emulator: Emulator, reference: dict) -> None:
        self.stack = stack
        self.api = api
        self.emulator = emulator
        self.reference = reference
        self.run_id = f"faults_{uuid.uuid4().hex[:6]}"
        self.done: list[str] = []  # the faults made so far, in order
        self.down: set[str] = set()  # workers killed on purpose, not yet started again
        self.kills: dict[str, dict] = {}  # task id -> what was killed and when
        self.revived: list[str] = []

    # -- helpers -----------------------------------------------------------------------------------------------
    def tis(self) -> dict[str, dict]:
        found = safe(lambda: self.api.task_instances(DAG_ID, self.run_id), [])
        return {ti["task_id"]: ti for ti in found}

    def revive(self) -> None:
        """Start again an Airflow component that exited on its own (a supervisor's job in production)."""
        for proc in list(self.stack.procs):
            if proc.name in AIRFLOW_COMPONENTS and proc.name not in self.down and not proc.alive():
                self.revived.append(proc.name)
                note(f"note: {proc.name} exited (code {proc.popen.returncode}); started again, as a supervisor would")
                self.stack.restart(proc.name)

    def worker_of(self, ti: dict) -> str:
        """The stack component running a task instance: from its hostname, checked against its pid."""
        from stack import descendants

        name = f"celery-worker-{str(ti['hostname']).rsplit('-', 1)[-1]}"
        proc = self.stack.proc(name)
        pid = ti.get("pid")
        where = "pid unknown"
        if pid:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                where = f"pid {pid} ({cmdline.strip()[:60]!r}), a descendant of {name}"
                if int(pid) not in descendants(proc.popen.pid):
                    raise RuntimeError(f"{ti['task_id']} pid {pid} ({cmdline.strip()[:60]!r}) is not a process of {name}")
            except (ProcessLookupError, FileNotFoundError):
                where = f"pid {pid} already gone"
        note(f"{ti['task_id']} try {ti['try_number']} runs on {ti['hostname']}: {where}")
        return name

    def kill_worker_of(self, task_id: str, effect, window: dict, what: str) -> None:
        """Slow the step with ``window``; once it runs, wait until ``effect()()`` (a check made at that moment)
        shows it has begun its effects, then SIGKILL its worker."""
        from stack import CheckFailed

        self.emulator.faults(**window)
        deadline = time.monotonic() + 600
        running = None
        while running is None:
            if time.monotonic() > deadline:
                raise CheckFailed(f"{task_id}: not running after 600 s ({self.api.task_states(DAG_ID, self.run_id)})")
            ti = self.tis().get(task_id, {})
            if ti.get("state") == "success":
                raise CheckFailed(f"{task_id} finished before its worker could be killed part-way ({what})")
            running = ti if ti.get("state") == "running" and ti.get("hostname") else None
            if running is None:
                self.revive()
                time.sleep(0.2)
        worker = self.worker_of(running)
        started = time.monotonic()
        effect = effect()
        looked = 0
        while not effect():
            if time.monotonic() - started > 300:
                raise CheckFailed(f"{task_id}: no effect ({what}) within 300 s")
            looked += 1
            if looked % 30 == 0 and self.tis().get(task_id, {}).get("state") == "success":
                raise CheckFailed(f"{task_id} finished before its worker could be killed part-way ({what})")
            time.sleep(0.03)
        killed = self.stack.kill(worker)
        self.down.add(worker)
        decided = self.emulator.decided()
        self.emulator.faults(FAULTS)
        self.kills[task_id] = {"worker": worker, "host": running["hostname"], "try": running["try_number"], "decided": decided}
        self.done.append(f"SIGKILL {worker} ({running['task_id']}, {what})")
        note(f"SIGKILL {worker} and its {len(killed)} processes while {task_id} ran ({what}; {decided} assignments "
             f"decided so far)")

    def wait_retried_elsewhere(self, task_id: str) -> None:
        """Until the killed task's next try runs on another worker; then the killed worker is started again."""
        from stack import CheckFailed

        kill = self.kills[task_id]
        deadline = time.monotonic() + 600
        while True:
            ti = self.tis().get(task_id, {})
            if ti.get("try_number", 0) > kill["try"] and ti.get("state") in ("running", "success") and ti.get("hostname"):
                break
            if ti.get("state") == "failed" or self.api_run_state() == "failed":
                raise CheckFailed(f"{task_id} failed after its worker was killed: {ti}")
            if time.monotonic() > deadline:
                raise CheckFailed(f"{task_id} not retried within 600 s of the kill: {ti}")
            self.revive()
            time.sleep(1)
        kill["retry_host"] = ti["hostname"]
        note(f"{task_id} try {ti['try_number']} on {ti['hostname']} ({time.monotonic() - deadline + 600:.0f} s after the kill)")
        self.stack.restart(kill["worker"])
        self.down.discard(kill["worker"])

    def api_run_state(self):
        return safe(lambda: self.api.run_state(DAG_ID, self.run_id))

    def wait_task(self, task_id: str, states: set[str], timeout: float = 600) -> dict:
        from stack import CheckFailed

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ti = self.tis().get(task_id, {})
            if ti.get("state") in states:
                return ti
            if self.api_run_state() == "failed":
                raise CheckFailed(f"the run failed while waiting for {task_id} {states}: {self.api.task_states(DAG_ID, self.run_id)}")
            self.revive()
            time.sleep(0.3)
        raise CheckFailed(f"{task_id} not {states} within {timeout:.0f} s: {self.tis().get(task_id)}")

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self) -> dict:
        from run_deploy import check, trigger, wait_state

        step(f"{DAG_ID} under faults ({', '.join(f'{k}={v}' for k, v in FAULTS.items())}) on its own emulator")
        set_toloka_host(self.api, self.emulator.url)
        start_balance = self.emulator.client().get_requester().balance
        self.emulator.control("crowd/pause", "POST", {})
        self.emulator.faults(FAULTS)
        trigger(self.api, DAG_ID, self.run_id)

        # The scheduler, while the tasks and golden tasks upload.
        ti = self.wait_task("upload_tasks", {"running", "success"})
        note(f"upload_tasks is {ti['state']}; restarting the scheduler")
        self.stack.restart("scheduler")
        self.done.append("scheduler restart (uploads running)")

        # Postgres, then Redis, while the pool sensor is deferred (the crowd is paused until then).
        self.wait_task("wait_for_pool", {"deferred"})
        time.sleep(2)
        note("wait_for_pool is deferred; restarting Postgres")
        self.stack.restart("postgres", while_down=lambda: time.sleep(3))
        self.done.append("postgres restart (wait_for_pool deferred)")
        time.sleep(3)
        self.revive()
        note("restarting Redis")
        self.stack.restart("redis", while_down=lambda: time.sleep(2))
        self.done.append("redis restart (wait_for_pool deferred)")
        ti = self.wait_task("wait_for_pool", {"deferred", "scheduled", "queued", "running", "success", "up_for_retry"}, 120)
        note(f"wait_for_pool is {ti['state']} after both restarts; the crowd resumes")
        self.emulator.control("crowd/resume", "POST", {})

        # A review task, part-way through its decisions.
        self.wait_task("fetch_main", {"success"}, RUN_TIMEOUT)
        self.wait_task("fetch_relabel", {"success"}, RUN_TIMEOUT)
        total = sum(self.reference["assignments"]["create_pool"].values())

        def decisions_begun():
            before = self.emulator.decided()
            return lambda: self.emulator.decided() >= before + 10

        self.kill_worker_of("review_main", decisions_begun, SLOW_DECISIONS, f"10 or more of its {total} decisions made")
        self.wait_retried_elsewhere("review_main")

        # The bonuses: after the payment was sent, before the task could see it done.
        sent = self.emulator.requests("POST", "/api/v1/user-bonuses")
        self.wait_task("review_main", {"success"}, RUN_TIMEOUT)
        self.wait_task("review_relabel", {"success"}, RUN_TIMEOUT)
        self.kill_worker_of(
            "pay_bonuses", lambda: lambda: self.emulator.requests("POST", "/api/v1/user-bonuses") > sent,
            SLOW_OPERATIONS, "the bonus batch sent",
        )  # fmt: skip
        self.wait_retried_elsewhere("pay_bonuses")

        deadline = time.monotonic() + RUN_TIMEOUT
        while self.api_run_state() not in ("success", "failed") and time.monotonic() < deadline:
            self.revive()
            time.sleep(2)
        state = wait_state(self.api, DAG_ID, self.run_id, {"success", "failed"}, 60)
        states = self.api.task_states(DAG_ID, self.run_id)
        check(state == "success", f"{self.run_id} under faults: {state}" + (f" ({states})" if state != "success" else ""))
        injected = self.emulator.counters()["faults_injected"]
        self.emulator.faults(None)
        result = collect(self.stack, self.api, self.emulator, self.run_id, start_balance)
        result["injected"] = injected
        return result


def compare(reference: dict, faulty: dict, run: FaultyRun) -> None:
    from run_deploy import check

    step("every effect exactly once: the faulty run against the reference (emulator state and counters)")
    injected = faulty["injected"]
    check(all(injected.get(kind, 0) > 0 for kind in FAULTS), f"faults injected by the emulator: {injected}")
    check(len(run.done) == 5, f"deployment faults made: {'; '.join(run.done)}")
    rc, fc = reference["counters"], faulty["counters"]
    check(fc["double_decisions"] == 0 and rc["double_decisions"] == 0, "no assignment decided twice (double_decisions 0)")
    left = {pool: c for pool, c in faulty["assignments"].items() if any(status == "SUBMITTED" for _, status in c)}
    check(not left, f"no assignment left undecided ({left})")
    check(faulty["assignments"] == reference["assignments"],
          "the same assignments, by worker and status, in both pools as in the reference: "
          + ", ".join(f"{pool} {sum(c.values())}" for pool, c in faulty["assignments"].items()))  # fmt: skip
    check((fc["assignments_accepted"], fc["assignments_rejected"]) == (rc["assignments_accepted"], rc["assignments_rejected"]),
          f"{fc['assignments_accepted']} accepted, {fc['assignments_rejected']} rejected, as in the reference")  # fmt: skip
    created = {k: v for k, v in fc["created"].items() if k != "operation"}
    wanted = {k: v for k, v in rc["created"].items() if k != "operation"}
    diff = {k: (wanted.get(k), created.get(k)) for k in set(created) | set(wanted) if created.get(k) != wanted.get(k)}
    check(not diff, f"every object created as often as in the reference: {created} (differences: {diff})")
    check(created.get("task", 0) > 0, f"{created.get('task')} tasks created, each once")
    # Operations (and their logs) are the only objects a retry may add: a repeated open or close of a pool.
    objects = {k: v for k, v in fc["objects"].items() if v and not k.startswith("operation")}
    wanted_objects = {k: v for k, v in rc["objects"].items() if v and not k.startswith("operation")}
    check(objects == wanted_objects, f"the emulator holds the same objects as the reference's: {objects} "
          f"(the reference's: {wanted_objects})")  # fmt: skip
    users = [user for user, _ in faulty["bonuses"]]
    check(faulty["bonuses"] == reference["bonuses"] and len(set(users)) == len(users),
          f"bonuses {faulty['bonuses']}: each paid once, as in the reference")  # fmt: skip
    check(faulty["start_balance"] - faulty["balance"] == faulty["spent"],
          f"balance {faulty['balance']} = start {faulty['start_balance']} - spent {faulty['spent']} (as the run reports)")
    check(faulty["spent"] == reference["spent"], f"spent {faulty['spent']} USD, as the reference {reference['spent']}")
    check(faulty["labels"] is not None and faulty["labels"] == reference["labels"],
          f"labels.jsonl in the store equal to the reference's ({faulty['label_count']} labels)")
    tis = faulty["tis"]
    check(all(ti["state"] == "success" for ti in tis.values()), f"all {len(tis)} task instances succeeded")
    for task_id, kill in run.kills.items():
        ti = tis[task_id]
        check(ti["try_number"] > kill["try"] and kill["retry_host"] != kill["host"],
              f"{task_id}: killed on {kill['host']} in try {kill['try']}, retried on {kill['retry_host']}, "
              f"succeeded in try {ti['try_number']}")  # fmt: skip
    review = faulty["review"]["review_main"]
    check(review["already_done"] > 0 and review["failed"] == 0,
          f"review_main's last try found {review['already_done']} assignments decided before it (none twice): {review}")  # fmt: skip
    retried = {t: ti["try_number"] for t, ti in tis.items() if ti["try_number"] > 1}
    note(f"tries > 1: {retried}; review XComs {faulty['review']}")
    if run.revived:
        note(f"components started again after exiting on their own: {run.revived}")


def scenario() -> int:
    sys.path[:0] = [str(REPO / "deploy")]
    from run_deploy import ARTIFACTS, check_token_nowhere, wait_dags_parsed
    from stack import Api, Stack, keep_logs, scenario_run

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="toloka-deploy-faults-"))
    os.chmod(root, 0o755)  # the postgres user must reach its data directory
    token = f"deploy-secret-{uuid.uuid4().hex}"
    stack = Stack(root, distributed=True, token=token, crowd_speed=100, poll_interval=3, extra_env=FAULTS_ENV)
    with scenario_run(stack, check_left=True) as outcome:
        step(f"starting the distributed stack and two emulators (same seeded crowd) in {root}")
        stack.start()
        faulty_url = stack.start_emulator("emulator-faults")
        api = Api(stack.api_url, "admin", stack.admin_password())
        wait_dags_parsed(api, {DAG_ID})
        api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
        note(f"up in {time.monotonic() - started:.0f} s")
        reference = run_reference(stack, api, Emulator(stack.emulator_url, token))
        note(f"reference done at {time.monotonic() - started:.0f} s")
        run = FaultyRun(stack, api, Emulator(faulty_url, token), reference)
        faulty = run.run()
        note(f"faulty run done at {time.monotonic() - started:.0f} s")
        compare(reference, faulty, run)
        check_token_nowhere(stack)
    keep = ARTIFACTS / "faults-logs"
    keep_logs(stack, keep)
    shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'PASSED' if outcome.ok else 'FAILED'}: make test-deploy-faults in {time.monotonic() - started:.0f} s; logs in {keep}")
    return 0 if outcome.ok else 1


def main(argv: list[str]) -> int:
    import run_deploy

    if not run_deploy.in_deploy_venv():
        run_deploy.bootstrap(argv, script=Path(__file__))  # does not return
    run_deploy.stop_on_signals()
    return scenario()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
