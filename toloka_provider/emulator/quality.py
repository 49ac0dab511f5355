"""Worker quality control: skills, user skills, user restrictions (bans), user metadata, and who may work.

Routes (``register(router, state)``), all under ``/api/v1``::

    GET  /skills            POST /skills            GET /skills/{id}            PUT /skills/{id}
    GET  /user-skills       PUT  /user-skills       GET /user-skills/{id}       DELETE /user-skills/{id}
    GET  /user-restrictions PUT  /user-restrictions GET /user-restrictions/{id} DELETE /user-restrictions/{id}
    GET  /user-metadata/{user_id}

What happens
    * ``PUT /user-skills`` is an upsert keyed by (user_id, skill_id): ``value`` (0..100, fractional) is kept as
      ``exact_value``; ``value`` on the wire is its rounded integer; ``modified`` moves on every change.
    * ``PUT /user-restrictions`` is an upsert keyed by (scope, user_id, project_id, pool_id). A restriction
      applies while it has no ``will_expire`` or while the emulator clock is before it; ``DELETE`` lifts it.
      Scopes: ``SYSTEM`` and ``ALL_PROJECTS`` (every pool: the emulator has one requester), ``PROJECT``
      (the pools of ``project_id``), ``POOL`` (``pool_id``).
    * :func:`may_work` is what the crowd asks before giving a worker a task suite: no restriction applies to
      the pool, and the pool's ``filter`` (Toloka's filter JSON: nested ``and`` / ``or`` of
      ``{category: skill|profile|computed, key, operator, value}``) holds for the worker. A ``skill``
      condition reads the worker's exact skill value (a worker without the skill has none: ``EQ null``
      holds, any comparison with a number fails); ``profile`` and ``computed`` conditions read the worker's
      metadata (``languages``, ``country``, ``adult_allowed``, ``client_type``, ``os_family`` ...). A
      condition on an attribute the emulator does not model holds only for ``NE`` / ``NOT_IN``.
    * Each change bumps ``state.quality_version`` so that the crowd re-checks a pool it found nobody for.
    * Crowd workers have a fixed profile derived from the seed (``GET /user-metadata/{user_id}``);
      :func:`worker_record` is the control view ``GET /_emulator/workers/{user_id}`` (skills, restrictions,
      bonuses, messages, assignments).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from toloka_provider.emulator.books import QualityBook
from toloka_provider.emulator.errors import does_not_exist, field_error, validation_error
from toloka_provider.emulator.listing import ListSpec, list_page
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State, normalize_datetime, parse_datetime
from toloka_provider.emulator.workers import is_known_user, unknown_user_error, worker_profiles

__all__ = ["active_restrictions", "eligibility_key", "filter_holds", "may_work", "register", "worker_profiles"]

API = "/api/v1"
RESTRICTION_SCOPES = ("ALL_PROJECTS", "POOL", "PROJECT", "SYSTEM")

SKILLS = ListSpec(
    "skills",
    exact={"name": "name", "global": "global"},
    bool_fields=("global",),
    ranges={"id": ("id", "str"), "created": ("created", "date"), "modified": ("modified", "date")},
)
USER_SKILLS = ListSpec(
    "user_skills",
    exact={"user_id": "user_id", "skill_id": "skill_id"},
    ranges={"id": ("id", "str"), "created": ("created", "date"), "modified": ("modified", "date")},
    sort_fields=("id", "created", "modified"),
)
USER_RESTRICTIONS = ListSpec(
    "user_restrictions",
    exact={"scope": "scope", "user_id": "user_id", "project_id": "project_id", "pool_id": "pool_id"},
    ranges={"id": ("id", "str"), "created": ("created", "date")},
)

_SKILL_READ_ONLY = ("id", "created", "owner", "global", "training")
def _book(state: Any) -> QualityBook:
    return state.quality_book


def _owner(state: State) -> dict:
    return {"id": state.requester_id, "myself": True, "company_id": "emulated-company"}


def _require_object(request: Request) -> dict:
    if not isinstance(request.body, dict):
        raise validation_error({"body": field_error("OBJECT_EXPECTED", "the body must be a JSON object")})
    return request.body


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


# ------------------------------------------------------------------------------------------------ workers


def _skill_value(state: Any, user_id: str, skill_id: str) -> float | None:
    user_skill_id = _book(state).skills_by_user.get(user_id, {}).get(str(skill_id))
    if user_skill_id is None:
        return None
    user_skill = state.objects["user_skills"].get(user_skill_id)
    return None if user_skill is None else float(user_skill["exact_value"])


def _restriction_active(state: Any, restriction: dict, now: datetime) -> bool:
    book = _book(state)
    if restriction["id"] not in book.expiry:
        text = restriction.get("will_expire")
        book.expiry[restriction["id"]] = parse_datetime(text) if text else None
    expires = book.expiry[restriction["id"]]
    return expires is None or now < expires


def _restriction_covers(restriction: dict, pool: dict) -> bool:
    scope = restriction.get("scope")
    if scope in ("SYSTEM", "ALL_PROJECTS"):
        return True
    if scope == "PROJECT":
        return str(restriction.get("project_id")) == str(pool.get("project_id"))
    return str(restriction.get("pool_id")) == str(pool.get("id"))


def active_restrictions(state: Any, user_id: str, now: datetime, pool: dict | None = None) -> list[dict]:
    """The restrictions of ``user_id`` in force at ``now`` (covering ``pool`` when given)."""
    found = []
    objects = state.objects["user_restrictions"]
    for restriction_id in _book(state).restrictions_by_user.get(user_id, ()):
        restriction = objects.get(restriction_id)
        if restriction is None or not _restriction_active(state, restriction, now):
            continue
        if pool is None or _restriction_covers(restriction, pool):
            found.append(restriction)
    return found


def _attribute(state: Any, user_id: str, category: str, key: str) -> Any:
    if category == "skill":
        return _skill_value(state, user_id, key)
    profile = worker_profiles(state).get(user_id)
    if profile is None:
        return None
    metadata = profile["metadata"]
    if key in metadata and key != "attributes":
        return metadata[key]
    aliases = {
        "region_by_phone": "country_by_phone",
        "region_by_ip": "country_by_ip",
        "citizenship": "country",
    }
    key = aliases.get(key, key)
    if key in metadata:
        return metadata[key]
    return metadata["attributes"].get(key)


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if isinstance(actual, list):  # languages: "the worker speaks X"
        inside = expected in actual
        return not inside if operator in ("NE", "NOT_IN") else inside if operator in ("EQ", "IN") else False
    if expected is None:
        return (actual is None) == (operator in ("EQ", "IN"))
    if actual is None:
        return operator in ("NE", "NOT_IN")
    if operator in ("EQ", "IN"):
        return actual == expected or str(actual) == str(expected)
    if operator in ("NE", "NOT_IN"):
        return not (actual == expected or str(actual) == str(expected))
    if not (_is_number(actual) and _is_number(expected)):
        return False
    return {
        "GT": actual > expected,
        "GTE": actual >= expected,
        "LT": actual < expected,
        "LTE": actual <= expected,
    }.get(operator, False)


def filter_holds(state: Any, user_id: str, node: Any) -> bool:
    """Whether Toloka's filter JSON ``node`` holds for the worker (an empty filter always holds)."""
    if not node:
        return True
    if isinstance(node, list):
        return all(filter_holds(state, user_id, part) for part in node)
    if not isinstance(node, dict):
        return True
    if "and" in node:
        return all(filter_holds(state, user_id, part) for part in node["and"] or ())
    if "or" in node:
        parts = node["or"] or ()
        return not parts or any(filter_holds(state, user_id, part) for part in parts)
    category = str(node.get("category", "")).lower()
    actual = _attribute(state, user_id, category, str(node.get("key")))
    return _compare(actual, str(node.get("operator", "EQ")).upper(), node.get("value"))


