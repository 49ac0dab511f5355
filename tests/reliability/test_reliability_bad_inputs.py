"""A catalogue of bad inputs: each one fails with the right exception and a message that says what to change.

Every row of ``BAD_INPUTS`` is one mistake a user can make, at one layer: the client (sync and async), the
``toloka`` connection read by the hook, or an operator (every operator of the provider has at least one row).
Each row names the exception class and the fragments its message must contain: the argument or field, what was
expected, what came. Each row also runs against the in-process emulator and checks that nothing was left
half-done: the emulator's ``created`` counters grow by exactly what the row says (nothing, except for an upload
that failed part-way, where the earlier chunk stays and the message says so), no assignment was decided, and
no output file (or temporary file) was left behind.

Outside the table: ``test_connection`` reports a wrong token as a message, not a traceback; and a review that
rejects assignments past their pool's auto-accept period warns before sending and fails after the batch, saying
so (the documented behaviour: Toloka has accepted them by itself, so the rejections are refused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from rel_b_support import (
    connection_json,
    make_context,
    text_classification_setup,
)

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import (
    AuthenticationApiError,
    DoesNotExistApiError,
    TolokaArgumentError,
    TolokaArgumentTypeError,
    ValidationApiError,
)
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.hooks.toloka import TolokaConnectionError

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

MISSING_ID = "999999"


@dataclass
class Env:
    """What a row may use: the emulator, a client, a project and a pool with 3 SUBMITTED assignments."""

    emu: Any
    client: TolokaClient
    project_id: str
    pool_id: str
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    inputs: set[str] = field(default_factory=set)  # files the row wrote as its input (not output)

    def conn(self, **fields: Any) -> str:
        """Register connection ``rel_b_bad`` with these fields (environment variable) and return its id."""
        self.monkeypatch.setenv("AIRFLOW_CONN_REL_B_BAD", connection_json(**fields))
        return "rel_b_bad"

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        self.inputs.add(name)
        return str(path)

    def blocked_output(self, name: str = "out.jsonl") -> str:
        """An output path that cannot be written: its parent is a regular file (root ignores permissions)."""
        return str(Path(self.file("not-a-directory", "x")) / name)


@dataclass(frozen=True)
class BadInput:
    name: str
    layer: str
    run: Callable[[Env], Any]
    error: type[BaseException]
    says: tuple[str, ...]
    created: dict[str, int] = field(default_factory=dict)  # expected growth of the emulator's created counts


def _op(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"toloka_provider.operators.{module}"), name)


def _execute(module: str, name: str, **kwargs: Any) -> Callable[[Env], Any]:
    """A row that builds the operator with ``kwargs`` (callables get the Env) and executes it."""

    def run(env: Env) -> Any:
        resolved = {key: value(env) if callable(value) else value for key, value in kwargs.items()}
        operator = _op(module, name)(task_id="bad_input", **resolved)
        return operator.execute(make_context())

    return run


def _sensor(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f"toloka_provider.sensors.{module}"), name)


def _sense(module: str, name: str, **kwargs: Any) -> Callable[[Env], Any]:
    """A row that runs a sensor in poke mode (not deferred) with a short poke interval and timeout."""

    def run(env: Env) -> Any:
        resolved = {key: value(env) if callable(value) else value for key, value in kwargs.items()}
        sensor = _sensor(module, name)(task_id="bad_input", deferrable=False, poke_interval=0.1, timeout=20,
                                       **resolved)
        return sensor.execute(make_context())

    return run


def _construct_sensor(module: str, name: str, **kwargs: Any) -> Callable[[Env], Any]:
    return lambda env: _sensor(module, name)(task_id="bad_input", **kwargs)


def _construct(module: str, name: str, **kwargs: Any) -> Callable[[Env], Any]:
    return lambda env: _op(module, name)(task_id="bad_input", **kwargs)


def _client(**kwargs: Any) -> Callable[[Env], Any]:
    return lambda env: TolokaClient(**{"token": env.emu.token, "url": env.emu.url, **kwargs})


def _async(body: Callable[[AsyncTolokaClient, Env], Any], **client_kwargs: Any) -> Callable[[Env], Any]:
    async def go(env: Env) -> Any:
        async with AsyncTolokaClient(**{"token": env.emu.token, "url": env.emu.url, "retries": 0, **client_kwargs}) as c:
            return await body(c, env)

    return lambda env: asyncio.run(go(env))


async def _drain(iterator) -> list:
    return [item async for item in iterator]


def _hook_client(**fields: Any) -> Callable[[Env], Any]:
    """Read connection ``rel_b_bad`` with these fields through the hook and call get_requester()."""
    from toloka_provider.hooks.toloka import TolokaHook

    def run(env: Env) -> Any:
        resolved = {key: value(env) if callable(value) else value for key, value in fields.items()}
        return TolokaHook(env.conn(**resolved)).get_conn().get_requester()

    return run


def _invalid_tasks(env: Env) -> list[dict]:
    tasks = [{"input_values": {"text": f"ticket {i}", "ticket_id": f"T{i}"}, "overlap": 1} for i in range(10)]
    tasks[7] = {"input_values": {"text": "no ticket id"}, "overlap": 1}
    return tasks


MALFORMED_PROJECT = '{\n  "public_name": "Support tickets",\n  "task_spec": ,\n  "assignments_issuing_type": "AUTOMATED"\n}\n'


BAD_INPUTS: list[BadInput] = [
    # ---------------------------------------------------------------------------------------- client (sync)
    BadInput("wrong token", "client", lambda env: TolokaClient("not-the-token", url=env.emu.url).get_requester(),
             AuthenticationApiError, ("GET /api/v1/requester", "HTTP 401", "Check the API token")),
    BadInput("unknown environment", "client", _client(url=None, environment="STAGING"),
             TolokaArgumentError, ("environment must be 'PRODUCTION' or 'SANDBOX'", "got 'STAGING'")),
    BadInput("both url and environment", "client", _client(environment="SANDBOX"),
             TolokaArgumentError, ("exactly one of environment", "and url")),
    BadInput("neither url nor environment", "client", _client(url=None),
             TolokaArgumentError, ("exactly one of environment", "environment=None and url=None")),
    BadInput("url without scheme", "client", _client(url="127.0.0.1:8080"),
             TolokaArgumentError, ("url must be an http:// or https:// URL", "'127.0.0.1:8080'")),
    BadInput("empty token", "client", _client(token="  "), TolokaArgumentError, ("token must be a non-empty string",)),
    BadInput("token with an unknown scheme", "client", _client(token="Bearer abc.def"),
             TolokaArgumentError, ("unknown authorization scheme 'Bearer'", "expected 'ApiKey' or 'OAuth'")),
    BadInput("negative timeout", "client", _client(timeout=-1), TolokaArgumentError, ("timeout values must be positive",)),
    BadInput("negative retries", "client", _client(retries=-1), TolokaArgumentError, ("retries must be a non-negative int",)),
    BadInput("unknown quota interval", "client", _client(retry_quotas="WEEK"),
             TolokaArgumentError, ("retry_quotas must be MIN, HOUR, DAY", "'WEEK'")),
    BadInput("pool id that does not exist", "client", lambda env: env.client.get_pool(MISSING_ID),
             DoesNotExistApiError, ("GET /api/v1/pools/999999", "HTTP 404", "pool '999999' does not exist")),
    BadInput("batch_size 0", "client", lambda env: list(env.client.get_assignments(pool_id=env.pool_id, batch_size=0)),
             TolokaArgumentError, ("batch_size for assignments must be between 1 and 100000, got 0",)),
    BadInput("batch_size negative", "client",
             lambda env: list(env.client.get_assignments_raw(pool_id=env.pool_id, batch_size=-5)),
             TolokaArgumentError, ("batch_size for assignments must be between 1 and 100000, got -5",)),
    BadInput("batch_size over the maximum", "client",
             lambda env: list(env.client.get_pools(project_id=env.project_id, batch_size=301)),
             TolokaArgumentError, ("batch_size for pools must be between 1 and 300, got 301",)),
    BadInput("limit over the maximum", "client", lambda env: env.client.find_pools(limit=1000),
             TolokaArgumentError, ("limit for pools must be between 1 and 300, got 1000",)),
    BadInput("batch_size not an int", "client", lambda env: list(env.client.get_tasks(pool_id="1", batch_size="100")),
             TolokaArgumentTypeError, ("batch_size must be an int, got str '100'",)),
    BadInput("misspelt filter", "client", lambda env: env.client.find_pools(projectid="1"),
             TypeError, ("find_pools() got an unexpected keyword argument 'projectid'",)),
    BadInput("unknown status name", "client", lambda env: env.client.find_assignments(pool_id="1", status="DONE"),
             TolokaArgumentError, ("filter status: unknown assignments status 'DONE'", "expected one of ACTIVE, SUBMITTED")),
    BadInput("lower-case status name", "client",
             lambda env: list(env.client.get_pools(status=["open"])),
             TolokaArgumentError, ("unknown pools status 'open' (did you mean 'OPEN'?)",)),
    BadInput("datetime string that does not parse", "client",
             lambda env: env.client.find_assignments(pool_id="1", submitted_gte="yesterday"),
             TolokaArgumentError, ("find_assignments(): filter submitted_gte: Invalid datetime 'yesterday'", "expected ISO 8601")),
    BadInput("datetime string out of range", "client",
             lambda env: list(env.client.get_assignments_raw(pool_id="1", created_lt="2024-13-01")),
             TolokaArgumentError, ("filter created_lt: Invalid datetime '2024-13-01'", "month must be in 1..12")),
    BadInput("create_pool with required fields missing", "client",
             lambda env: env.client.create_pool({"project_id": env.project_id, "private_name": "half a pool"}),
             ValidationApiError, ("POST /api/v1/pools", "VALIDATION_ERROR", "reward_per_assignment",
                                  "VALUE_REQUIRED", "will_expire")),
    # --------------------------------------------------------------------------------------- client (async)
    BadInput("wrong token (async)", "async client",
             _async(lambda c, env: c.get_requester(), token="not-the-token"),
             AuthenticationApiError, ("HTTP 401", "Check the API token")),
    BadInput("batch_size 0 (async)", "async client",
             _async(lambda c, env: _drain(c.get_assignments(pool_id=env.pool_id, batch_size=0))),
             TolokaArgumentError, ("batch_size for assignments must be between 1 and 100000, got 0",)),
    BadInput("unknown status name (async)", "async client",
             _async(lambda c, env: c.find_pools(status="RUNNING")),
             TolokaArgumentError, ("unknown pools status 'RUNNING'", "OPEN, CLOSED, ARCHIVED, LOCKED")),
    BadInput("pool id that does not exist (async)", "async client", _async(lambda c, env: c.open_pool(MISSING_ID)),
             DoesNotExistApiError, ("POST /api/v1/pools/999999/open", "pool '999999' does not exist")),
    # --------------------------------------------------------------------------- connection, read by the hook
    BadInput("connection that does not exist", "hook", lambda env: _hook_missing(),
             AirflowNotFoundException, ("rel_b_missing", "isn't defined")),
    BadInput("connection without a token", "connection", _hook_client(host=lambda env: env.emu.url),
             TolokaConnectionError, ("Toloka connection 'rel_b_bad': no API token", "password field")),
    BadInput("connection with a wrong token", "connection",
             _hook_client(host=lambda env: env.emu.url, password="not-the-token"),
             AuthenticationApiError, ("HTTP 401", "Check the API token (the connection's password)")),
    BadInput("connection: unknown environment", "connection",
             _hook_client(password="t0ken-value", extra={"environment": "staging"}),
             TolokaConnectionError, ("extra 'environment' must be one of production, sandbox", "got 'staging'")),
    BadInput("connection: both host and environment", "connection",
             _hook_client(password="t0ken-value", host="https://toloka.dev", extra={"environment": "sandbox"}),
             TolokaConnectionError, ("set either host (a custom API URL) or extra 'environment', not both",)),
    BadInput("connection: host with a non-http scheme", "connection",
             _hook_client(password="t0ken-value", host="ftp://toloka.dev"),
             TolokaConnectionError, ("host must be an http(s) URL", "'ftp://toloka.dev'")),
    BadInput("connection: extra that is not JSON", "connection",
             _hook_client(password="t0ken-value", extra="{environment: sandbox"),
             TolokaConnectionError, ("Toloka connection 'rel_b_bad': extra is not valid JSON",)),
    BadInput("connection: timeout that is not a number", "connection",
             _hook_client(password="t0ken-value", extra={"timeout": "soon"}),
             TolokaConnectionError, ("extra 'timeout' must be a number of seconds > 0, got 'soon'",)),
    BadInput("connection: negative retries", "connection",
             _hook_client(password="t0ken-value", extra={"retries": -1}),
             TolokaConnectionError, ("extra 'retries' must be an integer >= 0, got -1",)),
    BadInput("connection without a token (async path)", "connection",
             lambda env: asyncio.run(_async_hook(env, host=env.emu.url)),
             TolokaConnectionError, ("Toloka connection 'rel_b_bad': no API token",)),
    # ------------------------------------------------------------------------------------------- operators
    BadInput("project config file with malformed JSON", "TolokaCreateProjectOperator",
             _execute("project", "TolokaCreateProjectOperator",
                      project=lambda env: env.file("project.json", MALFORMED_PROJECT)),
             TolokaInputError, ("Argument 'project': file ", "project.json is not valid JSON at line 3, column 16",
                          "Expecting value")),
    BadInput("project config missing a required field", "TolokaCreateProjectOperator",
             _execute("project", "TolokaCreateProjectOperator", project={"public_name": "No spec"}),
             TolokaInputError, ("Toloka rejected the project config given in 'project'", "invalid fields:",
                          "task_spec: VALUE_REQUIRED")),
    BadInput("project config path that does not exist", "TolokaCreateProjectOperator",
             _execute("project", "TolokaCreateProjectOperator", project="configs/no_such_project.json"),
             TolokaInputError, ("Argument 'project': 'configs/no_such_project.json' is neither JSON", "nor an existing file")),
    BadInput("project config that is a JSON array", "TolokaCreateProjectOperator",
             _execute("project", "TolokaCreateProjectOperator", project="[1, 2]"),
             TolokaInputError, ("Argument 'project' must hold a JSON object, got list",)),
    BadInput("training without a project", "TolokaCreateTrainingOperator",
             _execute("training", "TolokaCreateTrainingOperator", training={"private_name": "t"}),
             TolokaInputError, ("Give 'project_id', or set 'project_id' in the 'training' config",)),
    BadInput("training config missing required fields", "TolokaCreateTrainingOperator",
             _execute("training", "TolokaCreateTrainingOperator", training={"private_name": "t"},
                      project_id=lambda env: env.project_id),
             TolokaInputError, ("Toloka rejected the training config given in 'training'", "VALUE_REQUIRED")),
    BadInput("open a training that does not exist", "TolokaOpenTrainingOperator",
             _execute("training", "TolokaOpenTrainingOperator", training_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "training '999999' does not exist",)),
    BadInput("close a training that does not exist", "TolokaCloseTrainingOperator",
             _execute("training", "TolokaCloseTrainingOperator", training_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "training '999999' does not exist",)),
    BadInput("archive a training that does not exist", "TolokaArchiveTrainingOperator",
             _execute("training", "TolokaArchiveTrainingOperator", training_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "training '999999' does not exist",)),
    BadInput("pool config missing required fields", "TolokaCreatePoolOperator",
             _execute("pool", "TolokaCreatePoolOperator", pool_config={"private_name": "half a pool"},
                      project_id=lambda env: env.project_id, expires_in=timedelta(days=1)),
             TolokaInputError, ("Toloka rejected the pool config given in 'pool_config'",
                          "reward_per_assignment: VALUE_REQUIRED", "assignment_max_duration_seconds: VALUE_REQUIRED")),
    BadInput("pool config JSON string with a syntax error", "TolokaCreatePoolOperator",
             _execute("pool", "TolokaCreatePoolOperator", pool_config='{"private_name": "p",\n "reward": }',
                      project_id="1"),
             TolokaInputError, ("Argument 'pool_config': invalid JSON string at line 2, column 12",)),
    BadInput("training_id without a training requirement", "TolokaCreatePoolOperator",
             _execute("pool", "TolokaCreatePoolOperator", pool_config={"private_name": "p"}, project_id="1",
                      training_id="5"),
             TolokaInputError, ("'training_id' was given but 'pool_config' has no quality_control.training_requirement",)),
    BadInput("expires_in that is not a timedelta", "TolokaCreatePoolOperator",
             _construct("pool", "TolokaCreatePoolOperator", pool_config={}, expires_in=3600),
             TolokaInputError, ("'expires_in' must be a datetime.timedelta, got int",)),
    BadInput("open a pool that does not exist", "TolokaOpenPoolOperator",
             _execute("pool", "TolokaOpenPoolOperator", pool_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "POST /api/v1/pools/999999/open", "pool '999999' does not exist")),
    BadInput("close a pool that does not exist", "TolokaClosePoolOperator",
             _execute("pool", "TolokaClosePoolOperator", pool_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "pool '999999' does not exist",)),
    BadInput("archive a pool that does not exist", "TolokaArchivePoolOperator",
             _execute("pool", "TolokaArchivePoolOperator", pool_id=MISSING_ID),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "pool '999999' does not exist",)),
    BadInput("tasks: neither tasks nor tasks_path", "TolokaCreateTasksOperator",
             _construct("tasks", "TolokaCreateTasksOperator", pool_id="1"),
             TolokaInputError, ("Give exactly one of 'tasks' (a list) and 'tasks_path'",)),
    BadInput("tasks: chunk_size 0", "TolokaCreateTasksOperator",
             _construct("tasks", "TolokaCreateTasksOperator", pool_id="1", tasks=[], chunk_size=0),
             TolokaInputError, ("'chunk_size' must be a positive int, got 0",)),
    BadInput("tasks: a task for another pool", "TolokaCreateTasksOperator",
             _execute("tasks", "TolokaCreateTasksOperator", pool_id=lambda env: env.pool_id,
                      tasks=[{"pool_id": "42", "input_values": {}}]),
             TolokaInputError, ("Task #0 has pool_id '42', but the operator's pool_id is",)),
    BadInput("tasks: JSONL file with a broken line", "TolokaCreateTasksOperator",
             _execute("tasks", "TolokaCreateTasksOperator", pool_id=lambda env: env.pool_id,
                      tasks_path=lambda env: env.file("tasks.jsonl", '{"input_values": {}}\n{"input_values": \n')),
             TolokaInputError, ("Argument 'tasks_path': file ", "tasks.jsonl line 2, column 18: Expecting value")),
    BadInput("tasks: upload failing in the second chunk", "TolokaCreateTasksOperator",
             _execute("tasks", "TolokaCreateTasksOperator", pool_id=lambda env: env.pool_id, tasks=_invalid_tasks,
                      chunk_size=5),
             TolokaInputError, ("Toloka rejected tasks 5..9 of pool", "none of it was created; 5 tasks of earlier chunks were",
                          "skip_invalid_items=True", "task #7:", "input_values.ticket_id", "VALUE_REQUIRED"),
             created={"task": 5}),
    BadInput("get: unknown status name", "TolokaGetAssignmentsOperator",
             _execute("assignments", "TolokaGetAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      statuses=["SUBMITTED", "DONE"]),
             TolokaInputError, ("Argument 'statuses': ['DONE']", "each must be one of ACTIVE, SUBMITTED, ACCEPTED")),
    BadInput("get: datetime string that does not parse", "TolokaGetAssignmentsOperator",
             _execute("assignments", "TolokaGetAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      submitted_gte="last tuesday"),
             TolokaInputError, ("Argument 'submitted_gte': Invalid datetime 'last tuesday'", "expected ISO 8601")),
    BadInput("get: batch_size 0", "TolokaGetAssignmentsOperator",
             _construct("assignments", "TolokaGetAssignmentsOperator", pool_id="1", batch_size=0),
             TolokaInputError, ("'batch_size' must be an int from 1 to 100000", "got 0")),
    BadInput("get: batch_size negative", "TolokaGetAssignmentsOperator",
             _construct("assignments", "TolokaGetAssignmentsOperator", pool_id="1", batch_size=-1),
             TolokaInputError, ("'batch_size' must be an int from 1 to 100000", "got -1")),
    BadInput("get: batch_size over the maximum", "TolokaGetAssignmentsOperator",
             _construct("assignments", "TolokaGetAssignmentsOperator", pool_id="1", batch_size=100_001),
             TolokaInputError, ("'batch_size' must be an int from 1 to 100000", "got 100001")),
    BadInput("get: unwritable output path", "TolokaGetAssignmentsOperator",
             _execute("assignments", "TolokaGetAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      output=lambda env: env.blocked_output()),
             TolokaInputError, ("Argument 'output': cannot write", "not-a-directory/out.jsonl",
                          "parent is a writable directory")),
    BadInput("get: use_data_interval without an interval", "TolokaGetAssignmentsOperator",
             _execute("assignments", "TolokaGetAssignmentsOperator", pool_id="1", use_data_interval=True),
             TolokaInputError, ("use_data_interval=True but this run has no data interval",)),
    BadInput("get: more assignments than max_inline", "TolokaGetAssignmentsOperator",
             _execute("assignments", "TolokaGetAssignmentsOperator", pool_id=lambda env: env.pool_id, max_inline=2),
             TolokaInputError, ("More than max_inline=2 assignments match", "Pass output=")),
    BadInput("review: verdict callable that cannot be imported", "TolokaReviewAssignmentsOperator",
             _execute("assignments", "TolokaReviewAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      verdict="rel_b_support.no_such_verdict"),
             TolokaInputError, ("verdict 'rel_b_support.no_such_verdict'", "cannot be imported as a callable")),
    BadInput("review: verdict path that is not a callable", "TolokaReviewAssignmentsOperator",
             _execute("assignments", "TolokaReviewAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      verdict="rel_b_support.NOT_A_CALLABLE"),
             TolokaInputError, ("verdict 'rel_b_support.NOT_A_CALLABLE' imports a int, not a callable",)),
    BadInput("review: verdict returning something else", "TolokaReviewAssignmentsOperator",
             _execute("assignments", "TolokaReviewAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      verdict="rel_b_support.verdict_maybe"),
             TolokaInputError, ("verdict callable rel_b_support.verdict_maybe returned 'maybe'",
                          "expected 'accept', ('accept', comment), ('reject', non-empty comment) or 'skip'")),
    BadInput("review: verdict dict without a threshold", "TolokaReviewAssignmentsOperator",
             _execute("assignments", "TolokaReviewAssignmentsOperator", pool_id=lambda env: env.pool_id,
                      verdict={"golden_accuracy": 0.8}),
             TolokaInputError, ("verdict dict needs 'golden_accuracy_threshold'", "got keys ['golden_accuracy']")),
    BadInput("review: both assignments and assignments_path", "TolokaReviewAssignmentsOperator",
             _construct("assignments", "TolokaReviewAssignmentsOperator", assignments=[], assignments_path="a.jsonl"),
             TolokaInputError, ("Give at most one of 'assignments' and 'assignments_path'",)),
    BadInput("review: concurrency 0", "TolokaReviewAssignmentsOperator",
             _construct("assignments", "TolokaReviewAssignmentsOperator", pool_id="1", concurrency=0),
             TolokaInputError, ("'concurrency' must be a positive int, got 0",)),
    BadInput("review: assignments file that does not exist", "TolokaReviewAssignmentsOperator",
             _execute("assignments", "TolokaReviewAssignmentsOperator", assignments_path="/nonexistent/a.jsonl"),
             TolokaInputError, ("Argument 'assignments_path': file /nonexistent/a.jsonl does not exist",)),
    BadInput("aggregate on the server: pool that does not exist", "TolokaAggregateSolutionsOperator",
             _execute("aggregation", "TolokaAggregateSolutionsOperator", pool_id=MISSING_ID, fields=["label"],
                      output=lambda env: str(env.tmp / "agg.jsonl"), deferrable=False),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "aggregate-by-pool", "pool '999999' does not exist")),
    BadInput("aggregate on the server: no fields", "TolokaAggregateSolutionsOperator",
             _execute("aggregation", "TolokaAggregateSolutionsOperator", pool_id="1", fields=[],
                      output=lambda env: str(env.tmp / "agg.jsonl"), deferrable=False),
             TolokaInputError, ("'fields' must be a non-empty list of output field names, got []",)),
    BadInput("aggregate locally: unknown method", "TolokaAggregateLocallyOperator",
             _execute("aggregation", "TolokaAggregateLocallyOperator", assignments_path="a.jsonl", fields=["label"],
                      output="labels.jsonl", method="mean"),
             TolokaInputError, ("'method' must be one of 'majority', 'wawa', 'one_coin', 'dawid_skene', got 'mean'",)),
    BadInput("aggregate locally: unwritable output path", "TolokaAggregateLocallyOperator",
             _execute("aggregation", "TolokaAggregateLocallyOperator",
                      assignments_path=lambda env: env.file("a.jsonl", ""), fields=["label"],
                      output=lambda env: env.blocked_output("labels.jsonl")),
             TolokaInputError, ("Argument 'output': cannot write", "labels.jsonl")),
    BadInput("app batch: neither items nor items_path", "TolokaCreateAppBatchOperator",
             _construct("app", "TolokaCreateAppBatchOperator", app_project_id="1"),
             TolokaInputError, ("Give exactly one of 'items' (a list) and 'items_path'",)),
    BadInput("app batch: app project that does not exist", "TolokaCreateAppBatchOperator",
             _execute("app", "TolokaCreateAppBatchOperator", app_project_id="no-such-app-project",
                      items=[{"text": "x"}]),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "app_project 'no-such-app-project' does not exist",)),
    BadInput("start an app batch that does not exist", "TolokaStartAppBatchOperator",
             _execute("app", "TolokaStartAppBatchOperator", app_project_id="no-such-app-project", batch_id="b1"),
             TolokaApiFailure, ("does not exist for this account and environment", "(not retried)", "/start", "app_project 'no-such-app-project' does not exist")),
    BadInput("app items: unwritable output path", "TolokaGetAppItemsOperator",
             _execute("app", "TolokaGetAppItemsOperator", app_project_id="no-such-app-project",
                      output=lambda env: env.blocked_output("items.jsonl")),
             TolokaInputError, ("Argument 'output': cannot write", "items.jsonl")),
    # --------------------------------------------------------------------------------------------- sensors
    BadInput("pool sensor: pool that does not exist", "TolokaPoolSensor",
             _sense("pool", "TolokaPoolSensor", pool_id=MISSING_ID),
             TolokaApiFailure, ("Toloka pool 999999 does not exist for this account and environment",
                                "check the id and the environment of Airflow connection")),
    BadInput("pool sensor: misspelt success reason", "TolokaPoolSensor",
             _sense("pool", "TolokaPoolSensor", pool_id=lambda env: env.pool_id, success_reasons=["COMPLETE"]),
             TolokaInputError, ("unknown close reason(s) COMPLETE", "expected some of", "COMPLETED")),
    BadInput("pool sensor: unknown kind", "TolokaPoolSensor",
             _construct_sensor("pool", "TolokaPoolSensor", pool_id="1", kind="pools"),
             TolokaInputError, ("kind must be one of pool, training, got 'pools'",)),
    BadInput("operation sensor: operation that does not exist", "TolokaOperationSensor",
             _sense("operation", "TolokaOperationSensor", operation_id="no-such-operation"),
             TolokaApiFailure, ("Toloka operation no-such-operation does not exist",)),
    BadInput("app batch sensor: batch that does not exist", "TolokaAppBatchSensor",
             _sense("app_batch", "TolokaAppBatchSensor", app_project_id="no-such-app-project", batch_id="b1"),
             TolokaApiFailure, ("app project no-such-app-project) does not exist",)),
    BadInput("assignments sensor: pool that does not exist", "TolokaAssignmentsSensor",
             _sense("assignments", "TolokaAssignmentsSensor", pool_id=MISSING_ID),
             TolokaApiFailure, ("Argument 'pool_id': Toloka pool 999999 does not exist for this account and environment",
                                "pool '999999' does not exist")),
    BadInput("assignments sensor: unknown status name", "TolokaAssignmentsSensor",
             _sense("assignments", "TolokaAssignmentsSensor", pool_id=lambda env: env.pool_id, statuses="DONE"),
             TolokaInputError, ("unknown assignments status 'DONE'",)),
    BadInput("assignments sensor: min_count 0", "TolokaAssignmentsSensor",
             _construct_sensor("assignments", "TolokaAssignmentsSensor", pool_id="1", min_count=0),
             TolokaInputError, ("min_count must be an integer from 1 to 1000, got 0",)),
]


def _hook_missing() -> Any:
    from toloka_provider.hooks.toloka import TolokaHook

    return TolokaHook("rel_b_missing").get_conn()


async def _async_hook(env: Env, **fields: Any) -> Any:
    from toloka_provider.hooks.toloka import TolokaHook

    async with await TolokaHook(env.conn(**fields)).get_async_conn() as client:
        return await client.get_requester()


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world():
    """One emulator for the whole table: a project, a pool with three SUBMITTED assignments."""
    from toloka_provider.emulator import TolokaEmulator

    with TolokaEmulator(crowd=0, operation_delay=0.0) as emu:
        client = TolokaClient(emu.token, url=emu.url)
        project, pool = text_classification_setup(client)
        emu.bulk_load_assignments(pool.id, 3)
        yield emu, client, str(project.id), str(pool.id)
        client.close()


@pytest.fixture
def env(world, tmp_path, monkeypatch) -> Env:
    emu, client, project_id, pool_id = world
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", connection_json(host=emu.url, password=emu.token))
    return Env(emu, client, project_id, pool_id, tmp_path, monkeypatch)


def _state(emu) -> dict[str, Any]:
    counters = emu.counters()
    created = {kind: n for kind, n in counters["created"].items() if kind != "operation"}
    return {"created": created, "accepted": counters["assignments_accepted"],
            "rejected": counters["assignments_rejected"]}


# ---------------------------------------------------------------------------------------------------- tests


def test_the_catalogue_covers_every_layer_and_operator():
    layers = {case.layer for case in BAD_INPUTS}
    operators = {
        name
        for module in ("project", "training", "pool", "tasks", "assignments", "aggregation", "app")
        for name, value in vars(__import__(f"toloka_provider.operators.{module}", fromlist=["x"])).items()
        if name.startswith("Toloka") and name.endswith("Operator") and value.__module__.endswith(module)
    }
    assert len(BAD_INPUTS) >= 30
    assert len({case.name for case in BAD_INPUTS}) == len(BAD_INPUTS)
    assert {"client", "async client", "hook", "connection"} <= layers
    assert operators - layers == set(), "operators without a bad-input row"
    sensors = {"TolokaPoolSensor", "TolokaOperationSensor", "TolokaAppBatchSensor", "TolokaAssignmentsSensor"}
    assert sensors - layers == set(), "sensors without a bad-input row"


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.name for case in BAD_INPUTS])
def test_bad_input_fails_clearly_and_leaves_nothing_half_done(case: BadInput, env: Env):
    before = _state(env.emu)
    files_before = sorted(p.name for p in env.tmp.rglob("*"))

    with pytest.raises(case.error) as raised:
        case.run(env)
    assert type(raised.value) is case.error, f"{type(raised.value).__name__}: {raised.value}"

    message = str(raised.value)
    missing = [fragment for fragment in case.says if fragment not in message]
    assert not missing, f"{type(raised.value).__name__}: {message!r} lacks {missing}"
    after = _state(env.emu)
    grown = {kind: after["created"].get(kind, 0) - before["created"].get(kind, 0) for kind in after["created"]}
    assert {kind: n for kind, n in grown.items() if n} == case.created
    assert (after["accepted"], after["rejected"]) == (before["accepted"], before["rejected"])
    # No output (or half-written temporary file) was left behind by the failed call.
    assert sorted(p.name for p in env.tmp.rglob("*") if p.name not in env.inputs) == files_before


def test_operator_input_errors_do_not_retry():
    """The operators' argument errors are AirflowFailException: Airflow does not retry what cannot succeed."""

    from toloka_provider.exceptions import TolokaInputError

    assert issubclass(TolokaInputError, AirflowFailException) and issubclass(TolokaInputError, ValueError)


