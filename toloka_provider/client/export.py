"""The assignments table export (``GET /api/new/requester/pools/{pool_id}/assignments.tsv``), I/O-free.

This is the file the web UI's "Download results" gives, and what toloka-kit's ``get_assignments_df`` reads with
pandas: one row per task per assignment, columns prefixed ``INPUT:``, ``OUTPUT:``, ``GOLDEN:``, ``HINT:``,
``ACCEPT:`` and ``ASSIGNMENT:``. The query is toloka-kit's: ``status`` (comma list, in the export's own
vocabulary where ACCEPTED is ``APPROVED``; default APPROVED), ``startTimeFrom`` / ``startTimeTo``,
``excludeBanned``, ``field`` (the ``ASSIGNMENT:`` columns wanted) and ``addRowDelimiter=false``.

The body is tab-separated with RFC 4180 quoting: a value holding a tab, a newline, a carriage return or a
double quote is wrapped in double quotes, with inner quotes doubled. :class:`TsvRows` splits a
body that arrives in chunks into rows without holding more than one unfinished row.
"""

from __future__ import annotations

import codecs
from collections.abc import Generator, Iterable, Mapping
from datetime import datetime
from typing import Any

from toloka_provider.client import core, dates, errors
from toloka_provider.client.protocol import (
    CloseStream,
    Emit,
    ReadStream,
    StreamedResponse,
    TransportFailure,
    streamed,
)

TSV_PATH = "/api/new/requester/pools/{pool_id}/assignments.tsv"

#: Statuses of the export (its ACCEPTED is APPROVED; ACCEPTED is translated).
EXPORT_STATUSES = ("ACTIVE", "SUBMITTED", "APPROVED", "REJECTED", "SKIPPED", "EXPIRED")
DEFAULT_STATUSES = ("APPROVED",)
#: ``ASSIGNMENT:`` columns the export can add (toloka-kit's ``GetAssignmentsTsvParameters.Field``).
EXPORT_FIELDS = (
    "link", "assignment_id", "task_id", "task_suite_id", "worker_id", "status", "started", "submitted",
    "accepted", "rejected", "skipped", "expired", "reward",
)  # fmt: skip
DEFAULT_FIELDS = ("link", "assignment_id", "worker_id", "status", "started")


def _bad(argument: str, expected: str, got: Any) -> errors.TolokaArgumentError:
    return errors.TolokaArgumentError(f"{argument} must be {expected}, got {type(got).__name__} {got!r}")


