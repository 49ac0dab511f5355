"""``POST /api/staging/projects/{id}/check``: would this project update be a breaking change? (not in the
public OpenAPI; toloka-kit's ``check_update_project_for_major_version_change``).

The body is the project as it would be sent to ``PUT /projects/{id}``; nothing is changed. The answer is
``{"differenceLevel": EQUAL | NON_BREAKING_CHANGE | BREAKING_CHANGE}``:

* ``BREAKING_CHANGE`` when the ``task_spec``'s ``input_spec`` or ``output_spec`` differ from the stored ones
  (existing tasks and answers would no longer fit), or ``assignments_issuing_type`` changes;
* ``NON_BREAKING_CHANGE`` when anything else writable differs (names, instructions, ``view_spec``, metadata ...);
* ``EQUAL`` otherwise. Read-only fields (``id``, ``status``, ``created``, ``owner``) are ignored.
"""

from __future__ import annotations

from toloka_provider.emulator.errors import field_error, validation_error
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State
from toloka_provider.emulator.validation import check_project

__all__ = ["register"]

PATH = "/api/staging/projects/{id}/check"
_READ_ONLY = ("id", "status", "created", "owner")


def _spec_part(project: dict, name: str) -> object:
    return (project.get("task_spec") or {}).get(name) or {}


def check_project_update(request: Request) -> tuple:
    body = request.body
    if not isinstance(body, dict):
        raise validation_error({"body": field_error("OBJECT_EXPECTED", "the body must be a JSON object")})
    errors = check_project(body)
    if errors:
        raise validation_error(errors)
    state: State = request.state
    with state.lock:
        current = state.get("projects", request.params["id"])
        breaking = any(
            _spec_part(current, name) != _spec_part(body, name) for name in ("input_spec", "output_spec")
        )
        breaking = breaking or current.get("assignments_issuing_type") != body.get("assignments_issuing_type")
        if breaking:
            level = "BREAKING_CHANGE"
        else:
            stored = {key: value for key, value in current.items() if key not in _READ_ONLY}
            wanted = {key: value for key, value in body.items() if key not in _READ_ONLY}
            level = "EQUAL" if stored == wanted else "NON_BREAKING_CHANGE"
    return 200, {"differenceLevel": level}


def register(router: Router, state: State) -> None:
    router.add("POST", PATH, check_project_update)
