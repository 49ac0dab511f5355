"""The assignments table export: the query sent, the streamed TSV reader (quoting, tabs, newlines, chunk
boundaries), errors and retries, early abandonment, and ``get_assignments_df`` with and without pandas.

Every test runs over both clients (``responses`` for sync, ``httpx.MockTransport`` for async).
"""

from __future__ import annotations

import asyncio
import datetime
import sys
import types

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import (
    AsyncTolokaClient,
    DoesNotExistApiError,
    TolokaClient,
    TransportError,
    protocol,
)
from toloka_provider.client.errors import ResponseFormatError, TolokaArgumentError
from toloka_provider.client.export import TsvRows

PATH = "/api/new/requester/pools/21/assignments.tsv"
DEFAULT_QUERY = {
    "status": "APPROVED",
    "field": "ASSIGNMENT:link,ASSIGNMENT:assignment_id,ASSIGNMENT:worker_id,ASSIGNMENT:status,ASSIGNMENT:started",
    "addRowDelimiter": "false",
}

# A tab and a newline inside values, doubled quotes, an empty value, non-ASCII text, a BOM and CRLF endings.
TRICKY = (
    "\ufeffINPUT:text\tOUTPUT:label\tGOLDEN:label\tASSIGNMENT:worker_id\r\n"
    '"a\tb"\tcat\t\tw1\r\n'
    '"line one\nline two ""quoted"""\tdog\tdog\tw2\r\n'
    "кошка\tcat\t\tw3\r\n"
).encode()
TRICKY_ROWS = [
    {"INPUT:text": "a\tb", "OUTPUT:label": "cat", "GOLDEN:label": "", "ASSIGNMENT:worker_id": "w1"},
    {
        "INPUT:text": 'line one\nline two "quoted"',
        "OUTPUT:label": "dog",
        "GOLDEN:label": "dog",
        "ASSIGNMENT:worker_id": "w2",
    },
    {"INPUT:text": "кошка", "OUTPUT:label": "cat", "GOLDEN:label": "", "ASSIGNMENT:worker_id": "w3"},
]


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64 * 1024])
def test_table_rows_survive_quoting_tabs_newlines_and_any_chunk_boundary(mode, monkeypatch, chunk_size):
    monkeypatch.setattr(protocol, "STREAM_CHUNK_SIZE", chunk_size)
    server = ScriptedServer().reply(200, raw=TRICKY)
    with Harness(mode, server) as harness:
        rows = harness.call("iter_assignments_table", "21")
    assert server.requests_made() == [("GET", PATH, DEFAULT_QUERY, None)]
    assert rows == TRICKY_ROWS


def test_table_query_carries_every_argument(mode):
    server = ScriptedServer().reply(200, raw=b"ASSIGNMENT:assignment_id\na1\n")
    moscow = datetime.timezone(datetime.timedelta(hours=3))
    with Harness(mode, server) as harness:
        rows = harness.call(
            "iter_assignments_table", 21,
            status=["SUBMITTED", "ACCEPTED", "REJECTED"],
            start_time_from=datetime.datetime(2024, 1, 1, 12, 0, tzinfo=moscow),
            start_time_to="2024-01-02T00:00:00",
            exclude_banned=True,
            field=["assignment_id", "ASSIGNMENT:reward"],
        )  # fmt: skip
    assert rows == [{"ASSIGNMENT:assignment_id": "a1"}]
    assert server.calls[0]["query"] == {
        "status": "SUBMITTED,APPROVED,REJECTED",  # the export calls ACCEPTED "APPROVED"
        "field": "ASSIGNMENT:assignment_id,ASSIGNMENT:reward",
        "addRowDelimiter": "false",
        "startTimeFrom": "2024-01-01T09:00:00",
        "startTimeTo": "2024-01-02T00:00:00",
        "excludeBanned": "true",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "DONE"}, r"status must be one of ACTIVE, SUBMITTED, APPROVED, .* got str 'DONE'"),
        ({"status": []}, r"status must be at least one status, got list \[\]"),
        ({"field": ["worker"]}, r"field must be ASSIGNMENT: columns among link, .* got str 'worker'"),
        ({"exclude_banned": "yes"}, r"exclude_banned must be a bool, got str 'yes'"),
        (
            {"start_time_from": "yesterday"},
            r"start_time_from must be a datetime or an ISO 8601 string, got str 'yesterday'",
        ),
    ],
)
def test_bad_table_arguments_raise_before_any_request(mode, kwargs, message):
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(TolokaArgumentError, match=message):
            client.iter_assignments_table("21", **kwargs)
    assert server.calls == []


