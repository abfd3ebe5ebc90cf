"""The WebSocket protocol (CONTRACT §5) with a real client (the `websockets` package) against the
real ingest, store and replay."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from swarmscope_dev.gateway import (
    RunningGateway,
    ingest,
    new_session,
    session_events,
    stored_events,
    wait_stored,
)


async def recv(ws: ClientConnection, timeout: float = 20.0) -> dict[str, Any]:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def events_until(
    ws: ClientConnection, count: int, session_id: str | None = None
) -> list[dict[str, Any]]:
    """Reads trace_event / batch_events messages until `count` events came."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        message = await recv(ws)
        assert message["type"] in ("trace_event", "batch_events"), message
        if session_id is not None:
            assert message["session_id"] == session_id
        out.extend([message["event"]] if message["type"] == "trace_event" else message["events"])
    return out


async def pong(ws: ClientConnection, request_id: str) -> list[dict[str, Any]]:
    """Sends a ping and returns every message received before its pong (a barrier)."""
    await send(ws, {"type": "ping", "request_id": request_id})
    before = []
    while True:
        message = await recv(ws)
        if message == {"type": "pong", "request_id": request_id}:
            return before
        before.append(message)


async def test_subscribe_resume_live_and_unsubscribe(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    a, b = new_session(), new_session()
    history = session_events(a, 30)
    await ingest(client, history)
    async with connect(gateway.ws_url, max_size=None) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in extensions
        # camelCase of the seed design is accepted too.
        await send(ws, {"type": "subscribe_session", "sessionId": a, "afterSeq": 0})
        got = await events_until(ws, 30, a)
        live = session_events(a, 11)[1:]
        await ingest(client, live)
        got += await events_until(ws, 10, a)
        await wait_stored(client, a, 40)
        stored = await stored_events(client, a)
        assert [e["seq"] for e in got] == [e["seq"] for e in stored]

        await send(ws, {"type": "unsubscribe_session", "session_id": a})
        await send(ws, {"type": "subscribe_session", "session_id": b})
        assert await pong(ws, "barrier-1") == []
        await ingest(client, session_events(a, 6)[1:])
        await ingest(client, session_events(b, 5))
        # b's events were published after a's: had a still been subscribed, its events came first.
        got_b = await events_until(ws, 5, b)
        assert all(e["session_id"] == b for e in got_b)


async def test_filter_agents_and_request_history(gateway: RunningGateway, client: httpx.AsyncClient) -> None:
    sid = new_session()
    events = session_events(sid, 40, agents=("cod-1", "tst-1", "rev-1"))
    await ingest(client, events)
    await wait_stored(client, sid, 40)
    async with connect(gateway.ws_url, max_size=None) as ws:
        await send(ws, {"type": "filter_agents", "agent_ids": ["tst-1"]})
        await send(ws, {"type": "subscribe_session", "session_id": sid, "after_seq": 0})
        got = await events_until(ws, 13, sid)
        assert {e["agent_id"] for e in got} == {"tst-1"}

        await send(ws, {"type": "filter_agents", "agentIds": None})
        await ingest(client, session_events(sid, 4, agents=("cod-1", "rev-1"))[1:])
        got = await events_until(ws, 3, sid)
        assert {e["agent_id"] for e in got} == {"cod-1", "rev-1"}

        stamps = sorted(e["timestamp"] for e in events)
        await send(
            ws,
            {
                "type": "request_history",
                "session_id": sid,
                "time_range": {"start": stamps[5], "end": stamps[20]},
                "request_id": "h1",
            },
        )
        pages: list[dict[str, Any]] = []
        while not pages or not pages[-1]["done"]:
            message = await recv(ws)
            if message["type"] == "history":
                pages.append(message)
        assert pages[-1]["request_id"] == "h1"
        assert not pages[-1]["truncated"]
        history = [e for p in pages for e in p["events"]]
        assert history
        assert all(stamps[5] <= e["timestamp"] <= stamps[20] for e in history)
        assert len(history) == sum(1 for s in stamps if stamps[5] <= s <= stamps[20])


async def test_bad_messages_get_errors_and_the_connection_stays(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url) as ws:
        for bad, code in (
            ("not json", "bad_request"),
            ("[1, 2]", "bad_request"),
            ('{"type": "dance"}', "bad_request"),
            ('{"type": "subscribe_session"}', "bad_request"),
            ('{"type": "subscribe_session", "session_id": "has space"}', "bad_request"),
            ('{"type": "subscribe_session", "session_id": "s", "after_seq": -4}', "bad_request"),
            ('{"type": "time_travel", "session_id": "s"}', "bad_request"),
            (
                '{"type": "request_history", "session_id": "s", "time_range": {"start": 5, "end": 1}}',
                "bad_request",
            ),
        ):
            await ws.send(bad)
            message = await recv(ws)
            assert message["type"] == "error", (bad, message)
            assert message["code"] == code
            assert message["message"]
        await ws.send(b"\x00binary")
        assert (await recv(ws))["type"] == "error"
        await send(ws, {"type": "subscribe_session", "session_id": "s", "bogus": 1, "request_id": "r9"})
        message = await recv(ws)
        assert message["type"] == "error"
        assert message["request_id"] == "r9"
        assert await pong(ws, "still-open") == []


async def test_history_of_an_unknown_session_is_an_error(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url) as ws:
        await send(ws, {"type": "request_history", "session_id": new_session(), "request_id": "x"})
        message = await recv(ws)
        assert message["type"] == "error"
        assert message["code"] == "not_found"
        assert message["request_id"] == "x"


async def test_time_travel_answers_the_state(gateway: RunningGateway, client: httpx.AsyncClient) -> None:
    sid = new_session()
    await ingest(client, session_events(sid, 10))
    await wait_stored(client, sid, 10)
    stored = await stored_events(client, sid)
    async with connect(gateway.ws_url, max_size=None) as ws:
        await send(ws, {"type": "time_travel", "session_id": sid, "seq": stored[4]["seq"], "request_id": "t"})
        message = await recv(ws, timeout=30)
        assert message["type"] == "state", message
        assert message["session_id"] == sid
        assert message["seq"] == stored[4]["seq"]
        assert message["state"]["session_id"] == sid
        assert message["request_id"] == "t"
        await send(ws, {"type": "time_travel", "session_id": sid, "timestamp": stored[-1]["timestamp"]})
        message = await recv(ws, timeout=30)
        assert message["type"] == "state"
        assert message["seq"] == stored[-1]["seq"]
