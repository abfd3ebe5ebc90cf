"""serve(): a finished background task keeps the service up; a failed one stops it cleanly."""

from __future__ import annotations

import asyncio

import nats
import pytest
from prometheus_client import CollectorRegistry

from swarmscope_dev.nats_server import free_port
from swarmscope_service.health import HttpServer, health_app
from swarmscope_service.runtime import ServiceParts, serve


async def test_a_background_task_that_returns_does_not_stop_the_service(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    stop = asyncio.Event()
    finished = asyncio.Event()

    async def warm_up() -> None:
        finished.set()

    parts = ServiceParts(
        nc=nc,
        http=HttpServer(health_app(CollectorRegistry(), {}), "127.0.0.1", free_port()),
        background=[warm_up],
    )
    service = asyncio.create_task(serve(parts, stop))
    await asyncio.wait_for(finished.wait(), 10)
    await asyncio.sleep(0.2)
    assert not service.done()
    stop.set()
    await asyncio.wait_for(service, 10)
    assert nc.is_closed


async def test_a_failing_background_task_shuts_the_service_down_and_raises(nats_url: str) -> None:
    nc = await nats.connect(nats_url)

    async def broken() -> None:
        raise RuntimeError("lost the database for good")

    parts = ServiceParts(
        nc=nc,
        http=HttpServer(health_app(CollectorRegistry(), {}), "127.0.0.1", free_port()),
        background=[broken],
    )
    with pytest.raises(RuntimeError, match="lost the database"):
        await asyncio.wait_for(serve(parts, asyncio.Event()), 10)
    assert nc.is_closed