def test_header_only_and_empty_exports_give_no_rows(mode):
    server = ScriptedServer().reply(200, raw=b"INPUT:x\tOUTPUT:y\n").reply(200, raw=b"")
    with Harness(mode, server) as harness:
        assert harness.call("iter_assignments_table", "21") == []
        assert harness.call("iter_assignments_table", "21") == []


def test_table_error_status_is_mapped_and_5xx_is_retried(mode):
    not_found = {"code": "DOES_NOT_EXIST", "message": "no pool", "request_id": "r-1"}
    server = (
        ScriptedServer()
        .reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"})
        .reply(200, raw=b"A\n1\n")
        .reply(404, not_found)
    )
    with Harness(mode, server) as harness:
        assert harness.call("iter_assignments_table", "21") == [{"A": "1"}]
        assert len(harness.sleeps) == 1  # one retry after the 503
        with pytest.raises(DoesNotExistApiError, match="no pool"):
            harness.call("iter_assignments_table", "21")


def test_body_cut_inside_a_quoted_value_raises(mode):
    server = ScriptedServer().reply(200, raw=b'A\tB\n"open\tquote\n')
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError, match="ended inside a quoted value"):
        harness.call("iter_assignments_table", "21")


class _Counting:
    """Wraps the stream performers: counts chunk reads and keeps the stream handles."""

    def __init__(self, monkeypatch) -> None:
        self.reads = 0
        self.handles: list = []
        sync_perform, async_perform = TolokaClient._perform_stream, AsyncTolokaClient._perform_stream

        def note(effect, result):
            if type(effect) is protocol.ReadStream:
                self.reads += 1
            if isinstance(result, protocol.StreamedResponse):
                self.handles.append(result.stream)
            return result

        def perform_sync(client, effect):
            return note(effect, sync_perform(client, effect))

        async def perform_async(client, effect):
            return note(effect, await async_perform(client, effect))

        monkeypatch.setattr(TolokaClient, "_perform_stream", perform_sync)
        monkeypatch.setattr(AsyncTolokaClient, "_perform_stream", perform_async)


def _big_body(rows: int) -> bytes:
    return (
        "ASSIGNMENT:assignment_id\tOUTPUT:label\n" + "".join(f"a{i:05d}\tcat\n" for i in range(rows))
    ).encode()


def test_rows_arrive_while_the_body_is_still_being_read_and_abandoning_closes_it(mode, monkeypatch):
    monkeypatch.setattr(protocol, "STREAM_CHUNK_SIZE", 64)
    counting = _Counting(monkeypatch)
    body = _big_body(2_000)  # ~30 kB: hundreds of 64-byte chunks
    server = ScriptedServer().reply(200, raw=body)
    with Harness(mode, server) as harness:
        client = harness.make_client()
        if mode == "sync":
            rows = client.iter_assignments_table("21")
            first = next(rows)
            reads_at_first_row = counting.reads
            rows.close()
        else:

            async def take_one():
                async with client:
                    rows = client.iter_assignments_table("21")
                    first = await anext(rows)
                    reads = counting.reads
                    await rows.aclose()
                    await asyncio.sleep(0)  # let the scheduled close run
                    return first, reads

            first, reads_at_first_row = asyncio.run(take_one())
    assert first == {"ASSIGNMENT:assignment_id": "a00000", "OUTPUT:label": "cat"}
    assert 1 <= reads_at_first_row <= 3 < len(body) // 64
    assert counting.reads == reads_at_first_row  # nothing more was read after the caller stopped
    assert [handle.closed for handle in counting.handles] == [True]


