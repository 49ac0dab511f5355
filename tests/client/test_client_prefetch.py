"""One page ahead (issue 16): the next page is requested while the caller reads this one, on both clients.

Scripted servers (``client_harness``: ``responses`` for sync, ``httpx.MockTransport`` for async). Nothing here
is timed: "the next page is requested while the caller is still in this one" is proved by the caller waiting
for the server to have seen that request (an event, with a generous bound), and "nothing is left behind" by
``threading.enumerate()`` / ``asyncio.all_tasks()`` back at their baseline. Every error case is compared with
the same listing run with ``prefetch=False``: same class, same message, same items before it, same requests.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading

import pytest
from client_harness import TOKEN, Harness, ScriptedServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import TolokaArgumentTypeError, TolokaError

PATH = "/api/v1/assignments"
PREFETCH_THREAD = "toloka-client-prefetch"
WATCHDOG_THREAD = "toloka-client-deadlines"  # one per process, started by the first request with a deadline
BOUND = 30.0  # seconds: generous, only ever reached when something is broken


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


def page(*ids: str, has_more: bool = True) -> dict:
    return {"items": [{"id": i, "status": "SUBMITTED", "pool_id": "21"} for i in ids], "has_more": has_more}


def three_pages(server: ScriptedServer | None = None) -> ScriptedServer:
    server = server or ScriptedServer()
    return (
        server.reply(200, page("a1", "a2"))
        .reply(200, page("a3", "a4"))
        .reply(200, page("a5", has_more=False))
    )


def cursors(server: ScriptedServer) -> list[str | None]:
    return [call["query"].get("id_gt") for call in server.calls]


def ids_of(items: list) -> list[str]:
    return [item["id"] if isinstance(item, dict) else item.id for item in items]


def flatten(method: str, seen: list) -> list:
    return [item for chunk in seen for item in chunk] if method == "get_assignments_raw" else seen


class SeenServer(ScriptedServer):
    """A scripted server that also signals each request it has answered (``answered[n]`` after the n-th)."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = [threading.Event() for _ in range(20)]

    def handle(self, method, url, body, headers):
        try:
            return super().handle(method, url, body, headers)
        finally:
            self.answered[len(self.calls) - 1].set()


def stray_threads(baseline: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in baseline and t.name != WATCHDOG_THREAD]


async def settle_tasks(baseline: set[asyncio.Task]) -> set[asyncio.Task]:
    """Let the loop run finalizers (an abandoned async generator is closed by a task asyncio schedules)."""
    for _ in range(int(BOUND / 0.01)):
        extra = asyncio.all_tasks() - baseline
        if not extra:
            return extra
        await asyncio.sleep(0.01)
    return asyncio.all_tasks() - baseline


def run_listing(
    harness: Harness, method: str, on_item=None, **client_kwargs
) -> tuple[list, BaseException | None]:
    """Drain ``method`` on the harness's client, calling ``on_item(item)`` in the caller's loop; return what was
    seen and the error the listing raised (None if it ended)."""
    client = harness.make_client(**client_kwargs)
    seen: list = []
    if harness.mode == "sync":
        baseline = set(threading.enumerate())
        try:
            for item in getattr(client, method)(pool_id="21"):
                seen.append(item)
                if on_item:
                    on_item(item)
        except TolokaError as exc:
            error: BaseException | None = exc
        else:
            error = None
        assert stray_threads(baseline) == []
        client.close()
        return seen, error

    async def run() -> BaseException | None:
        baseline = asyncio.all_tasks()
        async with client:
            try:
                async for item in getattr(client, method)(pool_id="21"):
                    seen.append(item)
                    if on_item:
                        on_item(item)
            except TolokaError as exc:
                return exc
            finally:
                assert await settle_tasks(baseline) == set()
        return None

    return seen, asyncio.run(run())


# ---- order, duplicates, the last page ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
def test_items_in_order_once_each_and_no_request_after_the_last_page(mode, method):
    server = three_pages()
    with Harness(mode, server) as harness:
        seen, error = run_listing(harness, method)
    assert error is None
    assert ids_of(flatten(method, seen)) == ["a1", "a2", "a3", "a4", "a5"]
    assert cursors(server) == [None, "a2", "a4"]  # has_more=false on the third: no fourth request
    assert [call["query"]["limit"] for call in server.calls] == ["1000"] * 3
    assert all(call["query"]["sort"] == "id" for call in server.calls)


