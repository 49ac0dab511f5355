"""Behaviour of the methods added for issue 14 beyond the one-case-per-method table: bans in all four scopes,
``*_async`` answering 204, page-size limits and paging of the new listings, argument checks (explicit keyword
filters, enum-valued filters, message recipients, skill values), and ``clone_project``'s options.

Every test runs over both clients from the same harness.
"""

from __future__ import annotations

import datetime
import inspect
import logging
from decimal import Decimal

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import TolokaClient, models
from toloka_provider.client.errors import TolokaArgumentError

V1 = "/api/v1"


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


EXPIRES = datetime.datetime(2024, 3, 1, 10, 0)


@pytest.mark.parametrize(
    ("restriction", "body", "subclass"),
    [
        (models.SystemUserRestriction(user_id="w1", private_comment="fraud"),
         {"user_id": "w1", "private_comment": "fraud", "scope": "SYSTEM"}, models.SystemUserRestriction),
        (models.AllProjectsUserRestriction(user_id="w1", will_expire=EXPIRES),
         {"user_id": "w1", "will_expire": "2024-03-01T10:00:00", "scope": "ALL_PROJECTS"}, models.AllProjectsUserRestriction),
        ({"scope": "PROJECT", "user_id": "w1", "project_id": "11"},
         {"scope": "PROJECT", "user_id": "w1", "project_id": "11"}, models.ProjectUserRestriction),
        (models.PoolUserRestriction(user_id="w1", pool_id="21", will_expire=EXPIRES),
         {"user_id": "w1", "will_expire": "2024-03-01T10:00:00", "scope": "POOL", "pool_id": "21"}, models.PoolUserRestriction),
    ],
    ids=["system", "all_projects", "project", "pool"],
)  # fmt: skip
def test_set_user_restriction_in_every_scope(mode, restriction, body, subclass):
    server = ScriptedServer().reply(200, {**body, "id": "ur1", "created": "2024-01-01T00:00:00"})
    with Harness(mode, server) as harness:
        result = harness.call("set_user_restriction", restriction)
    assert server.requests_made() == [("PUT", f"{V1}/user-restrictions", {}, body)]
    assert type(result) is subclass and result.id == "ur1" and result.scope == body["scope"]
    assert result.will_expire == (
        None if "will_expire" not in body else models.PoolUserRestriction(will_expire=EXPIRES).will_expire
    )


@pytest.mark.parametrize(
    ("restriction", "message"),
    [
        ({"scope": "POOL", "user_id": "w1"}, r"user_restriction pool_id must be an id for a POOL restriction, got NoneType None"),
        (models.ProjectUserRestriction(user_id="w1"), r"user_restriction project_id must be an id for a PROJECT"),
        ({"scope": "pool", "user_id": "w1", "pool_id": "1"}, r"user_restriction scope must be one of SYSTEM, ALL_PROJECTS, PROJECT, POOL, got str 'pool'"),
        (models.SystemUserRestriction(), r"user_restriction user_id must be a performer id"),
        (models.UserRestriction(user_id="w1"), r"user_restriction scope must be one of SYSTEM, .* got NoneType None"),
    ],
)  # fmt: skip
def test_bad_restriction_is_refused_before_any_request(mode, restriction, message):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TolokaArgumentError, match=message):
            client.set_user_restriction(restriction)
    assert server.calls == []


def test_a_scope_newer_than_this_client_can_be_sent_as_an_enum_member(mode):
    body = {"scope": "REGION", "user_id": "w1"}
    server = ScriptedServer().reply(200, {**body, "id": "ur1"})
    with Harness(mode, server) as harness:
        result = harness.call(
            "set_user_restriction", {"scope": models.UserRestrictionScope("REGION"), "user_id": "w1"}
        )
    assert server.requests_made() == [("PUT", f"{V1}/user-restrictions", {}, body)]
    assert type(result) is models.UserRestriction and result.scope == "REGION"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("open_pool_async", "pools/21/open"), ("close_pool_async", "pools/21/close"),
        ("close_pool_for_update_async", "pools/21/close-for-update"), ("archive_pool_async", "pools/21/archive"),
        ("open_training_async", "trainings/21/open"), ("close_training_async", "trainings/21/close"),
        ("archive_training_async", "trainings/21/archive"), ("archive_project_async", "projects/21/archive"),
    ],
)  # fmt: skip
def test_async_action_on_an_object_already_there_returns_none(mode, method, path):
    server = ScriptedServer().reply(204)
    with Harness(mode, server) as harness:
        assert harness.call(method, "21") is None
    assert server.requests_made() == [("POST", f"{V1}/{path}", {}, None)]  # no wait, no re-read


