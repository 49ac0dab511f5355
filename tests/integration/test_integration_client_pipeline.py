"""Issue #3, acceptance 3: a full labeling pipeline driven over HTTP by our client against the emulator.

Create a project and a pool, upload 100 tasks and 10 golden tasks, open the pool, let the simulated crowd
finish it (the pool closes COMPLETED), fetch the SUBMITTED assignments, accept them, and check that the
requester's balance dropped by exactly the sum of their rewards. Then the same pipeline with 10% of all
requests faulted (500, 502 with an HTML body, 503, 429 with Retry-After, dropped connections): it must end in
the same state, with the emulator's double-decision counter at 0.

Creating a project or a pool has no idempotency key in the Toloka API, so the client does not repeat such a
create after a 5xx or a dropped connection (it may have taken effect). The pipeline below does what the
provider's operators do: tag the object's ``metadata``, and after an ambiguous failure look the tag up before
creating again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest

from toloka_provider.client import TolokaClient
from toloka_provider.client.errors import ApiError, TransportError

pytestmark = pytest.mark.integration

TOKEN = "pipeline-token"
LABELS = ["positive", "negative", "neutral"]
PROJECT = {
    "public_name": "Sentiment of short reviews",
    "public_description": "Pick the sentiment",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True}},
        "output_spec": {"label": {"type": "string", "required": True, "allowed_values": LABELS}},
    },
    "assignments_issuing_type": "AUTOMATED",
}
FAULTS = "500=0.02,502=0.02,503=0.02,429=0.02,drop=0.02"  # 10% of every request, before its effect


def _fast_sleep(seconds: float) -> None:
    # Keep the client's real backoff and Retry-After decisions, but do not make the suite wait for them.
    time.sleep(min(seconds, 0.05))


def _create_once(create: Callable[[], Any], existing: Callable[[], Iterable[Any]], tag: str) -> Any:
    """Create an object tagged ``metadata.test_tag``; after an ambiguous failure, find it before trying again."""
    for _attempt in range(8):
        try:
            return create()
        except (ApiError, TransportError) as error:
            if isinstance(error, ApiError) and error.status_code is not None and error.status_code < 500:
                raise
            found = [obj for obj in existing() if (obj.metadata or {}).get("test_tag") == [tag]]
            if found:
                assert len(found) == 1, f"created {len(found)} objects tagged {tag}"
                return found[0]
    raise AssertionError(f"could not create the object tagged {tag}")


def run_pipeline(client: TolokaClient) -> dict[str, Any]:
    tag = uuid.uuid4().hex
    project = _create_once(
        lambda: client.create_project({**PROJECT, "metadata": {"test_tag": [tag]}}),
        lambda: client.get_projects(status="ACTIVE"),
        tag,
    )
    pool_body = {
        "project_id": project.id,
        "private_name": "sentiment pool",
        "reward_per_assignment": Decimal("0.02"),
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": False,
        "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
        "mixer_config": {"real_tasks_count": 4, "golden_tasks_count": 1, "training_tasks_count": 0},
        "metadata": {"test_tag": [tag]},
    }
    pool = _create_once(lambda: client.create_pool(pool_body), lambda: client.get_pools(project_id=project.id), tag)

    real = [{"pool_id": pool.id, "input_values": {"text": f"review number {i}"}, "overlap": 3} for i in range(100)]
    golden = [
        {
            "pool_id": pool.id,
            "input_values": {"text": f"golden review {i}"},
            "known_solutions": [{"output_values": {"label": LABELS[i % 3]}, "correctness_weight": 1}],
            "infinite_overlap": True,
        }
        for i in range(10)
    ]
    created = client.create_tasks(real + golden, operation_id=str(uuid.uuid4()))  # retried safely: one operation
    assert len(created.items) == 110 and not created.validation_errors

    client.open_pool(pool.id)
    deadline = time.monotonic() + 60
    while (current := client.get_pool(pool.id)).status == "OPEN":
        assert time.monotonic() < deadline, "the crowd did not finish the pool within 60 s"
        time.sleep(0.05)

    submitted = list(client.get_assignments(pool_id=pool.id, status="SUBMITTED"))
    balance_before = client.get_requester().balance
    for assignment in submitted:
        client.accept_assignment(assignment.id, "Thank you")
    balance_after = client.get_requester().balance
    return {
        "pool": current,
        "submitted": submitted,
        "spent": balance_before - balance_after,
        "still_submitted": list(client.get_assignments(pool_id=pool.id, status="SUBMITTED")),
        "accepted": list(client.get_assignments(pool_id=pool.id, status="ACCEPTED")),
        "projects": [p for p in client.get_projects() if (p.metadata or {}).get("test_tag") == [tag]],
        "pools": list(client.get_pools(project_id=project.id)),
        "tasks": list(client.get_tasks(pool_id=pool.id)),
    }


@pytest.mark.parametrize("faults", [None, FAULTS], ids=["no-faults", "faults-10pct"])
def test_client_drives_a_full_pipeline(faults, toloka_emulator_factory):
    emulator = toloka_emulator_factory(tokens=(TOKEN,), seed=11, crowd=20, speed=2000.0, faults=faults)
    client = TolokaClient(TOKEN, url=emulator.url, retries=8, timeout=10, sleep=_fast_sleep)

    result = run_pipeline(client)

    assert result["pool"].status == "CLOSED" and result["pool"].last_close_reason == "COMPLETED"
    # 100 real tasks at overlap 3, 4 real + 1 golden per page: 75 assignments.
    assert len(result["submitted"]) == 75
    assert result["still_submitted"] == []
    assert sorted(a.id for a in result["accepted"]) == sorted(a.id for a in result["submitted"])
    assert result["spent"] == sum(a.reward for a in result["submitted"]) == Decimal("1.50")
    assert len(result["projects"]) == 1 and len(result["pools"]) == 1 and len(result["tasks"]) == 110

    # Read the counters without faults in the way.
    emulator.clear_faults()
    counters = emulator.counters()
    assert counters["created"]["project"] == 1 and counters["created"]["pool"] == 1
    assert counters["created"]["task"] == 110
    assert counters["assignments_accepted"] == 75 and counters["double_decisions"] == 0
    if faults:
        injected = counters["faults_injected"]
        # About 130 requests at 10%: a dozen faults (seeded; the count of polls varies a little).
        assert sum(injected.values()) >= 3, injected
