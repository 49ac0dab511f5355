"""Wire datetimes: parsing every form the server sends, and the form the client writes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest

from toloka_provider.client import dates
from toloka_provider.client.dates import format_datetime, parse_datetime


def utc(*args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T12:34:56", utc(2024, 1, 31, 12, 34, 56)),
        ("2024-01-31T12:34:56.1", utc(2024, 1, 31, 12, 34, 56, 100000)),
        ("2024-01-31T12:34:56.12", utc(2024, 1, 31, 12, 34, 56, 120000)),
        ("2024-01-31T12:34:56.123", utc(2024, 1, 31, 12, 34, 56, 123000)),
        ("2024-01-31T12:34:56.1234", utc(2024, 1, 31, 12, 34, 56, 123400)),
        ("2024-01-31T12:34:56.12345", utc(2024, 1, 31, 12, 34, 56, 123450)),
        ("2024-01-31T12:34:56.123456", utc(2024, 1, 31, 12, 34, 56, 123456)),
        ("2024-01-31T12:34:56.000", utc(2024, 1, 31, 12, 34, 56)),
        ("1970-01-01T00:00:00.000Z", utc(1970, 1, 1)),
        ("2024-01-31T12:34:56Z", utc(2024, 1, 31, 12, 34, 56)),
        ("2024-01-31T12:34:56.12Z", utc(2024, 1, 31, 12, 34, 56, 120000)),
        ("2024-01-31T12:34:56+03:00", utc(2024, 1, 31, 9, 34, 56)),
        ("2024-01-31T12:34:56.5-01:30", utc(2024, 1, 31, 14, 4, 56, 500000)),
        ("2024-01-31T01:00:00+0300", utc(2024, 1, 30, 22, 0, 0)),
        ("2024-01-31T12:34:56.12345+00:00", utc(2024, 1, 31, 12, 34, 56, 123450)),
        ("2024-01-31T12:34", utc(2024, 1, 31, 12, 34)),
        ("2024-01-31", utc(2024, 1, 31)),
    ],
)
def test_parse_datetime_accepts_every_wire_form(text, expected):
    parsed = parse_datetime(text)

    assert parsed == expected
    assert isinstance(parsed, pendulum.DateTime)
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is pendulum.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Forms that Python 3.10's fromisoformat rejects go through the regex path on every version.
        ("2024-01-31T12:34:56.12Z", utc(2024, 1, 31, 12, 34, 56, 120000)),
        ("2024-01-31T12:34:56.1234567", utc(2024, 1, 31, 12, 34, 56, 123456)),
        ("2024-01-31T12:34:56.5-01:30", utc(2024, 1, 31, 14, 4, 56, 500000)),
        ("2024-01-31T12:34:56,5", utc(2024, 1, 31, 12, 34, 56, 500000)),
        ("2024-01-31 12:34:56+05", utc(2024, 1, 31, 7, 34, 56)),
        ("2024-01-31T12:34:56", utc(2024, 1, 31, 12, 34, 56)),
    ],
)
def test_regex_fallback_matches_the_fast_path(text, expected):
    assert dates._parse_with_regex(text) == expected


def test_parse_datetime_normalises_datetime_objects():
    naive = datetime(2024, 5, 1, 10, 0, 0, 7)
    aware = datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    paris = pendulum.datetime(2024, 7, 1, 12, tz="Europe/Paris")

    assert parse_datetime(naive) == utc(2024, 5, 1, 10, 0, 0, 7)
    assert parse_datetime(naive).tzinfo is pendulum.UTC
    assert parse_datetime(aware) == utc(2024, 5, 1, 8)
    assert parse_datetime(aware).tzinfo is pendulum.UTC
    assert parse_datetime(paris) == utc(2024, 7, 1, 10)
    assert parse_datetime(paris).tzinfo is pendulum.UTC
    already = utc(2024, 1, 1)
    assert parse_datetime(already) is already
    assert parse_datetime(None) is None


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00", "2024-02-30T00:00:00", "2024-01-31T25:00"])
def test_parse_datetime_rejects_garbage_naming_the_value(text):
    with pytest.raises(ValueError, match="Invalid datetime") as info:
        parse_datetime(text)
    assert repr(text) in str(info.value)


def test_parse_datetime_rejects_other_types():
    with pytest.raises(TypeError, match="got int: 1700000000"):
        parse_datetime(1700000000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (utc(2024, 1, 31, 12, 0, 0), "2024-01-31T12:00:00"),
        (utc(2024, 1, 31, 12, 0, 0, 120000), "2024-01-31T12:00:00.120000"),
        (utc(2024, 1, 31, 12, 0, 0, 1), "2024-01-31T12:00:00.000001"),
        (datetime(2024, 1, 31, 12, 0), "2024-01-31T12:00:00"),  # naive = UTC, unchanged
        (datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=3))), "2024-01-01T09:00:00"),
        (pendulum.datetime(2024, 1, 1, 0, 30, tz="America/New_York"), "2024-01-01T05:30:00"),
        ("2024-01-01T12:00+03:00", "2024-01-01T09:00:00"),
        ("2024-01-01T12:00:00.5Z", "2024-01-01T12:00:00.500000"),
        (date(2024, 2, 29), "2024-02-29T00:00:00"),
        (datetime(1, 1, 1), "0001-01-01T00:00:00"),
    ],
)
def test_format_datetime_writes_utc_without_offset(value, expected):
    assert format_datetime(value) == expected


def test_format_datetime_rejects_bad_input():
    with pytest.raises(ValueError, match="'not a date'"):
        format_datetime("not a date")
    with pytest.raises(TypeError, match="got float"):
        format_datetime(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", ["", ".1", ".12", ".123", ".1234", ".12345", ".123456"])
def test_parse_format_round_trip(fraction):
    text = f"2023-11-05T23:59:59{fraction}"
    parsed = parse_datetime(text)
    assert parse_datetime(format_datetime(parsed)) == parsed
    assert format_datetime(parsed) == (f"2023-11-05T23:59:59{fraction.ljust(7, '0')}" if fraction else text)