def test_clone_async_is_not_retried_after_a_5xx(mode):
    from toloka_provider.client import InternalApiError

    server = ScriptedServer().reply(500, {"code": "INTERNAL_ERROR", "message": "boom"})
    with Harness(mode, server) as harness, pytest.raises(InternalApiError):
        harness.call("clone_pool_async", "21")
    assert len(server.calls) == 1  # a second POST could make a second clone


@pytest.mark.parametrize(
    ("method", "argument", "value", "maximum"),
    [
        ("find_skills", "limit", 101, 100),
        ("get_skills", "batch_size", 101, 100),
        ("get_user_skills", "batch_size", 1001, 1000),
        ("find_user_restrictions", "limit", 501, 500),
        ("get_message_threads", "batch_size", 301, 300),
        ("get_webhook_subscriptions", "batch_size", 301, 300),
        ("get_apps", "batch_size", 1001, 1000),
    ],
)
def test_new_listings_refuse_pages_over_their_maximum(mode, method, argument, value, maximum):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(ValueError) as caught:
            getattr(client, method)(**{argument: value})
    assert str(maximum) in str(caught.value) and str(value) in str(caught.value)
    assert server.calls == []


def test_get_message_threads_pages_unread_inbox_with_the_same_filters(mode):
    thread = {"id": "m1", "folders": ["INBOX", "UNREAD"]}
    server = (
        ScriptedServer()
        .reply(200, {"items": [thread, {**thread, "id": "m2"}], "has_more": True})
        .reply(200, {"items": [{**thread, "id": "m3"}, {**thread, "id": "m4"}], "has_more": True})
        .reply(200, {"items": [{**thread, "id": "m5"}], "has_more": False})
    )
    with Harness(mode, server) as harness:
        threads = harness.call("get_message_threads", folder=[models.Folder.INBOX, "UNREAD"], batch_size=2)
    assert [thread.id for thread in threads] == ["m1", "m2", "m3", "m4", "m5"]
    base = {"folder": "INBOX,UNREAD", "sort": "id", "limit": "2"}
    assert [call["query"] for call in server.calls] == [
        base,
        {**base, "id_gt": "m2"},
        {**base, "id_gt": "m4"},
    ]


def test_get_user_restrictions_pages_and_builds_each_scope(mode):
    server = (
        ScriptedServer()
        .reply(200, {"items": [{"id": "r1", "scope": "POOL", "pool_id": "21"}], "has_more": True})
        .reply(200, {"items": [{"id": "r2", "scope": "SYSTEM"}], "has_more": False})
    )
    with Harness(mode, server) as harness:
        bans = harness.call("get_user_restrictions", user_id="w1", batch_size=1)
    assert [type(ban) for ban in bans] == [models.PoolUserRestriction, models.SystemUserRestriction]
    assert server.calls[1]["query"] == {"user_id": "w1", "sort": "id", "limit": "1", "id_gt": "r1"}


def test_webhook_subscriptions_page_by_id_not_created(mode):
    # toloka-kit pages these by created_gt, which skips subscriptions made in the same instant.
    same_time = "2024-01-01T00:00:00"
    server = (
        ScriptedServer()
        .reply(200, {"items": [{"id": "w1", "created": same_time}], "has_more": True})
        .reply(200, {"items": [{"id": "w2", "created": same_time}], "has_more": False})
    )
    with Harness(mode, server) as harness:
        subscriptions = harness.call("get_webhook_subscriptions", pool_id="21", batch_size=1)
    assert [sub.id for sub in subscriptions] == ["w1", "w2"]
    assert server.calls[1]["query"] == {"pool_id": "21", "sort": "id", "limit": "1", "id_gt": "w1"}


