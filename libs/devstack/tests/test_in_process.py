"""wait_stopped: a service task that will not stop is cancelled and named with what it waits on."""

from __future__ import annotations

import asyncio

import pytest

from swarmscope_dev.in_process import wait_stopped


async def test_a_task_that_stops_is_simply_awaited() -> None:
    task = asyncio.create_task(asyncio.sleep(0.01))
    await wait_stopped(task, "the quick one", timeout=5)
    assert task.done()
    assert not task.cancelled()


async def test_a_task_that_hangs_is_cancelled_and_its_wait_is_named() -> None:
    async def waits_on_the_moon() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(waits_on_the_moon())
    with pytest.raises(
        TimeoutError, match=r"the stuck one did not stop within 0.2 s(.|\n)*waits_on_the_moon"
    ):
        await wait_stopped(task, "the stuck one", timeout=0.2)
    await asyncio.sleep(0)
    assert task.cancelled()
