"""Request bodies built from hand-written dicts are JSON-safe: Decimals, datetimes and enums are converted."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client.models import PoolStatus

POOL_REPLY = {"id": "7", "project_id": "1", "private_name": "p", "reward_per_assignment": 0.015, "status": "CLOSED"}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_dict_body_with_decimal_datetime_and_enum_is_sent_as_json(mode):
    server = ScriptedServer().reply(201, POOL_REPLY)
    body = {
        "project_id": "1",
        "private_name": "p",
        "reward_per_assignment": Decimal("0.015"),
        "will_expire": datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
        "metadata": {"status_seen": [PoolStatus.OPEN]},
    }
    with Harness(mode, server) as harness:
        pool = harness.call("create_pool", body)
    assert server.requests_made() == [
        (
            "POST",
            "/api/v1/pools",
            {},
            {
                "project_id": "1",
                "private_name": "p",
                "reward_per_assignment": 0.015,
                "will_expire": "2030-01-02T00:04:05",
                "metadata": {"status_seen": ["OPEN"]},
            },
        )
    ]
    assert pool.reward_per_assignment == Decimal("0.015")