def may_work(state: Any, user_id: str, pool: dict, now: datetime) -> bool:
    """Whether the crowd may give ``user_id`` a task suite of ``pool`` now (no ban covers it; its filter
    holds). Call with the lock held."""
    if active_restrictions(state, user_id, now, pool):
        return False
    return filter_holds(state, user_id, pool.get("filter"))


def eligibility_key(state: Any, now: datetime) -> tuple:
    """Changes whenever :func:`may_work` may answer differently: a skill or ban changed, or a ban expired."""
    book = _book(state)
    expired = sum(1 for expires in book.expiry.values() if expires is not None and expires <= now)
    return (state.quality_version, expired)


# ------------------------------------------------------------------------------------------------ skills


def _check_skill(body: dict) -> dict:
    errors = {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = field_error("VALUE_REQUIRED", "name is required (a non-empty string)")
    for key in ("public_name", "public_requester_description"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            errors[key] = field_error("OBJECT_EXPECTED", f"{key} must be an object of language -> text")
    if body.get("hidden") is not None and not isinstance(body["hidden"], bool):
        errors["hidden"] = field_error("BOOLEAN_EXPECTED", "hidden must be true or false")
    ttl = body.get("skill_ttl_hours")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
        errors["skill_ttl_hours"] = field_error(
            "INTEGER_EXPECTED", "skill_ttl_hours must be a positive integer"
        )
    if body.get("private_comment") is not None and not isinstance(body["private_comment"], str):
        errors["private_comment"] = field_error("STRING_EXPECTED", "private_comment must be a string")
    return errors


def create_skill(request: Request) -> tuple:
    body = _require_object(request)
    errors = _check_skill(body)
    if errors:
        raise validation_error(errors)
    state = request.state
    with state.lock:
        skill = {key: value for key, value in body.items() if key not in _SKILL_READ_ONLY}
        skill.setdefault("hidden", True)
        skill.update({"owner": _owner(state), "global": False, "training": False})
        state.create("skills", skill)
        return 201, dict(skill)


def update_skill(request: Request) -> tuple:
    body = _require_object(request)
    errors = _check_skill(body)
    if errors:
        raise validation_error(errors)
    state = request.state
    with state.lock:
        current = state.get("skills", request.params["id"])
        updated = {key: value for key, value in body.items() if key not in _SKILL_READ_ONLY}
        updated.setdefault("hidden", True)
        updated.update({key: current[key] for key in _SKILL_READ_ONLY if key in current})
        state.objects["skills"][current["id"]] = updated
        state.quality_version += 1
        return 200, dict(updated)


# ------------------------------------------------------------------------------------------- user skills


def set_user_skill(request: Request) -> tuple:
    body = _require_object(request)
    state = request.state
    errors = {}
    for key in ("skill_id", "user_id"):
        if not isinstance(body.get(key), str) or not body[key]:
            errors[key] = field_error("VALUE_REQUIRED", f"{key} is required (a string)")
    value = body.get("value")
    if value is None:
        errors["value"] = field_error("VALUE_REQUIRED", "value is required (a number 0..100)")
    elif not _is_number(value):
        errors["value"] = field_error("FLOAT_EXPECTED", f"value must be a number 0..100, got {value!r}")
    elif not 0 <= value <= 100:
        errors["value"] = field_error("VALUE_OUT_OF_BOUNDS", f"value must be between 0 and 100, got {value}")
    if body.get("reason") is not None and not isinstance(body["reason"], str):
        errors["reason"] = field_error("STRING_EXPECTED", "reason must be a string")
    with state.lock:
        if "user_id" not in errors and not is_known_user(state, body["user_id"]):
            errors["user_id"] = unknown_user_error(body["user_id"])
        if "skill_id" not in errors and body["skill_id"] not in state.objects["skills"]:
            errors["skill_id"] = field_error(
                "ENTITY_DOES_NOT_EXIST", f"skill {body['skill_id']!r} does not exist"
            )
        if errors:
            raise validation_error(errors)
        book = _book(state)
        user_id, skill_id = body["user_id"], body["skill_id"]
        now = state.now_wire()
        existing_id = book.skills_by_user.get(user_id, {}).get(skill_id)
        exact = float(Decimal(str(value)))
        if existing_id is not None:
            user_skill = state.objects["user_skills"][existing_id]
            user_skill.update(
                value=int(Decimal(str(value)).to_integral_value()), exact_value=exact, modified=now
            )
        else:
            user_skill = {
                "skill_id": skill_id,
                "user_id": user_id,
                "value": int(Decimal(str(value)).to_integral_value()),
                "exact_value": exact,
                "created": now,
                "modified": now,
            }
            state.create("user_skills", user_skill)
            book.skills_by_user.setdefault(user_id, {})[skill_id] = user_skill["id"]
        state.quality_version += 1
        state.notify_changed()
        return 200, dict(user_skill)


def delete_user_skill(request: Request) -> tuple:
    state = request.state
    with state.lock:
        user_skill = state.get("user_skills", request.params["id"])
        del state.objects["user_skills"][user_skill["id"]]
        _book(state).skills_by_user.get(user_skill["user_id"], {}).pop(user_skill["skill_id"], None)
        state.quality_version += 1
        state.notify_changed()
        return 204, None


# ------------------------------------------------------------------------------------ user restrictions


def set_user_restriction(request: Request) -> tuple:
    body = _require_object(request)
    state = request.state
    errors = {}
    scope = body.get("scope")
    if scope is None:
        errors["scope"] = field_error("VALUE_REQUIRED", "scope is required")
    elif scope not in RESTRICTION_SCOPES:
        errors["scope"] = field_error(
            "UNKNOWN_ENUM_VALUE", f"scope must be one of {', '.join(RESTRICTION_SCOPES)}, got {scope!r}"
        )
    if not isinstance(body.get("user_id"), str) or not body["user_id"]:
        errors["user_id"] = field_error("VALUE_REQUIRED", "user_id is required (a string)")
    comment = body.get("private_comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 499):
        errors["private_comment"] = field_error(
            "STRING_LENGTH_GREATER_THAN_MAX", "private_comment must be a string of at most 499 characters"
        )
    will_expire = body.get("will_expire")
    if will_expire is not None:
        try:
            will_expire = normalize_datetime(will_expire if isinstance(will_expire, str) else "")
        except ValueError:
            errors["will_expire"] = field_error(
                "INVALID_DATE_TIME_SYNTAX",
                f"will_expire must be an ISO 8601 date-time, got {body['will_expire']!r}",
            )
    with state.lock:
        if "user_id" not in errors and not is_known_user(state, body["user_id"]):
            errors["user_id"] = unknown_user_error(body["user_id"])
        targets = {"PROJECT": ("project_id", "projects"), "POOL": ("pool_id", "pools")}
        target = targets.get(scope) if scope is not None else None
        if target is not None:
            key, kind = target
            value = body.get(key)
            if value is None:
                errors[key] = field_error("VALUE_REQUIRED", f"{key} is required for scope {scope}")
            elif str(value) not in state.objects[kind] and not (
                kind == "pools" and str(value) in state.trainings
            ):
                errors[key] = field_error("ENTITY_DOES_NOT_EXIST", f"{kind[:-1]} {value!r} does not exist")
        if errors:
            raise validation_error(errors)
        key_fields = {
            "scope": scope,
            "user_id": body["user_id"],
            "project_id": str(body["project_id"]) if scope == "PROJECT" else None,
            "pool_id": str(body["pool_id"]) if scope == "POOL" else None,
        }
        book = _book(state)
        restriction = None
        for restriction_id in book.restrictions_by_user.get(body["user_id"], ()):
            candidate = state.objects["user_restrictions"].get(restriction_id)
            if candidate is not None and all(
                candidate.get(k) == v for k, v in key_fields.items() if v is not None
            ):
                restriction = candidate
                break
        if restriction is None:
            restriction = {k: v for k, v in key_fields.items() if v is not None}
            state.create("user_restrictions", restriction)
            book.restrictions_by_user.setdefault(body["user_id"], []).append(restriction["id"])
        for field_name, field_value in (("private_comment", comment), ("will_expire", will_expire)):
            if field_value is None:
                restriction.pop(field_name, None)
            else:
                restriction[field_name] = field_value
        book.expiry.pop(restriction["id"], None)
        state.quality_version += 1
        state.notify_changed()
        return 200, dict(restriction)


def delete_user_restriction(request: Request) -> tuple:
    state = request.state
    with state.lock:
        restriction = state.get("user_restrictions", request.params["id"])
        del state.objects["user_restrictions"][restriction["id"]]
        book = _book(state)
        ids = book.restrictions_by_user.get(restriction["user_id"], [])
        if restriction["id"] in ids:
            ids.remove(restriction["id"])
        book.expiry.pop(restriction["id"], None)
        state.quality_version += 1
        state.notify_changed()
        return 204, None


# --------------------------------------------------------------------------------------------- metadata


def get_user_metadata(request: Request) -> tuple:
    state = request.state
    profile = worker_profiles(state).get(request.params["user_id"])
    if profile is None:
        raise does_not_exist("user", request.params["user_id"])
    return 200, dict(profile["metadata"])


def _get(kind: str):
    def handle(request: Request) -> tuple:
        state = request.state
        with state.lock:
            return 200, dict(state.get(kind, request.params["id"]))

    return handle


def register(router: Router, state: State) -> None:
    _book(state)
    router.add("GET", f"{API}/skills", lambda request: list_page(request, SKILLS))
    router.add("POST", f"{API}/skills", create_skill)
    router.add("GET", f"{API}/skills/{{id}}", _get("skills"))
    router.add("PUT", f"{API}/skills/{{id}}", update_skill)
    router.add("GET", f"{API}/user-skills", lambda request: list_page(request, USER_SKILLS))
    router.add("PUT", f"{API}/user-skills", set_user_skill)
    router.add("GET", f"{API}/user-skills/{{id}}", _get("user_skills"))
    router.add("DELETE", f"{API}/user-skills/{{id}}", delete_user_skill)
    router.add("GET", f"{API}/user-restrictions", lambda request: list_page(request, USER_RESTRICTIONS))
    router.add("PUT", f"{API}/user-restrictions", set_user_restriction)
    router.add("GET", f"{API}/user-restrictions/{{id}}", _get("user_restrictions"))
    router.add("DELETE", f"{API}/user-restrictions/{{id}}", delete_user_restriction)
    router.add("GET", f"{API}/user-metadata/{{user_id}}", get_user_metadata)