def test_a_bad_connection_is_reported_by_test_connection_not_raised(env: Env):
    from toloka_provider.hooks.toloka import TolokaHook

    ok, message = TolokaHook(env.conn(host=env.emu.url, password="not-the-token")).test_connection()
    assert ok is False
    assert message.startswith("AuthenticationApiError: GET /api/v1/requester failed: HTTP 401")
    assert "Check the API token" in message

    ok, message = TolokaHook(env.conn(host=env.emu.url, extra={"environment": "moon"})).test_connection()
    assert ok is False and "no API token" in message


def test_rejections_past_the_auto_accept_period_warn_first_and_fail_after_the_batch(
    toloka_emulator_factory, monkeypatch, capfd
):
    """Documented behaviour: warn before sending, send anyway (the server decides), fail naming the cause.

    The crowd submits work to a pool that accepts automatically after one day; the review runs two days later
    (emulator clock; the operator's own clock is moved the same way). By then Toloka has accepted everything,
    so every rejection is refused: counted as failed, the task fails saying why, and nothing is decided twice.
    """
    import time as real_time
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowException

    from toloka_provider.operators.assignments import TolokaReviewAssignmentsOperator
    from toloka_provider.steps import review as review_step

    emu = toloka_emulator_factory(crowd=5, speed=2000.0, operation_delay=0.0)
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", connection_json(host=emu.url, password=emu.token))
    client = TolokaClient(emu.token, url=emu.url)
    _, pool = text_classification_setup(
        client, auto_accept_period_day=1, mixer_config={"real_tasks_count": 1, "golden_tasks_count": 0,
                                                        "training_tasks_count": 0},
        defaults={"default_overlap_for_new_tasks": 1, "default_overlap_for_new_task_suites": 1},
    )
    client.create_tasks([{"pool_id": pool.id, "input_values": {"text": f"t{i}", "ticket_id": f"T{i}"}}
                         for i in range(4)], allow_defaults=True, open_pool=True)
    deadline = real_time.monotonic() + 30
    while client.get_pool(pool.id).status != "CLOSED":  # the crowd finishes 4 one-task assignments quickly
        assert real_time.monotonic() < deadline, "the crowd did not finish"
        real_time.sleep(0.05)
    submitted = [a.to_json_dict() for a in client.get_assignments(pool_id=pool.id, status="SUBMITTED")]
    assert len(submitted) == 4

    emu.advance_clock(2 * 86400)  # Toloka's side: the auto-accept period has passed
    deadline = real_time.monotonic() + 10
    while client.find_assignments(pool_id=pool.id, status="SUBMITTED").items:  # accepted on the next crowd tick
        assert real_time.monotonic() < deadline, "the emulator did not auto-accept"
        real_time.sleep(0.02)
    later = real_time.time() + 2 * 86400
    monkeypatch.setattr(review_step, "time", SimpleNamespace(time=lambda: later))
    capfd.readouterr()
    operator = TolokaReviewAssignmentsOperator(
        task_id="review", assignments=submitted, verdict="rel_b_support.verdict_reject_all", concurrency=2
    )
    with pytest.raises(AirflowException) as raised:
        operator.execute(make_context())

    logged = "".join(capfd.readouterr())  # task logs go through Airflow's structlog to the console
    assert "4 assignments to reject are past their pool's auto-accept period" in logged
    message = str(raised.value)
    assert message.startswith("4 of 4 review decisions failed")
    assert "is ACCEPTED, wanted REJECTED" in message
    assert "4 of them were rejections past the pool's auto-accept period" in message
    counters = emu.counters()
    assert counters["assignments_rejected"] == 0 and counters["double_decisions"] == 0
    assert {a.status for a in client.get_assignments(pool_id=pool.id)} == {"ACCEPTED"}


