"""The built distributions: what the sdist and the wheel carry, their metadata, and the release linters.

The sdist and the wheel are built once per session, offline (``python -m build --no-isolation``; the wheel is
built from the sdist, so a file missing from the sdist fails here too). ``make package-check`` builds them
the release way (isolated), points ``TOLOKA_DIST_DIR`` at them, and runs this module on those instead.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from toloka_provider import __version__

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    given = os.environ.get("TOLOKA_DIST_DIR")
    if given:
        out = Path(given)
    else:
        out = tmp_path_factory.mktemp("dist")
        # A copy of the sources: building in the checkout would leave build/ and *.egg-info behind.
        src = tmp_path_factory.mktemp("src")
        for name in ("pyproject.toml", "MANIFEST.in", "LICENSE", "README.md", "PYPI_README.md", "CHANGELOG.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(
            ROOT / "toloka_provider", src / "toloka_provider", ignore=shutil.ignore_patterns("__pycache__")
        )
        result = subprocess.run(
            [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _wheel_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode()


def _sdist_names(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        top = f"toloka_airflow_provider-{__version__}/"
        names = archive.getnames()
    assert all(name == top.rstrip("/") or name.startswith(top) for name in names)
    return sorted(name[len(top) :] for name in names if name.startswith(top))


def test_the_names_carry_the_version(dists):
    assert dists["sdist"].name == f"toloka_airflow_provider-{__version__}.tar.gz"
    assert dists["wheel"].name == f"toloka_airflow_provider-{__version__}-py3-none-any.whl"


def test_the_wheel_carries_the_package_the_license_and_the_typing_marker(dists):
    names = _wheel_names(dists["wheel"])
    dist_info = f"toloka_airflow_provider-{__version__}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "toloka_provider/py.typed" in names
    assert "toloka_provider/emulator/pytest_plugin.py" in names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"toloka_provider", dist_info}  # no tests/, benchmarks/, dags_examples/


def test_the_sdist_carries_no_tests_and_everything_the_wheel_needs(dists):
    names = _sdist_names(dists["sdist"])
    assert not [name for name in names if name.startswith(("tests", "benchmarks", "dags_examples", ".ci"))]
    assert not [name for name in names if re.search(r"(^|/)test_[^/]*\.py$", name)]
    for needed in ("PKG-INFO", "pyproject.toml", "LICENSE", "PYPI_README.md", "toloka_provider/py.typed"):
        assert needed in names
    # Every module of the package is in the sdist (the wheel is built from it).
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "toloka_provider").rglob("*.py"))
    assert [m for m in modules if m not in names] == []


def test_the_metadata_states_the_support_range_license_and_urls(dists):
    metadata = email.parser.Parser().parsestr(_wheel_text(dists["wheel"], ".dist-info/METADATA"))
    assert metadata["Name"] == "toloka-airflow-provider"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.10"
    assert "apache-airflow>=3.2" in metadata.get_all("Requires-Dist")
    classifiers = metadata.get_all("Classifier")
    assert [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")] == [
        f"Programming Language :: Python :: {version}" for version in SUPPORTED_PYTHONS
    ]
    assert "Framework :: Apache Airflow :: Provider" in classifiers and "Typing :: Typed" in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert urls and all(url.startswith("https://") for url in urls.values())
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_the_entry_points_register_the_provider_and_no_pytest_plugin(dists):
    entry_points = _wheel_text(dists["wheel"], ".dist-info/entry_points.txt")
    assert "[apache_airflow_provider]\nprovider_info = toloka_provider:get_provider_info" in entry_points
    # The emulator's fixtures are opt-in (-p toloka_provider.emulator.pytest_plugin), not loaded everywhere.
    assert "pytest11" not in entry_points


def test_the_long_description_links_only_to_absolute_urls(dists):
    metadata = email.parser.Parser().parsestr(_wheel_text(dists["wheel"], ".dist-info/METADATA"))
    description = metadata.get_payload()
    assert description.strip() == (ROOT / "PYPI_README.md").read_text().strip()
    links = re.findall(r"\]\(([^)\s]+)\)", description) + re.findall(r"<([a-z]+:[^>\s]+)>", description)
    assert links, "no links found: the pattern is wrong"
    assert [link for link in links if not link.startswith("https://")] == []


def test_the_long_descriptions_example_dag_builds():
    # The PyPI page's DAG is code a user copies: it must at least build, with the task order it shows.
    text = (ROOT / "PYPI_README.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)[:1]
    namespace: dict = {}
    exec(compile(code, "PYPI_README.md", "exec"), namespace)
    dag = namespace["accept"].dag
    assert dag.dag_id == "toloka_review_pool"
    upstream = {task_id: sorted(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}
    assert upstream == {
        "open_pool": [],
        "wait_for_pool": ["open_pool"],
        "fetch_assignments": ["wait_for_pool"],
        "accept": ["fetch_assignments"],
    }


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: install the dev extra (.[dev])")
    return str(path)


def test_twine_check_passes_strictly(dists):
    result = subprocess.run(
        [_tool("twine"), "check", "--strict", str(dists["sdist"]), str(dists["wheel"])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_check_wheel_contents_passes(dists):
    result = subprocess.run(
        [_tool("check-wheel-contents"), str(dists["wheel"])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": OK" in result.stdout, result.stdout
