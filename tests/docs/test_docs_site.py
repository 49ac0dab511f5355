"""The built site (``make docs``) has the pages it promises and names every class a user can import.

Runs in ``make docs`` on the site it just built (``TOLOKA_DOCS_SITE``); elsewhere it skips, saying so (building
needs the ``docs`` extra, which ``make test`` does not install, and an old ``site/`` would be a stale answer).
"""

from __future__ import annotations

import importlib
import inspect
import os

import pytest
from docs_blocks import ROOT

import toloka_provider

SITE = ROOT / os.environ.get("TOLOKA_DOCS_SITE", "no-site-built")

pytestmark = pytest.mark.skipif(
    not (SITE / "index.html").is_file(), reason="no freshly built docs site (TOLOKA_DOCS_SITE): run `make docs`"
)


def public_modules() -> list[str]:
    """The modules a DAG author imports from: the provider's operators, sensors, triggers and hooks, and more."""
    info = toloka_provider.get_provider_info()
    modules = [
        module
        for kind in ("operators", "sensors", "triggers", "hooks")
        for entry in info[kind]
        for module in entry["python-modules"]
    ]
    return [*modules, "toloka_provider.links", "toloka_provider.exceptions"]


def public_classes() -> dict[str, str]:
    """Every public class defined in the public modules, and every class exported by the client and emulator."""
    found: dict[str, str] = {}
    for name in public_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == name and not attribute.startswith("_"):
                found[attribute] = name
    client = importlib.import_module("toloka_provider.client")
    for attribute in client.__all__:
        if inspect.isclass(getattr(client, attribute)):
            found[attribute] = "toloka_provider.client"
    found["TolokaEmulator"] = "toloka_provider.emulator"
    return found


def site_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in SITE.rglob("*.html"))


def test_the_site_has_at_least_twelve_pages():
    pages = [path for path in SITE.rglob("index.html") if "assets" not in path.parts and "search" not in path.parts]
    assert len(pages) >= 12, sorted(str(path.relative_to(SITE)) for path in pages)


def test_every_public_class_appears_in_the_site():
    classes = public_classes()
    # The families a user needs are all there (the discovery itself is not empty or partial).
    for expected in ("TolokaCreatePoolOperator", "TolokaPoolSensor", "TolokaPoolTrigger", "TolokaHook",
                     "TolokaClient", "AsyncTolokaClient", "TolokaPoolClosedEventTrigger", "TolokaPoolLink"):
        assert expected in classes
    text = site_text()
    assert sorted(f"{module}.{name}" for name, module in classes.items() if name not in text) == []


def test_the_reference_renders_docstrings_not_directives():
    reference = (SITE / "reference" / "operators" / "index.html").read_text(encoding="utf-8")
    assert ":::" not in reference and "TolokaReviewAssignmentsOperator" in reference
    assert "Accept or reject submitted assignments" in reference


def test_included_code_is_in_the_pages():
    tasks = (SITE / "howto" / "tasks" / "index.html").read_text(encoding="utf-8")
    assert "upload_golden" in tasks and "--8&lt;--" not in tasks