def test_every_find_and_get_has_explicit_keyword_filters():
    listing_methods = [
        name
        for name in dir(TolokaClient)
        if name.startswith(("find_", "get_")) and name != "get_assignments_df"
    ]
    for name in listing_methods:
        parameters = inspect.signature(getattr(TolokaClient, name)).parameters.values()
        assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters), name


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("get_skills", {"nam": "Accuracy"}, r"get_skills\(\) got an unexpected keyword argument 'nam'"),
        (
            "find_user_skills",
            {"skil_id": "1"},
            r"find_user_skills\(\) got an unexpected keyword argument 'skil_id'",
        ),
        ("find_tasks", {"pool": "1"}, r"find_tasks\(\) got an unexpected keyword argument 'pool'"),
    ],
)
def test_misspelt_filter_is_pythons_type_error(mode, method, kwargs, message):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TypeError, match=message):
            getattr(client, method)(**kwargs)
    assert server.calls == []


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("find_user_restrictions", {"scope": "pool"}, r"scope must be one of SYSTEM, ALL_PROJECTS, PROJECT, POOL .*got str 'pool'"),
        ("get_message_threads", {"folder": ["INBOX", "unread"]}, r"folder must be one of INBOX, .*got str 'unread'"),
        ("find_message_threads", {"folder_ne": 3}, r"folder_ne must be a Folder, its name, or a list of them, got int 3"),
        ("find_webhook_subscriptions", {"event_type": "POOL_CLOSE"}, r"event_type must be one of POOL_CLOSED, .*got str 'POOL_CLOSE'"),
        ("find_assignments", {"status": "accepted"}, r"unknown assignments status 'accepted' \(did you mean 'ACCEPTED'\?\)"),
    ],
)  # fmt: skip
def test_enum_filters_are_checked_by_name(mode, method, kwargs, message):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(ValueError, match=message):
            getattr(client, method)(**kwargs)
    assert server.calls == []


def test_an_enum_value_this_client_does_not_list_can_still_be_asked_for(mode):
    server = ScriptedServer().reply(200, {"items": [], "has_more": False})
    with Harness(mode, server) as harness:
        harness.call("find_webhook_subscriptions", event_type=models.WebhookEventType("ASSIGNMENT_REVIEWED"))
    assert server.calls[0]["query"] == {"event_type": "ASSIGNMENT_REVIEWED"}


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"recipients_select_type": models.RecipientsSelectType.ALL, "topic": {"EN": "News"}, "text": {"EN": "Hello"}},
         {"recipients_select_type": "ALL", "topic": {"EN": "News"}, "text": {"EN": "Hello"}, "answerable": True}),
        ({"recipients_select_type": "FILTER", "topic": {"EN": "T"}, "text": {"EN": "B"},
          "recipients_filter": {"and": [{"category": "profile", "key": "country", "operator": "EQ", "value": "DE"}]}},
         {"recipients_select_type": "FILTER", "topic": {"EN": "T"}, "text": {"EN": "B"}, "answerable": True,
          "recipients_filter": {"and": [{"category": "profile", "key": "country", "operator": "EQ", "value": "DE"}]}}),
    ],
    ids=["all", "filter"],
)  # fmt: skip
def test_compose_message_thread_to_all_or_by_filter(mode, kwargs, body):
    server = ScriptedServer().reply(201, {"id": "mt1"})
    with Harness(mode, server) as harness:
        assert harness.call("compose_message_thread", **kwargs).id == "mt1"
    assert server.requests_made() == [("POST", f"{V1}/message-threads/compose", {}, body)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recipients_select_type": "DIRECT"}, r"recipients_ids must be 1 to 100 performer ids for DIRECT, got list \[\]"),
        ({"recipients_select_type": "DIRECT", "recipients_ids": [f"w{i}" for i in range(101)]}, r"recipients_ids must be 1 to 100"),
        ({"recipients_select_type": "FILTER"}, r"recipients_filter must be a filter dict for FILTER, got NoneType None"),
        ({"recipients_select_type": "ALL", "recipients_ids": ["w1"]}, r"recipients_ids must be None unless recipients_select_type is DIRECT"),
        ({"recipients_select_type": "EVERYONE"}, r"recipients_select_type must be one of DIRECT, FILTER, ALL"),
        ({"recipients_select_type": "ALL", "topic": "News"}, r"topic must be a non-empty \{LANG: text\} dict"),
    ],
)  # fmt: skip
def test_compose_message_thread_checks_recipients(mode, kwargs, message):
    arguments = {"topic": {"EN": "T"}, "text": {"EN": "B"}, **kwargs}
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TolokaArgumentError, match=message):
            client.compose_message_thread(**arguments)
    assert server.calls == []


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    [
        ("set_user_skill", (), {"skill_id": "1", "user_id": "w", "value": 101}, r"value must be a number from 0 to 100, got int 101"),
        ("set_user_skill", (), {"skill_id": "1", "user_id": "w", "value": "high"}, r"value must be a number from 0 to 100, got str 'high'"),
        ("upsert_webhook_subscriptions", ([],), {}, r"subscriptions must be at least one subscription"),
        ("add_message_thread_to_folders", ("mt1", ["STARRED"]), {}, r"folders must be one of INBOX, .* got str 'STARRED'"),
        ("patch_task_suite_overlap_or_min", ("s1", -1), {}, r"overlap must be an int from 0 to 30000, got int -1"),
        ("create_app_items", ("ap1", "ab1", []), {}, r"items must hold 1 to 10000 items, got 0"),
        ("patch_app_batch", ("ap1", "ab1"), {}, r"patch_app_batch\(\) needs name or priority_order, got neither"),
        ("clone_project", ("11",), {"reuse_controllers": "no"}, r"reuse_controllers must be a bool, got str 'no'"),
        ("patch_pool", ("21", 101), {}, r"priority must be an int from 0 to 100, got int 101"),
        ("get_pool", ("",), {}, r"pool_id must be a non-empty id string without '/', got str ''"),
        ("get_skill", ("a/b",), {}, r"skill_id must be a non-empty id string without '/', got str 'a/b'"),
        ("reject_assignment", ("a1", ""), {}, r"public_comment must be a non-empty str"),
        ("get_attachments", (), {}, r"get_attachments\(\) needs pool_id or assignment_id, got neither"),
    ],
)  # fmt: skip
def test_bad_argument_values_raise_toloka_argument_error(mode, method, args, kwargs, message):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TolokaArgumentError, match=message) as caught:
            getattr(client, method)(*args, **kwargs)
    assert isinstance(caught.value, ValueError)  # ``except ValueError`` keeps working
    assert server.calls == []