def test_whole_big_export_streams_to_the_end(mode, monkeypatch):
    monkeypatch.setattr(protocol, "STREAM_CHUNK_SIZE", 1000)
    counting = _Counting(monkeypatch)
    body = _big_body(5_000)
    server = ScriptedServer().reply(200, raw=body)
    with Harness(mode, server) as harness:
        rows = harness.call("iter_assignments_table", "21")
    assert len(rows) == 5_000 and rows[-1] == {"ASSIGNMENT:assignment_id": "a04999", "OUTPUT:label": "cat"}
    assert counting.reads == -(-len(body) // 1000) + 1  # chunk by chunk, then the empty read at the end
    assert [handle.closed for handle in counting.handles] == [True]


def test_connection_broken_mid_body_is_a_transport_error(mode, monkeypatch):
    monkeypatch.setattr(protocol, "STREAM_CHUNK_SIZE", 8)
    original = {"sync": TolokaClient._perform_stream, "async": AsyncTolokaClient._perform_stream}
    failure = protocol.TransportFailure("ReadError: connection reset")
    calls = {"reads": 0}

    def broken(effect, result):
        if type(effect) is protocol.ReadStream:
            calls["reads"] += 1
            if calls["reads"] == 3:
                return failure
        return result

    def perform_sync(client, effect):
        return broken(effect, original["sync"](client, effect))

    async def perform_async(client, effect):
        return broken(effect, await original["async"](client, effect))

    monkeypatch.setattr(TolokaClient, "_perform_stream", perform_sync)
    monkeypatch.setattr(AsyncTolokaClient, "_perform_stream", perform_async)
    server = ScriptedServer().reply(200, raw=_big_body(10))
    with Harness(mode, server) as harness, pytest.raises(TransportError, match="connection reset"):
        harness.call("iter_assignments_table", "21")


def test_tsv_rows_reader_directly():
    reader = TsvRows()
    rows = []
    for byte in TRICKY:  # one byte at a time: multi-byte UTF-8 split across chunks too
        rows += reader.feed(bytes([byte]))
    rows += reader.close()
    assert rows[0] == ["INPUT:text", "OUTPUT:label", "GOLDEN:label", "ASSIGNMENT:worker_id"]
    assert rows[1:] == [list(row.values()) for row in TRICKY_ROWS]
    last = TsvRows()
    assert last.feed(b"A\tB\n1\t2") == [["A", "B"]]
    assert last.close() == [["1", "2"]]  # a last row without its newline


def test_get_assignments_df_without_pandas_names_the_extra(mode, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes ``import pandas`` raise ImportError
    server = ScriptedServer()
    with Harness(mode, server) as harness:
        client = harness.make_client()
        with pytest.raises(ImportError, match=r"pip install 'toloka-airflow-provider\[pandas\]'"):
            client.get_assignments_df("21")
    assert server.calls == []


def test_get_assignments_df_reads_the_export_with_pandas(mode, monkeypatch):
    read = []
    fake = types.ModuleType("pandas")

    def read_csv(source, **kwargs):
        read.append((source.read(), kwargs))
        return "a DataFrame"

    fake.read_csv = read_csv
    monkeypatch.setitem(sys.modules, "pandas", fake)
    server = ScriptedServer().reply(200, raw=TRICKY)
    with Harness(mode, server) as harness:
        frame = harness.call("get_assignments_df", "21", status="REJECTED", field=["worker_id"])
    assert frame == "a DataFrame"
    assert server.requests_made() == [
        (
            "GET",
            PATH,
            {"status": "REJECTED", "field": "ASSIGNMENT:worker_id", "addRowDelimiter": "false"},
            None,
        )
    ]
    assert read == [(TRICKY, {"sep": "\t", "encoding": "utf-8-sig"})]


def test_get_assignments_df_with_real_pandas(mode):
    pandas = pytest.importorskip("pandas")  # the [pandas] extra; the test above covers the wiring without it
    server = ScriptedServer().reply(200, raw=TRICKY)
    with Harness(mode, server) as harness:
        frame = harness.call("get_assignments_df", "21")
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["INPUT:text", "OUTPUT:label", "GOLDEN:label", "ASSIGNMENT:worker_id"]
    # tabs, newlines and quotes inside values
    assert frame["INPUT:text"].tolist() == [row["INPUT:text"] for row in TRICKY_ROWS]
    assert frame["ASSIGNMENT:worker_id"].tolist() == ["w1", "w2", "w3"]
    assert frame["GOLDEN:label"].isna().tolist() == [True, False, True]  # as toloka-kit's read_csv gives them


def test_a_redirect_is_an_error_not_an_empty_table(mode):
    from toloka_provider.client import ApiError

    server = ScriptedServer().reply(
        302, raw=b"<html>moved</html>", headers={"Location": "https://elsewhere.test/x.tsv"}
    )
    with Harness(mode, server) as harness, pytest.raises(ApiError) as caught:
        harness.call("iter_assignments_table", "21")
    assert caught.value.status_code == 302
    assert len(server.calls) == 1  # not followed: the token is never sent to another host
