"""Keyset paging over one pool's assignments: the scan's shortcuts give exactly what a plain filter gives.

The pool's sorted id list is walked from the ``id_gt``/``id_gte`` bound on, so the pool filter and that bound
get no per-object check; these cases compare the answers with a brute-force filter over the store.
"""

from __future__ import annotations

import pytest
import requests

from toloka_provider.emulator import TolokaEmulator


@pytest.mark.integration
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"id_gt": "MIDDLE"},
        {"id_gte": "MIDDLE"},
        {"id_gt": "", "id_gte": "MIDDLE"},
        {"id_gt": "MIDDLE", "id_gte": "LATER"},
        {"id_gt": "MIDDLE", "id_lt": "LATER", "status": "ACCEPTED"},
        {"status": "SUBMITTED,ACCEPTED", "id_gte": "LATER"},
    ],
)
def test_the_pool_scan_returns_what_a_plain_filter_does(query):
    # The pool filter and the id bound the scan starts from get no per-object predicate: same answers.
    with TolokaEmulator(crowd=0) as emu:
        state = emu.state
        project = state.create("projects", {"public_name": "p"})
        pools = [
            state.create("pools", {"project_id": project["id"], "reward_per_assignment": 0.01})
            for _ in range(2)
        ]
        for index in range(6):
            emu.bulk_load_assignments(
                pools[index % 2]["id"], 5, status="SUBMITTED" if index % 3 else "ACCEPTED"
            )
        pool_id = pools[0]["id"]
        ids = sorted(a["id"] for a in state.assignments.values() if a["pool_id"] == pool_id)
        names = {"MIDDLE": ids[4], "LATER": ids[10]}
        params = {name: names.get(value, value) for name, value in query.items()}

        def wanted(a):
            checks = {
                "id_gt": lambda v: a["id"] > v,
                "id_gte": lambda v: a["id"] >= v,
                "id_lt": lambda v: a["id"] < v,
                "status": lambda v: a["status"] in v.split(","),
            }
            return a["pool_id"] == pool_id and all(checks[name](value) for name, value in params.items())

        expected = sorted(a["id"] for a in state.assignments.values() if wanted(a))
        response = requests.get(
            f"{emu.url}/api/v1/assignments",
            params={"pool_id": pool_id, "sort": "id", "limit": 1000, **params},
            headers={"Authorization": f"ApiKey {emu.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert [a["id"] for a in response.json()["items"]] == expected
