"""Bulk creates: sync-mode chunking, idempotent async mode, resuming on OPERATION_ALREADY_EXISTS, timeouts.

Sync client over ``responses``, async client over ``httpx.MockTransport``, same cases.
"""

from __future__ import annotations

import attrs
import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import OperationTimeoutError, ValidationApiError
from toloka_provider.client import api as client_api

V1 = "/api/v1"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def task(i: int) -> dict:
    return {"pool_id": "21", "input_values": {"n": i}}


def op(op_id: str, status: str) -> dict:
    return {"id": op_id, "type": "TASK.BATCH_CREATE", "status": status}


def test_sync_mode_chunks_and_merges_with_global_indexes(mode, monkeypatch):
    # 5,000 per request in production; 2 here so that four tasks make two requests.
    monkeypatch.setattr(client_api, "TASKS_KIND", attrs.evolve(client_api.TASKS_KIND, sync_chunk=2))
    server = ScriptedServer()
    server.reply(201, {"items": {"0": {"id": "t0", **task(0)}, "1": {"id": "t1", **task(1)}}, "validation_errors": {}})
    server.reply(201, {"items": {"1": {"id": "t3", **task(3)}}, "validation_errors": {"0": {"input_values.n": {"code": "INVALID"}}}})
    with Harness(mode, server) as harness:
        result = harness.call(
            "create_tasks", [task(i) for i in range(4)], async_mode=False, open_pool=True, skip_invalid_items=True
        )
    assert list(result.items) == ["0", "1", "3"]
    assert result.items["3"].id == "t3"
    assert result.validation_errors == {"2": {"input_values.n": {"code": "INVALID"}}}
    first, second = server.calls
    assert first["body"] == [task(0), task(1)] and second["body"] == [task(2), task(3)]
    assert "open_pool" not in first["query"] and second["query"]["open_pool"] == "true"  # open after the last chunk only
    assert first["query"]["skip_invalid_items"] == "true" and "async_mode" not in first["query"]
    assert first["query"]["operation_id"] != second["query"]["operation_id"]


def test_async_mode_resumes_existing_operation_on_operation_already_exists(mode):
    """A retried POST whose first attempt got through: the server says OPERATION_ALREADY_EXISTS; nothing is created twice."""
    server = ScriptedServer()
    server.reply(503)  # first attempt "lost"
    server.reply(409, {"code": "OPERATION_ALREADY_EXISTS", "message": "exists", "request_id": "r"})
    server.reply(200, op("op-1", "RUNNING"))  # GET /operations/op-1 (resume)
    server.reply(200, op("op-1", "SUCCESS"))  # wait
    server.reply(200, [{"type": "TASK_CREATE", "success": True, "input": {"__item_idx": "0"}, "output": {"task_id": "t0"}}])
    server.reply(200, {"items": [{"id": "t0", **task(0)}], "has_more": False})
    with Harness(mode, server) as harness:
        result = harness.call("create_tasks", [task(0)], operation_id="op-1")
    assert result.items["0"].id == "t0"
    assert [(c["method"], c["path"]) for c in server.calls] == [
        ("POST", f"{V1}/tasks"),
        ("POST", f"{V1}/tasks"),
        ("GET", f"{V1}/operations/op-1"),
        ("GET", f"{V1}/operations/op-1"),
        ("GET", f"{V1}/operations/op-1/log"),
        ("GET", f"{V1}/tasks"),
    ]
    assert server.calls[0]["query"]["operation_id"] == server.calls[1]["query"]["operation_id"] == "op-1"


def test_async_mode_all_invalid_raises_validation_error_with_positions(mode):
    server = ScriptedServer()
    server.reply(202, op("op-2", "SUCCESS"))
    server.reply(200, [{"type": "TASK_VALIDATE", "success": False, "input": {"__item_idx": "0"}, "output": {"pool_id": {"code": "VALUE_REQUIRED"}}}])
    with Harness(mode, server) as harness, pytest.raises(ValidationApiError) as caught:
        harness.call("create_tasks", [{"input_values": {}}], operation_id="op-2")
    assert caught.value.payload == {"0": {"pool_id": {"code": "VALUE_REQUIRED"}}}


def test_created_tasks_fetched_per_pool_by_id_range(mode):
    server = ScriptedServer()
    server.reply(202, op("op-3", "SUCCESS"))
    server.reply(200, [
        {"type": "TASK_CREATE", "success": True, "input": {"__item_idx": "0"}, "output": {"task_id": "t2"}},
        {"type": "TASK_CREATE", "success": True, "input": {"__item_idx": "1"}, "output": {"task_id": "t5"}},
        {"type": "TASK_CREATE", "success": True, "input": {"__item_idx": "2"}, "output": {"task_id": "t9"}},
    ])
    server.reply(200, {"items": [{"id": "t2", "pool_id": "21"}, {"id": "t3", "pool_id": "21"}, {"id": "t5", "pool_id": "21"}], "has_more": False})
    server.reply(200, {"items": [{"id": "t9", "pool_id": "22"}], "has_more": False})
    tasks = [task(0), task(1), {"pool_id": "22", "input_values": {}}]
    with Harness(mode, server) as harness:
        result = harness.call("create_tasks", tasks, operation_id="op-3")
    assert {index: item.id for index, item in result.items.items()} == {"0": "t2", "1": "t5", "2": "t9"}
    assert server.calls[2]["query"] == {"pool_id": "21", "id_gte": "t2", "id_lte": "t5", "sort": "id", "limit": "300"}
    assert server.calls[3]["query"] == {"pool_id": "22", "id_gte": "t9", "id_lte": "t9", "sort": "id", "limit": "300"}


def test_user_bonuses_sync_mode_caps_at_100_per_request(mode):
    server = ScriptedServer()
    server.reply(201, {"items": {str(i): {"id": f"b{i}", "user_id": "u"} for i in range(100)}})
    server.reply(201, {"items": {"0": {"id": "b100", "user_id": "u"}}})
    bonuses = [{"user_id": "u", "amount": 1} for _ in range(101)]
    with Harness(mode, server) as harness:
        result = harness.call("create_user_bonuses", bonuses, async_mode=False)
    assert [len(call["body"]) for call in server.calls] == [100, 1]
    assert result.items["100"].id == "b100" and len(result.items) == 101


def test_empty_batch_sends_nothing(mode):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        result = harness.call("create_tasks", [])
    assert result.items == {} and server.calls == []


def test_wait_operation_times_out_with_operation_timeout_error(mode):
    server = ScriptedServer()
    for _ in range(4):
        server.reply(200, op("op-4", "RUNNING"))
    with Harness(mode, server) as harness:
        with pytest.raises(OperationTimeoutError) as caught:
            harness.call("wait_operation", "op-4", timeout=3.0, poll_interval=1.0)
        assert harness.sleeps == [1.0, 1.0, 1.0]
    assert isinstance(caught.value, TimeoutError) and caught.value.operation_id == "op-4"


def test_wait_operation_returns_completed_operation_without_request(mode):
    from toloka_provider.client import models

    server = ScriptedServer()
    done = models.Operation.from_json_dict(op("op-5", "SUCCESS"))
    with Harness(mode, server) as harness:
        assert harness.call("wait_operation", done) is done
    assert server.calls == []
