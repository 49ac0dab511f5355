"""The review engine over a real ``TolokaClient`` and mocked HTTP: the exact requests on the wire.

The engine's threads each use the client's per-thread session; the accept/reject PATCH goes the client's
short path (no query, plain path) straight to the session's adapter, which ``responses`` mocks.
"""

from __future__ import annotations

import json
import logging
import threading

import responses

from toloka_provider.client import TolokaClient
from toloka_provider.steps import review
from toloka_provider.steps.review import Decision

LOG = logging.getLogger("test_review_engine_wire")
BASE = "https://toloka.test"
TOKEN = "secret-token-123"


def _counts() -> dict[str, int]:
    return {"accepted": 0, "rejected": 0, "skipped": 0, "already_done": 0, "failed": 0}


def _assignment(assignment_id: str, status: str) -> dict:
    return {"id": assignment_id, "pool_id": "7", "user_id": "u", "status": status, "task_suite_id": "s"}


def test_the_patches_sent_are_exactly_the_decisions():
    decisions = [Decision(f"a{index}", "accept", None) for index in range(12)]
    decisions += [Decision("r1", "reject", "Too many mistakes"), Decision("c1", "accept", "Thanks!")]
    seen: list[tuple[str, str, dict, dict]] = []
    lock = threading.Lock()

    def answer(request):
        with lock:
            seen.append(
                (
                    request.method,
                    request.url,
                    json.loads(request.body),
                    {**request.headers, "raw": request.body},
                )
            )
        assignment_id = request.url.rsplit("/", 1)[1]
        status = json.loads(request.body)["status"]
        return 200, {"Content-Type": "application/json"}, json.dumps(_assignment(assignment_id, status))

    client = TolokaClient(TOKEN, url=BASE, retries=0)
    counts = _counts()
    with responses.RequestsMock() as mock:
        mock.add_callback(
            responses.PATCH, responses.matchers.re.compile(rf"{BASE}/api/v1/assignments/\w+"), answer
        )
        failures = review.send_decisions(client, decisions, counts, concurrency=4, progress_every=0, log=LOG)
    client.close()
    assert failures == []
    assert counts == {"accepted": 13, "rejected": 1, "skipped": 0, "already_done": 0, "failed": 0}
    expected_bodies = {f"a{index}": {"status": "ACCEPTED"} for index in range(12)}
    expected_bodies["r1"] = {"status": "REJECTED", "public_comment": "Too many mistakes"}
    expected_bodies["c1"] = {"status": "ACCEPTED", "public_comment": "Thanks!"}
    assert sorted(url for _, url, _, _ in seen) == sorted(
        f"{BASE}/api/v1/assignments/{i}" for i in expected_bodies
    )
    for method, url, body, headers in seen:
        assert method == "PATCH"
        assert body == expected_bodies[url.rsplit("/", 1)[1]]
        assert headers["Authorization"] == f"OAuth {TOKEN}"
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(headers["raw"]))
        assert "Cookie" not in headers


def test_a_409_on_the_wire_is_read_back_with_a_get_and_counted():
    client = TolokaClient(TOKEN, url=BASE, retries=0)
    counts = _counts()
    conflict = {
        "code": "INAPPROPRIATE_STATUS",
        "message": "Assignment is already accepted",
        "request_id": "q",
    }
    with responses.RequestsMock() as mock:
        mock.add(responses.PATCH, f"{BASE}/api/v1/assignments/a1", json=conflict, status=409)
        mock.add(responses.PATCH, f"{BASE}/api/v1/assignments/a2", json=_assignment("a2", "ACCEPTED"))
        mock.add(responses.GET, f"{BASE}/api/v1/assignments/a1", json=_assignment("a1", "ACCEPTED"))
        failures = review.send_decisions(
            client, [Decision("a1", "accept", None), Decision("a2", "accept", None)], counts,
            concurrency=2, progress_every=0, log=LOG,
        )  # fmt: skip
        calls = sorted((call.request.method, call.request.url) for call in mock.calls)
    client.close()
    assert failures == []
    assert counts == {"accepted": 1, "rejected": 0, "skipped": 0, "already_done": 1, "failed": 0}
    assert calls == [
        ("GET", f"{BASE}/api/v1/assignments/a1"),
        ("PATCH", f"{BASE}/api/v1/assignments/a1"),
        ("PATCH", f"{BASE}/api/v1/assignments/a2"),
    ]


def test_the_short_path_sends_the_same_headers_as_session_request():
    """The accept (short path) and a search with a query (``Session.request``) carry the same headers.

    Same names, values and order, bar the body's ``Content-Type`` and ``Content-Length``.
    """
    client = TolokaClient(TOKEN, url=BASE, retries=0, act_under_account_id="acc-1")
    with responses.RequestsMock() as mock:
        mock.add(responses.PATCH, f"{BASE}/api/v1/assignments/a1", json=_assignment("a1", "ACCEPTED"))
        mock.add(responses.GET, f"{BASE}/api/v1/assignments", json={"items": [], "has_more": False})
        client.accept_assignment("a1")
        client.find_assignments(pool_id="7")
        assert mock.calls[1].request.url == f"{BASE}/api/v1/assignments?pool_id=7"
        patch, get = (list(call.request.headers.items()) for call in mock.calls)
        body = mock.calls[0].request.body
    client.close()
    assert json.loads(body) == {"status": "ACCEPTED"}
    assert patch[-2:] == [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    assert patch[:-2] == get
    assert dict(get)["X-Act-Under-Account-ID"] == "acc-1"
    assert dict(get)["Authorization"] == f"OAuth {TOKEN}"
