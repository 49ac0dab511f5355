"""Provider metadata: valid against Airflow's schema, and what ProvidersManager / `airflow providers list` see."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.resources import files

import jsonschema
import pytest

from toloka_provider import __version__, get_provider_info


def test_provider_info_matches_airflow_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_listed_classes_and_modules_exist():
    info = get_provider_info()
    assert info["package-name"] == "toloka-airflow-provider"
    assert info["versions"] == [__version__]
    for link in info["extra-links"]:
        module, _, name = link.rpartition(".")
        assert hasattr(importlib.import_module(module), name)
    hook = info["connection-types"][0]["hook-class-name"]
    module, _, name = hook.rpartition(".")
    assert getattr(importlib.import_module(module), name).conn_type == "toloka"
    for section in ("hooks", "sensors", "triggers"):
        for module in info[section][0]["python-modules"]:
            importlib.import_module(module)


@pytest.fixture
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    manager.initialize_providers_hooks()
    return manager


def test_providers_manager_exposes_the_toloka_connection_type(providers_manager):
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "toloka-airflow-provider" in providers_manager.providers
    hook_info = ProvidersManagerTaskRuntime().hooks["toloka"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "toloka_provider.hooks.toloka.TolokaHook"
    assert hook_info.connection_id_attribute_name == "toloka_conn_id"
    assert hook_info.hook_name == "Toloka"


def test_providers_manager_exposes_conn_fields_and_field_behaviour(providers_manager):
    widgets = providers_manager._connection_form_widgets_from_metadata
    toloka = {name: widget for name, widget in widgets.items() if name.startswith("extra__toloka__")}
    assert set(toloka) == {
        "extra__toloka__environment",
        "extra__toloka__act_under_account_id",
        "extra__toloka__timeout",
        "extra__toloka__retries",
    }
    environment = toloka["extra__toloka__environment"].field
    assert environment["schema"]["enum"] == ["production", "sandbox", None]
    assert environment["schema"]["title"] == "Environment"
    assert toloka["extra__toloka__timeout"].field["schema"]["type"] == ["number", "null"]
    assert toloka["extra__toloka__retries"].field["schema"]["type"] == ["integer", "null"]

    ui_metadata = {m.connection_type: m for m in providers_manager.iter_connection_type_hook_ui_metadata()}
    assert ui_metadata["toloka"].hook_name == "Toloka"
    behaviour = providers_manager._field_behaviours_from_metadata["toloka"]
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port", "extra"}
    assert behaviour["relabeling"] == {"password": "API token", "host": "API URL (optional)"}
    assert behaviour["placeholders"]["password"] == "Toloka OAuth token or API key"
    assert behaviour["placeholders"]["extra__toloka__environment"] == "production"


def test_airflow_providers_list_shows_the_package():
    airflow_cli = os.path.join(os.path.dirname(sys.executable), "airflow")
    result = subprocess.run(
        [airflow_cli, "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Airflow logs a line or two before the JSON; the JSON is the line that starts with "[".
    listing = next(line for line in result.stdout.splitlines() if line.startswith("["))
    providers = {entry["package_name"]: entry for entry in json.loads(listing)}
    assert providers["toloka-airflow-provider"]["version"] == __version__
