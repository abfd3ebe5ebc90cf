"""The live hub's join and fan-out, driven directly: resume from the ring, from history, with live
events arriving while history is sent (and overflowing the join buffer), filters, and the slow
client's resync. History is a stand-in here; the real one (store + stream) is exercised by the SSE
and WebSocket tests against the real services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import orjson
from prometheus_client import CollectorRegistry

from swarmscope_gateway.client_queue import QueueClosed
from swarmscope_gateway.frames import FrameKind, Transport
from swarmscope_gateway.hub import LiveClient, LiveConfig, LiveHub, SubState
from swarmscope_gateway.live_event import LiveEvent, LiveFilter, from_stream_message
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_schema.testing import make_event


def event(seq: int, session: str = "s", agent: str = "a") -> LiveEvent:
    return from_stream_message(orjson.dumps(make_event("tool_call", session_id=session, agent_id=agent)), seq)


class ScriptedHistory:
    """Answers history from a list; calls `during` after each page (to inject live events)."""

    def __init__(self, events: list[LiveEvent], during: Callable[[], None] = lambda: None) -> None:
        self.events = events
        self.during = during
        self.reads: list[tuple[int, int]] = []
        self.open_reads = 0
        # Held as a reference cycle would hold them in the real gateway: an abandoned read is only
        # finished by whoever closes it, not by reference counting.
        self.handed_out: list[AsyncGenerator[tuple[str, list[LiveEvent]], None]] = []

    def read(
        self, live_filter: LiveFilter, after: int, until: int
    ) -> AsyncGenerator[tuple[str, list[LiveEvent]], None]:
        pages = self._pages(live_filter, after, until)
        self.handed_out.append(pages)
        return pages

    async def _pages(
        self, live_filter: LiveFilter, after: int, until: int
    ) -> AsyncGenerator[tuple[str, list[LiveEvent]], None]:
        self.reads.append((after, until))
        self.open_reads += 1
        try:
            wanted = [e for e in self.events if after < e.seq <= until and live_filter.matches(e)]
            for start in range(0, len(wanted), 7):
                yield "store", wanted[start : start + 7]
                self.during()
                await asyncio.sleep(0)
        finally:
            # The real history holds a stream consumer and a subscription until it is closed.
            self.open_reads -= 1


def make_hub(history: ScriptedHistory, **config: int) -> LiveHub:
    return LiveHub(None, history, GatewayMetrics.create(CollectorRegistry()), LiveConfig(**config))  # type: ignore[arg-type]


def feed(hub: LiveHub, events: list[LiveEvent]) -> None:
    for start in range(0, len(events), hub._config.batch_size):
        hub._pending.extend(events[start : start + hub._config.batch_size])
        hub._flush()


async def drain(hub: LiveHub, client: LiveClient) -> tuple[list[int], list[dict]]:
    """Seqs delivered to a client (and its control messages), until its queue stays empty."""
    seqs: list[int] = []
    controls: list[dict] = []
    while True:
        try:
            frame, sub = await asyncio.wait_for(client.queue.get(), 0.05)
        except (TimeoutError, QueueClosed):
            return seqs, controls
        hub.took(frame, sub)
        data = frame.data if isinstance(frame.data, bytes) else frame.data.encode()
        payload = orjson.loads(data.split(b"data: ", 1)[1])
        if frame.kind is FrameKind.EVENTS:
            seqs += [e["seq"] for e in payload["events"]]
        else:
            controls.append(payload)


async def test_resume_inside_the_ring_needs_no_history() -> None:
    history = ScriptedHistory([])
    hub = make_hub(history, ring_events=100)
    feed(hub, [event(i) for i in range(1, 11)])
    client = hub.open_client(Transport.SSE)
    hub.subscribe(client, "s", LiveFilter(session_id="s"), 4)
    await asyncio.sleep(0)
    feed(hub, [event(i) for i in range(11, 14)])
    seqs, _ = await drain(hub, client)
    assert seqs == list(range(5, 14))
    assert history.reads == []


async def test_resume_from_history_while_live_events_arrive() -> None:
    past = [event(i) for i in range(1, 101)]
    live_events = iter(event(i) for i in range(111, 200))
    hub: LiveHub

    def more_live() -> None:
        feed(hub, [next(live_events) for _ in range(3)])

    history = ScriptedHistory(past, during=more_live)
    hub = make_hub(history, ring_events=10)
    feed(hub, past + [event(i) for i in range(101, 111)])
    assert hub.ring_floor == 100
    client = hub.open_client(Transport.SSE)
    sub = hub.subscribe(client, "s", LiveFilter(session_id="s"), 50)
    seqs, _ = await drain(hub, client)
    assert history.reads == [(50, 100)]
    assert sub.state is SubState.LIVE
    assert seqs == list(range(51, seqs[-1] + 1)), "a gap or a repeat at the join"
    assert seqs[-1] >= 111


async def test_join_buffer_overflow_while_history_is_sent_still_joins_exactly() -> None:
    past = [event(i) for i in range(1, 101)]
    live_events = iter(event(i) for i in range(111, 1000))
    hub: LiveHub

    def flood() -> None:
        feed(hub, [next(live_events) for _ in range(10)])

    history = ScriptedHistory(past, during=flood)
    hub = make_hub(history, ring_events=200, join_buffer_events=100)
    feed(hub, past[:10])
    hub._ring_floor = 100  # as if the ring had forgotten up to 100
    hub._ring.clear()
    feed(hub, [event(i) for i in range(101, 111)])
    client = hub.open_client(Transport.SSE)
    hub.subscribe(client, "s", LiveFilter(session_id="s"), 0)
    seqs, _ = await drain(hub, client)
    assert seqs == list(range(1, seqs[-1] + 1))
    assert seqs[-1] > 111


async def test_a_client_gone_mid_history_closes_the_history_read_at_once() -> None:
    past = [event(i) for i in range(1, 201)]
    history = ScriptedHistory(past)
    hub = make_hub(history, ring_events=10, queue_frames=2, batch_size=5)
    feed(hub, past + [event(i) for i in range(201, 211)])
    for leave in (hub.close_client, lambda c: c.queue.close()):
        client = hub.open_client(Transport.WS)
        sub = hub.subscribe(client, "s", LiveFilter(session_id="s"), 0)
        while len(client.queue) < 2 or history.open_reads == 0:
            await asyncio.sleep(0)  # the join is sending history; its queue fills and it waits
        leave(client)
        await asyncio.sleep(0.01)
        assert sub.task is None or sub.task.done()
        assert history.open_reads == 0, "the abandoned history read was left open"
        hub.close_client(client)


async def test_filters_and_agent_changes() -> None:
    hub = make_hub(ScriptedHistory([]))
    client = hub.open_client(Transport.WS)
    hub.subscribe(client, "s", LiveFilter(session_id="s", agents=frozenset({"a"})), None)
    await asyncio.sleep(0)
    feed(hub, [event(1, agent="a"), event(2, agent="b"), event(3, session="t", agent="a")])
    hub.set_agents(client, None)
    feed(hub, [event(4, agent="b")])
    messages = []
    while len(client.queue):
        frame, _ = await client.queue.get()
        messages.append(orjson.loads(frame.data))
    assert [m["type"] for m in messages] == ["trace_event", "trace_event"]
    assert [m["event"]["seq"] for m in messages] == [1, 4]


async def test_a_slow_client_is_resynced_and_others_keep_everything() -> None:
    hub = make_hub(ScriptedHistory([]), queue_frames=3, batch_size=5)
    slow = hub.open_client(Transport.SSE)
    fast = hub.open_client(Transport.SSE)
    for client in (slow, fast):
        hub.subscribe(client, "s", LiveFilter(session_id="s"), None)
    await asyncio.sleep(0)
    received: list[int] = []
    for start in range(1, 101, 5):
        feed(hub, [event(i) for i in range(start, start + 5)])
        received += (await drain(hub, fast))[0]
        if start == 1:
            # The slow client takes one frame, then stops reading.
            frame, sub = await slow.queue.get()
            hub.took(frame, sub)
    assert received == list(range(1, 101))
    seqs, controls = await drain(hub, slow)
    assert controls == [{"session_id": "s", "after_seq": 5}]
    assert seqs == []  # its backlog was dropped
    assert slow.subscriptions == {}
    assert len(slow.queue) == 0
