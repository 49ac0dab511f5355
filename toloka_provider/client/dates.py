"""Datetime conversion between the Toloka wire form and timezone-aware UTC ``pendulum.DateTime``.

The API writes datetimes as UTC ISO-8601 without an offset (``2024-01-31T12:00:00.123``) with anywhere
from 0 to 6 fractional digits; some documents add a trailing ``Z``. We accept that, an explicit offset,
and naive values (taken as UTC). We write ``YYYY-MM-DDTHH:MM:SS[.ffffff]`` in UTC without an offset,
as toloka-kit does; microseconds only when nonzero.

Parsing is on the hot path (every assignment carries up to six datetimes, and an export parses
hundreds of thousands), so it uses the C ``datetime.fromisoformat`` and builds the ``pendulum.DateTime`` directly
instead of calling ``pendulum.parse`` (five times slower). Python 3.10's ``fromisoformat`` rejects
``Z`` and 1-2/4-5 fractional digits, so whatever it rejects goes through a precompiled regular expression.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pendulum

__all__ = ["format_datetime", "parse_datetime"]

UTC = pendulum.UTC

_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)

# Scale a fraction of n digits to microseconds without float arithmetic: '5' -> 500000, '1234567' -> 123456.
_FRACTION_SCALE = {1: 100000, 2: 10000, 3: 1000, 4: 100, 5: 10, 6: 1}

_DateTime = pendulum.DateTime
_fromisoformat = datetime.fromisoformat


def parse_datetime(value: str | datetime | None) -> pendulum.DateTime | None:
    """Parse a wire datetime (or normalise a ``datetime``) to an aware UTC ``pendulum.DateTime``.

    Accepts ``YYYY-MM-DD[THH:MM[:SS[.f{1,9}]]][Z|±HH[:MM]]`` (a space may replace ``T``; digits beyond
    microseconds are dropped) and ``datetime`` objects; naive values are UTC. ``None`` gives ``None``.
    Raises ``ValueError`` naming the value when it is not such a datetime, ``TypeError`` for other types.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # C-fast; on Python 3.11+ it takes every form the server sends, on 3.10 the common ones.
            parsed = _fromisoformat(value)
        except ValueError:
            return _parse_with_regex(value)
        value = parsed
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return _DateTime(
                value.year, value.month, value.day, value.hour, value.minute, value.second,
                value.microsecond, tzinfo=UTC,
            )  # fmt: skip
        if isinstance(value, _DateTime) and value.tzinfo is UTC:
            return value
        utc = value.astimezone(timezone.utc)
        return _DateTime(
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
        )
    raise TypeError(f"Expected an ISO 8601 string or a datetime, got {type(value).__name__}: {value!r}")


def _parse_with_regex(value: str) -> pendulum.DateTime:
    match = _ISO_DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"Invalid datetime {value!r}: expected ISO 8601 like '2024-01-31T12:00:00[.ffffff]' "
            "(UTC; an optional 'Z' or '+HH:MM' offset)"
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    microsecond = 0
    if fraction:
        fraction = fraction[:6]
        microsecond = int(fraction) * _FRACTION_SCALE[len(fraction)]
    try:
        parsed = _DateTime(
            int(year),
            int(month),
            int(day),
            int(hour) if hour else 0,
            int(minute) if minute else 0,
            int(second) if second else 0,
            microsecond,
            tzinfo=UTC,
        )
    except ValueError as exc:  # e.g. month 13 or February 30
        raise ValueError(f"Invalid datetime {value!r}: {exc}") from None
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        # The local wall time minus its offset is the UTC time.
        parsed = parsed - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return parsed


def format_datetime(value: datetime | date | str) -> str:
    """The wire form of a datetime: UTC, no offset, ``YYYY-MM-DDTHH:MM:SS[.ffffff]``.

    Naive datetimes are taken as UTC; aware ones are converted to UTC. A ``date`` means its midnight
    UTC. A string is parsed first (``ValueError`` naming it when it is not a datetime), so
    ``"2024-01-01T12:00+03:00"`` becomes ``"2024-01-01T09:00:00"``.
    """
    moment: datetime
    if isinstance(value, str):
        moment = parse_datetime(value)  # type: ignore[assignment]  # never None for a str
    elif isinstance(value, datetime):
        moment = value
        if value.tzinfo is not None and value.utcoffset() is not None:
            moment = value.astimezone(timezone.utc)
    elif isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00"
    else:
        raise TypeError(f"Expected a datetime, a date or an ISO 8601 string, got {type(value).__name__}: {value!r}")
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text
