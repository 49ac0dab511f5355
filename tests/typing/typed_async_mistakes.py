"""Type-checked, not run: mistakes mypy must report (each line is expected to be an error)."""

from __future__ import annotations

from toloka_provider.client import AsyncTolokaClient
from toloka_provider.client.models import Pool


async def mistakes(client: AsyncTolokaClient) -> None:
    pool: Pool = client.get_pool("1")  # E1: a coroutine, not a Pool
    print(pool)
    for item in client.get_pools():  # E2: an async iterator needs async for
        print(item)
    print(Pool(no_such_field=1))  # E3: models show their fields to type checkers
