"""The example bugs found on a real, distributed Airflow (issue 12), each pinned by a test.

* ``labels_consumer`` is scheduled on the producer's Asset itself (name and URI), not on ``Asset.ref``: with
  a reference Airflow queues the run but attaches no asset events, and the consumer read nothing.
* The examples' output root names its connection: ``TOLOKA_EXAMPLES_OUTPUT=s3://bucket/prefix`` with
  ``TOLOKA_EXAMPLES_OUTPUT_CONN_ID=aws_default`` becomes ``s3://aws_default@bucket/prefix``, the form Airflow's
  ``ObjectStoragePath`` reads the connection from (without it: NoCredentialsError on the workers); a URL that
  already names one (``s3://my_s3@bucket/...``) is kept as it is.
* ``make demo`` really defers: its crowd is paused until the pool sensor has deferred, and the report says so.

The deployment itself (Celery, Postgres, an S3 store, the asset event consumed for real) is ``make test-deploy``.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
sys.path.insert(0, str(REPO))


def _load_example(name: str, monkeypatch, **env: str | None):
    """Import one example DAG file afresh (module constants are computed at import) with ``env`` set."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(f"example_{name}_{uuid.uuid4().hex}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_labels_consumer_is_scheduled_on_the_producers_asset_itself_not_a_reference(monkeypatch, tmp_path):
    from airflow.sdk import Asset

    env = {"TOLOKA_EXAMPLES_OUTPUT": str(tmp_path), "TOLOKA_EXAMPLES_OUTPUT_CONN_ID": None}
    producer = _load_example("text_classification", monkeypatch, **env)
    consumer = _load_example("labels_consumer", monkeypatch, **env)

    condition = consumer.dag.timetable.asset_condition
    scheduled = list(condition.objects) if hasattr(condition, "objects") else [condition]
    assert len(scheduled) == 1
    (asset,) = scheduled
    # An AssetNameRef (what Asset.ref(name=...) gives) is not an Asset: its runs get no triggering events.
    assert type(asset) is Asset, type(asset)
    assert (asset.name, asset.uri) == (producer.LABELS_ASSET.name, producer.LABELS_ASSET.uri)
    write_labels = producer.dag.get_task("write_labels")
    assert [(o.name, o.uri) for o in write_labels.outlets] == [(asset.name, asset.uri)]


@pytest.mark.parametrize("example", ["text_classification", "incremental_review"])
def test_output_setting_names_its_connection_in_the_url_objectstoragepath_reads(example, monkeypatch):
    from airflow.sdk import ObjectStoragePath

    module = _load_example(
        example,
        monkeypatch,
        TOLOKA_EXAMPLES_OUTPUT="s3://labels-bucket/toloka/",
        TOLOKA_EXAMPLES_OUTPUT_CONN_ID="aws_default",
    )
    root = module._output_root()
    assert root == "s3://aws_default@labels-bucket/toloka"
    path = ObjectStoragePath(root) / "text_classification" / "labels.jsonl"
    assert path.conn_id == "aws_default"
    assert path.protocol == "s3"
    # The connection survives the trip through a string (templated fields, XCom, the asset event's extra).
    assert ObjectStoragePath(str(path)).conn_id == "aws_default"
    folder = module.OUTPUT_ROOT if example == "text_classification" else module.POOL_FOLDER
    assert folder.startswith("s3://aws_default@labels-bucket/toloka/")


def test_output_url_that_names_its_connection_is_kept_and_local_paths_get_none(monkeypatch, tmp_path):
    from airflow.sdk import ObjectStoragePath

    module = _load_example(
        "text_classification",
        monkeypatch,
        TOLOKA_EXAMPLES_OUTPUT="s3://my_s3@labels-bucket/toloka",
        TOLOKA_EXAMPLES_OUTPUT_CONN_ID="aws_default",
    )
    assert module._output_root() == "s3://my_s3@labels-bucket/toloka"
    assert ObjectStoragePath(module.OUTPUT_ROOT).conn_id == "my_s3"

    local = _load_example(
        "text_classification",
        monkeypatch,
        TOLOKA_EXAMPLES_OUTPUT=str(tmp_path),
        TOLOKA_EXAMPLES_OUTPUT_CONN_ID="aws_default",
    )
    assert local._output_root() == f"file://{tmp_path}"
    assert ObjectStoragePath(local.OUTPUT_ROOT).conn_id is None


def test_demo_runner_pauses_the_crowd_and_resumes_it_at_the_first_deferral():
    from dags_examples.demo import run_demo

    calls = []

    class FakeEmulator:
        def control(self, action):
            calls.append(action)
            return {}

    deferrals = run_demo.Deferrals(FakeEmulator())
    lines = [
        "[DAG TEST] starting task_id=open_pool map_index=-1",
        "[DAG TEST] end task task_id=open_pool map_index=-1",
        "[DAG TEST] starting task_id=wait_for_pool map_index=-1",
        "[DAG TEST] running trigger in line",
        "[DAG TEST] Trigger completed",
        "[DAG TEST] starting task_id=run_round_1 map_index=-1",
        "[DAG TEST] running trigger in line",
        "[DAG TEST] Trigger completed",
    ]
    shown = [deferrals(line + "\n") for line in lines]
    assert calls == ["resume"]  # once, at the first deferral
    assert deferrals.crowd_resumed_for == "wait_for_pool"
    assert [task for task, _ in deferrals.done] == ["wait_for_pool", "run_round_1"]
    assert "wait_for_pool waits in its trigger; crowd resumed" in shown[3]
    source = (EXAMPLES / "demo" / "run_demo.py").read_text()
    assert 'emulator.control("pause")' in source


def test_demo_runner_controls_a_real_emulator(toloka_emulator):
    """The demo's own HTTP calls against the real emulator (a fake hid a 415 once: urllib's default
    form Content-Type on the control POST)."""
    from dags_examples.demo import run_demo

    emulator = run_demo.Emulator(log_path=None)  # type: ignore[arg-type]
    emulator.url = toloka_emulator.url.rstrip("/")
    assert emulator.control("pause") is not None
    assert emulator.control("resume") is not None
