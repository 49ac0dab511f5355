"""Type-checked, not run: how users call the async client. ``test_async_api_stub.py`` runs mypy on it.

Each line states what a type checker must infer; ``test_async_api_stub`` also checks that mypy refuses the
mistakes at the bottom (a result used without ``await``, ``async for`` over a coroutine).
"""

from __future__ import annotations

from decimal import Decimal

from toloka_provider.client import AsyncTolokaClient, TolokaClient
from toloka_provider.client.models import Assignment, Operation, Pool, Project, Requester


async def async_usage(client: AsyncTolokaClient) -> None:
    pool: Pool = await client.get_pool("1")
    status = pool.status
    reward: Decimal | None = pool.reward_per_assignment
    requester: Requester = await client.get_requester()
    async for assignment in client.get_assignments(pool_id=pool.id, status="SUBMITTED"):
        checked: Assignment = assignment
        print(checked.id, status, reward)
    async for page in client.get_assignments_raw(pool_id="1"):
        print(len(page))
    operation: Operation = await client.wait_operation("op-1", timeout=10)
    async with client as same:
        project: Project = await same.get_project("1")
        print(project.public_name, requester.balance, operation.status)


def sync_usage(client: TolokaClient) -> None:
    pool: Pool = client.get_pool("1")
    for assignment in client.get_assignments(pool_id=pool.id):
        print(assignment.id)
    built = Pool(project_id="1", private_name="x", reward_per_assignment=Decimal("0.01"))
    print(built.private_name)
