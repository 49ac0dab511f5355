"""Control endpoints under ``/_emulator/`` (no auth, JSON) and the small web UI pages.

==========================================  ===========================================================
``GET  /_emulator/health``                  ``{"status": "ok", "now": <emulator clock>}``
``GET  /_emulator/faults``                  current rates, path prefixes, methods, injected counts
``PUT  /_emulator/faults``                  body ``{"spec": "500=0.1,..." | {"500": 0.1}, "paths": [...],
                                            "methods": [...]}``; ``{}`` or ``DELETE`` switches faults off
``POST /_emulator/crowd/pause``             stop the simulated crowd from taking new work
``POST /_emulator/crowd/resume``            let it work again
``POST /_emulator/clock/advance``           body ``{"seconds": N}``; answers ``{"now": ...}``
``POST /_emulator/bulk-load``               body ``{"pool_id", "count", "status": "SUBMITTED"}``: adds
                                            synthetic assignments (5 tasks and 5 solutions each)
``GET  /_emulator/counters``                requests by ``"METHOD /template STATUS"``, created objects,
                                            accepted / rejected assignments, ``double_decisions``
``GET  /_emulator/workers``                 the crowd's workers: user id, accuracy, spammer
``GET  /_emulator/workers/{user_id}``       one worker's record: profile, skills, bans in force, bonuses
                                            (and their total), messages received, assignments by status
``POST /_emulator/workers/{user_id}/messages``  the worker writes to the requester: body ``{text, topic?,
                                            pool_id?, assignment_id?, thread_id?}``; lands in INBOX+UNREAD
``GET  /_emulator/webhooks``                webhook deliveries: sent / failed / pending events, last 1000
                                            attempts (url, event types, status, error)
``GET  /requester/project/{id}``            HTML page of a project (target of the Airflow extra links)
``GET  /requester/project/{id}/pool/{id}``  HTML page of a pool
==========================================  ===========================================================
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from toloka_provider.emulator import messages, quality, webhooks, workers
from toloka_provider.emulator.errors import ApiError, does_not_exist, invalid_parameter
from toloka_provider.emulator.router import RawResponse, Request, Router
from toloka_provider.emulator.state import State

_LABELS = ("cat", "dog", "bird")
# Upper bounds of the control endpoints' numbers: a bulk load that size holds about 1 GB; a clock moved
# further than about 100 years would soon pass the last date Python has (9999-12-31).
MAX_BULK_LOAD = 5_000_000
MAX_CLOCK_ADVANCE_SECONDS = 100 * 366 * 86400


def _clip(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def worker_record(state: Any, user_id: str) -> dict:
    """The control view of one worker: profile, skills, bans in force, bonuses, messages, assignments."""
    now = state.now()
    profile = workers.worker_profiles(state).get(user_id)
    skills = {
        skill_id: state.objects["user_skills"][user_skill_id]["exact_value"]
        for skill_id, user_skill_id in state.quality_book.skills_by_user.get(user_id, {}).items()
    }
    bonuses = [
        dict(bonus) for bonus in state.objects["user_bonuses"].values() if bonus.get("user_id") == user_id
    ]
    inbox = messages.worker_inbox(state, user_id)
    by_status: dict[str, int] = {}
    for assignment in state.objects["assignments"].values():
        if assignment.get("user_id") == user_id:
            by_status[assignment["status"]] = by_status.get(assignment["status"], 0) + 1
    if profile is None and not (skills or bonuses or inbox or by_status):
        raise does_not_exist("user", user_id)
    total = sum((Decimal(str(bonus.get("amount") or 0)) for bonus in bonuses), Decimal(0))
    return {
        "user_id": user_id,
        "crowd": profile is not None,
        "index": profile["index"] if profile else None,
        "accuracy": profile["accuracy"] if profile else None,
        "spammer": profile["spammer"] if profile else None,
        "metadata": profile["metadata"] if profile else None,
        "skills": skills,
        "restrictions": [dict(r) for r in quality.active_restrictions(state, user_id, now)],
        "bonuses": bonuses,
        "bonus_total": float(total),
        "messages": inbox,
        "assignments": by_status,
    }


def _json_body(request: Request) -> dict:
    body = request.body
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid_parameter("body", "expected a JSON object")
    return body


def _page(title: str, rows: list[tuple[str, Any]]) -> RawResponse:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><table>{cells}</table>"
        "<p>Served by the local Toloka emulator.</p></body></html>"
    )
    return RawResponse(text.encode(), "text/html; charset=utf-8")


def register(router: Router, emulator: Any) -> None:
    """``emulator`` provides ``state``, ``faults`` (FaultInjector), ``pause_crowd()``, ``resume_crowd()`` and the
    crowd's actions ``bulk_load_assignments()`` and ``worker_writes()``: these endpoints read and switch; the
    crowd is the one that changes the world."""
    state: State = emulator.state

    def health(request: Request) -> tuple:
        return 200, {"status": "ok", "now": state.now_wire()}

    def get_faults(request: Request) -> tuple:
        return 200, emulator.faults.describe()

    def put_faults(request: Request) -> tuple:
        body = _json_body(request)
        spec = body.get("spec", body.get("rates"))
        try:
            emulator.faults.configure(spec, body.get("paths"), body.get("methods"))
        except (TypeError, ValueError) as error:
            raise invalid_parameter("spec", str(error)) from None
        return 200, emulator.faults.describe()

    def delete_faults(request: Request) -> tuple:
        emulator.faults.clear()
        return 200, emulator.faults.describe()

    def pause(request: Request) -> tuple:
        emulator.pause_crowd()
        return 200, {"crowd": "paused"}

    def resume(request: Request) -> tuple:
        emulator.resume_crowd()
        return 200, {"crowd": "running"}

    def advance(request: Request) -> tuple:
        seconds = _json_body(request).get("seconds")
        # Bounded: a huge or non-finite offset would make every later now() raise OverflowError.
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= MAX_CLOCK_ADVANCE_SECONDS  # also false for NaN
        ):
            raise invalid_parameter(
                "seconds", f"expected a number of seconds from 0 to {MAX_CLOCK_ADVANCE_SECONDS}, got {_clip(seconds)}"
            )
        try:
            state.advance_clock(seconds)
        except ValueError as error:
            raise invalid_parameter("seconds", str(error)) from None
        return 200, {"now": state.now_wire()}

    def bulk_load(request: Request) -> tuple:
        body = _json_body(request)
        count = body.get("count", body.get("n"))
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_BULK_LOAD:
            raise invalid_parameter("count", f"expected an integer from 0 to {MAX_BULK_LOAD}, got {_clip(count)}")
        try:
            return 200, emulator.bulk_load_assignments(str(body.get("pool_id")), count, body.get("status", "SUBMITTED"))
        except ValueError as error:
            raise invalid_parameter("status", str(error)) from None

    def counters(request: Request) -> tuple:
        snapshot = state.counters_snapshot()
        snapshot["faults_injected"] = emulator.faults.describe()["injected"]
        return 200, snapshot

    def project_page(request: Request) -> tuple:
        with state.lock:
            project = state.objects["projects"].get(request.params["project_id"])
            if project is None:
                raise ApiError(404, "DOES_NOT_EXIST", f"project {request.params['project_id']!r} does not exist")
            pools = [p for p in state.pools.values() if p.get("project_id") == project["id"]]
            rows = [("id", project["id"]), ("name", project.get("public_name")), ("status", project.get("status"))]
            rows += [(f"pool {p['id']}", f"{p.get('private_name')} — {p.get('status')}") for p in pools]
        return 200, _page(f"Project {project.get('public_name')}", rows)

    def pool_page(request: Request) -> tuple:
        with state.lock:
            pool = state.objects["pools"].get(request.params["pool_id"]) or state.trainings.get(request.params["pool_id"])
            if pool is None:
                raise ApiError(404, "DOES_NOT_EXIST", f"pool {request.params['pool_id']!r} does not exist")
            by_status: dict[str, int] = {}
            for assignment_id in state.pool_index("assignments", pool["id"]):
                status = state.assignments.peek(assignment_id).get("status")  # peek: no copy of a compact one
                by_status[status] = by_status.get(status, 0) + 1
            rows = [
                ("id", pool["id"]),
                ("project", pool.get("project_id")),
                ("name", pool.get("private_name")),
                ("status", pool.get("status")),
                ("last close reason", pool.get("last_close_reason", "")),
                ("tasks", len(state.pool_index("tasks", pool["id"]))),
            ] + [(f"assignments {k}", v) for k, v in sorted(by_status.items())]
        return 200, _page(f"Pool {pool.get('private_name')}", rows)

    router.add("GET", "/_emulator/health", health, auth=False)
    router.add("GET", "/_emulator/faults", get_faults, auth=False)
    router.add("PUT", "/_emulator/faults", put_faults, auth=False)
    router.add("DELETE", "/_emulator/faults", delete_faults, auth=False)
    router.add("POST", "/_emulator/crowd/pause", pause, auth=False)
    router.add("POST", "/_emulator/crowd/resume", resume, auth=False)
    router.add("POST", "/_emulator/clock/advance", advance, auth=False)
    router.add("POST", "/_emulator/bulk-load", bulk_load, auth=False)
    router.add("GET", "/_emulator/counters", counters, auth=False)
    def list_workers(request: Request) -> tuple:
        with state.lock:
            profiles = workers.worker_profiles(state)
            listed = [
                {"user_id": user_id, "index": p["index"], "accuracy": p["accuracy"], "spammer": p["spammer"]}
                for user_id, p in profiles.items()
            ]
        return 200, {"items": listed}

    def get_worker(request: Request) -> tuple:
        with state.lock:
            return 200, worker_record(state, request.params["user_id"])

    def worker_message(request: Request) -> tuple:
        # The crowd acts; this endpoint only asks it to.
        return 201, emulator.worker_writes(request.params["user_id"], _json_body(request))

    def webhook_report(request: Request) -> tuple:
        return 200, webhooks.delivery_report(state)

    router.add("GET", "/_emulator/workers", list_workers, auth=False)
    router.add("GET", "/_emulator/workers/{user_id}", get_worker, auth=False)
    router.add("POST", "/_emulator/workers/{user_id}/messages", worker_message, auth=False)
    router.add("GET", "/_emulator/webhooks", webhook_report, auth=False)
    router.add("GET", "/requester/project/{project_id}", project_page, auth=False)
    router.add("GET", "/requester/project/{project_id}/pool/{pool_id}", pool_page, auth=False)
