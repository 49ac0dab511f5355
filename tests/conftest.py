"""Test-wide setup: an isolated AIRFLOW_HOME per pytest session, created before Airflow is imported.

Each pytest process gets its own temporary Airflow home (SQLite, no examples), so parallel runs (and the
pytest-xdist workers ``make test`` starts) never share a database and nothing touches the user's home directory. Tests that need the metadata database
(``dag.test()``, connections from the DB) request the ``airflow_db`` fixture, which migrates it once.

The emulator's pytest plugin (fixtures ``toloka_emulator`` and ``toloka_emulator_factory``) is opt-in for users
(``-p toloka_provider.emulator.pytest_plugin``); this suite loads it here.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="toloka-provider-tests-airflow-")
# A pytest-xdist worker inherits the environment of the pytest process that started it, including the paths
# set below for that process's home: those are replaced (two processes on one SQLite file, each with its own
# Fernet key, fail with InvalidToken); values the user set before pytest are kept.
_PARENT_HOME = os.environ.get("TOLOKA_TESTS_AIRFLOW_HOME")
os.environ["TOLOKA_TESTS_AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME


def _default(key: str, value: str) -> None:
    current = os.environ.get(key)
    if current is None or (_PARENT_HOME and _PARENT_HOME in current):
        os.environ[key] = value


_default("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
_default("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
_default("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
_default("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_AIRFLOW_HOME, "dags"))
_default("AIRFLOW__LOGGING__BASE_LOG_FOLDER", os.path.join(_AIRFLOW_HOME, "logs"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the session's SQLite metadata database once; return the Airflow home path."""
    from airflow.utils import db

    db.resetdb(skip_init=False) if os.environ.get("TOLOKA_TESTS_RESETDB") else db.initdb()
    _one_in_process_execution_api()
    return _AIRFLOW_HOME


def _one_in_process_execution_api() -> None:
    """Make ``dag.test()`` on Airflow 3.2 build its in-process Execution API once per process, as 3.3 does.

    3.2 builds a new FastAPI/cadwyn app (seconds of CPU, and an event-loop thread that stays) for every task
    ``dag.test()`` runs; 3.3 caches the same factory with ``functools.lru_cache``. Test speed only: the e2e
    tests then cost on 3.2 what they cost on 3.3. Where the factory is absent or already cached, nothing.
    """
    import functools

    from airflow.sdk.execution_time import supervisor

    factory = getattr(supervisor, "in_process_api_server", None)
    if factory is not None and not hasattr(factory, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(factory)


def pytest_configure(config):
    # The same as ``pytest_plugins = ["toloka_provider.emulator.pytest_plugin"]``, except that it tolerates an
    # install made before the plugin became opt-in: that one still loads the plugin through its old
    # ``pytest11`` entry point, and a second registration under another name would stop pytest.
    from toloka_provider.emulator import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "toloka_provider.emulator.pytest_plugin")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
