"""Hardening of three inputs: the bulk-load count, the clock advance and the apps ``limit``.

Each bad value is a JSON 400 VALIDATION_ERROR naming the field, and the emulator keeps working after it.
"""

from __future__ import annotations

import pytest
import requests

from toloka_provider.emulator.control import MAX_BULK_LOAD


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.02)


def control(emu, path: str, body=None, raw: bytes | None = None) -> requests.Response:
    if raw is not None:
        return requests.post(
            f"{emu.url}/_emulator/{path}", data=raw, headers={"Content-Type": "application/json"}, timeout=10
        )
    return requests.post(f"{emu.url}/_emulator/{path}", json=body, timeout=10)


def assert_names(response: requests.Response, field: str) -> dict:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and field in body["payload"] and field in body["message"]
    return body


@pytest.mark.parametrize("count", [MAX_BULK_LOAD + 1, 10**15, -1, 1.5, 2.0, "10", True, None, [3]])
def test_bulk_load_refuses_a_count_out_of_range_or_not_an_integer(emu, count):
    with emu.state.lock:
        pool = emu.state.create("pools", {"project_id": "1", "reward_per_assignment": 0.01})
    body = assert_names(control(emu, "bulk-load", {"pool_id": pool["id"], "count": count}), "count")
    assert str(MAX_BULK_LOAD) in body["payload"]["count"]["message"]
    assert len(emu.state.assignments) == 0 and emu.state.pool_index("assignments", pool["id"]) == []
    # The bound itself is accepted (checked without loading that many: 0 and a small count work).
    assert control(emu, "bulk-load", {"pool_id": pool["id"], "count": 0}).json()["created"] == 0
    assert control(emu, "bulk-load", {"pool_id": pool["id"], "count": 3}).json()["created"] == 3


@pytest.mark.parametrize("seconds", [1e300, 1e20, -1, -0.5, "60", True, None])
def test_clock_advance_refuses_huge_negative_or_non_numbers_and_the_clock_keeps_working(emu, seconds):
    before = emu.state.now()
    assert_names(control(emu, "clock/advance", {"seconds": seconds}), "seconds")
    assert emu.state.now() >= before and (emu.state.now() - before).total_seconds() < 60
    assert requests.get(f"{emu.url}/_emulator/health", timeout=10).status_code == 200
    assert control(emu, "clock/advance", {"seconds": 60}).status_code == 200


@pytest.mark.parametrize(
    "raw", [b'{"seconds": NaN}', b'{"seconds": Infinity}', b'{"seconds": -Infinity}', b'{"seconds": 1e400}']
)
def test_clock_advance_refuses_non_finite_numbers(emu, raw):
    response = control(emu, "clock/advance", raw=raw)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert requests.get(f"{emu.url}/_emulator/health", timeout=10).status_code == 200


def test_clock_advance_stops_before_the_last_date_python_has(emu):
    """Many allowed steps cannot push the clock past year 9000: the step that would is refused, and the
    clock, operations and listings still work (they add durations to now())."""
    refused = None
    for _ in range(100):
        response = control(emu, "clock/advance", {"seconds": 100 * 366 * 86400})
        if response.status_code != 200:
            refused = response
            break
    assert refused is not None
    assert_names(refused, "seconds")
    assert emu.state.now().year < 9000
    assert requests.get(f"{emu.url}/_emulator/health", timeout=10).status_code == 200


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 1e300])
def test_state_advance_clock_raises_value_error(emu, value):
    with pytest.raises(ValueError):
        emu.state.advance_clock(value)
    assert emu.state.now().year < 9000


@pytest.mark.parametrize(
    ("limit", "code"),
    [
        (" 5", "INTEGER_EXPECTED"),
        ("+5", "INTEGER_EXPECTED"),
        ("1_000", "INTEGER_EXPECTED"),
        ("\u0665", "INTEGER_EXPECTED"),  # ARABIC-INDIC DIGIT FIVE: int() takes it
        ("5.0", "INTEGER_EXPECTED"),
        ("5 ", "INTEGER_EXPECTED"),
        ("9" * 40, "INTEGER_EXPECTED"),
        ("0", "VALUE_OUT_OF_BOUNDS"),
        ("-3", "VALUE_OUT_OF_BOUNDS"),
        ("5001", "VALUE_OUT_OF_BOUNDS"),
    ],
)
def test_apps_limit_is_strict(emu, limit, code):
    response = requests.get(
        f"{emu.url}/api/app/v0/app-projects",
        params={"limit": limit},
        headers={"Authorization": f"ApiKey {emu.token}"},
        timeout=10,
    )
    body = assert_names(response, "limit")
    assert body["payload"]["limit"]["code"] == code


def test_apps_limit_accepts_plain_integers(emu):
    for limit in ("1", "5", "5000"):
        response = requests.get(
            f"{emu.url}/api/app/v0/app-projects",
            params={"limit": limit},
            headers={"Authorization": f"ApiKey {emu.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
