"""Every route of the emulator's router, asked with every method, answers (no hang, no 500, JSON errors);
every listing of both APIs answers a bad sort, filter or limit with a 400 and a Toloka error body."""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote

import pytest

from toloka_provider.emulator import TolokaEmulator

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOO", "M-SEARCH")
ROUTED = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Routes whose answer to a bare request changes the world the other probes see (they run last, on their own).
_SIDE_EFFECTS = {"/_emulator/crowd/pause", "/_emulator/crowd/resume"}


@pytest.fixture(scope="module")
def emu():
    with TolokaEmulator(crowd=0, operation_delay=0.0, socket_timeout=5) as emulator:
        yield emulator


def _ask(emulator, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)  # a hang fails fast
    try:
        headers = {"Authorization": f"ApiKey {emulator.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _post(emulator, path: str, body: dict) -> dict:
    status, _, content = _ask(emulator, "POST", path, json.dumps(body).encode())
    assert status in (200, 201, 202), content
    return json.loads(content)


@pytest.fixture(scope="module")
def ids(emu) -> dict[str, str]:
    """Real ids for the path parameters whose parents must exist for a listing below them to answer."""
    app_project = _post(
        emu,
        "/api/app/v0/app-projects",
        {
            "app_id": "text-classification",
            "name": "p",
            "parameters": {"name": "p", "default_language": "EN", "instruction_classes": [{"label": "A", "value": "a"}]},
        },
    )
    return {"app_project_id": app_project["id"], "app_id": "text-classification"}


def _path(template: str, ids: dict[str, str]) -> str:
    path = template
    while "{" in path:
        start = path.index("{")
        end = path.index("}", start)
        path = path[:start] + ids.get(path[start + 1 : end], "no-such-id-1") + path[end + 1 :]
    return path


def _error_body(content: bytes) -> dict:
    body = json.loads(content)
    assert set(body) >= {"request_id", "code", "message"}, body
    return body


def _routes(emulator) -> list[tuple[str, str, bool]]:
    return emulator.router.routes()


def test_the_route_table_is_large_and_has_both_apis(emu):
    templates = {template for _, template, _ in _routes(emu)}
    assert any(t.startswith("/api/v1/") for t in templates) and any(t.startswith("/api/app/v0/") for t in templates)
    assert len(templates) > 80


def test_every_method_on_every_route_gets_an_answer(emu, ids):
    templates = sorted({template for _, template, _ in _routes(emu)} - _SIDE_EFFECTS)
    failures = []
    for template in templates:
        path = _path(template, ids)
        allowed = emu.router.allowed_methods(path)
        get_status = None
        for method in METHODS:
            try:
                status, headers, content = _ask(emu, method, path)
            except (TimeoutError, OSError) as error:
                failures.append(f"{method} {template}: no answer ({error!r})")
                continue
            if status >= 500:
                failures.append(f"{method} {template}: {status} {content[:200]!r}")
            if method == "GET":
                get_status = status
            if method == "HEAD":
                if content != b"":
                    failures.append(f"HEAD {template}: a body of {len(content)} bytes")
                if "GET" in allowed and status != get_status:
                    failures.append(f"HEAD {template}: {status}, GET gave {get_status}")
                if "GET" not in allowed and (status != 405 or "allow" not in headers):
                    failures.append(f"HEAD {template}: {status} {headers.get('allow')} (expected 405 with Allow)")
                continue
            if method not in allowed:
                if status != 405 or headers.get("allow") != ", ".join(allowed):
                    failures.append(f"{method} {template}: {status} Allow={headers.get('allow')!r}, want 405 {allowed}")
                    continue
                if _error_body(content)["code"] != "METHOD_NOT_ALLOWED":
                    failures.append(f"{method} {template}: {content[:200]!r}")
            elif status >= 400:
                _error_body(content)
    assert not failures, "\n".join(failures)


def test_connect_with_an_authority_target_and_an_asterisk_target_get_json_405(emu):
    for method, target in (("CONNECT", "127.0.0.1:443"), ("OPTIONS", "*")):
        status, _, content = _ask(emu, method, target)
        assert status == 405 and _error_body(content)["code"] == "METHOD_NOT_ALLOWED"


def _listings(emu, ids) -> list[str]:
    """Every GET route (of either API) whose answer is a page of objects."""
    found = []
    for method, template, auth in _routes(emu):
        if method != "GET" or not auth:
            continue
        status, _, content = _ask(emu, "GET", _path(template, ids))
        if status != 200 or not content.startswith(b"{"):
            continue
        body = json.loads(content)
        if isinstance(body, dict) and "has_more" in body:
            found.append(template)
    return found


# The date a listing filters on (None: the listing has no date filter, only id and name).
_DATE_FILTER = {"/api/v1/operations": "submitted", "/api/app/v0/apps": None}
BAD_SORTS = ("", ",", "-", "--id", "id,id", "id,", "no_such_field", "\u00e9")
BAD_LIMITS = ("", "abc", "0", "-1", "1.5", " 5", "+5", "99999999999999999999", "1_0")


def test_every_listing_refuses_a_bad_sort_limit_or_filter_with_a_400(emu, ids):
    listings = _listings(emu, ids)
    assert "/api/v1/pools" in listings and "/api/app/v0/app-projects" in listings
    assert "/api/app/v0/app-projects/{app_project_id}/batches" in listings
    failures = []
    for template in listings:
        path = _path(template, ids)
        separator = "&" if "?" in path else "?"
        probes = [("sort", value) for value in BAD_SORTS]
        probes += [("limit", value) for value in BAD_LIMITS if value]  # an empty limit is the default
        date_field = _DATE_FILTER.get(template, "created")
        if date_field:
            probes += [(f"{date_field}_gte", "not-a-date"), (f"{date_field}_lt", "2024-13-45")]
        for name, value in probes:
            probe = f"{name}={quote(value, safe='')}"
            status, _, content = _ask(emu, "GET", path + separator + probe)
            if status != 400:
                failures.append(f"GET {template}?{probe}: {status} {content[:120]!r}")
                continue
            body = _error_body(content)
            if body["code"] != "VALIDATION_ERROR" or not body.get("payload"):
                failures.append(f"GET {template}?{probe}: {body}")
    assert not failures, "\n".join(failures)
