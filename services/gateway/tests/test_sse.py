"""SSE (CONTRACT §5) against the real ingest and store: live delivery, resume across a dropped
connection with nothing missed and nothing repeated, resume from the store and from the stream,
filters, heartbeats and parameter errors."""

from __future__ import annotations

import asyncio

import httpx

from swarmscope_dev.gateway import (
    RunningGateway,
    SseReader,
    ingest,
    new_session,
    session_events,
    stored_events,
    wait_stored,
)
from swarmscope_dev.stack import LocalStack


def assert_contiguous(got: list[dict], expected: list[dict]) -> None:
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs), "events out of order"
    assert len(seqs) == len(set(seqs)), "an event was repeated"
    assert seqs == [e["seq"] for e in expected], "an event is missing"
    assert [e["id"] for e in got] == [e["id"] for e in expected]


async def test_live_events_reach_the_client_in_batches(
    gateway: RunningGateway, client: httpx.AsyncClient
) -> None:
    sid = new_session()
    async with client.stream("GET", f"/api/v1/sessions/{sid}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        events = session_events(sid, 120)
        await ingest(client, events)
        got: list[dict] = []
        ids: list[int] = []
        while len(got) < len(events):
            message = await reader.next()
            assert message.event == "batch_events"
            assert message.data["session_id"] == sid
            batch = message.data["events"]
            assert 1 <= len(batch) <= 50
            assert int(message.id) == batch[-1]["seq"]
            ids.append(int(message.id))
            got.extend(batch)
    assert ids == sorted(ids)
    assert [e["id"] for e in got] == [e["id"] for e in events]
    assert all(e["session_id"] == sid and e["seq"] >= 1 for e in got)
    assert await gateway.metric("swarmscope_gateway_events_delivered_total", transport="sse") >= len(events)


async def test_resume_across_a_dropped_connection_misses_and_repeats_nothing(
    client: httpx.AsyncClient,
) -> None:
    sid = new_session()
    first = session_events(sid, 60)
    await ingest(client, first)
    async with client.stream("GET", f"/api/v1/sessions/{sid}/stream", params={"after_seq": 0}) as response:
        reader = SseReader(response)
        got, last_id = await reader.events(20)
    # The connection is gone; more events arrive while the client is away, and while it resumes.
    second = session_events(sid, 60)[1:]
    await ingest(client, second)
    third = session_events(sid, 40)[1:]
    async with client.stream(
        "GET",
        f"/api/v1/sessions/{sid}/stream",
        # A reconnecting EventSource repeats its URL; Last-Event-ID must win over it.
        params={"after_seq": 0},
        headers={"Last-Event-ID": str(last_id)},
    ) as response:
        reader = SseReader(response)
        publishing = asyncio.create_task(ingest(client, third))
        total = len(first) + len(second) + len(third)
        more, _ = await reader.events(total - len(got))
        await publishing
        got += more
    await wait_stored(client, sid, total)
    assert_contiguous(got, await stored_events(client, sid))


async def test_resume_older_than_the_ring_reads_the_store(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(gateway_ring_events=10)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        sid = new_session()
        events = session_events(sid, 150)
        await ingest(http, events)
        await wait_stored(http, sid, len(events))
        async with http.stream("GET", f"/api/v1/sessions/{sid}/stream", params={"after_seq": 0}) as response:
            got, _ = await SseReader(response).events(len(events))
        assert_contiguous(got, await stored_events(http, sid))
        assert await gateway.metric("swarmscope_gateway_backfill_events_total", source="store") > 0


async def test_resume_reads_the_stream_for_what_the_store_has_not_committed(
    gateway_factory, backend_stack: LocalStack
) -> None:
    gateway: RunningGateway = await gateway_factory(gateway_ring_events=5)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        sid = new_session()
        before = session_events(sid, 30)
        await ingest(http, before)
        await wait_stored(http, sid, len(before))
        backend_stack.stop_service("store")
        try:
            during = session_events(sid, 40)[1:]
            await ingest(http, during)
            async with http.stream(
                "GET", f"/api/v1/sessions/{sid}/stream", params={"after_seq": 0}
            ) as response:
                got, _ = await SseReader(response).events(len(before) + len(during))
        finally:
            backend_stack.restart_service("store")
        await wait_stored(http, sid, len(before) + len(during))
        assert_contiguous(got, await stored_events(http, sid))
        assert await gateway.metric("swarmscope_gateway_backfill_events_total", source="stream") > 0


async def test_global_stream_filters_by_session_agent_and_type(client: httpx.AsyncClient) -> None:
    a, b = new_session(), new_session()
    async with client.stream(
        "GET", "/api/v1/stream", params={"agent": "agent-2", "type": "tool_call"}
    ) as response:
        reader = SseReader(response)
        await ingest(client, session_events(a, 21, agents=("agent-1", "agent-2")))
        await ingest(client, session_events(b, 21, agents=("agent-1", "agent-2")))
        got, _ = await reader.events(20)
    assert {e["session_id"] for e in got} == {a, b}
    assert all(e["agent_id"] == "agent-2" and e["type"] == "tool_call" for e in got)
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs)

    async with client.stream("GET", "/api/v1/stream", params={"session": b, "after_seq": 0}) as response:
        got, _ = await SseReader(response).events(21)
    assert {e["session_id"] for e in got} == {b}


async def test_heartbeat_comments_keep_an_idle_stream_open(gateway_factory) -> None:
    gateway: RunningGateway = await gateway_factory(gateway_heartbeat_seconds=0.2)
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=30) as http,
        http.stream("GET", f"/api/v1/sessions/{new_session()}/stream") as response,
    ):
        reader = SseReader(response)
        task = asyncio.create_task(reader.next(timeout=30))
        while len(reader.comments) < 2:
            await asyncio.sleep(0.05)
        task.cancel()
    assert all(c.startswith(":") for c in reader.comments)


async def test_bad_stream_parameters_are_400_json(client: httpx.AsyncClient) -> None:
    sid = new_session()
    for url, headers in (
        (f"/api/v1/sessions/{sid}/stream?after_seq=-1", {}),
        (f"/api/v1/sessions/{sid}/stream?after_seq=abc", {}),
        (f"/api/v1/sessions/{sid}/stream", {"Last-Event-ID": "not-a-seq"}),
        ("/api/v1/sessions/bad%20id/stream", {}),
        (f"/api/v1/sessions/{sid}/stream?bogus=1", {}),
        ("/api/v1/stream?session=a.b", {}),
    ):
        response = await client.get(url, headers=headers)
        assert response.status_code == 400, (url, response.text)
        body = response.json()
        assert body["error"]["code"] == "bad_request"
        assert body["error"]["message"]
