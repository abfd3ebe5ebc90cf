"""The gateway's life: the web UI at `/`, a graceful stop that ends every stream, and the live feed
surviving a NATS restart with nothing missed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import nats
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from swarmscope_dev.gateway import RunningGateway, SseReader, ingest, new_session, session_events
from swarmscope_dev.nats_server import free_port, start_nats_server
from swarmscope_gateway.config import GatewaySettings
from swarmscope_schema.subjects import event_subject
from swarmscope_schema.testing import make_event
from swarmscope_service.nats_setup import provision


async def test_the_built_ui_is_served_with_spa_fallback(gateway_factory, tmp_dist: Path) -> None:
    gateway: RunningGateway = await gateway_factory(frontend_dist=tmp_dist)
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert "swarmscope" in index.text
        assert index.headers["cache-control"] == "no-cache"
        deep = await http.get("/sessions/abc?seq=12&layout=force")
        assert deep.status_code == 200
        assert deep.text == index.text
        asset = await http.get("/assets/app-1a2b3c.js")
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert (await http.get("/assets/missing.js")).status_code == 404
        api = await http.get("/api/v1/nothing-here")
        assert api.status_code == 404
        assert api.json()["error"]["code"] == "not_found"
        assert (await http.get("/openapi.json")).headers["content-type"].startswith("application/json")


async def test_without_a_built_ui_root_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def read_to_the_end(reader: SseReader) -> None:
    while True:
        await reader.next(timeout=20)


async def receive_to_the_end(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 20)


async def test_stopping_the_gateway_ends_every_stream(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory()
    sid = new_session()
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=30) as http,
        http.stream("GET", f"/api/v1/sessions/{sid}/stream") as response,
        connect(gateway.ws_url) as ws,
    ):
        await ws.send(orjson.dumps({"type": "subscribe_session", "session_id": sid}).decode())
        reader = SseReader(response)
        await ingest(http, session_events(sid, 3))
        await reader.events(3)
        await gateway.close()
        with pytest.raises(EOFError):
            await read_to_the_end(reader)
        with pytest.raises(ConnectionClosed) as closed:
            await receive_to_the_end(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001


async def test_the_live_feed_survives_a_nats_restart(tmp_path: Path) -> None:
    port = free_port()
    server = start_nats_server(tmp_path / "nats", port)
    try:
        connection = await nats.connect(server.url)
        await provision(connection.jetstream())
        await connection.close()
        gateway = RunningGateway(
            GatewaySettings(nats_url=server.url, gateway_port=free_port()), ready_checks=("nats", "live")
        )
        await gateway.start()

        async def publish(count: int) -> None:
            nc = await nats.connect(server.url)
            try:
                js = nc.jetstream()
                for _ in range(count):
                    event = make_event(
                        "tool_call", session_id="restart", agent_id="a", received_at=time.time() * 1000
                    )
                    await js.publish(event_subject("restart", "a", "tool_call"), orjson.dumps(event))
            finally:
                await nc.close()

        try:
            async with (
                httpx.AsyncClient(base_url=gateway.url, timeout=60) as http,
                http.stream("GET", "/api/v1/sessions/restart/stream") as response,
            ):
                reader = SseReader(response)
                await publish(10)
                before, _ = await reader.events(10)
                server.kill()
                server = start_nats_server(tmp_path / "nats", port)
                await publish(10)
                after, _ = await reader.events(10, timeout=60)
            assert [e["seq"] for e in before + after] == list(range(1, 21))
        finally:
            await gateway.close()
    finally:
        server.stop()
