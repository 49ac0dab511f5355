"""The async client's generated signatures are current, and mypy reads them as users need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

mypy_api = pytest.importorskip("mypy.api")


def test_generated_async_signatures_are_current():
    result = subprocess.run(
        [sys.executable, str(HERE / "async_api_gen.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_every_api_method_has_an_async_signature():
    import inspect

    from toloka_provider.client import _async_api, api

    shared = {name for name, _ in inspect.getmembers(api.TolokaApi, inspect.isfunction) if not name.startswith("_")}
    typed = {name for name in vars(_async_api.AsyncTolokaApi) if not name.startswith("_")}
    assert shared == typed


def _mypy(path: Path, tmp_path: Path) -> tuple[str, int]:
    out, err, status = mypy_api.run(
        [str(path), "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "--follow-imports=silent",
         "--config-file", str(ROOT / "pyproject.toml")]
    )
    return out + err, status


@pytest.mark.slow
def test_async_usage_type_checks(tmp_path):
    output, status = _mypy(HERE / "typed_async_usage.py", tmp_path)
    assert status == 0, output


@pytest.mark.slow
def test_mistakes_are_reported(tmp_path):
    output, status = _mypy(HERE / "typed_async_mistakes.py", tmp_path)
    assert status == 1, output
    lines = [line for line in output.splitlines() if ": error:" in line]
    by_line = {int(line.split(":")[1]) for line in lines}
    source = (HERE / "typed_async_mistakes.py").read_text().splitlines()
    expected = {number for number, text in enumerate(source, 1) if "# E" in text}
    assert expected <= by_line, output
