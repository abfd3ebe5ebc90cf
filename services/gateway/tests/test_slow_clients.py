"""A client that stops reading loses its backlog and gets `resync`; every other client keeps
receiving everything, and the slow one can resume from the resync point with nothing missed."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from swarmscope_dev.gateway import (
    RunningGateway,
    SseReader,
    ingest,
    new_session,
    stored_events,
    wait_stored,
)
from swarmscope_schema.testing import make_event

# Small queues and big, incompressible events (permessage-deflate would shrink repetitive text to
# nothing), so kernel socket buffers fill after a few rounds.
SLOW_SETTINGS = {"gateway_client_queue_frames": 4, "gateway_client_queue_bytes": 64 * 1024}


def big_events(session_id: str, count: int) -> list[dict[str, Any]]:
    return [
        make_event(
            "tool_call",
            session_id=session_id,
            data={"tool": "Bash", "args": {"out": secrets.token_urlsafe(24_000)}},
        )
        for _ in range(count)
    ]


async def publish_until_resync(
    gateway: RunningGateway, http: httpx.AsyncClient, sid: str, transport: str
) -> int:
    """Publishes rounds of big events until the gateway has resynced a client; returns the count."""
    published = 0
    deadline = time.monotonic() + 120
    while await gateway.metric("swarmscope_gateway_resyncs_total", transport=transport) < 1:
        assert time.monotonic() < deadline, "the slow client was never resynced"
        await ingest(http, big_events(sid, 50))
        published += 50
        await asyncio.sleep(0.2)
    return published


async def read_fast(ws: Any, sink: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            continue
        message = orjson.loads(raw)
        if message["type"] == "trace_event":
            sink.append(message["event"])
        elif message["type"] == "batch_events":
            sink.extend(message["events"])


async def test_slow_websocket_client_gets_resync_and_others_get_everything(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(**SLOW_SETTINGS)
    sid = new_session()
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=60) as http,
        connect(gateway.ws_url, max_size=None) as fast,
        # The slow client's library stops reading the socket once a message is queued.
        connect(gateway.ws_url, max_size=None, max_queue=1) as slow,
    ):
        for ws in (fast, slow):
            await ws.send(
                orjson.dumps({"type": "subscribe_session", "session_id": sid, "after_seq": 0}).decode()
            )
        received: list[dict[str, Any]] = []
        stop = asyncio.Event()
        reader = asyncio.create_task(read_fast(fast, received, stop))
        published = await publish_until_resync(gateway, http, sid, "ws")
        await wait_stored(http, sid, published)
        stored = await stored_events(http, sid)
        while len(received) < published:
            await asyncio.sleep(0.05)
        stop.set()
        await reader
        assert [e["seq"] for e in received] == [e["seq"] for e in stored], "the fast client missed events"

        # The slow client now reads: a contiguous prefix, then resync naming where it stopped.
        prefix: list[dict[str, Any]] = []
        while True:
            message = orjson.loads(await asyncio.wait_for(slow.recv(), 30))
            if message["type"] == "resync":
                break
            prefix.extend([message["event"]] if message["type"] == "trace_event" else message["events"])
        assert message["session_id"] == sid
        after = message["after_seq"]
        assert [e["seq"] for e in prefix] == [e["seq"] for e in stored[: len(prefix)]]
        assert after == (prefix[-1]["seq"] if prefix else 0)
        assert len(prefix) < published

        # It resumes from the resync point and gets the rest: nothing missed, nothing repeated.
        await slow.send(
            orjson.dumps({"type": "subscribe_session", "session_id": sid, "after_seq": after}).decode()
        )
        rest: list[dict[str, Any]] = []
        while len(prefix) + len(rest) < published:
            message = orjson.loads(await asyncio.wait_for(slow.recv(), 30))
            assert message["type"] in ("trace_event", "batch_events"), message
            rest.extend([message["event"]] if message["type"] == "trace_event" else message["events"])
        assert [e["seq"] for e in prefix + rest] == [e["seq"] for e in stored]


async def test_slow_sse_client_gets_resync_and_resumes(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(**SLOW_SETTINGS)
    sid = new_session()
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=60) as http,
        http.stream("GET", f"/api/v1/sessions/{sid}/stream", params={"after_seq": 0}) as fast_response,
        http.stream("GET", f"/api/v1/sessions/{sid}/stream", params={"after_seq": 0}) as slow_response,
    ):
        fast = SseReader(fast_response)
        received: list[dict[str, Any]] = []

        async def read_all() -> None:
            while True:
                message = await fast.next(timeout=60)
                received.extend(message.data["events"])

        reader = asyncio.create_task(read_all())
        published = await publish_until_resync(gateway, http, sid, "sse")
        await wait_stored(http, sid, published)
        stored = await stored_events(http, sid)
        while len(received) < published:
            await asyncio.sleep(0.05)
        reader.cancel()
        assert [e["seq"] for e in received] == [e["seq"] for e in stored]

        slow = SseReader(slow_response)
        prefix: list[dict[str, Any]] = []
        last_id = "0"
        while True:
            message = await slow.next(timeout=30)
            if message.event == "resync":
                break
            prefix.extend(message.data["events"])
            last_id = message.id or last_id
        assert message.data == {"session_id": sid, "after_seq": int(last_id)}
        assert [e["seq"] for e in prefix] == [e["seq"] for e in stored[: len(prefix)]]
        try:
            await slow.next(timeout=10)
            raise AssertionError("the stream should end after resync")
        except EOFError:
            pass
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=60) as http,
        http.stream("GET", f"/api/v1/sessions/{sid}/stream", headers={"Last-Event-ID": last_id}) as response,
    ):
        rest, _ = await SseReader(response).events(published - len(prefix))
    assert [e["seq"] for e in prefix + rest] == [e["seq"] for e in stored]
