"""Fixtures of the ingest tests: a nats-server of their own and the ingest service running in-process.

The ingest tests get their own nats-server (from the wheel) rather than the session one, so a
backlog other packages' tests leave on TRACES_RAW never flows through these assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from swarmscope_dev.in_process import wait_stopped
from swarmscope_dev.nats_server import NatsServer, free_port, start_nats_server
from swarmscope_ingest import app
from swarmscope_ingest.config import IngestSettings
from swarmscope_service.nats_setup import StreamSettings, provision


@pytest.fixture(scope="module")
def ingest_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_nats_server(tmp_path_factory.mktemp("ingest-nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nc(ingest_nats: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(ingest_nats.url)
    try:
        await provision(client.jetstream(), StreamSettings())
        yield client
    finally:
        await client.close()


class RunningIngest:
    """An ingest service running as a task of the test's event loop."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ingest_port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(app.main(self.stop, self.settings))
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as client:
            while True:
                if self.task.done():
                    self.task.result()
                    raise RuntimeError("ingest exited before it was ready")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError("ingest not ready")
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await wait_stopped(self.task, "ingest")

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{self.url}/metrics")).text


StartIngest = Callable[..., Awaitable[RunningIngest]]


@pytest.fixture
async def start_ingest(ingest_nats: NatsServer) -> AsyncIterator[StartIngest]:
    """Starts ingest services (any number: replicas share the durable); all are stopped at the end."""
    running: list[RunningIngest] = []

    async def start(**overrides: Any) -> RunningIngest:
        values: dict[str, Any] = {
            "nats_url": ingest_nats.url,
            "ingest_port": free_port(),
            "fetch_wait_seconds": 0.05,
            "log_format": "text",
        }
        values.update(overrides)
        service = RunningIngest(IngestSettings(**values))
        running.append(service)
        await service.start()
        return service

    try:
        yield start
    finally:
        for service in running:
            await service.close()


async def _collect(
    js: JetStreamContext,
    stream: str,
    subject: str,
    count: int,
    *,
    timeout: float = 20.0,
    keep: Callable[[Msg], bool] = lambda _: True,
    settle: float = 0.0,
) -> list[Msg]:
    """The messages on `subject` in `stream` (from the start) that `keep` accepts, until `count` are seen.

    With `settle`, goes on reading that long after reaching `count`, so an extra message would show.
    """
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0),
    )
    found: list[Msg] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            now = time.monotonic()
            if len(found) >= count:
                if settle <= 0:
                    break
                deadline = min(deadline, now + settle)
                settle = 0
            if now > deadline:
                break
            try:
                msgs = await sub.fetch(500, timeout=min(0.5, max(deadline - now, 0.05)))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                await msg.ack()
                if keep(msg):
                    found.append(msg)
    finally:
        await sub.unsubscribe()
    return found


Collect = Callable[..., Awaitable[list[Msg]]]


@pytest.fixture
def collect() -> Collect:
    """`await collect(js, stream, subject, count, timeout=, keep=, settle=)`: see _collect."""
    return _collect
