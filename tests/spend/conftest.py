"""Shared fixtures of the spend tests: an emulator the hook's default connection points at, and a small pool."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest


@pytest.fixture
def spend_emu(toloka_emulator_factory, monkeypatch):
    emulator = toloka_emulator_factory(crowd=30, speed=500.0, seed=3, operation_delay=0.0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOLOKA_DEFAULT",
        json.dumps({"conn_type": "toloka", "password": emulator.token, "host": emulator.url}),
    )
    emulator.pause_crowd()  # the tests make the work themselves (bulk-loaded assignments)
    return emulator


@pytest.fixture
def spend_client(spend_emu):
    from toloka_provider.client import TolokaClient

    return TolokaClient(token=spend_emu.token, url=spend_emu.url)


@pytest.fixture
def make_pool(spend_client):
    """A project and a closed pool (reward 0.03 USD, 1 task per suite) with ``tasks`` real tasks of overlap 1."""

    def make(tasks: int = 10, metadata: dict | None = None, project_id: str | None = None) -> str:
        if project_id is None:
            project_id = str(spend_client.create_project({
                "public_name": "spend", "public_description": "spend", "assignments_issuing_type": "AUTOMATED",
                "task_spec": {"input_spec": {"text": {"type": "string"}}, "output_spec": {"label": {"type": "string"}},
                              "view_spec": {"type": "classic", "markup": "{{text}}"}},
            }).id)
        config = {
            "project_id": project_id, "private_name": "spend", "may_contain_adult_content": False,
            "reward_per_assignment": 0.03, "assignment_max_duration_seconds": 600, "will_expire": "2100-01-01T00:00:00",
            "defaults": {"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1},
            "mixer_config": {"real_tasks_count": 1, "golden_tasks_count": 0, "training_tasks_count": 0},
        }
        if metadata:
            config["metadata"] = metadata
        pool_id = str(spend_client.create_pool(config).id)
        if tasks:
            spend_client.create_tasks(
                [{"pool_id": pool_id, "input_values": {"text": f"t{i}"}, "overlap": 1} for i in range(tasks)], operation_id=None
            )
        return pool_id

    return make


def task_context(run_id: str = "r1", task_id: str = "t", try_number: int = 1, dag_id: str = "spend"):
    pushed: dict = {}
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number,
                         pushed=pushed, xcom_push=lambda key, value: pushed.__setitem__(key, value))
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=run_id, conf={}), "params": {},
            "data_interval_start": None, "data_interval_end": None}


@pytest.fixture
def context_factory():
    return task_context
