"""``make demo``: run the ``text_classification`` example DAG end to end against a local Toloka emulator.

What it does, in order:

1. Uses ``airflow_home/`` in the repository (git-ignored) as ``AIRFLOW_HOME``, with SQLite, and migrates it
   (``airflow db migrate``; fast when it is already up to date, so a second ``make demo`` reuses it).
2. Starts the emulator as a subprocess on a free loopback port, with the dataset's truth file and a crowd of
   30 simulated workers (accuracy spread from 0.55 to 0.95, 10% spammers), fast enough to finish the pool in
   well under a minute, and reads its ``TOLOKA_EMULATOR_URL=`` line.
3. Pauses the crowd, points the ``toloka_default`` connection at the emulator (``AIRFLOW_CONN_TOLOKA_DEFAULT``,
   the env-var JSON form) and runs ``airflow dags test text_classification`` with ``dags_examples/`` as the DAGs
   folder. The crowd stays paused until the pool sensor has found the pool still open and deferred, then it
   is resumed: at full speed the crowd would finish the pool before the sensor's first check and the run
   would never defer, which is the one thing a deferrable sensor is for. (``dags test`` runs the trigger in
   line; ``make up`` and ``make test-deploy`` run it in a real triggerer.)
4. Stops the emulator, also on failure or Ctrl-C, and prints a report: tasks uploaded, assignments submitted /
   accepted / rejected, money spent, workers rejected, the accuracy of the aggregated labels against the
   truth next to the accuracy of a single worker, and where the output files are. A "quality control" line
   sets this run's accuracy and spend beside those of ``text_classification_qc`` on the same crowd and seed,
   from a recorded run (``quality_control_recorded.json``, said so on the line): the emulator's crowd is a
   function of its seed and of the API calls, so a recorded run is what a new one would measure, and
   ``tests/e2e/test_e2e_quality_demo.py`` re-measures both and fails when the record is stale. Running the
   second DAG here would make ``make demo`` take about twice as long.

Exit status: 0 when the DAG run succeeded and produced its labels, 1 otherwise (130 on Ctrl-C).
Logs of every step go to ``airflow_home/demo_logs/``; the last lines are printed when a step fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from dags_examples.demo import report  # noqa: E402

DAG_ID = "text_classification"
AIRFLOW_HOME = REPO / "airflow_home"
DAGS_FOLDER = REPO / "dags_examples"
OUTPUT_ROOT = AIRFLOW_HOME / "toloka_examples"
LOG_DIR = AIRFLOW_HOME / "demo_logs"
TOKEN = "demo-token"

# The simulated crowd (issue #5): ~30 workers, accuracies spread over 0.55-0.95, a few spammers. The speed
# factor makes each simulated second last 1/SPEED real seconds, so 300+ assignments finish in seconds.
EMULATOR_OPTIONS = {
    "--crowd": "30",
    "--accuracy": "0.55:0.95",
    "--spammers": "0.1",
    "--speed": "200",
    "--seed": "7",
}
EMULATOR_START_TIMEOUT = 30.0


def crowd_identity() -> dict:
    """The crowd the emulator options make (the speed left out: it changes when the work happens, not what)."""
    low, high = (float(part) for part in EMULATOR_OPTIONS["--accuracy"].split(":"))
    return {
        "crowd": int(EMULATOR_OPTIONS["--crowd"]),
        "accuracy": [low, high],
        "spammers": float(EMULATOR_OPTIONS["--spammers"]),
        "seed": int(EMULATOR_OPTIONS["--seed"]),
    }
# Seconds between the trigger's pool checks in the demo (the DAG's default, 30, suits real pools).
POLL_INTERVAL = "2"


def airflow_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
            "TOLOKA_EXAMPLES_OUTPUT": str(OUTPUT_ROOT),
            "TOLOKA_EXAMPLES_POLL_INTERVAL": POLL_INTERVAL,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


def run_logged(command: list[str], log_path: Path, env: dict[str, str], echo=None) -> int:
    """Run ``command`` with its output in ``log_path``; lines for which ``echo`` returns text are printed."""
    with open(log_path, "w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            shown = echo(line) if echo else None
            if shown:
                print(shown, flush=True)
        return process.wait()


class Emulator:
    """The emulator subprocess: started with ``start()``, always stopped by ``stop()``."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        command = [
            sys.executable, "-m", "toloka_provider.emulator",
            "--host", "127.0.0.1", "--port", "0", "--token", TOKEN,
            "--truth", str(report.TRUTH_FILE),
        ]  # fmt: skip
        for option, value in EMULATOR_OPTIONS.items():
            command += [option, value]
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - kept open while it runs
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("TOLOKA_EMULATOR_URL="):
                    self.url = line.split("=", 1)[1].strip().rstrip("/")
                    return self.url
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {self.process.returncode}:\n{tail(self.log_path)}")
            time.sleep(0.1)
        raise RuntimeError(f"the emulator printed no TOLOKA_EMULATOR_URL= line in {EMULATOR_START_TIMEOUT:.0f} s")

    def get(self, path: str, **query) -> dict:
        from urllib.parse import urlencode

        url = f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"OAuth {TOKEN}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode("utf-8"))

    def control(self, action: str) -> dict:
        """``POST /_emulator/crowd/<action>`` (pause, resume): the emulator's control API, no auth."""
        request = urllib.request.Request(
            f"{self.url}/_emulator/crowd/{action}", data=b"{}", method="POST",
            headers={"Content-Type": "application/json"},  # urllib's default form type is refused with 415
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode("utf-8"))

    def balance(self) -> Decimal | None:
        try:
            return Decimal(str(self.get("/api/v1/requester")["balance"]))
        except Exception:
            return None

    def assignment_statuses(self, pool_id: str) -> tuple[Counter, dict[str, Counter]]:
        """Status counts of the pool's assignments, overall and per worker (keyset paging by id)."""
        overall: Counter = Counter()
        by_worker: dict[str, Counter] = {}
        last_id = None
        while True:
            query = {"pool_id": pool_id, "sort": "id", "limit": 300}
            if last_id is not None:
                query["id_gt"] = last_id
            page = self.get("/api/v1/assignments", **query)
            for item in page.get("items", []):
                overall[item["status"]] += 1
                by_worker.setdefault(item["user_id"], Counter())[item["status"]] += 1
                last_id = item["id"]
            if not page.get("has_more") or not page.get("items"):
                return overall, by_worker

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()