def _names(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def tsv_query(
    status: Any = None,
    start_time_from: datetime | str | None = None,
    start_time_to: datetime | str | None = None,
    exclude_banned: bool | None = None,
    field: Any = None,
) -> dict[str, str]:
    """The export's query string, checked before any request (``TolokaArgumentError`` names the argument)."""
    statuses = []
    for item in _names(DEFAULT_STATUSES if status is None else status):
        name = getattr(item, "value", item)
        name = "APPROVED" if name == "ACCEPTED" else name
        if name not in EXPORT_STATUSES:
            raise _bad(
                "status", f"one of {', '.join(EXPORT_STATUSES)} (ACCEPTED means APPROVED), or a list", item
            )
        statuses.append(name)
    if not statuses:
        raise _bad("status", "at least one status", status)
    columns = []
    for item in _names(DEFAULT_FIELDS if field is None else field):
        name = getattr(item, "value", item)
        short = name.removeprefix("ASSIGNMENT:") if isinstance(name, str) else None
        if short not in EXPORT_FIELDS:
            raise _bad(
                "field",
                f"ASSIGNMENT: columns among {', '.join(EXPORT_FIELDS)} (with or without the prefix)",
                item,
            )
        columns.append(f"ASSIGNMENT:{short}")
    query = {"status": ",".join(statuses), "field": ",".join(columns), "addRowDelimiter": "false"}
    for argument, key, value in (
        ("start_time_from", "startTimeFrom", start_time_from),
        ("start_time_to", "startTimeTo", start_time_to),
    ):
        if value is None:
            continue
        try:
            moment = dates.parse_datetime(value)
        except (TypeError, ValueError):
            moment = None
        if moment is None:
            raise _bad(argument, "a datetime or an ISO 8601 string", value)
        query[key] = dates.format_datetime(moment)
    if exclude_banned is not None:
        if not isinstance(exclude_banned, bool):
            raise _bad("exclude_banned", "a bool", exclude_banned)
        query["excludeBanned"] = "true" if exclude_banned else "false"
    return query


class TsvRows:
    """Incremental TSV reader: ``feed(bytes)`` returns the rows completed by that chunk, ``close()`` the rest.

    Quoting is RFC 4180's with a tab for the comma: a value that starts with ``"`` is quoted, ends at the next
    lone ``"`` and holds anything (tabs, ``\n``, ``\r``, doubled quotes); a row ends at ``\n`` (or ``\r\n``)
    outside quotes; a lone ``\r`` is data. With doubled inner quotes, a newline is outside quotes exactly when
    the row so far holds an even number of ``"``, so finding where complete rows end needs only counting. A body
    that cannot be read this way raises :class:`~toloka_provider.client.errors.ResponseFormatError`.
    """

    def __init__(self, path: str | None = None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._pending = ""  # text of the unfinished row (and anything after it)
        self._path = path
        self._rows = 0  # rows parsed so far, for the row numbers of errors

    def _error(self, what: str) -> errors.ResponseFormatError:
        return errors.ResponseFormatError(200, None, what, None, None, "GET", self._path)

    def _decode(self, chunk: bytes, final: bool = False) -> str:
        try:
            return self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as error:
            raise self._error(f"the TSV export is not UTF-8 ({error.reason} at byte {error.start} of a chunk)") from None

    def feed(self, chunk: bytes) -> list[list[str]]:
        text = self._pending + self._decode(chunk)
        end = self._complete_up_to(text)
        self._pending = text[end:]
        return self._parse(text[:end])

    def close(self) -> list[list[str]]:
        text = self._pending + self._decode(b"", final=True)
        self._pending = ""
        if not text.strip("\r\n"):
            return []
        if text.count('"') % 2:
            raise self._error("the TSV export ended inside a quoted value (the body was cut short)")
        return self._parse(text if text.endswith("\n") else text + "\n")

    @staticmethod
    def _complete_up_to(text: str) -> int:
        """The index just past the last newline that ends a row (0 when no row is complete)."""
        end = 0
        quotes = 0
        start = 0
        while True:
            newline = text.find("\n", start)
            if newline < 0:
                return end
            quotes += text.count('"', start, newline)
            if quotes % 2 == 0:
                end = newline + 1
            start = newline + 1

    def _parse(self, text: str) -> list[list[str]]:
        """The rows of ``text``, which ends with the ``\n`` of its last row; blank lines are skipped."""
        if not text:
            return []
        if '"' not in text:  # nothing quoted: a lone \r is data, \r\n ends a row
            lines = text[:-1].split("\n")
            self._rows += len(lines)
            return [(line[:-1] if line.endswith("\r") else line).split("\t") for line in lines if line not in ("", "\r")]
        rows = self._parse_quoted(text)
        self._rows += len(rows)
        return rows

    def _parse_quoted(self, text: str) -> list[list[str]]:
        rows: list[list[str]] = []
        row: list[str] = []
        position, size = 0, len(text)
        while position < size:
            if text[position] == '"':
                parts, start = [], position + 1
                while True:
                    close = text.find('"', start)
                    if close < 0:
                        raise self._error(f"the TSV export has a quoted value that never ends (row {self._rows + len(rows) + 1})")
                    parts.append(text[start:close])
                    if text.startswith('"', close + 1):
                        parts.append('"')
                        start = close + 2
                        continue
                    position = close + 1
                    break
                value = "".join(parts)
                if text.startswith("\r\n", position):
                    position += 1
                if position < size and text[position] not in "\t\n":
                    raise self._error(
                        f"the TSV export has {text[position]!r} after a closing quote (row {self._rows + len(rows) + 1}); "
                        f"a quoted value must end at a tab or a newline"
                    )
            else:
                tab, newline = text.find("\t", position), text.find("\n", position)
                stop = newline if tab < 0 or (0 <= newline < tab) else tab
                value = text[position:stop]
                if text[stop] == "\n" and value.endswith("\r"):
                    value = value[:-1]
                position = stop
            row.append(value)
            if text[position] == "\t":
                position += 1
                continue
            position += 1  # the row's newline
            if row != [""]:
                rows.append(row)
            row = []
        return rows


def rows_as_dicts(header: list[str], rows: list[list[str]], path: str | None = None) -> list[dict[str, str]]:
    width = len(header)
    out = []
    for row in rows:
        if len(row) != width:
            raise errors.ResponseFormatError(
                200, None, f"the TSV export has a row of {len(row)} values under {width} columns: {row[:5]!r}",
                None, None, "GET", path,
            )
        out.append(dict(zip(header, row, strict=True)))
    return out


def table_plan(
    new_policy: core.PolicyFactory, path: str, query: Mapping[str, str]
) -> Generator[Any, Any, None]:
    """Stream the export and emit its rows as dicts, one list per chunk received; the body is never held."""
    response = yield from streamed(core.call(new_policy, "GET", path, params=query))
    if not isinstance(response, StreamedResponse):
        if not 200 <= response.status < 300:  # e.g. a redirect: its body is not the export
            raise errors.error_from_response(
                response.status, response.body, method="GET", path=path, request_id_header=response.request_id
            )
        # A transport that read the body whole (no stream support): parse it at once.
        reader = TsvRows(path)
        rows = reader.feed(response.body) + reader.close()
        if rows:
            yield Emit(rows_as_dicts(rows[0], rows[1:], path))
        return
    stream = response.stream
    reader = TsvRows(path)
    header: list[str] | None = None
    finished = False
    try:
        while True:
            chunk = yield ReadStream(stream)
            if isinstance(chunk, TransportFailure):
                raise errors.TransportError(
                    chunk.description, method="GET", path=path, attempts=1
                ) from chunk.exception
            rows = reader.feed(chunk) if chunk else reader.close()
            if header is None and rows:
                header, rows = rows[0], rows[1:]
            if rows:
                yield Emit(rows_as_dicts(header, rows, path))  # type: ignore[arg-type]
            if not chunk:
                finished = True
                return
    except GeneratorExit:
        stream.abandon()  # the caller stopped iterating: no effect may be yielded now
        raise
    except BaseException:
        if not finished:
            yield CloseStream(stream)
        raise
