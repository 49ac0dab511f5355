"""Errors that emulator handlers raise to answer with a Toloka error body.

Contract (shared with ``crowd.py``, ``analytics.py``, ``apps.py``): a route handler raises :class:`ApiError`
(or one of the helpers below) and the server turns it into the HTTP status and the JSON body Toloka sends::

    {"request_id": "...", "code": "VALIDATION_ERROR", "message": "...", "payload": {...}}

``payload`` is omitted when it is None. Field errors in a VALIDATION_ERROR payload are keyed by field path
(``"input_values.image"``) and each is ``{"code": ..., "message": ...[, "params": ...]}``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP ``status`` with ``code``, ``message`` and an optional ``payload``."""

    def __init__(self, status: int, code: str, message: str, payload: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.payload = payload

    def body(self, request_id: str) -> dict:
        body = {"request_id": request_id, "code": self.code, "message": self.message}
        if self.payload is not None:
            body["payload"] = self.payload
        return body


def field_error(code: str, message: str, params: Any = None) -> dict:
    """One entry of a VALIDATION_ERROR payload."""
    error = {"code": code, "message": message}
    if params is not None:
        error["params"] = params
    return error


def validation_error(payload: dict, message: str = "Validation failed") -> ApiError:
    """400 VALIDATION_ERROR with field errors keyed by field path."""
    return ApiError(400, "VALIDATION_ERROR", message, payload)


def invalid_parameter(name: str, message: str, code: str = "INVALID_VALUE") -> ApiError:
    """400 VALIDATION_ERROR for one query parameter or body field ``name``."""
    return validation_error({name: field_error(code, message)}, f"Invalid parameter {name}: {message}")


def does_not_exist(kind: str, object_id: str) -> ApiError:
    return ApiError(404, "DOES_NOT_EXIST", f"{kind} {object_id!r} does not exist")


def inappropriate_status(message: str, appropriate: list[str] | None = None) -> ApiError:
    """409 INAPPROPRIATE_STATUS (an "internal" code: IncorrectActionsApiError on the client side)."""
    payload = {"appropriate_statuses": appropriate} if appropriate is not None else None
    return ApiError(409, "INAPPROPRIATE_STATUS", message, payload)


def conflict_state(message: str) -> ApiError:
    return ApiError(409, "CONFLICT_STATE", message)


def not_enough_balance(required: Any, balance: Any, what: str) -> ApiError:
    """409 NOT_ENOUGH_BALANCE (an "internal" code, like INAPPROPRIATE_STATUS): ``what`` would cost ``required``
    and the requester's balance is ``balance``; nothing was done."""
    return ApiError(
        409,
        "NOT_ENOUGH_BALANCE",
        f"{what} costs {required} USD and the balance is {balance} USD: nothing was created or paid",
        {"required": str(required), "balance": str(balance)},
    )
