"""The live feed: one JetStream consumer per gateway process, fanned out to every client.

One ephemeral ordered consumer reads all of TRACES (never a durable shared with anyone). Events are
batched (flush at `batch_size` events or `batch_ms`, whichever first); each batch is encoded once per
distinct (filter, transport) and the same bytes are offered to every client with that filter.

A client joins at a resume point (`after_seq`). The hub keeps a ring of the most recent events,
complete for the seq range (ring_floor, head]. Joining is done without a gap and without a repeat:
1. atomically (no await): register the subscription as JOINING, copy the ring's events after the
   resume point into its join buffer; from now on every flushed event matching it is appended there;
2. if the resume point is older than the ring, send (resume point, ring_floor] from history (store
   up to its commit floor, the stream for the rest);
3. send the join buffer, and switch to LIVE in the same step as finding it empty.
Every event handed to a client passes `seq > last_seq`, so an overlap can never repeat an event.

A client that cannot keep up (its bounded queue is full when a live batch comes) loses its backlog
and gets `resync {session_id, after_seq}` with the last seq it was written; it never slows the feed
or anyone else, and its memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from swarmscope_gateway.client_queue import ClientQueue, QueueClosed
from swarmscope_gateway.frames import Frame, FrameKind, Transport, encode_events, sse_control, ws_message
from swarmscope_gateway.history import History
from swarmscope_gateway.live_event import LiveEvent, LiveFilter, MalformedEvent, from_stream_message
from swarmscope_gateway.metrics import GatewayMetrics
from swarmscope_schema.requests import ErrorCode
from swarmscope_schema.subjects import EVENTS_PREFIX, STREAM_EVENTS
from swarmscope_service.request_reply import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveConfig:
    batch_size: int = 50
    batch_ms: float = 20.0
    ring_events: int = 10_000
    ring_bytes: int = 32 * 1024 * 1024
    queue_frames: int = 1000
    queue_bytes: int = 8 * 1024 * 1024
    join_buffer_events: int = 20_000
    idle_heartbeat: float = 2.0


class SubState(Enum):
    JOINING = "joining"
    LIVE = "live"
    STOPPED = "stopped"


@dataclass(eq=False)
class Subscription:
    """One client's interest in one session (or, keyed None, in every session)."""

    client: LiveClient
    key: str | None
    filter: LiveFilter
    state: SubState = SubState.JOINING
    last_seq: int = 0  # newest seq handed to the client's queue
    written_seq: int = 0  # newest seq the client's writer has taken from the queue
    join_buffer: list[LiveEvent] = field(default_factory=list)
    join_overflow: bool = False
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class LiveClient:
    """One connection: its transport, its bounded queue and its subscriptions."""

    transport: Transport
    queue: ClientQueue[Subscription | None]
    subscriptions: dict[str | None, Subscription] = field(default_factory=dict)
    agents: frozenset[str] | None = None


