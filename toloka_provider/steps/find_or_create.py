"""Create an object once per task instance: look for what an earlier try created before creating it.

Projects, pools and trainings carry the task instance's tag in their ``metadata``; App batches are found by
name. A create whose answer never came (a dropped connection, a 5xx) may still have created the object, and
the client does not repeat such a POST (it has no idempotency key): so after a transient failure the object
is looked up again, and only if nothing carries the tag is the create sent again, at most
:data:`CREATE_ATTEMPTS` times in all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from toloka_provider.client.errors import TolokaArgumentError, ValidationApiError, is_transient
from toloka_provider.steps.values import field

#: How many times a create is sent whose earlier attempts may or may not have landed.
CREATE_ATTEMPTS = 4

T = TypeVar("T")


def describe_validation_error(error: ValidationApiError, limit: int = 10) -> str:
    """The error's message plus its invalid field paths, one ``path: CODE message`` each."""
    text = str(error)
    payload = error.payload
    if isinstance(payload, Mapping) and payload:
        details = []
        for path, problem in list(payload.items())[:limit]:
            if isinstance(problem, Mapping) and "code" in problem:
                details.append(f"{path}: {problem.get('code')} {problem.get('message') or ''}".strip())
            elif isinstance(problem, Mapping):  # bulk creates: item index -> {field path: {code, message}}
                details.append(f"{path}: {json.dumps(problem, default=str)[:300]}")
            else:
                details.append(f"{path}: {problem}")
        text += "; invalid fields: " + "; ".join(details)
    return text


def create_once(
    *,
    find: Callable[[], T | None],
    create: Callable[[], T],
    what: str,
    log: Any,
) -> tuple[T, bool]:
    """``(object, created)``: what ``find`` returns, or what ``create`` makes; a lost answer is looked up again.

    Only a transient failure (``is_transient``) can have created something unseen; any other error is raised
    as it came.
    """
    found = find()
    if found is not None:
        return found, False
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return create(), True
        except Exception as error:
            if not is_transient(error) or attempt == CREATE_ATTEMPTS:
                raise
            log.warning(
                "Creating %s failed (%s); looking for it before trying again (attempt %d of %d)",
                what, error, attempt + 1, CREATE_ATTEMPTS,
            )  # fmt: skip
            found = find()
            if found is not None:
                return found, False
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def find_or_create_tagged(
    *,
    kind: str,
    is_ours: Callable[[Mapping[str, Any] | None], bool],
    candidates: Callable[[], Iterable[Any]],
    create: Callable[[], Any],
    argument: str,
    log: Any,
) -> Any:
    """The ``kind`` object an earlier try created (``is_ours(metadata)``), or a new one from ``create``.

    A ``VALIDATION_ERROR`` means the config is wrong: it is raised as ``TolokaArgumentError`` naming
    ``argument`` and the invalid field paths.
    """

    def find() -> Any:
        for candidate in candidates():
            if is_ours(field(candidate, "metadata")):
                log.info(
                    "Found %s %s created by an earlier try of this task instance; not creating another",
                    kind, field(candidate, "id"),
                )  # fmt: skip
                return candidate
        return None

    def checked_create() -> Any:
        try:
            return create()
        except ValidationApiError as error:
            raise TolokaArgumentError(
                f"Toloka rejected the {kind} config given in {argument!r}: {describe_validation_error(error)}"
            ) from error

    result, created = create_once(find=find, create=checked_create, what=f"the {kind}", log=log)
    if created:
        log.info("Created %s %s", kind, field(result, "id"))
    return result


def find_or_create_app_batch(
    client: Any, project_id: str, *, name: str, items: list, log: Any, **kwargs: Any
) -> str:
    """The id of the App batch named ``name`` in the project, created with ``items`` if there is none."""

    def find() -> str | None:
        for batch in client.get_app_batches(project_id):
            if field(batch, "name") == name:
                log.info(
                    "Batch %s named %r exists already (an earlier try); not creating another", batch.id, name
                )
                return str(batch.id)
        return None

    def create() -> str:
        batch = client.create_app_batch(project_id, name=name, items=items, **kwargs)
        log.info("Created batch %s named %r with %d items", batch.id, name, len(items))
        return str(batch.id)

    batch_id, _ = create_once(find=find, create=create, what=f"batch {name!r}", log=log)
    return batch_id
