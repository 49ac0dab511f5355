"""Reads the fenced code blocks of the docs pages and the README, for the docs tests.

A block is either an include (only ``--8<-- "path[:section]"`` lines: pymdownx.snippets puts a tested file's
text there at build time) or literal text, which a docs test must execute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GETTING_STARTED = DOCS / "getting-started.md"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<target>[^"]+)"\s*$')
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # what follows the opening fence: language and attributes
    text: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def title(self) -> str | None:
        match = _TITLE.search(self.info)
        return match.group("title") if match else None

    @property
    def includes(self) -> list[str]:
        """The include targets when every non-blank line is an include, else an empty list."""
        lines = [line for line in self.text.splitlines() if line.strip()]
        matches = [_INCLUDE.match(line) for line in lines]
        if not lines or not all(matches):
            return []
        return [match.group("target") for match in matches if match]

    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of a markdown file, indented ones (in list items) included."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening.group("fence"), opening.group("indent")
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if closing and closing.group("fence").startswith(fence[0] * len(fence)) and not closing.group("info").strip():
                break
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        else:
            raise AssertionError(f"{_shown(path)}:{index + 1}: a fenced block is never closed")
        blocks.append(Block(path, index + 1, opening.group("info").strip(), "\n".join(body) + "\n"))
        index = end + 1
    return blocks


def documentation_pages() -> list[Path]:
    """The site's markdown pages and the README (the landing page on the repository)."""
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def getting_started_steps() -> list[Block]:
    """The getting-started page's blocks in page order: ``bash`` blocks to run, titled blocks to save as files."""
    steps = fenced_blocks(GETTING_STARTED)
    for block in steps:
        assert block.language == "bash" or block.title, f"{block.where()}: neither a bash block nor a titled file"
    return steps
