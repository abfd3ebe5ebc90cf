"""Services run as tasks of a test's event loop: waiting for one to stop."""

from __future__ import annotations

import asyncio
import io
from typing import Any


async def wait_stopped(task: asyncio.Task[Any], service: str, timeout: float = 30.0) -> None:
    """Waits for a service's task to end after its stop was asked. If it does not within
    `timeout`, cancels it and raises a TimeoutError naming what every task still running was
    waiting on: a bare timeout tells nothing about a shutdown that hangs."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        stacks = io.StringIO()
        for other in asyncio.all_tasks():
            if not other.done() and other is not asyncio.current_task():
                other.print_stack(limit=8, file=stacks)
        task.cancel()
        raise TimeoutError(
            f"{service} did not stop within {timeout:g} s; tasks still running:\n{stacks.getvalue()}"
        ) from None
