"""The life of a service process: connect, provision, serve, and stop gracefully.

Each service's app.py builds its parts (handlers, consumers, request servers, HTTP routes) and
hands them to `serve`, which owns the order of start-up and shutdown:
start: HTTP (so /healthz answers at once) → request servers → consumers and background tasks;
stop (SIGTERM): request servers stop taking requests → consumers stop fetching, finish and settle
their batch → background tasks cancelled → NATS drained (pending acks flushed) → HTTP stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from swarmscope_service.consumer import BatchConsumer
from swarmscope_service.health import HttpServer
from swarmscope_service.nats_setup import StreamSettings, connect, provision
from swarmscope_service.request_reply import RequestServer
from swarmscope_service.settings import ServiceSettings

log = logging.getLogger(__name__)

# What JetStream answers while it cannot take API requests yet: a cluster electing its meta leader
# or a stream leader, or a server too loaded to answer within the client's timeout.
_JETSTREAM_NOT_READY = (NatsTimeoutError, NoRespondersError, ServiceUnavailableError)


async def connect_and_provision(
    settings: ServiceSettings, name: str, nc: NatsClient | None = None
) -> tuple[NatsClient, JetStreamContext]:
    """Connects to NATS (retrying) unless given a connection (tests inject one), and provisions
    streams and durables from the settings."""
    if nc is None:
        nc = await connect(settings.nats_servers(), name=name)
    js = nc.jetstream()
    stream_settings = StreamSettings(
        replicas=settings.stream_replicas,
        duplicate_window_seconds=settings.dedup_window_seconds,
        max_age_seconds=settings.stream_max_age_hours * 3600,
        ack_wait_seconds=settings.ack_wait_seconds,
    )
    delay = 0.5
    while True:
        # Provisioning is idempotent, so a request that timed out half-way is simply run again; a
        # service that exited here would leave a cluster's restart to its supervisor's backoff.
        try:
            await provision(js, stream_settings)
            return nc, js
        except _JETSTREAM_NOT_READY as exc:
            log.warning(
                "JetStream not ready, provisioning again", extra={"error": repr(exc), "retry_in_s": delay}
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


def nats_ready(nc: NatsClient) -> Callable[[], Awaitable[bool]]:
    """A readiness check: the NATS connection is up."""

    async def check() -> bool:
        return bool(nc.is_connected)

    return check


@dataclass
class ServiceParts:
    """What a service runs; app.py fills it in."""

    nc: NatsClient
    http: HttpServer
    consumers: Sequence[BatchConsumer] = ()
    request_servers: Sequence[RequestServer] = ()
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    closers: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


# Generation 0 is collected every this many allocations (Python's default: 700). A batch of 2000
# events allocates tens of thousands of objects, nearly all freed by reference counting, so the
# default runs a collection every few events for nothing.
GC_GENERATION0_THRESHOLD = 10_000


def tune_garbage_collection() -> None:
    """Moves everything alive after start-up (modules, models, compiled schemas) out of the
    collector's sight and makes generation-0 collections rarer.

    Measured in-process on the store's decode + projection planning (2000-event batches, a
    service's heap of ~140,000 objects): 327 → 22 generation-0 and 2 → 0 full collections per
    20,000 events, 52 → 43 µs an event (docs/benchmarks.md, issue 16)."""
    gc.collect()
    gc.freeze()
    _, generation1, generation2 = gc.get_threshold()
    gc.set_threshold(GC_GENERATION0_THRESHOLD, generation1, generation2)


async def cancel_until_done(tasks: Sequence[asyncio.Task[Any]], *, every: float = 1.0) -> None:
    """Cancels the tasks and waits for them, cancelling again any still running after `every`
    seconds. On Python 3.11 `asyncio.wait_for` loses a cancellation that arrives as its inner
    future finishes (bpo-42130, fixed in 3.12): a loop around it (the performance monitor's check)
    then goes on forever and a single cancel never stops the service."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a task that failed during shutdown is not reported twice


async def serve(parts: ServiceParts, stop: asyncio.Event, *, grace_seconds: float = 20.0) -> None:
    """Runs the parts until `stop` is set or one of them fails, then shuts down in order."""
    tune_garbage_collection()
    # Request servers first: /readyz answers once HTTP is up, and a caller that trusts it must
    # not find "no responders" on an op.
    for server in parts.request_servers:
        await server.start()
    try:
        await parts.http.start()
    except BaseException:
        for server in parts.request_servers:
            with contextlib.suppress(Exception):
                await server.stop()
        raise
    tasks = [asyncio.create_task(c.run(), name=f"consumer:{c.durable}") for c in parts.consumers]
    tasks += [asyncio.create_task(b(), name=getattr(b, "__name__", "background")) for b in parts.background]
    stop_task = asyncio.create_task(stop.wait())
    failure: BaseException | None = None
    try:
        waiting: set[asyncio.Task[Any]] = {stop_task, *tasks}
        while failure is None and not stop_task.done():
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is stop_task or task.cancelled():
                    continue
                if task.exception() is not None:
                    failure = task.exception()
                    log.error("a service task failed; shutting down", exc_info=failure)
                else:
                    # A task that finishes its work (a warm-up, a one-off migration) is not a
                    # reason to stop serving.
                    log.info("a service task finished", extra={"task": task.get_name()})
    finally:
        stop_task.cancel()
        for server in parts.request_servers:
            with contextlib.suppress(Exception):
                await server.stop()
        for consumer in parts.consumers:
            consumer.stop()
        consumer_tasks = tasks[: len(parts.consumers)]
        if consumer_tasks:
            await asyncio.wait(consumer_tasks, timeout=grace_seconds)
        await cancel_until_done(tasks)
        for close in parts.closers:
            with contextlib.suppress(Exception):
                await close()
        with contextlib.suppress(Exception):
            # drain flushes the acks of the last batch before closing.
            await parts.nc.drain()
        await parts.http.stop()
    if failure is not None:
        raise failure
