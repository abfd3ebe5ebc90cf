"""Fixtures of the gateway tests: the real ingest, store and replay services (subprocesses, on a
nats-server of their own and SQLite) and the gateway running in the test's event loop.

The backend stack is started once for the run; each test starts its own gateway (a fraction of a
second) with the settings it needs. Tests use session ids of their own, so they never see each
other's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmscope_dev.gateway import RunningGateway
from swarmscope_dev.nats_server import free_port
from swarmscope_dev.stack import LocalStack
from swarmscope_gateway.config import GatewaySettings

BACKENDS = ("ingest", "store", "replay")


@pytest.fixture(scope="session")
def backend_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """ingest + store + replay on their own nats-server and SQLite, for the whole run."""
    stack = LocalStack(data_dir=tmp_path_factory.mktemp("gateway-stack"), services=BACKENDS)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def gateway_factory(backend_stack: LocalStack) -> AsyncIterator[GatewayFactory]:
    """Starts gateways with extra settings (keyword arguments of GatewaySettings)."""
    running: list[RunningGateway] = []

    async def start(**overrides: Any) -> RunningGateway:
        settings = GatewaySettings(
            nats_url=str(backend_stack.nats_url),
            gateway_port=free_port(),
            gateway_frontend_dist=str(overrides.pop("frontend_dist", "/nonexistent")),
            **overrides,
        )
        gateway = RunningGateway(settings)
        await gateway.start()
        running.append(gateway)
        return gateway

    try:
        yield start
    finally:
        for gateway in running:
            await gateway.close()


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    return await gateway_factory()


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        yield http


@pytest.fixture
def tmp_dist(tmp_path: Path) -> Path:
    """A built-UI directory: index.html and a hashed asset."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>swarmscope</title><div id=root></div>")
    (dist / "assets" / "app-1a2b3c.js").write_text("console.log('swarmscope')")
    return dist