def test_a_single_last_page_sends_one_request_even_while_the_caller_lingers(mode):
    server = ScriptedServer().reply(200, page("a1", "a2", has_more=False))
    counts: list[int] = []
    with Harness(mode, server) as harness:
        seen, error = run_listing(
            harness, "get_assignments", on_item=lambda item: counts.append(len(server.calls))
        )
    assert error is None and ids_of(seen) == ["a1", "a2"]
    assert counts == [1, 1] and len(server.calls) == 1


def test_sync_next_page_is_requested_while_the_caller_reads_this_one():
    server = three_pages(SeenServer())
    waited: list[bool] = []
    with Harness("sync", server) as harness:
        client = harness.make_client()
        for assignment in client.get_assignments(pool_id="21"):
            if assignment.id == "a1":  # still in page 1: page 2 is asked for meanwhile
                waited.append(server.answered[1].wait(BOUND))
                assert cursors(server) == [None, "a2"]
            if assignment.id == "a3":
                waited.append(server.answered[2].wait(BOUND))
    assert waited == [True, True] and cursors(server) == [None, "a2", "a4"]


def test_async_next_page_is_requested_while_the_caller_reads_this_one():
    server = three_pages(SeenServer())
    waited: list[bool] = []

    async def run() -> None:
        client = harness.make_client()
        async with client:
            async for assignment in client.get_assignments(pool_id="21"):
                if assignment.id == "a1":
                    for _ in range(
                        int(BOUND / 0.01)
                    ):  # the caller yields to the loop: the prefetch task runs
                        if server.answered[1].is_set():
                            break
                        await asyncio.sleep(0.01)
                    waited.append(server.answered[1].is_set())
                    assert cursors(server) == [None, "a2"]

    with Harness("async", server) as harness:
        asyncio.run(run())
    assert waited == [True] and cursors(server) == [None, "a2", "a4"]


def test_prefetch_false_pages_strictly_one_after_the_other(mode):
    server = three_pages()
    counts: list[int] = []
    with Harness(mode, server) as harness:
        seen, error = run_listing(
            harness, "get_assignments", on_item=lambda item: counts.append(len(server.calls)), prefetch=False
        )
    assert error is None and ids_of(seen) == ["a1", "a2", "a3", "a4", "a5"]
    assert counts == [1, 1, 2, 2, 3]  # each page requested only once the caller is done with the one before


def test_at_most_one_page_ahead_for_a_slow_consumer():
    # The caller sits in page 1 until page 2 has been answered and its thread has ended: page 3 is not asked for.
    server = three_pages(SeenServer())
    with Harness("sync", server) as harness:
        iterator = harness.make_client().get_assignments(pool_id="21")
        assert next(iterator).id == "a1"
        assert server.answered[1].wait(BOUND)
        for thread in threading.enumerate():
            if thread.name == PREFETCH_THREAD:
                thread.join(BOUND)
        assert cursors(server) == [None, "a2"]
        assert ids_of(list(iterator)) == ["a2", "a3", "a4", "a5"]
    assert cursors(server) == [None, "a2", "a4"]


def test_sync_consumer_in_another_thread():
    server = three_pages()
    seen: list = []
    with Harness("sync", server) as harness:
        baseline = set(threading.enumerate())
        iterator = harness.make_client().get_assignments(pool_id="21")  # made here, iterated there
        consumer = threading.Thread(target=lambda: seen.extend(iterator))
        consumer.start()
        consumer.join(BOUND)
        assert not consumer.is_alive()
        assert stray_threads(baseline) == []
    assert ids_of(seen) == ["a1", "a2", "a3", "a4", "a5"] and len(server.calls) == 3


def test_async_consumer_on_a_loop_in_another_thread():
    server = three_pages()
    seen: list = []
    leftover: list = []

    async def consume(client) -> None:
        baseline = asyncio.all_tasks()
        async with client:
            seen.extend([a async for a in client.get_assignments(pool_id="21")])
        leftover.extend(await settle_tasks(baseline))

    with Harness("async", server) as harness:
        client = harness.make_client()  # made here, used on a loop of another thread
        consumer = threading.Thread(target=lambda: asyncio.run(consume(client)))
        consumer.start()
        consumer.join(BOUND)
        assert not consumer.is_alive()
    assert ids_of(seen) == ["a1", "a2", "a3", "a4", "a5"] and leftover == [] and len(server.calls) == 3


# ---- an error in the prefetched page -----------------------------------------------------------------------


