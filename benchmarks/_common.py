"""Shared plumbing for the benchmark scenarios: the emulator subprocess, test data, the peer's venv, rounds,
results and charts.

Why subprocesses everywhere: the emulator runs in its own interpreter so that the client under test does not
share a GIL with the server, and every contender (ours, the raw-HTTP limit, toloka-kit) runs one measured pass
in a fresh interpreter of its own and prints JSON timings. All contenders therefore start from the same state
(cold imports excluded from the timed part, same garbage-collector history), and toloka-kit can live in its
own venv (``benchmarks/.venv-tolokakit``) with the versions that import beside nothing else of ours.

Noise: the machine is shared. Contenders run alternately within each round (the order rotates per round),
and the tables report medians and the median of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# A quick (smoke) run writes beside, not over, the full run's results.
RESULTS_DIR = BENCH_DIR / "results" / ("quick" if os.environ.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no") else "")
OUR_PYTHON = sys.executable
TOKEN = "emulator-token"
AUTH = {"Authorization": f"OAuth {TOKEN}"}

PEER_VENV = BENCH_DIR / ".venv-tolokakit"
# tenacity<8.4: from 8.4 on, tenacity copies the retrying object on every call with arguments that
# toloka-kit 1.2.2's RetryingOverURLLibRetry does not accept (TypeError: missing 'base_url'), so every request
# fails; 8.3 is what toloka-kit 1.2.2 was released against.
PEER_REQUIREMENTS = ("toloka-kit==1.2.2", "httpx<0.28", "cattrs<24", "tenacity<8.4")
CHART_VENV = BENCH_DIR / ".venv-charts"
CHART_REQUIREMENTS = ("matplotlib",)


def quick() -> bool:
    """``BENCH_QUICK=1``: the smallest sizes and fewest rounds (a smoke run of every script)."""
    return os.environ.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the emulator in its own process --------------------------------------------------------------------


class EmulatorProcess:
    """``python -m toloka_provider.emulator --port 0 --seed 0 ...`` in a subprocess; stops on exit.

    The crowd is paused at once: benchmark data comes from bulk-load only, and simulated workers must not
    change it underneath a measurement.
    """

    def __init__(self, *extra_args: str, startup_timeout: float = 60.0) -> None:
        self.args = [OUR_PYTHON, "-m", "toloka_provider.emulator", "--port", "0", "--seed", "0", *extra_args]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def __enter__(self) -> EmulatorProcess:
        self.process = subprocess.Popen(
            self.args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        deadline = time.monotonic() + self.startup_timeout
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()  # the emulator prints exactly this one line
        if not line.startswith("TOLOKA_EMULATOR_URL=") or time.monotonic() > deadline:
            self.__exit__()
            raise RuntimeError(f"emulator did not start: first line {line!r}")
        self.url = line.split("=", 1)[1]
        self.control("POST", "crowd/pause")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.close()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def control(self, method: str, path: str, body: dict | None = None, timeout: float = 600) -> dict:
        response = self.session.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def api(self, method: str, path: str, body: Any = None, params: dict | None = None, timeout: float = 60) -> Any:
        response = self.session.request(method, f"{self.url}/api/v1/{path}", json=body, params=params, timeout=timeout)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def new_project(self) -> str:
        project = self.api(
            "POST",
            "projects",
            {
                "public_name": "Benchmark",
                "public_description": "Benchmark project",
                "task_spec": {
                    "input_spec": {"image": {"type": "url"}},
                    "output_spec": {"result": {"type": "string", "allowed_values": ["cat", "dog", "bird"]}},
                },
                "assignments_issuing_type": "AUTOMATED",
            },
        )
        return project["id"]

    def new_pool(self, project_id: str, name: str = "benchmark") -> str:
        pool = self.api(
            "POST",
            "pools",
            {
                "project_id": project_id,
                "private_name": name,
                "may_contain_adult_content": False,
                "reward_per_assignment": 0.01,
                "assignment_max_duration_seconds": 600,
                "will_expire": "2099-01-01T00:00:00",
                "auto_accept_solutions": False,
                "auto_accept_period_day": 7,
                "defaults": {"default_overlap_for_new_task_suites": 3},
            },
        )
        return pool["id"]

    def pool_with_assignments(self, count: int, status: str = "SUBMITTED") -> str:
        """A fresh pool holding ``count`` bulk-loaded assignments (5 tasks + 5 solutions each)."""
        pool_id = self.new_pool(self.new_project())
        started = time.perf_counter()
        self.control("POST", "bulk-load", {"pool_id": pool_id, "count": count, "status": status})
        log(f"bulk-loaded {count:,} {status} assignments into pool {pool_id} in {time.perf_counter() - started:.1f} s")
        return pool_id

    def rss_mb(self) -> float:
        return rss_of_pid_mb(self.pid)


def cpu_seconds_of_pid(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_of_pid_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ---- running one measured pass in a fresh interpreter -----------------------------------------------------


def run_json(python: str | Path, script: str | Path, *args: str, timeout: float = 900, env: dict | None = None) -> dict:
    """Run ``python script args...``; its last stdout line is a JSON object (the measurement)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    completed = subprocess.run(
        [str(python), str(script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{Path(script).name} {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{Path(script).name} printed no JSON; stderr:\n{completed.stderr[-3000:]}")
    return json.loads(lines[-1])


# ---- side venvs (bench-only; never dependencies of the package) -------------------------------------------


def _ensure_venv(path: Path, requirements: Sequence[str], probe: str) -> Path:
    python = path / "bin" / "python"
    stamp = path / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"creating {path.relative_to(REPO_ROOT)} with {', '.join(requirements)}")
    if path.exists():
        shutil.rmtree(path)
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base_python, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run([str(python), "-c", probe], check=True)
    stamp.write_text(wanted)
    return python


def peer_python() -> Path:
    """The python of ``benchmarks/.venv-tolokakit`` (toloka-kit 1.2.2), created on first use."""
    return _ensure_venv(PEER_VENV, PEER_REQUIREMENTS, "import toloka.client")


def chart_python() -> Path:
    """The python of ``benchmarks/.venv-charts`` (matplotlib for the PNG charts), created on first use."""
    return _ensure_venv(CHART_VENV, CHART_REQUIREMENTS, "import matplotlib")


# ---- results ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    metric: str  # what is compared, e.g. "ours typed / toloka-kit default @100k"
    value: str  # the figure, e.g. "7.9x" or "143 MB"
    target: str = ""  # e.g. ">= 5x"; empty when informative only
    met: bool | None = None  # None: no target
    detail: str = ""  # medians behind the figure, rounds, notes


@dataclass
class ScenarioResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # measurements, for the JSON file and the chart
    chart: dict[str, Any] | None = None  # {"kind": "lines"|"bars", "xlabel", "ylabel", "series": {...}}

    def save(self) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        payload = {"name": self.name, "title": self.title, "rows": [asdict(r) for r in self.rows], "raw": self.raw}
        (RESULTS_DIR / f"{self.name}.json").write_text(json.dumps(payload, indent=2, default=str))
        if self.chart:
            draw_chart(self.name, self.title, self.chart)


def ratio_rounds(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios (same round index = measured side by side; rounds only one side has are left out)."""
    return [n / d for n, d in zip(numerators, denominators, strict=False) if d > 0]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_ratio(values: Sequence[float]) -> str:
    return f"{median(values):.2f}x"


def fmt_rounds(values: Sequence[float], unit: str = "", digits: int = 2) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}{unit}" for v in values) + "]"


def rotate(contenders: Sequence[str], round_index: int) -> list[str]:
    """The contenders in a different order each round, so that none always runs first (warm server, cache)."""
    shift = round_index % len(contenders)
    return list(contenders[shift:]) + list(contenders[:shift])


def draw_chart(name: str, title: str, chart: dict[str, Any]) -> None:
    """Render ``results/<name>.png`` with matplotlib from the bench-only chart venv; a failure is logged,
    never fatal (the table is the result, the chart an illustration)."""
    spec = RESULTS_DIR / f"{name}.chart.json"
    spec.write_text(json.dumps({"title": title, **chart}))
    try:
        python = chart_python()
        subprocess.run(
            [str(python), str(BENCH_DIR / "_chart.py"), str(spec), str(RESULTS_DIR / f"{name}.png")],
            check=True,
            timeout=120,
        )
    except Exception as error:
        log(f"chart {name}.png not drawn: {error}")
    finally:
        spec.unlink(missing_ok=True)


def machine_description() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result
