"""Where the waiting rules used to live; they are in ``toloka_provider.client.waits`` now.

Kept so that code importing ``pool_outcome`` and friends from here keeps working. What is transient is
``toloka_provider.client.errors.is_transient``.
"""

from __future__ import annotations

from toloka_provider.client.waits import (
    APP_BATCH_FAILURE_STATUSES,
    FAILURE,
    KNOWN_CLOSE_REASONS,
    OPERATION_FAILURE,
    OPERATION_SUCCESS,
    POOL_FAIL_FAST_REASONS,
    POOL_TRANSIENT_CLOSE_REASONS,
    POOL_WAITING_STATUSES,
    SUCCESS,
    WAITING,
    Outcome,
    app_batch_outcome,
    describe_persistent_error,
    normalise_names,
    operation_outcome,
    plain,
    pool_outcome,
)

__all__ = [
    "APP_BATCH_FAILURE_STATUSES",
    "FAILURE",
    "KNOWN_CLOSE_REASONS",
    "OPERATION_FAILURE",
    "OPERATION_SUCCESS",
    "POOL_FAIL_FAST_REASONS",
    "POOL_TRANSIENT_CLOSE_REASONS",
    "POOL_WAITING_STATUSES",
    "SUCCESS",
    "WAITING",
    "Outcome",
    "app_batch_outcome",
    "describe_persistent_error",
    "normalise_names",
    "operation_outcome",
    "plain",
    "pool_outcome",
]
