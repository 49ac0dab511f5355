"""Files that operators read and write: any ``ObjectStoragePath`` (``file://`` when no scheme is given).

Data that grows with the crowd goes to files, never to XCom. Outputs are written under a temporary name and
renamed at the end, so a failed try never leaves a half file behind; inputs are read line by line, and a bad
line raises :class:`TolokaInputError` naming the argument, the file, the line and the column.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from toloka_provider.exceptions import TolokaInputError


def storage_path(value: str | ObjectStoragePath) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a user path; a path without a scheme is a local file (``file://``)."""
    if isinstance(value, ObjectStoragePath):
        return value
    text = str(value)
    if "://" not in text:
        text = "file://" + text
    return ObjectStoragePath(text)


#: Errors that say the output location itself is wrong (not a passing fault): retrying cannot help.
_BAD_OUTPUT_ERRORS = (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError)


@contextlib.contextmanager
def atomic_jsonl_writer(path: ObjectStoragePath, *, argument: str = "output") -> Iterator[IO[str]]:
    """Yield a text file to write JSONL to; it appears at ``path`` only if the block finishes without error.

    The data goes to a hidden temporary name next to ``path`` and is renamed at the end, so readers and
    retries never see a half-written file. The temporary file is opened before the block runs, so an output
    path that cannot be written fails at once (TolokaInputError naming ``argument``), before any work.
    """
    temporary = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = temporary.open("w", encoding="utf-8")
    except _BAD_OUTPUT_ERRORS as error:
        raise TolokaInputError(
            f"Argument {argument!r}: cannot write {path}: {type(error).__name__}: {error}. Give a path whose "
            f"parent is a writable directory (or can be created)"
        ) from None
    try:
        with handle:
            yield handle
        if path.exists():
            path.unlink()  # a previous try's complete file; this try's data replaces it
        temporary.rename(path)
    finally:
        with contextlib.suppress(Exception):
            if temporary.exists():
                temporary.unlink()


def dump_json_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def iter_text_lines(path: str | ObjectStoragePath, *, argument: str) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line end)`` of a UTF-8 file, with or without a byte order mark.

    Lines are decoded one by one, so bytes that are not UTF-8 are reported at their line and column.
    A missing file names the argument.
    """
    try:
        handle = storage_path(path).open("rb")
    except FileNotFoundError:
        raise TolokaInputError(f"Argument {argument!r}: file {path} does not exist") from None
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            if line_number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TolokaInputError(
                    f"Argument {argument!r}: file {path} line {line_number}, column {error.start + 1}: "
                    f"not UTF-8 text (byte {raw[error.start : error.start + 1]!r})"
                ) from None
            yield line_number, text.rstrip("\r\n")


UTF8_BOM = b"\xef\xbb\xbf"


def iter_jsonl(path: str | ObjectStoragePath, *, argument: str) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file; a bad line raises an error naming the file, line and column."""
    for _, item in iter_jsonl_numbered(path, argument=argument):
        yield item


def iter_jsonl_numbered(path: str | ObjectStoragePath, *, argument: str) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSONL file (``NaN`` / ``Infinity`` are refused)."""
    for line_number, line in iter_text_lines(path, argument=argument):
        if not line.strip():
            continue
        try:
            item = json.loads(line, parse_constant=_refuse_constant)
        except json.JSONDecodeError as err:
            raise TolokaInputError(
                f"Argument {argument!r}: file {path} line {line_number}, column {err.colno}: {err.msg}"
            ) from None
        except ValueError as err:
            raise TolokaInputError(f"Argument {argument!r}: file {path} line {line_number}: {err}") from None
        if not isinstance(item, dict):
            raise TolokaInputError(
                f"Argument {argument!r}: file {path} line {line_number} is a JSON "
                f"{type(item).__name__}, expected an object"
            )
        yield line_number, item


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
