"""Running a service until SIGTERM / SIGINT, then stopping it gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def wait_for_signal() -> None:
    """Returns when SIGTERM or SIGINT arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `main(stop_event)` in a new event loop; SIGTERM/SIGINT set the event.

    `main` owns its shutdown: it waits on the event, then stops fetching, finishes its batch,
    acks and closes. A second signal is left to the default handler, so Ctrl-C twice still exits.
    """

    async def runner() -> None:
        stop = asyncio.Event()
        signals = asyncio.create_task(wait_for_signal())
        signals.add_done_callback(lambda _: stop.set())
        try:
            await main(stop)
        finally:
            signals.cancel()

    asyncio.run(runner())
