"""Provider metadata: valid against Airflow's schemas and ours, and what Airflow and its UI make of it.

Airflow's ``provider_info.schema.json`` does not describe ``conn-fields`` or ``ui-field-behaviour``; the schema
below says what the React connection form of Airflow 3.2 and 3.3 actually reads from them (see the docstring
of ``get_provider_info``), so that metadata the form ignores or shows badly fails here, not in a browser.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import subprocess
import sys
from importlib.resources import files

import jsonschema
import pytest

from toloka_provider import __version__, get_provider_info

# The standard connection fields that ``ui-field-behaviour`` can act on (the UI's ``standard_fields``; the
# key ``schema`` is the URL schema field). Anything else in it is never read by the 3.2 / 3.3 form.
STANDARD_FIELDS = ["description", "schema", "host", "port", "login", "password"]
_FIELD_MAP = {
    "type": "object",
    "propertyNames": {"enum": STANDARD_FIELDS},
    "additionalProperties": {"type": "string", "minLength": 1},
}

CONN_FIELD_SCHEMA = {
    "type": "object",
    "required": ["label", "schema", "description"],
    "additionalProperties": False,
    "properties": {
        "label": {"type": "string", "minLength": 1},
        # The line under the field: the only place where the form shows a conn-field's hint or default.
        "description": {"type": "string", "minLength": 1},
        "schema": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                # Every setting is optional: null allowed (an emptied field is saved as null).
                "type": {
                    "type": "array",
                    "items": {"enum": ["string", "number", "integer", "boolean", "null"]},
                    "contains": {"const": "null"},
                    "uniqueItems": True,
                },
                "enum": {"type": "array", "minItems": 1, "uniqueItems": True},
                "values_display": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "minLength": 1},
                },
                "minimum": {"type": "number"},
                "maximum": {"type": "number"},
                "exclusiveMinimum": {"type": "number"},
                "format": {"enum": ["password"]},
            },
            # A select with a null option must name it: the form labels an option by values_display and
            # shows the bare word "null" for an unnamed null one (also the option shown while it is empty).
            "if": {"required": ["enum"], "properties": {"enum": {"contains": {"const": None}}}},
            "then": {
                "required": ["values_display"],
                "properties": {"values_display": {"required": ["null"]}},
            },
        },
    },
}

CONNECTION_FORM_SCHEMA = {
    "type": "object",
    "required": ["conn-fields", "ui-field-behaviour"],
    "properties": {
        "conn-fields": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
            "additionalProperties": CONN_FIELD_SCHEMA,
        },
        "ui-field-behaviour": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "hidden-fields": {"type": "array", "items": {"enum": STANDARD_FIELDS}, "uniqueItems": True},
                "relabeling": _FIELD_MAP,
                "placeholders": _FIELD_MAP,
            },
        },
    },
}


def _toloka_connection_type(info: dict | None = None) -> dict:
    info = info if info is not None else get_provider_info()
    return next(c for c in info["connection-types"] if c["connection-type"] == "toloka")


def test_provider_info_matches_airflow_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_ui_field_behaviour_matches_airflows_own_schema_for_it():
    # ProvidersManager turns the kebab-case keys into these and validates them with this schema; a
    # behaviour that fails it is dropped with a warning only.
    schema = json.loads(files("airflow").joinpath("customized_form_field_behaviours.schema.json").read_text())
    behaviour = _toloka_connection_type()["ui-field-behaviour"]
    converted = {
        "hidden_fields": behaviour.get("hidden-fields", []),
        "relabeling": behaviour.get("relabeling", {}),
        "placeholders": behaviour.get("placeholders", {}),
    }
    jsonschema.validate(converted, schema)


def test_connection_form_metadata_matches_what_the_ui_reads():
    connection_type = _toloka_connection_type()
    jsonschema.Draft202012Validator.check_schema(CONNECTION_FORM_SCHEMA)
    jsonschema.Draft202012Validator(CONNECTION_FORM_SCHEMA).validate(connection_type)
    # Each conn-field's own JSON schema is a valid schema, and a value the form can save passes it.
    for field in connection_type["conn-fields"].values():
        jsonschema.Draft202012Validator.check_schema(field["schema"])
        jsonschema.Draft202012Validator(field["schema"]).validate(None)


def _errors(connection_type: dict) -> list[str]:
    """Each error as "path: failed keyword", plus the offending name where it is one (a key, an item)."""
    validator = jsonschema.Draft202012Validator(CONNECTION_FORM_SCHEMA)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.validator}"
        + (f" {e.instance}" if isinstance(e.instance, str) else "")
        for e in validator.iter_errors(connection_type)
    )


def test_the_form_schema_rejects_the_metadata_that_showed_null_and_lost_placeholders():
    """Negative control (issue 12): the metadata before the fix fails, each defect for its own reason."""
    before = copy.deepcopy(_toloka_connection_type())
    before["conn-fields"]["environment"]["schema"] = {
        "type": ["string", "null"],
        "enum": ["production", "sandbox", None],
    }
    before["ui-field-behaviour"]["hidden-fields"].append("extra")
    before["ui-field-behaviour"]["placeholders"].update(
        {"environment": "production", "act_under_account_id": "optional", "timeout": "10", "retries": "3"}
    )

    assert _errors(before) == [
        "conn-fields/environment/schema: required",  # a null option without a label: "null" in the select
        "ui-field-behaviour/hidden-fields/3: enum extra",  # the extra JSON editor cannot be hidden
        # conn-field placeholders are never shown
        "ui-field-behaviour/placeholders: enum act_under_account_id",
        "ui-field-behaviour/placeholders: enum environment",
        "ui-field-behaviour/placeholders: enum retries",
        "ui-field-behaviour/placeholders: enum timeout",
    ]
    assert _errors(_toloka_connection_type()) == []


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
    for section in ("hooks", "operators", "sensors", "triggers"):
        for module in info[section][0]["python-modules"]:
            importlib.import_module(module)


def test_providers_manager_exposes_the_toloka_connection_type():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "toloka-airflow-provider" in ProvidersManager().providers
    hook_info = ProvidersManagerTaskRuntime().hooks["toloka"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "toloka_provider.hooks.toloka.TolokaHook"
    assert hook_info.connection_id_attribute_name == "toloka_conn_id"
    assert hook_info.hook_name == "Toloka"


@pytest.fixture(scope="module")
def hook_meta(airflow_db):
    """What the connection form loads: the API server's ``GET /ui/connections/hook_meta``, entry "toloka"."""
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        # Every request is an admin's (no login): the simple auth manager's switch for that.
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(apps="core")) as client:
            response = client.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text[:2000]
    return {entry["connection_type"]: entry for entry in response.json()}["toloka"]


