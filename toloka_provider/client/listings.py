"""Listing definitions of the endpoints added with skills, bans, messages, webhooks and Apps.

Same ``Listing`` as in ``pagination`` (filters, page-size limits, envelope, cursor); kept in their own module
so that the paging logic there and these endpoint facts change independently. Page maxima are the ones
toloka-kit documents per method; defaults stay at 300 for v1 lists (the general maximum of the docs) where
toloka-kit names a larger maximum, so a server that holds to the docs never refuses our default page.
"""

from __future__ import annotations

import enum

from toloka_provider.client import models
from toloka_provider.client.pagination import APPS, RANGE_SUFFIXES, V1, Listing


def _ranged(*fields: str) -> frozenset[str]:
    return frozenset(f"{field}{suffix}" for field in fields for suffix in RANGE_SUFFIXES)


SKILLS = Listing(
    "skills", f"{V1}/skills", frozenset({"name"}) | _ranged("id", "created", "modified"), 100, 100
)
USER_SKILLS = Listing(
    "user_skills",
    f"{V1}/user-skills",
    frozenset({"user_id", "skill_id"}) | _ranged("id", "created", "modified"),
    1_000,
    300,
)
USER_RESTRICTIONS = Listing(
    "user_restrictions",
    f"{V1}/user-restrictions",
    frozenset({"scope", "user_id", "project_id", "pool_id"}) | _ranged("id", "created"),
    500,
    300,
)
MESSAGE_THREADS = Listing(
    "message_threads",
    f"{V1}/message-threads",
    frozenset({"folder", "folder_ne"}) | _ranged("id", "created"),
    300,
    300,
)
# toloka-kit pages these by ``created`` (``created_gt``), which skips subscriptions created in the same
# instant as the last one of a page; the id cursor of every other list has no such gap.
WEBHOOK_SUBSCRIPTIONS = Listing(
    "webhook_subscriptions",
    f"{V1}/webhook-subscriptions",
    frozenset({"event_type", "pool_id"}) | _ranged("id", "created"),
    300,
    300,
)
APPS_LISTING = Listing(
    "apps", f"{APPS}/apps", frozenset({"after_id", "lang"}) | _ranged("id"), 1_000, 1_000, envelope="content"
)

#: Enum-valued filters other than ``status``, checked by name before the request (a misspelt value would
#: match nothing, silently): filter name -> enum.
ENUM_FILTERS: dict[str, type[enum.Enum]] = {
    "scope": models.UserRestrictionScope,
    "folder": models.Folder,
    "folder_ne": models.Folder,
    "event_type": models.WebhookEventType,
}
