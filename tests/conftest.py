"""Test-wide setup: an isolated AIRFLOW_HOME per pytest session, created before Airflow is imported.

Each pytest process gets its own temporary Airflow home (SQLite, no examples), so parallel runs never
share a database and nothing touches the user's home directory. Tests that need the metadata database
(``dag.test()``, connections from the DB) request the ``airflow_db`` fixture, which migrates it once.

The emulator's pytest plugin (fixtures ``toloka_emulator`` and ``toloka_emulator_factory``) is opt-in for users
(``-p toloka_provider.emulator.pytest_plugin``); this suite loads it here.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="toloka-provider-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_AIRFLOW_HOME, "dags"))
os.environ.setdefault("AIRFLOW__LOGGING__BASE_LOG_FOLDER", os.path.join(_AIRFLOW_HOME, "logs"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the session's SQLite metadata database once; return the Airflow home path."""
    from airflow.utils import db

    db.resetdb(skip_init=False) if os.environ.get("TOLOKA_TESTS_RESETDB") else db.initdb()
    return _AIRFLOW_HOME


def pytest_configure(config):
    # The same as ``pytest_plugins = ["toloka_provider.emulator.pytest_plugin"]``, except that it tolerates an
    # install made before the plugin became opt-in: that one still loads the plugin through its old
    # ``pytest11`` entry point, and a second registration under another name would stop pytest.
    from toloka_provider.emulator import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "toloka_provider.emulator.pytest_plugin")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
