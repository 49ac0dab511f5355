"""The streamed assignments export is bounded like every other request: a server that drips its headers or
its body cannot hold it past the total deadline (``timeout``), sync and async."""

from __future__ import annotations

import asyncio
import time

import pytest
from test_client_hostile_waits import TOKEN, HostileServer

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.errors import TransportError


def _read_table(mode: str, url: str) -> list:
    if mode == "sync":
        with TolokaClient(TOKEN, url=url, timeout=1, retries=0) as client:
            return list(client.iter_assignments_table("21"))

    async def go() -> list:
        async with AsyncTolokaClient(TOKEN, url=url, timeout=1, retries=0) as client:
            return [row async for row in client.iter_assignments_table("21")]

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("behaviour", ["drip-headers", "drip-body"])
def test_a_dripping_server_cannot_hold_the_export(mode, behaviour):
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            _read_table(mode, server.url)
        elapsed = time.monotonic() - started
    assert elapsed < 5, f"the export took {elapsed:.1f} s with timeout=1"
    assert "within the total timeout of 1 s" in str(caught.value)
    assert TOKEN not in str(caught.value)