class Deferrals:
    """Watches the ``dags test`` output: resumes the paused crowd at the first deferral, times each trigger."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.task = ""
        self.started: float | None = None
        self.done: list[tuple[str, float]] = []  # (task_id, seconds in the trigger)
        self.crowd_resumed_for = ""

    def __call__(self, line: str) -> str | None:
        if "[DAG TEST] starting task_id=" in line:
            self.task = line.split("task_id=", 1)[1].split()[0]
        elif "[DAG TEST] running trigger in line" in line:
            self.started = time.monotonic()
            if not self.crowd_resumed_for:
                self.emulator.control("resume")
                self.crowd_resumed_for = self.task
                return f"      deferred: {self.task} waits in its trigger; crowd resumed"
        elif "[DAG TEST] Trigger completed" in line and self.started is not None:
            self.done.append((self.task, time.monotonic() - self.started))
            self.started = None
        return show_task_progress(line)


def show_task_progress(line: str) -> str | None:
    """Condense ``airflow dags test`` output to one line per task start and state change."""
    if "[DAG TEST] starting task_id=" in line:
        return "    task " + line.split("task_id=", 1)[1].split()[0]
    if "[DAG TEST] running trigger in line" in line:
        return "      deferred: waiting on the triggerer (run in line by dags test)"
    if "DagRun Finished:" in line:
        state = line.split(" state=", 1)[1].split(",", 1)[0] if " state=" in line else "?"
        return f"    run finished: {state}"
    for marker in ("Task failed", "[error", "Traceback"):
        if marker in line:
            return "      " + line.strip()[:200]
    return None


def newest_run_folder(since: float) -> Path | None:
    root = OUTPUT_ROOT / DAG_ID
    if not root.is_dir():
        return None
    summaries = [p for p in root.glob("*/run_summary.json") if p.stat().st_mtime >= since]
    return max(summaries, key=lambda p: p.stat().st_mtime).parent if summaries else None


def print_report(
    run_folder: Path, emulator: Emulator, balance_before: Decimal | None, elapsed: float, deferrals: Deferrals
) -> bool:
    summary = json.loads((run_folder / "run_summary.json").read_text(encoding="utf-8"))
    truth = report.load_truth()
    assignments = list(report.iter_jsonl(run_folder / "assignments.jsonl"))
    labels = list(report.iter_jsonl(run_folder / "labels.jsonl"))
    workers = report.worker_accuracy(assignments, truth)
    scored = report.label_accuracy(labels, truth)
    overall, by_worker = emulator.assignment_statuses(summary["pool_id"])
    rejected_workers = sorted(user for user, counts in by_worker.items() if counts.get("REJECTED"))
    balance_after = emulator.balance()
    spent = (balance_before - balance_after) if balance_before is not None and balance_after is not None else None

    uploads = summary.get("uploads", {})
    review = summary.get("review", {})
    print()
    print(f"Toloka demo report ({DAG_ID}, run {summary.get('run_id')})")
    print(f"  project / pool           {summary.get('project_id')} / {summary['pool_id']}  ({emulator.url})")
    print(
        f"  tasks uploaded           {uploads.get('tasks', '?')} tasks + {uploads.get('golden', '?')} golden"
        f" (+ {uploads.get('training', '?')} training)"
    )
    print(
        f"  assignments              {len(assignments)} submitted, {overall.get('ACCEPTED', 0)} accepted, "
        f"{overall.get('REJECTED', 0)} rejected"
        + (f" (review failures: {review['failed']})" if review.get("failed") else "")
    )
    rounds = [r for r in summary.get("relabel_rounds") or [] if r]
    if rounds:
        print(
            "  relabel rounds           "
            + ", then ".join(f"{r['disputed']}" for r in rounds)
            + " disputed tickets asked again (2 more votes each)"
        )
    if deferrals.done:
        first, seconds = deferrals.done[0]
        print(
            f"  deferrals                {len(deferrals.done)}: {first} deferred while the pool was open (crowd paused"
            f" until then) and waited {seconds:.0f} s in its trigger, no worker slot held"
        )
    else:
        print("  deferrals                none: no task deferred (the crowd finished before the first check)")
    print(f"  money spent              {'$' + format(spent, 'f') if spent is not None else 'n/a'}")
    estimates = {task: e for task, e in (summary.get("spend_estimates") or {}).items() if e}
    if estimates:
        estimated = sum((Decimal(str(e["total"])) for e in estimates.values()), Decimal(0))
        print(
            "  spend cap                "
            + ", ".join(f"{task} estimated ${e['total']} (cap ${e['max_spend']})" for task, e in estimates.items())
            + f"; estimated ${estimated} in all, spent {'$' + format(spent, 'f') if spent is not None else 'n/a'}"
            + " (rewards of accepted assignments and bonuses)"
        )
    print(f"  workers                  {len(by_worker)} worked, {len(rejected_workers)} rejected (golden accuracy)")
    print(
        f"  label accuracy           {scored.accuracy:.3f} aggregated ({scored.correct}/{scored.scored} tasks, "
        f"{summary.get('aggregation', {}).get('method', '?')})"
    )
    comparison = report.quality_control_line(
        scored.accuracy, format(spent, "f") if spent is not None else "n/a", crowd_identity(),
        report.load_recorded_comparison(),
    )
    print(f"  quality control          {comparison}")
    print(
        f"  single-worker accuracy   {workers.mean_worker_accuracy:.3f} mean per worker, "
        f"{workers.answer_accuracy:.3f} per answer ({workers.answers} answers)"
    )
    print("  output files")
    for name in ("labels.jsonl", "labels.csv", "assignments.jsonl", "run_summary.json"):
        print(f"    {run_folder / name}")
    print(f"  wall time                {elapsed:.0f} s (migrate, emulator, DAG run, report)")
    return scored.missing == 0 and scored.scored > 0


def main() -> int:
    started = time.monotonic()
    started_at = time.time()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    airflow = str(Path(sys.executable).with_name("airflow"))

    step(f"Airflow home {AIRFLOW_HOME} (SQLite): airflow db migrate")
    migrate_log = LOG_DIR / f"{stamp}-db-migrate.log"
    if run_logged([airflow, "db", "migrate"], migrate_log, airflow_env()) != 0:
        print(f"airflow db migrate failed; log {migrate_log}:\n{tail(migrate_log)}", file=sys.stderr)
        return 1

    emulator = Emulator(LOG_DIR / f"{stamp}-emulator.log")
    try:
        step("Starting the Toloka emulator (30 workers, accuracy 0.55-0.95, 10% spammers)")
        url = emulator.start()
        print(f"    {url}")
        balance_before = emulator.balance()
        # Paused until the pool sensor defers (Deferrals resumes it), so that the run really waits on a trigger.
        emulator.control("pause")
        deferrals = Deferrals(emulator)
        connection = json.dumps({"conn_type": "toloka", "host": url, "password": TOKEN})
        step(f"airflow dags test {DAG_ID}")
        dag_log = LOG_DIR / f"{stamp}-dags-test.log"
        env = airflow_env({"AIRFLOW_CONN_TOLOKA_DEFAULT": connection})
        code = run_logged([airflow, "dags", "test", DAG_ID], dag_log, env, echo=deferrals)
        run_folder = newest_run_folder(started_at)
        failed_run = "state=failed" in (dag_log.read_text(encoding="utf-8", errors="replace"))
        if code != 0 or run_folder is None or failed_run:
            print(f"\nThe DAG run failed (exit code {code}); log {dag_log}:\n{tail(dag_log)}", file=sys.stderr)
            return 1
        ok = print_report(run_folder, emulator, balance_before, time.monotonic() - started, deferrals)
        print(f"  logs                     {LOG_DIR}")
        return 0 if ok and deferrals.done else 1
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the emulator.", file=sys.stderr)
        return 130
    except Exception as error:  # report any failure of the runner itself plainly, then exit non-zero
        print(f"\nThe demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
