"""The client page's examples, run against the emulator by tests/docs/test_docs_snippets.py."""

from __future__ import annotations

import asyncio
from datetime import datetime

from toloka_provider.client import AsyncTolokaClient, RetryPolicy, TolokaClient


def construct(token: str, url: str) -> TolokaClient:
    # --8<-- [start:construct]
    client = TolokaClient(token, url=url)  # a custom base URL, e.g. the local emulator
    sandbox = TolokaClient(token, environment="SANDBOX")  # or "PRODUCTION" (any case)
    patient = TolokaClient(token, environment="PRODUCTION", retries=RetryPolicy(total=5, backoff_factor=0.5))
    hourly = TolokaClient(token, environment="PRODUCTION", retry_quotas=["MIN", "HOUR"], max_retry_after=3600)
    # --8<-- [end:construct]
    for other in (sandbox, patient, hourly):
        other.close()
    return client


def page_through(client: TolokaClient, pool_id: str) -> tuple[int, int, int]:
    # --8<-- [start:paging]
    page = client.find_assignments(pool_id=pool_id, status="SUBMITTED", sort="-submitted", limit=100)  # one page
    print(len(page.items), page.has_more)

    ids = []
    for assignment in client.get_assignments(  # every match, page by page, lazily
        pool_id=pool_id, status=["SUBMITTED", "ACCEPTED"], submitted_gte=datetime(2024, 1, 1)
    ):
        ids.append(assignment.id)

    raw = 0
    for rows in client.get_assignments_raw(pool_id=pool_id, batch_size=10_000):
        raw += len(rows)  # rows: list[dict], exactly the JSON items, no model objects built
    # --8<-- [end:paging]
    return len(page.items), len(ids), raw


async def read_async(token: str, url: str, pool_id: str) -> tuple[str, int]:
    # --8<-- [start:async]
    async with AsyncTolokaClient(token, url=url) as aclient:  # or: await aclient.aclose()
        pool = await aclient.get_pool(pool_id)
        users = set()
        async for assignment in aclient.get_assignments(pool_id=pool_id):
            users.add(assignment.user_id)
    # --8<-- [end:async]
    return pool.status, len(users)


def run(token: str, url: str, pool_id: str) -> dict:
    client = construct(token, url)
    try:
        first_page, every, raw = page_through(client, pool_id)
    finally:
        client.close()
    status, count = asyncio.run(read_async(token, url, pool_id))
    return {"first_page": first_page, "every": every, "raw": raw, "status": str(status), "async": count}
