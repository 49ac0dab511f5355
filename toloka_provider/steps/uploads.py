"""Upload tasks to a pool in chunks, each one async-mode request under an operation id a retry repeats.

The operation id of chunk ``i`` is the caller's (a uuid5 of the task instance and ``i``), so a retried task
resends the same chunks under the same ids: the client resumes an operation that already exists
(OPERATION_ALREADY_EXISTS) instead of creating its tasks twice. The input must have been validated whole
before this runs (the operator does it): what the server still refuses is reported by task index in the
whole input, with what the earlier chunks created.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from toloka_provider.client.errors import TolokaArgumentError, ValidationApiError
from toloka_provider.steps.find_or_create import describe_validation_error

ERRORS_SAMPLE_SIZE = 5


def chunked(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@dataclass
class UploadSummary:
    created: int = 0
    failed: int = 0
    errors_sample: dict[str, Any] = field(default_factory=dict)


def upload_tasks(
    client: Any,
    tasks: Iterable[dict],
    *,
    pool_id: str,
    chunk_size: int,
    operation_id: Callable[[int], str],
    open_pool: bool,
    allow_defaults: bool,
    skip_invalid_items: bool,
    log: Any,
) -> UploadSummary:
    """Create ``tasks`` chunk by chunk; only the last chunk's request opens the pool (when ``open_pool``)."""
    summary = UploadSummary()
    offset = 0
    chunks = chunked(tasks, chunk_size)
    chunk = next(chunks, None)
    chunk_index = 0
    while chunk is not None:
        following = next(chunks, None)  # read ahead: only the last chunk may open the pool
        try:
            chunk_errors = _create_chunk(
                client,
                chunk,
                pool_id=pool_id,
                operation_id=operation_id(chunk_index),
                open_pool=open_pool and following is None,
                allow_defaults=allow_defaults,
                skip_invalid_items=skip_invalid_items,
                offset=offset,
                created_before=summary.created,
            )
        except Exception:
            # Say what is in the pool now: the user (or the retry) must know what the failed try left.
            log.error(
                "Upload to pool %s stopped at chunk %d (tasks %d..%d): %d tasks were created before it, "
                "%d failed validation; a retry of this task instance resends the same chunks under the same "
                "operation ids and creates nothing twice",
                pool_id, chunk_index, offset, offset + len(chunk) - 1, summary.created, summary.failed,
            )  # fmt: skip
            raise
        summary.failed += len(chunk_errors)
        summary.created += len(chunk) - len(chunk_errors)
        for index, errors in chunk_errors.items():
            if len(summary.errors_sample) < ERRORS_SAMPLE_SIZE:
                summary.errors_sample[index] = errors
        offset += len(chunk)
        log.info(
            "Chunk %d: %d tasks sent; %d created, %d failed so far",
            chunk_index, len(chunk), summary.created, summary.failed,
        )  # fmt: skip
        chunk, chunk_index = following, chunk_index + 1
    if summary.failed:
        log.warning("%d tasks were not created; first errors: %s", summary.failed, summary.errors_sample)
    return summary


def _create_chunk(
    client: Any,
    chunk: list[dict],
    *,
    pool_id: str,
    operation_id: str,
    open_pool: bool,
    allow_defaults: bool,
    skip_invalid_items: bool,
    offset: int,
    created_before: int,
) -> dict[str, Any]:
    """Create one chunk; return its validation errors keyed by the task's index in the whole input."""
    try:
        result = client.create_tasks(
            chunk,
            async_mode=True,
            allow_defaults=allow_defaults,
            open_pool=open_pool,
            skip_invalid_items=skip_invalid_items,
            operation_id=operation_id,
        )
    except ValidationApiError as error:
        payload = error.payload
        if skip_invalid_items and isinstance(payload, dict):
            # Nothing in the chunk was valid: the client raises instead of returning an empty result.
            return {str(offset + int(k)): v for k, v in payload.items() if str(k).isdigit()} or {
                str(offset): payload
            }
        # The payload is keyed by the position in the chunk; name the tasks by their index in the whole input.
        invalid = sorted(int(k) for k in payload if str(k).isdigit()) if isinstance(payload, dict) else []
        details = "; ".join(
            f"task #{offset + k}: {json.dumps(payload[str(k)], default=str)[:300]}"
            for k in invalid[:ERRORS_SAMPLE_SIZE]
        ) or describe_validation_error(error)
        more = f" (and {len(invalid) - ERRORS_SAMPLE_SIZE} more)" if len(invalid) > ERRORS_SAMPLE_SIZE else ""
        raise TolokaArgumentError(
            f"Toloka rejected tasks {offset}..{offset + len(chunk) - 1} of pool {pool_id} (one chunk; none "
            f"of it was created; {created_before} tasks of earlier chunks were). Fix the invalid tasks, or "
            f"pass skip_invalid_items=True to create the valid ones. {details}{more}"
        ) from error
    errors = getattr(result, "validation_errors", None) or {}
    return {str(offset + int(index)): problem for index, problem in errors.items()}
