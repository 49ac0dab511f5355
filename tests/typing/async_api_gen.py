"""Writes ``toloka_provider/client/_async_api.py``: the async client's method signatures, for type checkers.

Every API method is written once, in ``client/api.py``, and both clients run it; the sync client returns
the result and the async client a coroutine of it (an async iterator for listings). Python's type system
cannot say "the same methods, awaitable" of a base class (there are no higher-kinded types), so the async
signatures are generated from the shared definitions into a checked-in module that only type checkers
import. ``tests/typing/test_async_api_stub.py`` fails when the file is stale; regenerate it with
``python tests/typing/async_api_gen.py`` (or ``make async-api``).

Generated rather than hand-written so that it can never drift; a module rather than an ``aio.pyi`` stub so
that ``aio.py`` itself stays type-checked.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "toloka_provider" / "client" / "api.py"
TARGET = ROOT / "toloka_provider" / "client" / "_async_api.py"

HEADER = '''"""The async client's public signatures, for type checkers only. GENERATED: do not edit.

Written by ``tests/typing/async_api_gen.py`` from ``client/api.py``; ``aio.py`` imports it under
``TYPE_CHECKING`` only, so it never runs. Each method of ``TolokaApi`` appears here as a coroutine with the
same arguments and result, and each ``Iterator[X]`` listing as an ``AsyncIterator[X]``.
"""

# ruff: noqa
from __future__ import annotations

from collections.abc import AsyncIterator
'''


def _is_iterator(returns: ast.expr | None) -> bool:
    node = returns.value if isinstance(returns, ast.Subscript) else returns
    return isinstance(node, ast.Name) and node.id == "Iterator"


def _first_line(node: ast.FunctionDef) -> str | None:
    doc = ast.get_docstring(node)
    return doc.strip().splitlines()[0] if doc else None


def render(source: str) -> str:
    tree = ast.parse(source)
    imports = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    api = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "TolokaApi")
    lines = [HEADER.rstrip("\n"), *imports, "", "", "class AsyncTolokaApi:"]
    lines.append('    """The methods of ``TolokaApi`` as ``AsyncTolokaClient`` offers them."""')
    lines.append("")
    lines.append("    url: str")
    lines.append("    _config: ClientConfig")
    lines.append("    _clock: Callable[[], float]")
    lines.append("")
    lines.append("    def __init__(self, config: ClientConfig, clock: Callable[[], float] | None) -> None:")
    lines.append("        raise NotImplementedError")
    for node in api.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        args = ast.unparse(node.args)
        returns = node.returns
        doc = _first_line(node)
        lines.append("")
        if _is_iterator(returns):
            assert isinstance(returns, ast.Subscript)
            result = f"AsyncIterator[{ast.unparse(returns.slice)}]"
            head = f"    def {node.name}({args}) -> {result}:"
        else:
            result = ast.unparse(returns) if returns is not None else "Any"
            head = f"    async def {node.name}({args}) -> {result}:"
        lines.append(head)
        if doc:
            lines.append(f"        {doc!r}")
        lines.append("        raise NotImplementedError")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(API.read_text(encoding="utf-8"))
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is stale: run python {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
