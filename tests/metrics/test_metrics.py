"""Metrics through Airflow's own ``Stats``: exact names, values and tags; nothing when metrics are off; a broken
metrics backend never fails a task.

Airflow's ``Stats`` is initialized here as the task runner initializes it (``stats.initialize(factory=...)``),
with a backend that records what reaches it. With ``statsd`` installed, one test also reads the datagrams a
real StatsD backend sends to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import inspect
import json
import socket
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from toloka_provider import metrics

stats_module = pytest.importorskip("airflow.sdk.observability.stats")


class RecordingBackend:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def incr(self, stat, count=1, rate=1, *, tags=None):
        self.calls.append(("incr", stat, count, tags or {}))

    def decr(self, stat, count=1, rate=1, *, tags=None):
        self.calls.append(("decr", stat, count, tags or {}))

    def gauge(self, stat, value, rate=1, delta=False, *, tags=None):
        self.calls.append(("gauge", stat, value, tags or {}))

    def timing(self, stat, dt, *, tags=None):
        self.calls.append(("timing", stat, dt, tags or {}))


def install_backend(factory) -> None:
    """Make ``factory`` the backend of Airflow's ``Stats``, as the task runner does on each Airflow version."""
    if hasattr(stats_module, "initialize"):  # Airflow 3.3: the runner calls stats.initialize(factory=...)
        stats_module.initialize(factory=factory, export_legacy_names=False)
    else:  # Airflow 3.2: Stats builds its instance from its factory on first use
        stats_module.Stats.factory = factory
        stats_module.Stats.instance = None


def restore_airflows_backend() -> None:
    """Airflow's own backend for this process's configuration (metrics off in the tests: its no-op logger)."""
    install_backend(airflow_factory())


def airflow_factory():
    """The backend factory Airflow builds from its [metrics] configuration (3.2 asks for the Stats class)."""
    stats_utils = pytest.importorskip("airflow.sdk.observability.metrics.stats_utils")
    if "stats_cls" in inspect.signature(stats_utils.get_stats_factory).parameters:
        return stats_utils.get_stats_factory(stats_module.Stats)
    return stats_utils.get_stats_factory()


class BrokenBackend(RecordingBackend):
    """Every call reaches it (``attempts``) and raises, as a backend whose socket is gone."""

    attempts: list[str] = []

    def incr(self, stat, *args, **kwargs):
        BrokenBackend.attempts.append(stat)
        raise OSError("statsd is down")

    gauge = timing = incr


@pytest.fixture
def backend():
    recorder = RecordingBackend()
    install_backend(lambda: recorder)
    yield recorder
    restore_airflows_backend()


def test_money_by_pool_and_in_total(backend):
    metrics.money_spent(Decimal("1.25"), what="bonuses", pool_id="42")
    assert backend.calls == [
        ("incr", "toloka.spend.usd", 1.25, {"what": "bonuses", "pool_id": "42"}),
        ("incr", "toloka.pool.42.spend.usd", 1.25, {"what": "bonuses"}),
    ]
    backend.calls.clear()
    metrics.money_spent("0", what="bonuses")
    metrics.money_spent("junk", what="bonuses")
    assert backend.calls == []


def test_progress_counters(backend):
    metrics.tasks_uploaded(360, pool_id="7")
    metrics.assignments_decided(accepted=30, rejected=0, pool_id="7")
    metrics.assignments_decided(accepted=0, rejected=4, pool_id=None)
    metrics.tasks_uploaded(0, pool_id="7")
    assert backend.calls == [
        ("incr", "toloka.tasks.uploaded", 360, {"pool_id": "7"}),
        ("incr", "toloka.assignments.accepted", 30, {"pool_id": "7"}),
        ("incr", "toloka.assignments.rejected", 4, {}),
    ]


def test_wait_durations_and_the_estimate(backend):
    metrics.wait_finished("pool", 12.5, outcome="success", pool_id="7")
    metrics.spend_estimated(Decimal("8.10"), cap=Decimal("8"), pool_id="7", refused=True)
    assert backend.calls == [
        ("timing", "toloka.wait.pool.duration", timedelta(seconds=12.5), {"outcome": "success", "pool_id": "7"}),
        ("incr", "toloka.wait.pool.success", 1, {"pool_id": "7"}),
        ("gauge", "toloka.spend.estimate_usd", 8.1, {"pool_id": "7"}),
        ("incr", "toloka.spend.cap_refusals", 1, {"pool_id": "7", "cap": "8"}),
    ]


@pytest.mark.parametrize(
    ("endpoint", "group"),
    [
        ("/api/v1/pools/{id}/open", "pools"),
        ("/api/v1/assignments", "assignments"),
        ("/api/app/v0/app-projects/{id}/batches", "app-projects"),
        ("/api/v1/{id}", "other"),
        ("", "other"),
    ],
)
def test_endpoint_groups(endpoint, group):
    assert metrics.endpoint_group(endpoint) == group


