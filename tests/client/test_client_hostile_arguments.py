"""Argument errors of the client core are ``TolokaArgumentError`` (a ``ValueError``; the type errors also a
``TypeError``), raised before any request, naming the argument, what was expected and what came."""

from __future__ import annotations

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import TolokaArgumentError, TolokaArgumentTypeError, TolokaError


@pytest.mark.parametrize(
    ("kwargs", "error_class", "says"),
    [
        ({"timeout": -1}, TolokaArgumentError, ("timeout values must be positive", "-1")),
        ({"timeout": "10"}, TolokaArgumentError, ("timeout must be seconds", "str '10'")),
        ({"timeout": (1, 2, 3)}, TolokaArgumentError, ("timeout must be seconds", "(1, 2, 3)")),
        ({"timeout": float("nan")}, TolokaArgumentError, ("timeout values must be positive", "nan")),
        ({"retries": -1}, TolokaArgumentError, ("retries must be a non-negative int", "-1")),
        ({"retries": "3"}, TolokaArgumentTypeError, ("retries must be an int", "str")),
        ({"retries": True}, TolokaArgumentTypeError, ("retries must be an int", "bool")),
        ({"retry_quotas": "WEEK"}, TolokaArgumentError, ("retry_quotas must be MIN, HOUR, DAY", "'WEEK'")),
        ({"retryer_factory": 5}, TolokaArgumentTypeError, ("retryer_factory must be callable", "int")),
        ({"max_retry_after": -1}, TolokaArgumentError, ("max_retry_after must be a non-negative", "-1")),
        (
            {"max_retry_after": None},
            TolokaArgumentTypeError,
            ("max_retry_after must be a number", "NoneType"),
        ),
        ({"url": "ftp://x"}, TolokaArgumentError, ("url must be an http:// or https:// URL", "'ftp://x'")),
        ({"url": None, "environment": "STAGING"}, TolokaArgumentError, ("environment must be", "'STAGING'")),
        ({"verify": 3}, TolokaArgumentTypeError, ("verify must be True, False or a CA bundle path", "int")),
        (
            {"act_under_account_id": "acc\r\nX-Evil: 1"},
            TolokaArgumentError,
            ("act_under_account_id must be",),
        ),
    ],
)
def test_constructor_arguments(kwargs, error_class, says):
    for client_class in (TolokaClient, AsyncTolokaClient):
        arguments = {"url": "http://127.0.0.1:9", **kwargs}
        with pytest.raises(error_class) as caught:
            client_class(TOKEN, **arguments)
        assert type(caught.value) is error_class
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, TolokaError)
        for part in says:
            assert part in str(caught.value), (part, str(caught.value))
        assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("method", "kwargs", "error_class", "says"),
    [
        (
            "get_assignments",
            {"batch_size": 0},
            TolokaArgumentError,
            ("batch_size for assignments must be between",),
        ),
        (
            "get_pools",
            {"batch_size": "10"},
            TolokaArgumentTypeError,
            ("batch_size must be an int, got str '10'",),
        ),
        (
            "find_pools",
            {"limit": 301},
            TolokaArgumentError,
            ("limit for pools must be between 1 and 300, got 301",),
        ),
        ("find_pools", {"projectid": "1"}, TypeError, ("got an unexpected keyword argument 'projectid'",)),
        ("find_pools", {"status": "open"}, TolokaArgumentError, ("did you mean 'OPEN'",)),
        (
            "find_pools",
            {"created_gt": "yesterday"},
            TolokaArgumentError,
            ("filter created_gt", "'yesterday'"),
        ),
        (
            "find_pools",
            {"project_id": object()},
            TolokaArgumentTypeError,
            ("filter project_id", "query value"),
        ),
        ("wait_operation", {"operation": None}, TolokaArgumentTypeError, ("operation must be an Operation",)),
        (
            "wait_operation",
            {"operation": "op-1", "poll_interval": 0},
            TolokaArgumentError,
            ("poll_interval",),
        ),
        (
            "wait_operation",
            {"operation": "op-1", "poll_interval": float("inf")},
            TolokaArgumentError,
            ("poll_interval must be positive finite",),
        ),
        ("wait_operation", {"operation": "op-1", "timeout": -5}, TolokaArgumentError, ("timeout must be",)),
        ("create_pool", {"pool": 5}, TolokaArgumentTypeError, ("must be a model object or a dict", "int")),
    ],
)
def test_method_arguments_fail_before_any_request(mode, method, kwargs, error_class, says):
    server = ScriptedServer()
    with Harness(mode, server) as harness, pytest.raises(error_class) as caught:
        harness.call(method, **kwargs)
    assert type(caught.value) is error_class and server.calls == []
    for part in says:
        assert part in str(caught.value), (part, str(caught.value))
