"""Running a service until SIGTERM / SIGINT, then stopping it gracefully; and waiting, with
backoff, for a database it cannot start without."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def retry_until_ready(
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    first_delay: float = 0.5,
    max_delay: float = 5.0,
) -> T | None:
    """`await attempt()` until it succeeds, doubling the wait after each failure in `retry_on` (up
    to `max_delay`) and logging it as `<what> not ready, retrying`; None if `stop` is set first.

    `attempt` cleans up after itself when it fails (closes what it half-opened). Any other
    exception propagates: a bad URL is not worth waiting for.
    """
    delay = first_delay
    while not stop.is_set():
        try:
            return await attempt()
        except retry_on as exc:
            log.warning(f"{what} not ready, retrying", extra={"error": repr(exc), "retry_in_s": delay})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, max_delay)
    return None


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