def test_request_observer_counts_requests_retries_and_429s_by_group(backend):
    throttled = SimpleNamespace(method="GET", endpoint="/api/v1/pools/{id}", status=429, attempt=1, retried=True,
                                retry_after=2.0, elapsed=0.25)
    metrics.request_observer(throttled)
    assert backend.calls == [
        ("incr", "toloka.api.requests", 1, {"group": "pools", "method": "GET", "status": "429"}),
        ("incr", "toloka.api.pools.requests", 1, {"status": "429"}),
        ("incr", "toloka.api.retries", 1, {"group": "pools", "method": "GET", "status": "429"}),
        ("incr", "toloka.api.throttled", 1, {"group": "pools", "method": "GET", "status": "429"}),
        ("timing", "toloka.api.duration", timedelta(seconds=0.25), {"group": "pools", "method": "GET", "status": "429"}),
    ]
    backend.calls.clear()
    # The mapping form, with the names of the observer brief (path, will_retry), and no answer at all.
    metrics.request_observer({"method": "POST", "path": "/api/v1/tasks", "status": None, "attempt": 3,
                              "will_retry": False, "retry_after": None, "elapsed": 1})
    assert [call[1] for call in backend.calls] == [
        "toloka.api.requests", "toloka.api.tasks.requests", "toloka.api.errors", "toloka.api.duration"
    ]
    assert backend.calls[0][3] == {"group": "tasks", "method": "POST", "status": "none"}


def test_request_observer_ignores_what_it_cannot_read(backend):
    metrics.request_observer(object())
    metrics.request_observer(None)
    assert [call[1] for call in backend.calls] == ["toloka.api.requests", "toloka.api.other.requests",
                                                   "toloka.api.errors"] * 2


def test_a_broken_backend_never_raises():
    BrokenBackend.attempts.clear()
    install_backend(BrokenBackend)
    try:
        metrics.money_spent("1", what="bonuses", pool_id="1")
        metrics.tasks_uploaded(3)
        metrics.assignments_decided(accepted=1, rejected=1)
        metrics.wait_finished("pool", 1.0, outcome="success")
        metrics.spend_estimated(Decimal(1), cap=None, pool_id="1", refused=False)
        metrics.request_observer(SimpleNamespace(method="GET", endpoint="/api/v1/pools", status=200, attempt=1,
                                                 retried=False, retry_after=None, elapsed=0.1))
    finally:
        restore_airflows_backend()
    # Each helper reached the broken backend (so its failure was swallowed, not skipped).
    for sent in ("toloka.spend.usd", "toloka.tasks.uploaded", "toloka.assignments.accepted",
                 "toloka.spend.estimate_usd", "toloka.api.requests"):
        assert sent in BrokenBackend.attempts
    assert any(stat.startswith("toloka.wait.pool") for stat in BrokenBackend.attempts)


def test_metrics_off_is_airflows_no_op_logger(monkeypatch):
    """With [metrics] off, Airflow's factory is its no-op logger: our calls reach it and nothing is sent."""
    for option in ("STATSD_ON", "STATSD_DATADOG_ENABLED", "OTEL_ON"):
        monkeypatch.setenv(f"AIRFLOW__METRICS__{option}", "False")
    factory = airflow_factory()
    assert factory.__name__ == "NoStatsLogger"
    sent: list = []
    monkeypatch.setattr(socket.socket, "sendto", lambda self, *a: sent.append(a))
    install_backend(factory)
    metrics.money_spent("1", what="bonuses", pool_id="1")
    metrics.request_observer({"method": "GET", "endpoint": "/api/v1/pools", "status": 200, "elapsed": 0.1})
    assert sent == []


@pytest.mark.integration
def test_an_operator_succeeds_when_metrics_fail(toloka_emulator_factory, monkeypatch):
    from toloka_provider.operators.tasks import TolokaCreateTasksOperator

    emulator = toloka_emulator_factory(crowd=0, operation_delay=0.0)
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT",
                       json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}))
    from pathlib import Path

    from toloka_provider.client import TolokaClient

    configs = Path(__file__).resolve().parents[2] / "dags_examples" / "configs"
    client = TolokaClient(token=emulator.token, url=emulator.url)
    project = client.create_project(json.loads((configs / "text_classification_project.json").read_text()))
    config = json.loads((configs / "text_classification_pool.json").read_text())
    config.update(project_id=str(project.id), will_expire="2100-01-01T00:00:00")
    config.pop("quality_control")
    pool = client.create_pool(config)
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1,
                         xcom_push=lambda *a, **k: None)
    context = {"ti": ti, "dag_run": SimpleNamespace(run_id="r"), "data_interval_start": None, "data_interval_end": None}
    install_backend(BrokenBackend)
    try:
        result = TolokaCreateTasksOperator(task_id="t", pool_id=str(pool.id), tasks=[{"input_values": {"text": "hi", "ticket_id": "T1"}}],
                                           allow_defaults=True).execute(context)
    finally:
        restore_airflows_backend()
    assert result["created"] == 1


def test_a_real_statsd_backend_sends_the_datagrams(monkeypatch):
    pytest.importorskip("statsd")

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(receiver.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    try:
        install_backend(airflow_factory())
        metrics.tasks_uploaded(5, pool_id="9")
        datagram = receiver.recv(4096).decode()
    finally:
        restore_airflows_backend()
        receiver.close()
    assert datagram == "airflow.toloka.tasks.uploaded:5|c"
