"""The emulator's import graph, read from the source with ``ast`` (imports inside functions count): no circle
between its modules, nothing from Airflow or from ``toloka_provider.client``, and no module-global store."""

from __future__ import annotations

import ast
from pathlib import Path

import toloka_provider.emulator

PACKAGE = "toloka_provider.emulator"
ROOT = Path(toloka_provider.emulator.__file__).parent


def _graph() -> dict[str, set[str]]:
    """module -> every module it imports (any depth in the file, relative imports resolved)."""
    graph = {}
    for path in sorted(ROOT.glob("*.py")):
        name = PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*PACKAGE.split(".")[: len(PACKAGE.split(".")) - node.level + 1], *filter(None, [base])])
                imported.add(base)
                imported.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = imported
    return graph


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_circle_inside_the_emulator():
    graph = _graph()
    modules = set(graph)
    # The package itself only re-exports; a module importing a sibling is the edge that matters.
    edges = {m: {d for d in deps if d in modules and d not in (m, PACKAGE)} for m, deps in graph.items()}
    assert len(edges) > 20
    assert _cycles(edges) == []


def test_the_emulator_imports_neither_airflow_nor_the_client():
    graph = _graph()
    outside = {
        (module, dep)
        for module, deps in graph.items()
        for dep in deps
        if dep.split(".")[0] == "airflow" or (dep.startswith("toloka_provider") and not dep.startswith(PACKAGE))
    }
    assert outside == set()


def test_no_module_global_store_keyed_by_the_state():
    for path in ROOT.glob("*.py"):
        assert "WeakKeyDictionary" not in path.read_text(encoding="utf-8"), path.name
