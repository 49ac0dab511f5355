"""The async client's timeout helper on every Python: a timeout is a ``TimeoutError``, a cancellation from
elsewhere stays a cancellation (also when it arrives as the awaited call finishes), and no timer outlives it.
The Python 3.10 stand-in is tested on every interpreter, since it is plain asyncio."""

from __future__ import annotations

import asyncio

import pytest

from toloka_provider.client import aio

HELPERS = [aio._within, aio._within_py310]


@pytest.mark.parametrize("within", HELPERS)
def test_a_result_in_time_is_returned(within):
    async def main():
        return await within(5, asyncio.sleep(0, result="done"))

    assert asyncio.run(main()) == "done"


@pytest.mark.parametrize("within", HELPERS)
def test_the_timeout_is_a_timeout_error_and_the_task_goes_on(within):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await within(0.01, asyncio.Event().wait())
        await asyncio.sleep(0.05)  # the timer is gone: nothing cancels the task later
        return "still running"

    assert asyncio.run(main()) == "still running"


@pytest.mark.parametrize("within", HELPERS)
def test_a_cancellation_from_elsewhere_stays_a_cancellation(within):
    async def main():
        started = asyncio.Event()

        async def waiting():
            started.set()
            await within(30, asyncio.Event().wait())

        task = asyncio.create_task(waiting())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize("within", HELPERS)
def test_a_cancellation_as_the_call_finishes_is_not_swallowed(within):
    # The awaited future gets its result and the task its cancel in the same loop step: the task must still end
    # cancelled (asyncio.wait_for on 3.10 returned the result and dropped the cancellation).
    async def main():
        loop = asyncio.get_running_loop()
        inner = loop.create_future()
        reached = []

        async def waiting():
            await within(30, inner)
            await asyncio.sleep(0)  # the next await: a pending cancellation is delivered here at the latest
            reached.append("after")

        task = asyncio.create_task(waiting())
        await asyncio.sleep(0)
        inner.set_result("late")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert reached == []

    asyncio.run(main())
