"""Every code block of the docs and the README is tested: included from a file the suite runs, or executed.

An include must name a file (and section) that exists and that a test runs; any other block must be one of
the blocks a docs test executes: the getting-started page's (tests/docs/test_getting_started.py) and the
README's minimal DAG (tests/e2e/test_e2e_readme.py).
"""

from __future__ import annotations

import re

import pytest
from docs_blocks import (
    DOCS,
    GETTING_STARTED,
    ROOT,
    Block,
    documentation_pages,
    fenced_blocks,
    getting_started_steps,
)
from test_e2e_readme import _minimal_dag_source

# Files an include may come from, and why they are tested.
RUN_BY_TESTS = {
    "dags_examples/": "the example DAGs: tests/e2e runs each of them against the emulator",
    "docs/snippets/": "the snippet files: tests/docs/test_docs_snippets.py runs each of them",
    "tests/": "the tests themselves",
    "CHANGELOG.md": "text, no code",
    "benchmarks/README.md": "text, no code",
}


def executed_blocks() -> set[str]:
    """The text of every block that a docs test executes."""
    executed = {block.text for block in getting_started_steps()}
    executed.add(_minimal_dag_source())
    return executed


def _include_problem(target: str) -> str | None:
    path, _, section = target.partition(":")
    if not any(path.startswith(prefix) for prefix in RUN_BY_TESTS):
        return f"includes {path}, which no test runs (allowed: {sorted(RUN_BY_TESTS)})"
    file = ROOT / path
    if not file.is_file():
        return f"includes {path}, which does not exist"
    if section and not re.fullmatch(r"\d+(:\d+)?", section):
        text = file.read_text(encoding="utf-8")
        if f"--8<-- [start:{section}]" not in text or f"--8<-- [end:{section}]" not in text:
            return f"includes section {section!r} of {path}, which has no such start and end markers"
    return None


def test_every_block_is_included_or_executed():
    executed = executed_blocks()
    problems = []
    count = 0
    for page in documentation_pages():
        for block in fenced_blocks(page):
            count += 1
            if block.includes:
                problems += [f"{block.where()}: {why}" for why in map(_include_problem, block.includes) if why]
            elif block.text not in executed:
                problems.append(f"{block.where()}: a {block.language or 'plain'} block that no test runs: include it from a tested file, or run it in a docs test")
    assert count > 20, f"only {count} code blocks found: the parser is broken"
    assert problems == []


def test_snippet_files_are_run_by_the_snippet_tests():
    tests = (ROOT / "tests" / "docs" / "test_docs_snippets.py").read_text(encoding="utf-8")
    snippets = sorted((DOCS / "snippets").glob("*.py"))
    assert snippets
    assert [path.stem for path in snippets if f"import {path.stem}" not in tests] == []


def test_included_example_dags_are_run_by_the_e2e_tests():
    e2e = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests" / "e2e").glob("test_*.py"))
    included = {
        target.partition(":")[0]
        for page in documentation_pages()
        for block in fenced_blocks(page)
        for target in block.includes
        if target.startswith("dags_examples/")
    }
    assert included, "no page includes an example DAG"
    assert sorted(path for path in included if path.rsplit("/", 1)[1].removesuffix(".py") not in e2e) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("```python\nx = 1\n```\n", [("python", "x = 1\n", [])]),
        ('- item\n\n  ```bash\n  --8<-- "tests/x.py:a"\n  ```\n', [("bash", '--8<-- "tests/x.py:a"\n', ["tests/x.py:a"])]),
        ('```python title="a/b.py"\nprint()\n```\n', [("python", "print()\n", [])]),
        ('```\n--8<-- "a.py"\nx = 1\n```\n', [("", '--8<-- "a.py"\nx = 1\n', [])]),
    ],
)
def test_the_block_parser(tmp_path, markdown, expected):
    page = tmp_path / "page.md"
    page.write_text(markdown)
    assert [(b.language, b.text, b.includes) for b in fenced_blocks(page)] == expected


def test_an_unclosed_block_is_an_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n")
    with pytest.raises(AssertionError, match="never closed"):
        fenced_blocks(page)


def test_getting_started_has_the_steps_the_recipe_needs():
    steps = getting_started_steps()
    assert GETTING_STARTED.is_file()
    assert [block.title for block in steps if block.title] == ["airflow_home/dags/toloka_first.py"]
    script = "".join(block.text for block in steps if not block.title)
    for needed in ("airflow db migrate", "python -m toloka_provider.emulator", "crowd/pause", "airflow connections test", "airflow dags test", "crowd/resume"):
        assert needed in script


def test_block_dataclass_where():
    block = Block(ROOT / "README.md", 3, "python", "x\n")
    assert block.where() == "README.md:3"


def test_the_readme_recipe_agrees_with_the_getting_started_page():
    """The README's short recipe quotes commands inline; each one that names the emulator is on the page, as is."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Run your own DAG locally") :]
    section = section[: section.index("\n## ", 1)]
    quoted = [span for span in re.findall(r"`([^`\n]+)`", section) if "40123" in span or "local-token" in span]
    assert len(quoted) >= 3, quoted
    page = GETTING_STARTED.read_text(encoding="utf-8")
    assert [span for span in quoted if span.rstrip(" &") not in page] == []