def test_the_docs_state_the_number_of_bad_inputs_tested():
    """The Reliability page of the docs quotes this catalogue's size; keep the two in step."""
    from rel_b_support import REPO

    page = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert f"**{len(BAD_INPUTS)} bad inputs**" in page


TRIGGER_BAD_INPUTS = [
    pytest.param("pool", "TolokaPoolTrigger", {"pool_id": MISSING_ID}, "Toloka pool 999999 does not exist",
                 id="pool trigger: pool that does not exist"),
    pytest.param("operation", "TolokaOperationTrigger", {"operation_id": "no-such-operation"},
                 "operation no-such-operation does not exist", id="operation trigger: operation that does not exist"),
    pytest.param("app_batch", "TolokaAppBatchTrigger", {"app_project_id": "no-such-app-project", "batch_id": "b1"},
                 "does not exist", id="app batch trigger: batch that does not exist"),
    pytest.param("assignments", "TolokaAssignmentsTrigger", {"pool_id": MISSING_ID},
                 "pool '999999' does not exist", id="assignments trigger: pool that does not exist"),
    pytest.param("pool", "TolokaPoolTrigger", {"pool_id": lambda env: env.pool_id, "success_reasons": ("COMPLETE",)},
                 "unknown close reason(s) COMPLETE", id="pool trigger: misspelt success reason"),
    pytest.param("pool", "TolokaPoolTrigger", {"pool_id": "1", "toloka_conn_id": "rel_b_bad"},
                 "Cannot use Airflow connection 'rel_b_bad'", id="pool trigger: connection without a token"),
]


@pytest.mark.parametrize(("module", "name", "kwargs", "fragment"), TRIGGER_BAD_INPUTS)
def test_trigger_bad_input_ends_in_one_error_event_saying_what_to_fix(module, name, kwargs, fragment, env: Env):
    """In the triggerer a bad input must not poll until the deadline: one non-retryable error event, at once."""
    import importlib

    env.conn(host=env.emu.url)  # rel_b_bad: a connection without a token
    trigger_class = getattr(importlib.import_module(f"toloka_provider.triggers.{module}"), name)
    resolved = {key: value(env) if callable(value) else value for key, value in kwargs.items()}
    trigger = trigger_class(**resolved, policy={"interval": 0.1})

    async def events() -> list:
        return [event.payload async for event in trigger.run()]

    (payload,) = asyncio.run(asyncio.wait_for(events(), timeout=30))
    assert payload["status"] == "error" and payload["retryable"] is False, payload
    assert fragment in payload["message"], payload["message"]
