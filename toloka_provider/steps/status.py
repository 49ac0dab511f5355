"""Changing a status so that a retry never fails on what its first try did.

Toloka answers 204 when the object is already in the wanted state (the client then returns the object); a
409 may still come when, say, a pool is closed a second time while archived. Both count as success when the
object ends up where the user wanted it: after a state conflict the object is read back, and the conflict is
raised only when the object is somewhere else.
"""

from __future__ import annotations

from typing import Any

from toloka_provider.client.errors import ConflictStateApiError, IncorrectActionsApiError
from toloka_provider.steps.values import enum_value

#: The client's exceptions for "the object's state forbids this action" (CONFLICT_STATE, INAPPROPRIATE_STATUS).
STATE_CONFLICTS = (ConflictStateApiError, IncorrectActionsApiError)

TARGET_STATUSES = {
    "open": ("OPEN",),
    "close": ("CLOSED", "ARCHIVED"),  # an archived object is closed too
    "archive": ("ARCHIVED",),
}


def change_status(client: Any, kind: str, action: str, object_id: str, *, log: Any) -> str:
    """Run ``client.<action>_<kind>(object_id)`` (kind: pool or training) and return the resulting status."""
    try:
        result = getattr(client, f"{action}_{kind}")(object_id)
    except STATE_CONFLICTS:
        status = enum_value(getattr(client, f"get_{kind}")(object_id).status)
        if status in TARGET_STATUSES[action]:
            log.info("%s %s is already %s", kind.capitalize(), object_id, status)
            return str(status)
        raise
    status = enum_value(result.status)
    log.info("%s %s is now %s", kind.capitalize(), object_id, status)
    return str(status)


def start_app_batch(client: Any, project_id: str, batch_id: str, *, log: Any) -> str:
    """Start an App batch; one that is already started (or done) is fine. Returns the batch status."""
    try:
        client.start_app_batch(project_id, batch_id)
    except STATE_CONFLICTS:
        status = enum_value(client.get_app_batch(project_id, batch_id).status)
        if status == "NEW":
            raise
        log.info("Batch %s was already started (status %s)", batch_id, status)
        return str(status)
    status = enum_value(client.get_app_batch(project_id, batch_id).status)
    log.info("Started batch %s; status %s", batch_id, status)
    return str(status)
