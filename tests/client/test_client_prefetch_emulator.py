"""One page ahead over real sockets: the local emulator on 127.0.0.1, and a tiny server that hangs or drips.

The emulator cases check what the scripted ones cannot: real connections, the review operator's pattern
(accepting assignments on the same client while iterating the listing) and the request count the server itself
saw. The hanging and dripping server checks that an abandoned listing cuts off the request in flight (sync:
its socket is shut down; async: its task is cancelled) and that the per-attempt deadline (the sync watchdog,
the async timeout) holds for a prefetched page with the same message as without prefetch.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import TransportError

pytestmark = pytest.mark.integration

PREFETCH_THREAD = "toloka-client-prefetch"
BOUND = 30.0  # seconds: generous, only ever reached when something is broken
N = 1_300
PAGE = 300
PAGES = -(-N // PAGE)  # 5: the last one has has_more=false


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def emu(toloka_emulator_factory):
    return toloka_emulator_factory(crowd=0, operation_delay=0.0)


def new_pool(emu) -> str:
    headers = {"Authorization": f"OAuth {emu.token}"}
    project = requests.post(
        f"{emu.url}/api/v1/projects",
        headers=headers,
        timeout=BOUND,
        json={
            "public_name": "Prefetch",
            "public_description": "prefetch tests",
            "task_spec": {
                "input_spec": {"image": {"type": "url"}},
                "output_spec": {"result": {"type": "string"}},
            },
            "assignments_issuing_type": "AUTOMATED",
        },
    ).json()
    pool = requests.post(
        f"{emu.url}/api/v1/pools",
        headers=headers,
        timeout=BOUND,
        json={
            "project_id": project["id"],
            "private_name": "prefetch",
            "may_contain_adult_content": False,
            "reward_per_assignment": 0.01,
            "assignment_max_duration_seconds": 600,
            "will_expire": "2099-01-01T00:00:00",
            "auto_accept_solutions": False,
            "auto_accept_period_day": 7,
            "defaults": {"default_overlap_for_new_task_suites": 3},
        },
    ).json()
    return pool["id"]


def listing_requests(emu) -> int:
    return sum(
        count
        for key, count in emu.state.requests.items()
        if key.startswith("GET ") and key.split()[1].endswith("/assignments")
    )


def settle_server() -> None:
    """Give the emulator's handler threads time to count a request the client cut off (not a timing bound:
    a late count can only make the assertion after it stricter)."""
    threading.Event().wait(0.3)


def prefetch_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == PREFETCH_THREAD]


def read_all(emu, mode: str, pool_id: str, raw: bool, prefetch: bool, on_item=None) -> list[str]:
    method = "get_assignments_raw" if raw else "get_assignments"
    if mode == "sync":
        ids = []
        with TolokaClient(emu.token, url=emu.url, prefetch=prefetch) as client:
            for entry in getattr(client, method)(pool_id=pool_id, status="SUBMITTED", batch_size=PAGE):
                for item in entry if raw else [entry]:
                    ids.append(item["id"] if raw else item.id)
                    if on_item:
                        on_item(client, ids[-1])
        assert prefetch_threads() == []
        return ids

    async def run() -> list[str]:
        ids = []
        baseline = asyncio.all_tasks()
        async with AsyncTolokaClient(emu.token, url=emu.url, prefetch=prefetch) as client:
            async for entry in getattr(client, method)(pool_id=pool_id, status="SUBMITTED", batch_size=PAGE):
                for item in entry if raw else [entry]:
                    ids.append(item["id"] if raw else item.id)
                    if on_item:
                        await on_item(client, ids[-1])
        assert asyncio.all_tasks() == baseline
        return ids

    return asyncio.run(run())


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
def test_every_assignment_once_in_order_and_one_request_per_page(emu, mode, raw):
    pool_id = new_pool(emu)
    emu.bulk_load_assignments(pool_id, N)
    before = listing_requests(emu)
    serial = read_all(emu, mode, pool_id, raw, prefetch=False)
    assert listing_requests(emu) - before == PAGES
    before = listing_requests(emu)
    ahead = read_all(emu, mode, pool_id, raw, prefetch=True)
    assert listing_requests(emu) - before == PAGES  # nothing asked for past the last page
    assert ahead == serial and len(ahead) == N and len(set(ahead)) == N


def test_sync_break_in_the_middle_leaves_no_thread_and_sends_at_most_the_page_in_flight(emu):
    pool_id = new_pool(emu)
    emu.bulk_load_assignments(pool_id, N)
    before = listing_requests(emu)
    with TolokaClient(emu.token, url=emu.url) as client:
        for seen, _ in enumerate(client.get_assignments(pool_id=pool_id, batch_size=PAGE), start=1):
            if seen == PAGE + 10:  # in page 2
                break
        assert prefetch_threads() == []
        client.get_requester()  # the client still works
        settle_server()
        # pages 1 and 2, and page 3 if it was in flight (the server may count a cut-off one late)
        assert listing_requests(emu) - before in (2, 3)


def test_async_break_in_the_middle_leaves_no_task_and_sends_at_most_the_page_in_flight(emu):
    pool_id = new_pool(emu)
    emu.bulk_load_assignments(pool_id, N)
    before = listing_requests(emu)

    async def run() -> int:
        async with AsyncTolokaClient(emu.token, url=emu.url) as client:
            baseline = asyncio.all_tasks()
            seen = 0
            listing = client.get_assignments(pool_id=pool_id, batch_size=PAGE)
            async for _ in listing:
                seen += 1
                if seen == PAGE + 10:
                    await asyncio.sleep(0.05)  # the prefetch task is (probably) mid-request now
                    break
            await listing.aclose()
            assert asyncio.all_tasks() == baseline
            await client.get_requester()

    asyncio.run(run())
    settle_server()
    assert listing_requests(emu) - before in (2, 3)


def test_accepting_while_iterating_on_the_same_client(emu, mode):
    # The review operator's pattern: every assignment of the listing is accepted on the same client meanwhile.
    pool_id = new_pool(emu)
    emu.bulk_load_assignments(pool_id, 320)
    accepted: list[str] = []
    if mode == "sync":

        def accept(client, assignment_id):
            assert client.accept_assignment(assignment_id, "fine").status.value == "ACCEPTED"
            accepted.append(assignment_id)
    else:

        async def accept(client, assignment_id):
            assert (await client.accept_assignment(assignment_id, "fine")).status.value == "ACCEPTED"
            accepted.append(assignment_id)

    seen = read_all(emu, mode, pool_id, raw=False, prefetch=True, on_item=accept)
    assert len(seen) == 320 and len(set(seen)) == 320 and accepted == seen
    with TolokaClient(emu.token, url=emu.url) as client:
        assert sum(1 for _ in client.get_assignments(pool_id=pool_id, status="ACCEPTED")) == 320
        assert sum(1 for _ in client.get_assignments(pool_id=pool_id, status="SUBMITTED")) == 0


# ---- a server that hangs or drips the second page ---------------------------------------------------------


class _SlowSecondPage:
    """Page 1 at once; the page after it either never answered (``hang``) or dripped a byte at a time."""

    def __init__(self, behaviour: str) -> None:
        self.release = threading.Event()
        self.second_asked = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if "id_gt" not in query:
                    body = json.dumps(
                        {
                            "items": [
                                {"id": "a1", "status": "SUBMITTED"},
                                {"id": "a2", "status": "SUBMITTED"},
                            ],
                            "has_more": True,
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                outer.second_asked.set()
                try:
                    if behaviour == "hang":
                        outer.release.wait(BOUND * 2)
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    while not outer.release.wait(0.05):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    pass  # the client cut the connection

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _SlowSecondPage:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(BOUND)


def test_sync_abandoning_a_listing_cuts_off_the_page_in_flight():
    with (
        _SlowSecondPage("hang") as server,
        TolokaClient("token", url=server.url, timeout=BOUND * 2) as client,
    ):
        listing = client.get_assignments(pool_id="1")
        assert next(listing).id == "a1"
        assert server.second_asked.wait(BOUND)
        closer = threading.Thread(target=listing.close)
        closer.start()
        closer.join(BOUND)  # the server would hold the page for twice as long: the request was cut off
        assert not closer.is_alive()
        assert prefetch_threads() == []


def test_async_abandoning_a_listing_cancels_the_page_in_flight():
    async def run() -> None:
        async with AsyncTolokaClient("token", url=server.url, timeout=BOUND * 2) as client:
            baseline = asyncio.all_tasks()
            listing = client.get_assignments(pool_id="1")
            assert (await listing.__anext__()).id == "a1"
            for _ in range(int(BOUND / 0.01)):
                if server.second_asked.is_set():
                    break
                await asyncio.sleep(0.01)
            assert server.second_asked.is_set()
            await asyncio.wait_for(listing.aclose(), BOUND)
            assert asyncio.all_tasks() == baseline

    with _SlowSecondPage("hang") as server:
        asyncio.run(run())


async def _read_into(url: str, prefetch: bool, seen: list[str]) -> None:
    async with AsyncTolokaClient("token", url=url, timeout=1.0, retries=0, prefetch=prefetch) as client:
        async for assignment in client.get_assignments(pool_id="1"):
            seen.append(assignment.id)


def test_the_attempt_deadline_holds_for_a_prefetched_page_as_without_prefetch(mode):
    errors = {}
    for prefetch in (False, True):
        seen: list[str] = []
        with _SlowSecondPage("drip") as server:
            if mode == "sync":
                client = TolokaClient("token", url=server.url, timeout=1.0, retries=0, prefetch=prefetch)
                with client, pytest.raises(TransportError) as caught:
                    for assignment in client.get_assignments(pool_id="1"):
                        seen.append(assignment.id)
                assert prefetch_threads() == []
            else:
                with pytest.raises(TransportError) as caught:
                    asyncio.run(_read_into(server.url, prefetch, seen))
        assert seen == ["a1", "a2"]
        errors[prefetch] = str(caught.value)
    assert errors[True] == errors[False]
    assert "no complete answer within the total timeout of 1 s per attempt" in errors[True]
    assert "token" not in errors[True]
