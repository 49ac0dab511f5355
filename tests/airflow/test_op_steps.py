"""The domain steps under the operators, called directly with a scripted client: errors decided by class."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from toloka_provider.client.errors import (
    ApiError,
    ConflictStateApiError,
    IncorrectActionsApiError,
    InternalApiError,
    TolokaArgumentError,
    TooManyRequestsApiError,
    TransportError,
    ValidationApiError,
)
from toloka_provider.steps import find_or_create, review, status

LOG = logging.getLogger("test_op_steps")


def _api(cls, status_code, code, path="/api/v1/x"):
    return cls(status_code, code, "no", "r", None, "POST", path)


class Script:
    """Answers each call from a list: an exception is raised, anything else returned."""

    def __init__(self, **answers):
        self.answers = {name: list(values) for name, values in answers.items()}
        self.calls: list[str] = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            answer = self.answers[name].pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call


@pytest.mark.parametrize(
    "lost",
    [TransportError("reset", "POST", "/api/v1/pools"), _api(InternalApiError, 500, "INTERNAL_ERROR"),
     _api(TooManyRequestsApiError, 429, "TOO_MANY_REQUESTS")],
)  # fmt: skip
def test_a_create_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(lost):
    ours = {"id": "9", "metadata": {"tag": ["me"]}}
    client = Script(candidates=[[], [ours]], create=[lost])
    found = find_or_create.find_or_create_tagged(
        kind="pool",
        is_ours=lambda metadata: bool(metadata) and metadata.get("tag") == ["me"],
        candidates=client.candidates,
        create=client.create,
        argument="pool_config",
        log=LOG,
    )
    assert found is ours and client.calls == ["candidates", "create", "candidates"]


@pytest.mark.parametrize(
    "refusal", [_api(ConflictStateApiError, 409, "CONFLICT_STATE"), _api(ApiError, 403, None)]
)
def test_a_persistent_refusal_of_a_create_is_not_repeated(refusal):
    client = Script(candidates=[[]], create=[refusal])
    with pytest.raises(type(refusal)) as raised:
        find_or_create.find_or_create_tagged(
            kind="pool", is_ours=lambda m: False, candidates=client.candidates, create=client.create,
            argument="pool_config", log=LOG,
        )  # fmt: skip
    assert raised.value is refusal and client.calls == ["candidates", "create"]


def test_creates_stop_after_the_attempt_budget():
    outage = TransportError("reset", "POST", "/api/v1/projects")
    client = Script(candidates=[[]] * 10, create=[outage] * 10)
    with pytest.raises(TransportError):
        find_or_create.find_or_create_tagged(
            kind="project", is_ours=lambda m: False, candidates=client.candidates, create=client.create,
            argument="project", log=LOG,
        )  # fmt: skip
    assert client.calls.count("create") == find_or_create.CREATE_ATTEMPTS


def test_a_validation_error_names_the_argument_and_the_fields():
    invalid = ValidationApiError(400, "VALIDATION_ERROR", "Validation failed", "r",
                                 {"task_spec": {"code": "VALUE_REQUIRED", "message": "required"}}, "POST", "/p")  # fmt: skip
    client = Script(candidates=[[]], create=[invalid])
    with pytest.raises(TolokaArgumentError) as raised:
        find_or_create.find_or_create_tagged(
            kind="project", is_ours=lambda m: False, candidates=client.candidates, create=client.create,
            argument="project", log=LOG,
        )  # fmt: skip
    assert str(raised.value).startswith(
        "Toloka rejected the project config given in 'project': POST /p failed"
    )
    assert "invalid fields: task_spec: VALUE_REQUIRED required" in str(raised.value)
    assert raised.value.__cause__ is invalid


@pytest.mark.parametrize("conflict", [_api(ConflictStateApiError, 409, "CONFLICT_STATE"),
                                      _api(IncorrectActionsApiError, 409, "INAPPROPRIATE_STATUS")])  # fmt: skip
def test_a_state_conflict_is_read_back_and_counts_when_the_object_is_where_wanted(conflict):
    client = Script(close_pool=[conflict], get_pool=[SimpleNamespace(status="ARCHIVED")])
    assert status.change_status(client, "pool", "close", "7", log=LOG) == "ARCHIVED"
    client = Script(open_pool=[conflict], get_pool=[SimpleNamespace(status="ARCHIVED")])
    with pytest.raises(type(conflict)):
        status.change_status(client, "pool", "open", "7", log=LOG)


def test_other_errors_of_a_status_change_are_not_read_back():
    down = _api(InternalApiError, 500, "INTERNAL_ERROR")
    client = Script(open_pool=[down])
    with pytest.raises(InternalApiError):
        status.change_status(client, "pool", "open", "7", log=LOG)
    assert client.calls == ["open_pool"]


@pytest.mark.parametrize(
    ("current", "outcome"),
    [("ACCEPTED", ("already_done", None)), ("REJECTED", ("failed", "is REJECTED, wanted ACCEPTED"))],
)
def test_a_decision_conflict_is_read_back(current, outcome):
    conflict = _api(IncorrectActionsApiError, 409, "INAPPROPRIATE_STATUS", "/api/v1/assignments/a1")
    client = Script(accept_assignment=[conflict], get_assignment=[SimpleNamespace(status=current)])
    assert review.send_one(client, review.Decision("a1", "accept", None)) == outcome


def test_a_decision_that_hits_an_outage_is_failed_without_a_read_back():
    client = Script(reject_assignment=[TransportError("reset", "PATCH", "/api/v1/assignments/a1")])
    outcome, reason = review.send_one(client, review.Decision("a1", "reject", "no"))
    assert outcome == "failed" and reason.startswith(
        "TransportError: PATCH /api/v1/assignments/a1 failed: reset"
    )
    assert client.calls == ["reject_assignment"]


def test_starting_an_app_batch_twice_is_fine_but_a_new_batch_that_conflicts_is_not():
    conflict = _api(ConflictStateApiError, 409, "CONFLICT_STATE")
    client = Script(start_app_batch=[conflict], get_app_batch=[SimpleNamespace(status="PROCESSING")])
    assert status.start_app_batch(client, "p", "b", log=LOG) == "PROCESSING"
    client = Script(start_app_batch=[conflict], get_app_batch=[SimpleNamespace(status="NEW")])
    with pytest.raises(ConflictStateApiError):
        status.start_app_batch(client, "p", "b", log=LOG)
