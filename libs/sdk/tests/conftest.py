"""Fixtures of the SDK tests: a provisioned JetStream (the session NATS of the root conftest, or a
private server a test may kill and restart)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

from swarmscope_dev.nats_server import NatsServer, start_nats_server
from swarmscope_service.nats_setup import provision

Wait = Callable[..., None]


async def _provision(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


@pytest.fixture(scope="session")
def js_url(nats_url: str) -> str:
    """The session NATS with TRACES_RAW, TRACES and TRACES_DLQ provisioned."""
    asyncio.run(_provision(nats_url))
    return nats_url


@pytest.fixture
def session_id() -> str:
    return f"sdk-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS of this test's own (it may kill and restart it on the same port and directory)."""
    server = start_nats_server(tmp_path / "nats")
    asyncio.run(_provision(server.url))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def wait_for() -> Wait:
    """Polls until a condition holds; the bound only stops a hang, it asserts no duration."""

    def wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached")
            time.sleep(0.02)

    return wait
