"""CHANGELOG.md keeps the Keep a Changelog shape, and the released version is the package's one version."""

from __future__ import annotations

import re

from docs_blocks import ROOT

from toloka_provider import __version__


def test_the_changelog_has_unreleased_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert headings[0] == ("Unreleased", "")
    assert (__version__, headings[1][1]) == headings[1] and headings[1][1], "the newest release is __version__, dated"
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version, _ in headings[1:])


def test_the_version_has_one_source():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "toloka_provider.__version__" }' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
