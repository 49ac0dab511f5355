"""The processes of a real Airflow deployment on 127.0.0.1, started and always stopped as one stack.

Two shapes (``Stack(distributed=...)``):

* distributed (``make test-deploy``): Postgres (a throwaway cluster in a temp dir, never the system one) as the
  metadata database, Redis as the Celery broker, an S3 store (moto in server mode), the Toloka emulator, and
  Airflow with ``CeleryExecutor``: scheduler, dag-processor, triggerer, api-server and two Celery workers,
  each worker with its own hostname (``[core] hostname_callable``) and log-server port. The examples write
  their outputs to ``s3://`` through ``ObjectStoragePath``, so the workers exchange files only via the store.
* embedded (``make up``): the same Airflow components on the defaults a laptop has: SQLite, LocalExecutor,
  outputs on local disk; plus the emulator.

Every process runs in its own process group (``start_new_session``) with its output in ``<root>/logs/``;
:meth:`Stack.stop` signals each group (TERM, then KILL after a grace period), newest first, and is safe to
call twice. Ports are free ones picked at start.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DAGS_FOLDER = REPO / "dags_examples"
TRUTH_FILE = DAGS_FOLDER / "data" / "support_tickets" / "truth.jsonl"
BUCKET = "toloka-labels"
# The demo's crowd (make demo): 30 workers, accuracy 0.55-0.95, 10% spammers; the speed is set per stack.
CROWD = {"--crowd": "30", "--accuracy": "0.55:0.95", "--spammers": "0.1", "--seed": "7"}


class CheckFailed(AssertionError):
    """A check of a deployment scenario did not hold."""


def check(condition, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    print(f"    ok  {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float, interval: float = 0.5, process: Proc | None = None):
    """Call ``check()`` until it returns something truthy; fail after ``timeout`` s (or if ``process`` died)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # not up yet
            last_error = error
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited with code {process.popen.returncode}:\n{process.tail()}")
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last error: {last_error!r})")