def _option_label(value, values_display: dict | None) -> str:
    # The form's rule for a select option's text (FieldDropdown, the same in 3.2 and 3.3).
    key = "null" if value is None else str(value)
    if isinstance(values_display, dict):
        return values_display.get(key, values_display.get("None", key))
    return key


def test_the_connection_form_gets_the_relabelled_standard_fields_with_their_placeholders(hook_meta):
    assert hook_meta["hook_name"] == "Toloka"
    assert hook_meta["hook_class_name"] == "toloka_provider.hooks.toloka.TolokaHook"
    standard = hook_meta["standard_fields"]
    assert standard["password"] == {
        "hidden": False,
        "title": "API token",
        "placeholder": "Toloka OAuth token or API key",
    }
    assert standard["host"] == {
        "hidden": False,
        "title": "API URL (optional)",
        "placeholder": "empty for the environment below, or e.g. http://127.0.0.1:8080",
    }
    assert standard["login"]["hidden"] and standard["port"]["hidden"] and standard["url_schema"]["hidden"]


def test_the_connection_form_gets_the_extra_fields_with_titles_hints_and_a_named_empty_environment(hook_meta):
    extra = hook_meta["extra_fields"]
    assert list(extra) == ["environment", "act_under_account_id", "timeout", "retries"]
    titles = {name: field["schema"]["title"] for name, field in extra.items()}
    assert titles == {
        "environment": "Environment",
        "act_under_account_id": "Act under account id",
        "timeout": "Request timeout (seconds)",
        "retries": "Retries",
    }
    # Empty by default: nothing is saved into the connection's extra unless the user sets it.
    assert {field["value"] for field in extra.values()} == {None}
    # The defaults a user needs are in the line under each field (the form shows no conn-field placeholder).
    assert "production" in extra["environment"]["description"]
    assert "(10)" in extra["timeout"]["description"] and "(3)" in extra["retries"]["description"]
    assert "own account" in extra["act_under_account_id"]["description"]

    environment = extra["environment"]["schema"]
    assert environment["type"] == ["string", "null"] and environment["enum"] == [
        None,
        "production",
        "sandbox",
    ]
    options = [_option_label(value, environment.get("values_display")) for value in environment["enum"]]
    assert options == ["Not set (production, or the API URL)", "production", "sandbox"]
    assert extra["timeout"]["schema"]["type"] == ["number", "null"]
    assert extra["retries"]["schema"]["type"] == ["integer", "null"]


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