def test_set_user_skill_sends_a_fractional_value_exactly(mode):
    server = ScriptedServer().reply(200, {"id": "us1", "value": 67, "exact_value": 66.667})
    with Harness(mode, server) as harness:
        skill = harness.call("set_user_skill", skill_id=41, user_id="w1", value="66.667")
    assert server.requests_made() == [
        ("PUT", f"{V1}/user-skills", {}, {"skill_id": "41", "user_id": "w1", "value": 66.667})
    ]
    assert skill.exact_value == Decimal("66.667")


def test_clone_project_reusing_controllers_keeps_uuids_and_foreign_trainings(mode, caplog):
    qc = {
        "training_requirement": {"training_pool_id": "999", "training_passing_skill_value": 80},
        "configs": [{"collector_config": {"type": "CAPTCHA", "uuid": "u-1"}, "rules": []}],
    }
    server = (
        ScriptedServer()
        .reply(200, {"id": "11", "public_name": "Cats", "status": "ACTIVE"})
        .reply(201, {"id": "12", "public_name": "Cats"})
        .reply(200, {"items": [], "has_more": False})
        .reply(
            200,
            {
                "items": [{"id": "21", "project_id": "11", "private_name": "p", "quality_control": qc}],
                "has_more": False,
            },
        )
        .reply(201, {"id": "22", "project_id": "12", "private_name": "p"})
    )
    with Harness(mode, server) as harness, caplog.at_level(logging.WARNING, "toloka_provider.client"):
        project, pools, trainings = harness.call("clone_project", "11")
    assert (project.id, [pool.id for pool in pools], trainings) == ("12", ["22"], [])
    assert server.calls[-1]["body"] == {"project_id": "12", "private_name": "p", "quality_control": qc}
    assert [call["method"] for call in server.calls] == [
        "GET",
        "POST",
        "GET",
        "GET",
        "POST",
    ]  # no PUT: no project QC
    assert "training 999 is not in the project" in caplog.text


def test_clone_results_round_trip():
    result = models.CloneResults(
        models.Project(id="12", public_name="Cats"), [models.Pool(id="22")], [models.Training(id="32")]
    )
    assert models.CloneResults.from_json_dict(result.to_json_dict()) == result