class LiveHub:
    """Owns the live consumer, the ring of recent events and every live subscription."""

    def __init__(
        self,
        js: JetStreamContext,
        history: History,
        metrics: GatewayMetrics,
        config: LiveConfig | None = None,
    ) -> None:
        self._js = js
        self._history = history
        self._metrics = metrics
        self._config = config or LiveConfig()
        self._subs: dict[Subscription, None] = {}
        self._clients: dict[LiveClient, None] = {}
        self._pending: list[LiveEvent] = []
        self._timer: asyncio.TimerHandle | None = None
        self._ring: deque[LiveEvent] = deque()
        self._ring_bytes = 0
        self._ring_floor = 0
        self._head = 0
        self._start_last_seq = 0
        self._received = 0
        self._sub: object | None = None
        self._client_gauges = {t: metrics.clients.labels(t.value) for t in Transport}
        self._delivered = {t: metrics.events_delivered.labels(t.value) for t in Transport}
        self._frames = {t: metrics.frames_delivered.labels(t.value) for t in Transport}
        self._latency = {t: metrics.delivered_latency.labels(t.value) for t in Transport}
        self._resyncs = {t: metrics.resyncs.labels(t.value) for t in Transport}

    # ------------------------------------------------------------------------------- lifecycle --

    async def start(self) -> None:
        """Subscribes to TRACES, starting far enough back to fill the ring."""
        info = await self._js.stream_info(STREAM_EVENTS)
        last = int(info.state.last_seq)
        first = max(1, int(info.state.first_seq))
        start = max(first, last - self._config.ring_events + 1) if self._config.ring_events else last + 1
        self._start_last_seq = last
        self._ring_floor = start - 1
        self._head = start - 1
        self._received = start - 1
        self._sub = await self._js.subscribe(
            f"{EVENTS_PREFIX}.>",
            stream=STREAM_EVENTS,
            cb=self._on_message,
            ordered_consumer=True,
            idle_heartbeat=self._config.idle_heartbeat,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start),
        )
        log.info("live feed started", extra={"from_seq": start, "stream_last_seq": last})

    async def stop(self) -> None:
        """Stops the feed and ends every client's stream (their writers drain and return)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # type: ignore[attr-defined]
        for client in list(self._clients):
            self.close_client(client)

    @property
    def running(self) -> bool:
        return self._sub is not None

    @property
    def live_head(self) -> int:
        """The seq a client starting "from now" resumes after."""
        return max(self._head, self._start_last_seq)

    @property
    def ring_floor(self) -> int:
        return self._ring_floor

    @property
    def ring_size(self) -> int:
        return len(self._ring)

    # --------------------------------------------------------------------------------- clients --

    def open_client(self, transport: Transport) -> LiveClient:
        client = LiveClient(
            transport=transport,
            queue=ClientQueue(self._config.queue_frames, self._config.queue_bytes),
        )
        self._clients[client] = None
        self._client_gauges[transport].inc()
        return client

    def close_client(self, client: LiveClient) -> None:
        if client not in self._clients:
            return
        for sub in list(client.subscriptions.values()):
            self._stop(sub)
        client.subscriptions.clear()
        client.queue.close()
        del self._clients[client]
        self._client_gauges[client.transport].dec()

    def subscribe(
        self, client: LiveClient, key: str | None, live_filter: LiveFilter, after_seq: int | None
    ) -> Subscription:
        """Starts (or restarts) a subscription; events flow into the client's queue from its resume
        point (`after_seq`; None = from now)."""
        previous = client.subscriptions.get(key)
        if previous is not None:
            self._stop(previous)
        head = self.live_head
        start = head if after_seq is None or after_seq > head else after_seq
        sub = Subscription(client=client, key=key, filter=live_filter, last_seq=start, written_seq=start)
        client.subscriptions[key] = sub
        self._subs[sub] = None
        sub.task = asyncio.create_task(self._join(sub, start), name="live-join")
        return sub

    def unsubscribe(self, client: LiveClient, key: str | None) -> bool:
        sub = client.subscriptions.pop(key, None)
        if sub is None:
            return False
        self._stop(sub)
        return True

    def set_agents(self, client: LiveClient, agents: frozenset[str] | None) -> None:
        """Changes the agent filter of every subscription of a client, from the next batch on."""
        client.agents = agents
        for sub in client.subscriptions.values():
            sub.filter = sub.filter.with_agents(agents)

    def took(self, frame: Frame, sub: Subscription | None) -> None:
        """The writer took a frame off the queue: it is what the client has from now on."""
        if sub is not None and frame.kind is FrameKind.EVENTS and frame.last_seq > sub.written_seq:
            sub.written_seq = frame.last_seq

    def wrote(self, frame: Frame, transport: Transport) -> None:
        """The writer wrote a frame to the connection."""
        if frame.count and frame.kind is FrameKind.EVENTS:
            self._delivered[transport].inc(frame.count)
            if frame.oldest_ts:
                self._latency[transport].observe(max(0.0, time.time() - frame.oldest_ts / 1000.0))
        self._frames[transport].inc()

    def _stop(self, sub: Subscription) -> None:
        sub.state = SubState.STOPPED
        sub.join_buffer = []
        self._subs.pop(sub, None)
        if sub.client.subscriptions.get(sub.key) is sub:
            del sub.client.subscriptions[sub.key]
        task = sub.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    # ---------------------------------------------------------------------------------- joining --

    async def _join(self, sub: Subscription, after_seq: int) -> None:
        try:
            await self._join_steps(sub, after_seq)
        except asyncio.CancelledError:
            raise
        except QueueClosed:
            return
        except ServiceError as exc:
            self._fail(sub, exc.code, f"history unavailable: {exc.message}")
        except Exception:
            log.exception("joining a live client failed")
            self._fail(sub, ErrorCode.INTERNAL, "could not resume the stream; see the gateway log")

    async def _join_steps(self, sub: Subscription, after_seq: int) -> None:
        cursor = after_seq
        config = self._config
        transport = sub.client.transport
        queue = sub.client.queue
        while sub.state is SubState.JOINING:
            # Atomic: snapshot the ring and arm the join buffer with no await in between.
            sub.join_buffer = [e for e in self._ring if e.seq > cursor and sub.filter.matches(e)]
            sub.join_overflow = False
            floor = self._ring_floor
            if cursor < floor:
                # Closed at once when the client goes away mid-history: an abandoned read would
                # hold its stream consumer and subscription until the collector found it.
                async with contextlib.aclosing(self._history.read(sub.filter, cursor, floor)) as pages:
                    async for source, page in pages:
                        fresh = [e for e in page if e.seq > sub.last_seq]
                        for frame in encode_events(
                            transport, fresh, max_batch=max(config.batch_size, 500), live=False
                        ):
                            await queue.put(frame, sub)
                            sub.last_seq = frame.last_seq
                        self._metrics.backfill_events.labels(source).inc(len(fresh))
                cursor = floor
                sub.last_seq = max(sub.last_seq, floor)
                if sub.join_overflow:
                    continue  # live events were dropped while history went out: snapshot again
            while True:
                fresh = [e for e in sub.join_buffer if e.seq > sub.last_seq]
                sub.join_buffer = []
                if not fresh:
                    # Same step as finding the buffer empty: nothing can slip in between.
                    sub.state = SubState.LIVE
                    return
                self._metrics.backfill_events.labels("ring").inc(len(fresh))
                for frame in encode_events(transport, fresh, max_batch=config.batch_size, live=True):
                    await queue.put(frame, sub)
                    sub.last_seq = frame.last_seq
                if sub.join_overflow:
                    cursor = sub.last_seq
                    break

    def _fail(self, sub: Subscription, code: ErrorCode, message: str) -> None:
        client = sub.client
        self._stop(sub)
        if client.transport is Transport.SSE:
            frame = sse_control("error", {"code": code.value, "message": message}, final=True)
        else:
            frame = ws_message(
                {"type": "error", "code": code.value, "message": message, "session_id": sub.key}
            )
        client.queue.put_control(frame, None)

    # ---------------------------------------------------------------------------------- the feed --

    async def _on_message(self, msg: Msg) -> None:
        try:
            seq = int(msg.metadata.sequence.stream)
        except Exception:
            return
        if seq <= self._received:
            return  # redelivered by a consumer reset
        self._received = seq
        try:
            event = from_stream_message(msg.data, seq)
        except MalformedEvent as exc:
            log.warning("skipping a malformed event on TRACES", extra={"error": str(exc)})
            return
        self._metrics.live_events.inc()
        self._pending.append(event)
        if len(self._pending) >= self._config.batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._config.batch_ms / 1000.0, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        events, self._pending = self._pending, []
        if not events:
            return
        self._remember(events)
        self._metrics.live_head_seq.set(self._head)
        if self._subs:
            self._fan_out(events)

    def _remember(self, events: list[LiveEvent]) -> None:
        self._head = events[-1].seq
        config = self._config
        if not config.ring_events:
            self._ring_floor = self._head
            return
        ring = self._ring
        for event in events:
            ring.append(event)
            self._ring_bytes += len(event.body)
        while ring and (len(ring) > config.ring_events or self._ring_bytes > config.ring_bytes):
            old = ring.popleft()
            self._ring_bytes -= len(old.body)
            self._ring_floor = old.seq

    def _fan_out(self, events: list[LiveEvent]) -> None:
        config = self._config
        by_session: dict[str, list[LiveEvent]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        matched: dict[LiveFilter, list[LiveEvent]] = {}
        encoded: dict[tuple[LiveFilter, Transport], list[Frame]] = {}
        behind: dict[LiveClient, None] = {}
        for sub in self._subs:
            live_filter = sub.filter
            matching = matched.get(live_filter)
            if matching is None:
                pool = (
                    events if live_filter.session_id is None else by_session.get(live_filter.session_id, [])
                )
                if (
                    live_filter.agents is None
                    and live_filter.types is None
                    and live_filter.session_id is not None
                ):
                    matching = pool
                else:
                    matching = [e for e in pool if live_filter.matches(e)]
                matched[live_filter] = matching
            if not matching:
                continue
            if sub.state is SubState.JOINING:
                sub.join_buffer.extend(matching)
                if len(sub.join_buffer) > config.join_buffer_events:
                    sub.join_buffer = []
                    sub.join_overflow = True
                continue
            if matching[-1].seq <= sub.last_seq:
                continue
            transport = sub.client.transport
            if matching[0].seq <= sub.last_seq:
                # Only right after a join: this client needs part of the batch.
                frames = encode_events(
                    transport,
                    [e for e in matching if e.seq > sub.last_seq],
                    max_batch=config.batch_size,
                    live=True,
                )
            else:
                shared = encoded.get((live_filter, transport))
                if shared is None:
                    shared = encode_events(transport, matching, max_batch=config.batch_size, live=True)
                    encoded[(live_filter, transport)] = shared
                frames = shared
            queue = sub.client.queue
            for frame in frames:
                if not queue.offer(frame, sub):
                    behind[sub.client] = None
                    break
                sub.last_seq = frame.last_seq
        for client in behind:
            self._fall_behind(client)

    def _fall_behind(self, client: LiveClient) -> None:
        """The client's queue is full: drop its backlog and tell it where to resume."""
        client.queue.drop_events()
        subscriptions = list(client.subscriptions.values())
        for sub in subscriptions:
            after = sub.written_seq
            self._stop(sub)
            if client.transport is Transport.SSE:
                frame = sse_control("resync", {"session_id": sub.key, "after_seq": after}, final=True)
            else:
                frame = ws_message({"type": "resync", "session_id": sub.key, "after_seq": after})
            client.queue.put_control(frame, None)
        self._resyncs[client.transport].inc()
        log.info(
            "client fell behind; backlog dropped, resync sent",
            extra={"transport": client.transport.value, "subscriptions": len(subscriptions)},
        )