def _error_cases():
    """(name, server builder, client kwargs): page 1 is fine, the page after it fails."""

    def first(server: ScriptedServer) -> ScriptedServer:
        return server.reply(200, page("a1", "a2"))

    yield (
        "http 404",
        lambda: first(ScriptedServer()).reply(
            404, {"code": "DOES_NOT_EXIST", "message": f"gone for {TOKEN}"}
        ),
        {},
    )
    yield (
        "http 500 after retries",
        lambda: (
            first(ScriptedServer())
            .reply(500, {"code": "INTERNAL_ERROR"})
            .reply(500, {"code": "INTERNAL_ERROR"})
        ),
        {"retries": 1},
    )
    yield (
        "transport error after retries",
        lambda: first(ScriptedServer()).fail_connection().fail_connection(),
        {"retries": 1},
    )
    yield (
        "retry-after above the cap",
        lambda: first(ScriptedServer()).reply(
            429, {"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "1000"}
        ),
        {"max_retry_after": 30},
    )
    yield (
        "pagination error: a repeated page",
        lambda: first(ScriptedServer()).reply(200, page("a1", "a2")),
        {},
    )
    yield "pagination error: empty page with has_more", lambda: first(ScriptedServer()).reply(200, page()), {}
    yield (
        "response format error: not json",
        lambda: first(ScriptedServer()).reply(200, raw=b"<html>" + TOKEN.encode()),
        {},
    )
    yield (
        "response format error: wrong shape",
        lambda: first(ScriptedServer()).reply(200, {"items": {"a": 1}}),
        {},
    )
    yield (
        "response format error: a bad item",
        lambda: first(ScriptedServer()).reply(
            200, {"items": [{"id": "a3", "status": ["not", "a", "status"]}], "has_more": False}
        ),
        {},
    )


ERROR_CASES = list(_error_cases())


@pytest.mark.parametrize("method", ["get_assignments", "get_assignments_raw"])
@pytest.mark.parametrize(("case", "build", "kwargs"), ERROR_CASES, ids=[case[0] for case in ERROR_CASES])
def test_an_error_in_the_prefetched_page_is_raised_where_the_caller_reaches_it(
    mode, method, case, build, kwargs
):
    outcomes = {}
    for prefetch in (False, True):
        server = build()
        with Harness(mode, server) as harness:
            seen, error = run_listing(harness, method, prefetch=prefetch, **kwargs)
            outcomes[prefetch] = (
                ids_of(flatten(method, seen)),
                error,
                server.requests_made(),
                harness.sleeps,
            )
    (serial_ids, serial_error, serial_requests, serial_sleeps) = outcomes[False]
    (ids, error, requests_made, sleeps) = outcomes[True]
    if case.endswith("a bad item") and method == "get_assignments_raw":
        assert serial_error is None and error is None and ids == serial_ids == ["a1", "a2", "a3"]
        return
    assert serial_error is not None and error is not None
    assert type(error) is type(serial_error) and str(error) == str(serial_error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert ids == serial_ids == ["a1", "a2"]  # every item of the page before, then the error
    assert requests_made == serial_requests and len(sleeps) == len(serial_sleeps)  # backoff has jitter


def test_the_error_comes_only_after_every_item_of_the_page_before(mode):
    # The failing page 2 has been answered while the caller is at a1; a2 is still yielded first.
    server = (
        SeenServer().reply(200, page("a1", "a2")).reply(404, {"code": "DOES_NOT_EXIST", "message": "gone"})
    )
    at_a2: list[int] = []

    def on_item(item) -> None:
        if item.id == "a1" and mode == "sync":
            assert server.answered[1].wait(BOUND)
        if item.id == "a2":
            at_a2.append(len(server.calls))

    with Harness(mode, server) as harness:
        seen, error = run_listing(harness, "get_assignments", on_item=on_item, retries=0)
    assert ids_of(seen) == ["a1", "a2"]
    # sync: page 2 was answered in the background; async: its task runs when the caller next awaits
    assert at_a2 == ([2] if mode == "sync" else [1])
    assert isinstance(error, TolokaError) and "DOES_NOT_EXIST" in str(error) and "gone" in str(error)


def test_retries_of_the_prefetched_page_are_those_without_prefetch(mode):
    outcomes = {}
    for prefetch in (False, True):
        server = (
            ScriptedServer()
            .reply(200, page("a1", "a2"))
            .reply(503, {"code": "SERVICE_UNAVAILABLE"})
            .fail_connection()
            .reply(429, {"code": "TOO_MANY_REQUESTS"}, headers={"Retry-After": "7"})
            .reply(200, page("a3", has_more=False))
        )
        with Harness(mode, server) as harness:
            seen, error = run_listing(harness, "get_assignments", prefetch=prefetch, retries=3)
            outcomes[prefetch] = (ids_of(seen), error, server.requests_made(), list(harness.sleeps))
    assert outcomes[True][:3] == outcomes[False][:3]
    assert len(outcomes[True][3]) == len(outcomes[False][3]) == 3  # backoff has jitter; Retry-After does not
    ids, error, requests_made, sleeps = outcomes[True]
    assert error is None and ids == ["a1", "a2", "a3"] and len(requests_made) == 5 and sleeps[-1] == 7.0


# ---- stopping early ----------------------------------------------------------------------------------------


STOPS = ["break", "close", "garbage collected", "exception in the loop"]


def _many_pages() -> ScriptedServer:
    server = SeenServer()
    for number in range(1, 6):
        server.reply(200, page(f"a{2 * number - 1}", f"a{2 * number}"))
    return server.reply(200, page("a99", has_more=False))


@pytest.mark.parametrize("stop", STOPS)
def test_sync_stopping_early_leaves_no_thread_and_sends_nothing_more(stop):
    server = _many_pages()
    with Harness("sync", server) as harness:
        client = harness.make_client()
        client.get_requester  # noqa: B018 - the client exists before the baseline (no thread of its own)
        baseline = set(threading.enumerate())
        seen = []
        iterator = client.get_assignments(pool_id="21")
        try:
            for assignment in iterator:
                seen.append(assignment.id)
                if assignment.id == "a3":  # in the middle of page 2; page 3 is (being) fetched
                    if stop == "break":
                        break
                    if stop == "close":
                        iterator.close()
                        break
                    if stop == "exception in the loop":
                        raise KeyError("the caller's own error")
                    if stop == "garbage collected":
                        break
        except KeyError:
            pass
        if stop in ("garbage collected", "exception in the loop"):
            del iterator
            gc.collect()
        elif stop == "break":
            iterator.close()  # what leaving a `for` over a dropped generator does, made explicit
        assert stray_threads(baseline) == []
        calls = len(server.calls)
        assert seen == ["a1", "a2", "a3"]
        assert calls in (2, 3)  # pages 1 and 2, and at most page 3, already in flight at the break
        assert cursors(server)[:calls] == [None, "a2", "a4"][:calls]
    assert len(server.calls) == calls


def test_sync_break_inside_a_for_loop_over_a_temporary_generator_cleans_up_at_once():
    server = _many_pages()
    with Harness("sync", server) as harness:
        client = harness.make_client()
        baseline = set(threading.enumerate())

        def first_three() -> list[str]:
            found = []
            for assignment in client.get_assignments(pool_id="21"):  # dropped when the loop ends
                found.append(assignment.id)
                if len(found) == 3:
                    break
            return found

        assert first_three() == ["a1", "a2", "a3"]
        assert stray_threads(baseline) == []
        assert len(server.calls) <= 3


@pytest.mark.parametrize("stop", STOPS)
def test_async_stopping_early_leaves_no_task_and_sends_nothing_more(stop):
    server = _many_pages()
    seen: list[str] = []

    async def run() -> int:
        client = harness.make_client()
        async with client:
            baseline = asyncio.all_tasks()
            iterator = client.get_assignments(pool_id="21")
            try:
                async for assignment in iterator:
                    seen.append(assignment.id)
                    if assignment.id == "a3":
                        await asyncio.sleep(0)  # let the prefetch task start its request
                        if stop == "exception in the loop":
                            raise KeyError("the caller's own error")
                        break
            except KeyError:
                pass
            if stop in ("break", "close"):
                await iterator.aclose()
            else:
                del iterator
                gc.collect()
            assert await settle_tasks(baseline) == set()
            calls = len(server.calls)
            for _ in range(10):
                await asyncio.sleep(0)
            assert len(server.calls) == calls
            return calls

    with Harness("async", server) as harness:
        calls = asyncio.run(run())
    assert seen == ["a1", "a2", "a3"] and calls in (2, 3)
    assert cursors(server) == [None, "a2", "a4"][:calls]


def test_async_abandoned_while_the_prefetched_request_hangs():
    # The server never answers page 2: closing the listing cancels that request instead of waiting for it.
    release = None
    calls: list[str] = []

    async def handler(request):
        import httpx

        calls.append(request.url.params.get("id_gt"))
        if "id_gt" in request.url.params:
            await release.wait()
        return httpx.Response(200, json=page("a1", "a2"))

    async def run() -> None:
        nonlocal release
        import httpx

        release = asyncio.Event()
        client = AsyncTolokaClient(TOKEN, url="https://toloka.test", transport=httpx.MockTransport(handler))
        async with client:
            baseline = asyncio.all_tasks()
            iterator = client.get_assignments(pool_id="21")
            assert (await iterator.__anext__()).id == "a1"
            for _ in range(5):
                await asyncio.sleep(0)
            assert calls == [None, "a2"]
            await asyncio.wait_for(iterator.aclose(), BOUND)
            assert await settle_tasks(baseline) == set()
            release.set()

    asyncio.run(run())
    assert calls == [None, "a2"]


def test_an_abandoned_listing_then_a_new_one(mode):
    server = three_pages(ScriptedServer().reply(200, page("b1", "b2")).reply(200, page("b3", "b4")))

    def drain_three_pages_after_abandoning() -> list[str]:
        if mode == "sync":
            client = harness.make_client()
            baseline = set(threading.enumerate())
            first = client.get_assignments(pool_id="21")
            assert next(first).id == "b1"
            first.close()
            second = [a.id for a in client.get_assignments(pool_id="21")]
            assert stray_threads(baseline) == []
            return second

        async def run() -> list[str]:
            client = harness.make_client()
            async with client:
                baseline = asyncio.all_tasks()
                first = client.get_assignments(pool_id="21")
                assert (await first.__anext__()).id == "b1"
                for _ in range(int(BOUND / 0.01)):  # the caller awaits: the prefetch task sends its request
                    if len(server.calls) == 2:
                        break
                    await asyncio.sleep(0.01)
                await first.aclose()
                second = [a.id async for a in client.get_assignments(pool_id="21")]
                assert await settle_tasks(baseline) == set()
                return second

        return asyncio.run(run())

    with Harness(mode, server) as harness:
        second = drain_three_pages_after_abandoning()
    assert second == ["a1", "a2", "a3", "a4", "a5"]
    # the abandoned listing: its page 1 and the page 2 in flight; then the new one from the start
    assert cursors(server) == [None, "b2", None, "a2", "a4"]


# ---- other calls on the same client while iterating ---------------------------------------------------------


def test_sync_other_calls_while_iterating_never_share_a_session_between_threads(monkeypatch):
    import requests

    in_use: dict[int, int] = {}  # id(session) -> thread ident
    lock = threading.Lock()
    clashes: list[str] = []
    threads_per_session: dict[int, set[int]] = {}
    original = requests.Session.request

    def watched(self, *args, **kwargs):
        me = threading.get_ident()
        with lock:
            if id(self) in in_use:
                clashes.append(f"session {id(self)} used by {in_use[id(self)]} and {me}")
            in_use[id(self)] = me
            threads_per_session.setdefault(id(self), set()).add(me)
        try:
            return original(self, *args, **kwargs)
        finally:
            with lock:
                in_use.pop(id(self), None)

    monkeypatch.setattr(requests.Session, "request", watched)
    server = ScriptedServer()
    server.reply(200, page("a1", "a2")).reply(200, page("a3", "a4", has_more=False))
    for _ in range(4):
        server.reply(200, {"id": "x", "status": "ACCEPTED", "pool_id": "21"})
    accepted = []
    with Harness("sync", server) as harness:
        client = harness.make_client()
        for assignment in client.get_assignments(pool_id="21"):
            accepted.append(client.accept_assignment(assignment.id, "ok").status.value)
        caller_session = client._local.session
        assert len(client._sessions) == 2  # the caller's own, and one for the prefetch threads
    assert clashes == []
    assert threads_per_session[id(caller_session)] == {
        threading.get_ident()
    }  # never used by a prefetch thread
    assert accepted == ["ACCEPTED"] * 4
    paths = [(call["method"], call["path"]) for call in server.calls]
    assert paths.count(("GET", PATH)) == 2 and len(paths) == 6


# ---- the switch ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_class", [TolokaClient, AsyncTolokaClient])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_prefetch_must_be_a_bool(client_class, value):
    with pytest.raises(TolokaArgumentTypeError, match="prefetch must be True or False"):
        client_class(TOKEN, url="https://toloka.test", prefetch=value)


def test_both_clients_take_prefetch_as_a_keyword_defaulting_to_true():
    for client_class in (TolokaClient, AsyncTolokaClient):
        parameter = inspect.signature(client_class).parameters["prefetch"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is True
