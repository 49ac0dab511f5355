"""Apache Airflow 3 provider for Toloka: hook, operators, sensors, triggers, client and emulator."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow's ProvidersManager (the Airflow issue fills it in)."""
    return {
        "package-name": "toloka-airflow-provider",
        "name": "Toloka",
        "description": "Run Toloka crowdsourcing (labeling) pipelines as Airflow DAGs.",
        "versions": [__version__],
    }
