"""Apache Airflow 3 provider for Toloka: hook, operators, sensors, triggers, client and emulator."""

from __future__ import annotations

__version__ = "0.1.0"

_INTEGRATION = "Toloka"

_OPERATOR_MODULES = [
    "toloka_provider.operators.project",
    "toloka_provider.operators.training",
    "toloka_provider.operators.pool",
    "toloka_provider.operators.tasks",
    "toloka_provider.operators.assignments",
    "toloka_provider.operators.aggregation",
    "toloka_provider.operators.app",
    "toloka_provider.operators.quality",
]
_SENSOR_MODULES = [
    "toloka_provider.sensors.pool",
    "toloka_provider.sensors.operation",
    "toloka_provider.sensors.app_batch",
    "toloka_provider.sensors.assignments",
]
_TRIGGER_MODULES = [
    "toloka_provider.triggers.pool",
    "toloka_provider.triggers.operation",
    "toloka_provider.triggers.app_batch",
    "toloka_provider.triggers.pool_events",
]


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    The connection form (Airflow 3.2+ reads it from here, without importing the hook): the token goes in
    the standard password field, relabelled "API token"; the standard host field, relabelled "API URL
    (optional)", takes a custom base URL (e.g. the local emulator); the other settings are ``conn-fields``,
    stored in the connection's extra as ``extra__toloka__<name>`` (the hook reads both spellings).

    What the React connection form of Airflow 3.2 and 3.3 renders from this (the UI's ``hook_meta`` endpoint):

    * ``ui-field-behaviour`` acts on the standard fields only (host, port, login, password, schema,
      description): ``placeholders`` for a conn-field are never shown, so the extra fields carry their hints
      (the defaults) in ``description``, the line under each field; and the extra JSON editor cannot be
      hidden (it is always there).
    * each conn-field is a form parameter: ``label`` becomes the title and ``schema`` the JSON schema. A select
      (``enum``) labels its options by ``schema.values_display`` and, without one, shows ``null`` for a null
      option, which is also the option selected while the field is empty; hence the label for null below.
      Text and number inputs show no placeholder (a text input's only one is a generic "Start typing" for
      ``schema.examples``).
    """
    return {
        "package-name": "toloka-airflow-provider",
        "name": "Toloka",
        "description": "Run Toloka crowdsourcing (labeling) pipelines as Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://toloka.ai/docs/api/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["toloka_provider.hooks.toloka"]}],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": list(_OPERATOR_MODULES)}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": list(_SENSOR_MODULES)}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": list(_TRIGGER_MODULES)}],
        "extra-links": ["toloka_provider.links.TolokaPoolLink", "toloka_provider.links.TolokaProjectLink"],
        "connection-types": [
            {
                "connection-type": "toloka",
                "hook-class-name": "toloka_provider.hooks.toloka.TolokaHook",
                "hook-name": "Toloka",
                "conn-fields": {
                    "environment": {
                        "label": "Environment",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": [None, "production", "sandbox"],
                            "values_display": {"null": "Not set (production, or the API URL)"},
                        },
                        "description": "production or sandbox. Leave it not set when API URL is set; "
                        "not set without an API URL means production.",
                    },
                    "act_under_account_id": {
                        "label": "Act under account id",
                        "schema": {"type": ["string", "null"]},
                        "description": "Optional: the id of the account to act as (X-Act-Under-Account-ID); "
                        "empty for the token's own account.",
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                        "description": "Per-request timeout in seconds; empty for the client default (10).",
                    },
                    "retries": {
                        "label": "Retries",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                        "description": "Retries per request on 429/5xx/connection errors; empty for the client default (3).",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API token", "host": "API URL (optional)"},
                    # Standard fields only: Airflow 3.2 / 3.3 show no placeholder for a conn-field.
                    "placeholders": {
                        "password": "Toloka OAuth token or API key",
                        "host": "empty for the environment below, or e.g. http://127.0.0.1:8080",
                    },
                },
            }
        ],
    }
