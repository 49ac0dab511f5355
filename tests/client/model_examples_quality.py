"""Wire examples of the models added with skills, bans, messages, webhooks and users (issue 14).

Each is a full object as the API sends it, with one key the model does not declare (kept and sent back),
merged into ``test_client_models.EXAMPLES`` so the round-trip tests cover them.
"""

from __future__ import annotations

from toloka_provider.client import models

OWNER = {"id": "req-1", "myself": True, "company_id": "c-1"}

QUALITY_EXAMPLES: dict[type, dict] = {
    models.Skill: {
        "name": "Accuracy",
        "private_comment": "golden accuracy",
        "hidden": True,
        "skill_ttl_hours": 24,
        "training": False,
        "public_name": {"EN": "Accuracy"},
        "public_requester_description": {"EN": "How often you are right"},
        "owner": OWNER,
        "deprecated": False,
        "id": "41",
        "created": "2024-01-31T12:34:56.123000",
        "global": False,
    },
    models.UserSkill: {
        "id": "us-1",
        "skill_id": "41",
        "user_id": "w-1",
        "value": 83,
        "exact_value": 83.333,
        "created": "2024-01-31T12:34:56",
        "modified": "2024-02-01T00:00:00",
        "x_extra": 1,
    },
    models.UserRestriction: {"scope": "FUTURE_SCOPE", "user_id": "w-1", "id": "ur-0", "region": "EU"},
    models.SystemUserRestriction: {
        "user_id": "w-1",
        "private_comment": "spam",
        "id": "ur-1",
        "created": "2024-01-01T00:00:00",
        "scope": "SYSTEM",
    },
    models.AllProjectsUserRestriction: {
        "user_id": "w-1",
        "will_expire": "2024-03-01T00:00:00",
        "id": "ur-2",
        "scope": "ALL_PROJECTS",
    },
    models.ProjectUserRestriction: {"user_id": "w-1", "id": "ur-3", "scope": "PROJECT", "project_id": "11"},
    models.PoolUserRestriction: {
        "user_id": "w-1",
        "will_expire": "2024-03-01T10:00:00",
        "scope": "POOL",
        "pool_id": "21",
        "x": [1],
    },
    models.Interlocutor: {"id": "w-1", "role": "USER", "myself": False},
    models.Message: {
        "text": {"EN": "Thanks"},
        "from": {"id": "req-1", "role": "REQUESTER", "myself": True},
        "created": "2024-01-31T12:00:00",
    },
    models.MessageThread: {
        "id": "mt-1",
        "topic": {"EN": "Bonus"},
        "interlocutors_inlined": True,
        "interlocutors": [{"id": "w-1", "role": "USER", "myself": False}],
        "messages_inlined": True,
        "messages": [
            {
                "text": {"EN": "Thanks"},
                "from": {"id": "req-1", "role": "REQUESTER"},
                "created": "2024-01-31T12:00:00",
            }
        ],
        "meta": {"pool_id": "21", "project_id": "11", "assignment_id": "a1"},
        "answerable": True,
        "folders": ["INBOX", "UNREAD"],
        "compose_details": {"recipients_select_type": "DIRECT", "recipients_ids": ["w-1"]},
        "created": "2024-01-31T12:00:00",
        "x_thread": "kept",
    },
    models.WebhookSubscription: {
        "webhook_url": "http://127.0.0.1:9000/hook",
        "event_type": "POOL_CLOSED",
        "pool_id": "21",
        "secret_key": "s3cret",
        "id": "wh-1",
        "created": "2024-01-31T12:00:00",
        "x_sub": True,
    },
    models.WebhookTestResult: {
        "success": True,
        "responseReceivedAt": "2024-01-31T12:00:01",
        "errorType": "NONE",
        "originalStatusCode": 200,
        "uuids": ["e-1"],
    },
    models.User: {
        "id": "w-1",
        "country": "DE",
        "languages": ["EN", "DE"],
        "adult_allowed": True,
        "attributes": {"country_by_phone": "DE", "client_type": "BROWSER", "os_family": "LINUX"},
        "x_user": 0,
    },
}
