"""The assignments table export reads any character in any field exactly: a lone carriage return, CRLF inside
quotes, quotes, tabs; a body it cannot read is a ``ResponseFormatError`` (a ``TolokaError``), never a plain
``ValueError``. Both clients, every chunk boundary; and the emulator's own export, end to end.
"""

from __future__ import annotations

import time

import pytest
from client_harness import Harness, ScriptedServer

from toloka_provider.client import TolokaClient, protocol
from toloka_provider.client.errors import ResponseFormatError, TolokaError
from toloka_provider.client.export import TsvRows

HEADER = "INPUT:text\tOUTPUT:label\tASSIGNMENT:worker_id\n"
# What a server quoting per RFC 4180 sends for values holding \r, \r\n, \n, tabs and quotes.
QUOTED = (
    HEADER
    + '"a\rb"\tcat\tw1\n'
    + '"x\r\ny"\tdog\tw2\r\n'
    + '"\r"\t"say ""hi""\tnow"\tw3\n'
    + 'plain\t"\n"\tw4\n'
).encode()
QUOTED_ROWS = [
    {"INPUT:text": "a\rb", "OUTPUT:label": "cat", "ASSIGNMENT:worker_id": "w1"},
    {"INPUT:text": "x\r\ny", "OUTPUT:label": "dog", "ASSIGNMENT:worker_id": "w2"},
    {"INPUT:text": "\r", "OUTPUT:label": 'say "hi"\tnow', "ASSIGNMENT:worker_id": "w3"},
    {"INPUT:text": "plain", "OUTPUT:label": "\n", "ASSIGNMENT:worker_id": "w4"},
]
# A server that does not quote a lone \r (as the emulator did): still data, not a row end.
UNQUOTED_CR = (HEADER + "a\rb\tcat\tw1\r\n\rlead\tdog\t w2 \n").encode()
UNQUOTED_CR_ROWS = [
    {"INPUT:text": "a\rb", "OUTPUT:label": "cat", "ASSIGNMENT:worker_id": "w1"},
    {"INPUT:text": "\rlead", "OUTPUT:label": "dog", "ASSIGNMENT:worker_id": " w2 "},
]


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 64 * 1024])
@pytest.mark.parametrize(("body", "rows"), [(QUOTED, QUOTED_ROWS), (UNQUOTED_CR, UNQUOTED_CR_ROWS)])
def test_any_character_in_any_field_round_trips(mode, monkeypatch, chunk_size, body, rows):
    monkeypatch.setattr(protocol, "STREAM_CHUNK_SIZE", chunk_size)
    server = ScriptedServer().reply(200, raw=body)
    with Harness(mode, server) as harness:
        assert harness.call("iter_assignments_table", "21") == rows


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEADER.encode() + b'"closed"x\tcat\tw1\n', r"has 'x' after a closing quote \(row 2\)"),
        (HEADER.encode() + b"only\ttwo\n", r"a row of 2 values under 3 columns"),
        (HEADER.encode() + b'"never closed\tcat\tw1\n', r"ended inside a quoted value"),
        (HEADER.encode() + b"caf\xe9\tcat\tw1\n", r"the TSV export is not UTF-8"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_toloka_error(mode, body, message):
    server = ScriptedServer().reply(200, raw=body)
    with Harness(mode, server) as harness, pytest.raises(ResponseFormatError, match=message) as caught:
        harness.call("iter_assignments_table", "21")
    assert isinstance(caught.value, TolokaError) and not isinstance(caught.value, ValueError)
    assert "assignments.tsv" in str(caught.value)


def test_the_reader_byte_by_byte():
    reader = TsvRows()
    rows = []
    for byte in QUOTED:
        rows += reader.feed(bytes([byte]))
    rows += reader.close()
    assert rows[1:] == [list(row.values()) for row in QUOTED_ROWS]


def test_the_emulator_export_round_trips_a_lone_carriage_return(toloka_emulator):
    client = TolokaClient(toloka_emulator.token, url=toloka_emulator.url, retries=1, timeout=10)
    project = client.create_project({
        "public_name": "p", "assignments_issuing_type": "AUTOMATED",
        "task_spec": {"input_spec": {"text": {"type": "string", "required": True}},
                      "output_spec": {"label": {"type": "string", "required": True}}},
    })
    pool = client.create_pool({
        "project_id": project.id, "private_name": "p", "reward_per_assignment": 0.01,
        "assignment_max_duration_seconds": 600, "will_expire": "2099-01-01T00:00:00",
        "defaults": {"default_overlap_for_new_task_suites": 1},
    })
    texts = ["a\rb", "c\r\nd", "\r", 'q"\t"', "e\nf"]
    client.create_tasks([{"pool_id": pool.id, "input_values": {"text": text}} for text in texts],
                        allow_defaults=True, async_mode=False)
    client.open_pool(pool.id)
    deadline = time.monotonic() + 30  # bounded: the emulator's crowd closes the pool in well under a second
    while client.get_pool(pool.id).status.value == "OPEN":
        assert time.monotonic() < deadline, "the emulator did not close the pool"
        time.sleep(0.02)
    rows = list(client.iter_assignments_table(pool.id, status=["SUBMITTED", "APPROVED"]))
    assert sorted(row["INPUT:text"] for row in rows) == sorted(texts)