def http_json(url: str, method: str = "GET", body=None, headers: dict | None = None, timeout: float = 30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode("utf-8")
        return json.loads(text) if text else None


class Proc:
    """One component: a process group with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path, user: str | None = None, cwd=None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.spec = (command, env, log_dir, user, cwd)  # what Stack.restart starts again
        self.ready = None  # a check that the restarted service answers (postgres, redis), if any
        if user:  # postgres refuses to run as root: drop to its system user
            command = ["runuser", "-u", user, "--", *command]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open while the process runs
        self.popen = subprocess.Popen(
            command, env=env, cwd=cwd or REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        family = descendants(self.popen.pid) if self.alive() else []  # task processes have sessions of their own
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # The group may outlive its leader (task runners, gunicorn workers): make sure all of it is gone.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in family[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)
        self._log.close()


def parent_of(pid: int) -> int:
    """The parent pid from ``/proc/<pid>/stat`` (the field after the state)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    return Path(found[-1]).parent


class Stack:
    def __init__(
        self, root: Path, distributed: bool, token: str, crowd_speed: float, poll_interval: float,
        extra_env: dict[str, str] | None = None, lineage_dir: Path | None = None, statsd_port: int | None = None,
        dag_bundles: dict[str, Path] | None = None,
    ):  # fmt: skip
        self.root = root
        self.extra_env = dict(extra_env or {})  # for every Airflow component (e.g. what a DAG file reads)
        self.dag_bundles = dict(dag_bundles or {})  # DAG folders beside the examples (name -> folder)
        # Observability, off unless given: OpenLineage's file transport writes one file per event under
        # lineage_dir, named after the component; Airflow's StatsD client sends to 127.0.0.1:statsd_port with the
        # component's name as the prefix (so a receiver can tell the worker's metrics from the triggerer's).
        self.lineage_dir = lineage_dir
        self.statsd_port = statsd_port
        self.distributed = distributed
        self.token = token
        self.crowd_speed = crowd_speed
        self.poll_interval = poll_interval
        self.logs = root / "logs"
        self.home = root / "airflow_home"
        self.venv_bin = Path(sys.executable).parent
        self.procs: list[Proc] = []
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}
        self.emulator_url = ""
        self.api_url = ""
        self.s3_url = ""

    # -- helpers ------------------------------------------------------------------------------------------
    def start_proc(self, name: str, command: list[str], env: dict | None = None, user: str | None = None) -> Proc:
        proc = Proc(name, command, env or self.env, self.logs, user=user)
        self.procs.append(proc)
        return proc

    def airflow(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        """A one-off ``airflow`` CLI call; output only in its log (a connection URI could carry a secret)."""
        log_path = self.logs / f"cli-{args[0]}-{len(list(self.logs.glob('cli-*')))}.log"
        with open(log_path, "wb") as log_file:
            done = subprocess.run(
                [str(self.venv_bin / "airflow"), *args], env=env or self.env, cwd=REPO, stdout=log_file,
                stderr=subprocess.STDOUT, timeout=600,
            )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"airflow {args[0]} failed ({done.returncode}):\n{log_path.read_text()[-3000:]}")
        return done

    def component_env(self, name: str, env: dict | None = None) -> dict[str, str]:
        """The environment of the Airflow component ``name``: ``env`` (default the stack's) plus its observability."""
        env = dict(env or self.env)
        if self.lineage_dir is not None:
            self.lineage_dir.mkdir(parents=True, exist_ok=True)
            transport = {"type": "file", "log_file_path": str(self.lineage_dir / name), "append": False}
            env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
        if self.statsd_port is not None:
            env.update(
                {
                    "AIRFLOW__METRICS__STATSD_ON": "True",
                    "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                    "AIRFLOW__METRICS__STATSD_PORT": str(self.statsd_port),
                    "AIRFLOW__METRICS__STATSD_PREFIX": name,
                }
            )
        return env

    # -- services -----------------------------------------------------------------------------------------
    def start_postgres(self) -> str:
        bindir = _postgres_bin()
        data = self.root / "pgdata"
        sockets = self.root / "pgsock"
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            pwd.getpwnam(user)  # created by the postgresql package
        for folder in (data, sockets):
            folder.mkdir()
            if user:
                shutil.chown(folder, user, user)
        port = self.ports["postgres"] = free_port()
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"]
        if user:
            initdb = ["runuser", "-u", user, "--", *initdb]
        with open(self.logs / "postgres-initdb.log", "wb") as log_file:
            subprocess.run(initdb, check=True, stdout=log_file, stderr=subprocess.STDOUT, cwd="/")
        proc = self.start_proc(
            "postgres",
            [
                str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=200",
            ],
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            user=user,
        )  # fmt: skip

        def ready():
            return subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "postgres", "-tAc", "select 1"],
                capture_output=True, timeout=10,
            ).returncode == 0  # fmt: skip

        wait_for("postgres", ready, 60, process=proc)
        proc.ready = ready
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "postgres", "-c", "create database airflow"],
            check=True, capture_output=True,
        )  # fmt: skip
        return f"airflow@127.0.0.1:{port}/airflow"

    def start_redis(self) -> str:
        port = self.ports["redis"] = free_port()
        proc = self.start_proc(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root)],
            env={"PATH": os.environ.get("PATH", "")},
        )  # fmt: skip

        def ready():
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        wait_for("redis", ready, 30, process=proc)
        proc.ready = ready
        return f"redis://127.0.0.1:{port}/0"

    def start_moto(self) -> str:
        port = self.ports["moto"] = free_port()
        proc = self.start_proc("moto", [str(self.venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        self.s3_url = f"http://127.0.0.1:{port}"
        wait_for("moto", lambda: urllib.request.urlopen(self.s3_url + "/moto-api/", timeout=5).status == 200, 60, process=proc)
        self.s3().create_bucket(Bucket=BUCKET)
        return self.s3_url

    def s3(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.s3_url, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        )  # fmt: skip

    def start_emulator(self, name: str = "emulator") -> str:
        """Start an emulator (the stack's own is ``emulator``; another name starts a second one, same crowd)."""
        command = [
            str(self.venv_bin / "python"), "-m", "toloka_provider.emulator", "--host", "127.0.0.1", "--port", "0",
            "--token", self.token, "--truth", str(TRUTH_FILE), "--speed", str(self.crowd_speed),
        ]  # fmt: skip
        for option, value in CROWD.items():
            command += [option, value]
        # Run from the root (not the checkout): the provider must come from the installed wheel.
        proc = Proc(name, command, {**os.environ, "PYTHONPATH": ""}, self.logs, cwd=self.root)
        self.procs.append(proc)

        def url():
            for line in proc.log_path.read_text(errors="replace").splitlines():
                if line.startswith("TOLOKA_EMULATOR_URL="):
                    return line.split("=", 1)[1].strip().rstrip("/")
            return None

        found = wait_for(name, url, 60, interval=0.2, process=proc)
        if name == "emulator":
            self.emulator_url = found
        return found

    def crowd(self, action: str) -> None:
        http_json(f"{self.emulator_url}/_emulator/crowd/{action}", method="POST", body={})

    def emulator_counters(self) -> dict:
        return http_json(f"{self.emulator_url}/_emulator/counters")

    # -- Airflow ------------------------------------------------------------------------------------------
    def configure_airflow(self, db: str | None, broker: str | None) -> None:
        api_port = self.ports["api"] = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "TOLOKA_", "PYTHONPATH", "AWS_"))
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONPATH": str(DEPLOY),  # deploy_hostname only; the provider comes from the wheel
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "TOLOKA_EXAMPLES_POLL_INTERVAL": str(self.poll_interval),
            }
        )
        if self.distributed:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "deploy_hostname.hostname",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
                    "AIRFLOW__CELERY__BROKER_URL": broker,
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                    # The store's connection; the examples name it through TOLOKA_EXAMPLES_OUTPUT_CONN_ID.
                    "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                        {
                            "conn_type": "aws",
                            "login": "testing",
                            "password": "testing",
                            "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"},
                        }
                    ),
                    "TOLOKA_EXAMPLES_OUTPUT": f"s3://{BUCKET}/examples",
                    "TOLOKA_EXAMPLES_OUTPUT_CONN_ID": "aws_default",
                }
            )
        else:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                    "TOLOKA_EXAMPLES_OUTPUT": str(self.root / "outputs"),
                }
            )
        if self.dag_bundles:
            local = "airflow.dag_processing.bundles.local.LocalDagBundle"
            bundles = [{"name": "dags-folder", "classpath": local, "kwargs": {}}]
            bundles += [{"name": name, "classpath": local, "kwargs": {"path": str(path)}} for name, path in self.dag_bundles.items()]
            env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(bundles)
        env.update(self.extra_env)
        self.env = env

    def start_airflow(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        # In the metadata database (encrypted with the Fernet key), as a user would add it in the UI.
        self.airflow(
            "connections", "add", "toloka_default", "--conn-json",
            json.dumps({"conn_type": "toloka", "host": self.emulator_url, "password": self.token,
                        "extra": {"timeout": 20, "retries": 5}}),
        )  # fmt: skip
        airflow = str(self.venv_bin / "airflow")
        self.api = self.start_proc(
            "api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.ports["api"])],
            env=self.component_env("api-server"),
        )  # fmt: skip
        self.start_proc("scheduler", [airflow, "scheduler"], env=self.component_env("scheduler"))
        self.start_proc("dag-processor", [airflow, "dag-processor"], env=self.component_env("dag-processor"))
        self.triggerer = self.start_proc("triggerer", [airflow, "triggerer"], env=self.component_env("triggerer"))
        if self.distributed:
            for number in (1, 2):
                env = {
                    **self.component_env(f"worker-{number}"),
                    "TOLOKA_DEPLOY_HOSTNAME": f"worker-{number}",
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                }
                self.start_proc(
                    f"celery-worker-{number}",
                    [airflow, "celery", "worker", "--celery-hostname", f"worker-{number}@127.0.0.1", "--concurrency", "4"],
                    env=env,
                )
        wait_for(
            "api-server", lambda: http_json(f"{self.api_url}/api/v2/monitor/health", timeout=5), 180, 1, process=self.api
        )

    def restart_triggerer(self, while_down=None) -> None:
        """Stop the triggerer, call ``while_down()`` (if given) while none runs, start a new one."""
        self.triggerer.stop()
        self.procs.remove(self.triggerer)
        if while_down is not None:
            while_down()
        self.triggerer = self.start_proc(
            "triggerer", [str(self.venv_bin / "airflow"), "triggerer"], env=self.component_env("triggerer")
        )

    def proc(self, name: str) -> Proc:
        (found,) = [proc for proc in self.procs if proc.name == name]
        return found

    def kill(self, name: str) -> list[int]:
        """SIGKILL a component with every process it started, no grace, as when its machine dies.

        Its process group and all descendants (Airflow's task processes run in sessions of their own). Returns
        the pids killed.
        """
        proc = self.proc(name)
        pids = descendants(proc.popen.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.popen.wait(timeout=30)
        return pids

    def restart(self, name: str, while_down=None) -> Proc:
        """Stop a component (if still alive: postgres fast shutdown, others SIGTERM), then start it again as it was.

        ``while_down()`` (if given) is called while it is down; a service with a readiness check is waited for.
        """
        old = self.proc(name)
        old.stop(signal.SIGINT if name == "postgres" else signal.SIGTERM, grace=30)
        if while_down is not None:
            while_down()
        command, env, log_dir, user, cwd = old.spec
        new = Proc(name, command, env, log_dir, user=user, cwd=cwd)
        new.spec = old.spec
        new.ready = old.ready
        self.procs[self.procs.index(old)] = new
        if name == "triggerer":
            self.triggerer = new
        if new.ready is not None:
            wait_for(f"{name} after its restart", new.ready, 60, process=new)
        return new

    def admin_password(self) -> str:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        return wait_for("admin password", lambda: json.loads(path.read_text()).get("admin"), 60)

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        db = broker = None
        if self.distributed:
            db = self.start_postgres()
            broker = self.start_redis()
            self.start_moto()
        self.start_emulator()
        self.configure_airflow(db, broker)
        self.start_airflow()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(signal.SIGINT if proc.name == "postgres" else signal.SIGTERM)  # SIGINT: postgres fast shutdown
        self.procs.clear()

    def pg_dump(self) -> bytes:
        return subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-p", str(self.ports["postgres"]), "-U", "airflow", "airflow"],
            check=True, capture_output=True, timeout=300,
        ).stdout  # fmt: skip


class Api:
    """The Airflow REST API (``/api/v2``) with a JWT from ``POST /auth/token``."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url
        token = http_json(f"{base_url}/auth/token", "POST", {"username": username, "password": password})
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def __call__(self, method: str, path: str, body=None):
        try:
            return http_json(f"{self.base_url}/api/v2{path}", method, body, self.headers)
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: HTTP {error.code} {error.read()[:500]!r}") from None

    def get(self, path: str):
        return self("GET", path)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        items = self.get(f"/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}/taskInstances?limit=100")
        return {item["task_id"]: item["state"] for item in items["task_instances"]}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        items = self.get(f"/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}/taskInstances?limit=100")
        return items["task_instances"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}")["state"]

    def xcom(self, dag_id: str, run_id: str, task_id: str):
        quoted = urllib.request.quote(run_id, safe="")
        return self.get(f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value")["value"]


class ScenarioRun:
    """What :func:`scenario_run` found: ``ok`` once the body ended cleanly and (if checked) nothing was left."""

    def __init__(self) -> None:
        self.ok = False


@contextlib.contextmanager
def scenario_run(stack: Stack, check_left: bool = False) -> Iterator[ScenarioRun]:
    """Run a deployment scenario's body on ``stack`` and always stop the stack.

    A failed check, Ctrl-C or SIGTERM (as ``KeyboardInterrupt``) or any other error is printed, not raised; on
    failure each component's last log lines follow. With ``check_left``, no process of the stack may outlive it.
    """
    run = ScenarioRun()
    try:
        yield run
        run.ok = True
    except CheckFailed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
    except Exception as error:
        traceback.print_exc()
        print(f"\nFAILED: {error!r}", file=sys.stderr)
    finally:
        if not run.ok:
            for proc in stack.procs:
                print(f"--- {proc.name} (last lines) ---\n{proc.tail(15)}", file=sys.stderr)
        groups = [proc.popen.pid for proc in stack.procs]
        stack.stop()
        if check_left:
            try:
                check_no_process_left(groups, stack.root)
            except CheckFailed as failure:
                print(f"\nFAILED: {failure}", file=sys.stderr)
                run.ok = False


def check_no_process_left(groups: list[int], root: Path) -> None:
    """No process in the process groups ``groups``, or with ``root`` in its command line, environment or cwd."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            group = int(stat.rsplit(")", 1)[1].split()[2])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            environ, cwd = b"", ""
        mine = str(root).encode()
        if group in groups or mine in cmdline or mine in environ or cwd.startswith(str(root)):
            left.append(f"{entry.name}: {cmdline[:80]!r}")
    check(left == [], f"no process left after the stack stopped ({left[:5]})")

def keep_logs(stack: Stack, folder: Path) -> None:
    """Copy the components' logs into ``folder`` (replacing it) and the task logs into ``folder/tasks``."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if stack.logs.exists():
        shutil.copytree(stack.logs, folder, dirs_exist_ok=True)
    if (stack.home / "logs").exists():
        shutil.copytree(stack.home / "logs", folder / "tasks")
