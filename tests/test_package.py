"""Package-level checks: layering rules that keep the client and emulator usable without Airflow."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["toloka_provider.client", "toloka_provider.emulator"])
def test_module_imports_without_airflow(module):
    code = f"import sys, {module}; bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')); print(bad); sys.exit(1 if bad else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{module} imported Airflow modules: {result.stdout} {result.stderr}"


def test_emulator_does_not_import_the_client():
    code = "import sys, toloka_provider.emulator; sys.exit(1 if 'toloka_provider.client' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
