"""The `replay` durable on TRACES: keeps active sessions' states and persists their snapshots.

TRACES interleaves sessions (seq is global); each session's events are a subsequence, folded in
order into that session's state. Per batch:

1. log order: messages are taken strictly in stream sequence from the durable's ack floor on.
   JetStream redelivers a nak'd or timed-out message after later ones; such a gap is filled by
   reading the missing messages from the stream (a hole it no longer holds is passed over), and
   older deliveries were applied already and are just acked again;
2. decode; a message that is not an event object is dead-lettered (it cannot be reduced);
3. every session of the batch gets its cursor: from memory, or cold: its last snapshot plus, when
   its progress row says the consumer had applied more (a crash since), the missing events
   fetched from the store — once the store holds them (its durable's ack floor). A session never
   seen before is checked against the store too, so a fresh replay database still gets exact
   states for sessions that began before it;
4. events at or before a session's `applied_seq` are skipped (redelivery changes nothing), and so
   are repeats of an event id the store holds at another seq (`repeats.RepeatFilter`); the rest
   are folded, with a snapshot every `snapshot_every` events of the session and at
   session_end;
5. snapshots (chunked: only the chunks the last snapshot did not have, see chunked.py), progress
   rows and the snapshots of sessions evicted from memory are written in one transaction; only
   then are the new cursors installed and the batch acked.

Nothing is changed in memory until the write has succeeded, so a failed batch is simply retried.

Scale-out (ownership.py): with several replicas, each reads the whole log through its own durable
but folds only the sessions of the partitions it holds; the rest are acked unread. A partition
gained from another replica may have events this one passed over: a session's cursor, when built
cold, catches up from the store over everything after what its progress row says was applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from swarmscope_replay.cache import ChunkCache, SnapshotCache
from swarmscope_replay.chunked import EMPTY_LAYOUT, DecodedChunk, Layout
from swarmscope_replay.event_source import EventSource, events_between
from swarmscope_replay.log_position import LogPosition
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.ownership import Ownership, session_of_subject
from swarmscope_replay.reducer import State, Writer, apply, fold, initial_state
from swarmscope_replay.repeats import RepeatFilter
from swarmscope_replay.snapshot_reader import SnapshotReader
from swarmscope_replay.snapshots import (
    SessionProgress,
    Snapshot,
    SnapshotCorrupt,
    SnapshotStore,
    StoredChunk,
    make_chunk,
    make_chunked_snapshot,
)
from swarmscope_schema.state import STATE_COLLECTIONS
from swarmscope_schema.subjects import DlqReason
from swarmscope_service.consumer import Decision, Delivery, RetryableError

log = logging.getLogger(__name__)

LATEST = 2**62
GAP_RETRY_SECONDS = 0.2
MAX_GAP_READS = 2000


@dataclass(frozen=True, slots=True)
class SessionCursor:
    """A session as far as the consumer has applied it. `state` is never changed in place;
    `layout` is how its last snapshot written from memory was cut (the next one reuses it)."""

    session_id: str
    state: State
    applied_seq: int
    snapshot_seq: int
    events: int
    snapshot_events: int
    layout: Layout = EMPTY_LAYOUT


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    snapshot: Snapshot
    reason: str
    state: State
    chunks: list[StoredChunk]
    decoded: list[tuple[bool, str, DecodedChunk]]
    layout: Layout
    resident_bytes: int


async def load_latest_snapshot(
    store: SnapshotStore, reader: SnapshotReader, session_id: str, seq: int, metrics: ReplayMetrics
) -> tuple[Snapshot | None, State | None, Layout]:
    """The newest snapshot ≤ seq whose bytes check out (a corrupt one is skipped and counted),
    its state and the layout it was cut with."""
    while seq > 0:
        snapshot = await store.nearest(session_id, seq)
        if snapshot is None:
            break
        try:
            read = await reader.read(snapshot)
        except SnapshotCorrupt as exc:
            metrics.snapshot_corrupt.inc()
            log.error("corrupt snapshot ignored", extra={"error": str(exc)})
            seq = snapshot.seq - 1
            continue
        return snapshot, read.state, read.layout
    return None, None, Layout()


class SessionTracker:
    """The consumer handler of the `replay` durable."""

    def __init__(
        self,
        store: SnapshotStore,
        source: EventSource,
        metrics: ReplayMetrics,
        position: LogPosition,
        *,
        snapshot_every: int = 500,
        capacity: int = 256,
        compress: bool = True,
        store_wait: float = 10.0,
        snapshot_cache: SnapshotCache | None = None,
        repeats: RepeatFilter | None = None,
        chunk_cache: ChunkCache | None = None,
        ownership: Ownership | None = None,
        takeover_window: float = 3600.0,
    ) -> None:
        self._store = store
        self._repeats = repeats
        self._source = source
        self._metrics = metrics
        self._every = snapshot_every
        self._capacity = capacity
        self._compress = compress
        self._sessions: OrderedDict[str, SessionCursor] = OrderedDict()
        self._position = position
        self._frontier: int | None = None
        self._store_wait = store_wait
        self._snapshot_cache = snapshot_cache
        self._chunk_cache = chunk_cache if chunk_cache is not None else ChunkCache(0, metrics)
        self._reader = SnapshotReader(store, self._chunk_cache)
        self._ownership = ownership
        self._takeover_window = takeover_window
        self._held: frozenset[int] | None = None
        self._taking_over: frozenset[int] = frozenset()
        # Per partition held: the frontier when it was gained (events at or below it may have
        # been passed over while another replica held it).
        self._gained_at: dict[int, int] = {}
        # The consumer's batches and the idle takeover check (`run_takeovers`) share the sessions.
        self._lock = asyncio.Lock()

    def current(self, session_id: str) -> SessionCursor | None:
        """The session's state as far as the consumer has applied it, if it is in memory."""
        return self._sessions.get(session_id)

    @property
    def sessions_in_memory(self) -> int:
        return len(self._sessions)

    async def handle(self, deliveries: Sequence[Delivery]) -> Sequence[Decision]:
        async with self._lock:
            return await self._handle(deliveries)

    async def run_takeovers(self, interval: float) -> None:
        """Takes over gained partitions while no batch arrives (background task).

        A replica that dies after the last events of its sessions leaves nothing on the stream to
        wake its successor: without this, those sessions would stay folded only as far as the dead
        replica got (and unsnapshotted at their end) until the next event of any owned session.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                await self.take_over_now()
            except Exception as exc:  # the store or the snapshot database is behind: next tick
                log.warning("takeover deferred", extra={"error": repr(exc)})

    async def take_over_now(self) -> None:
        """Follows ownership and brings the sessions of any gained partition up to the frontier."""
        async with self._lock:
            if self._ownership is None:
                return
            if self._frontier is None:
                self._frontier = await self._position.acked_floor()
            await self._follow_and_take_over()

    async def _follow_and_take_over(self) -> None:
        self._taking_over |= self._follow_ownership()
        if self._taking_over:
            # Until it succeeds (the store may still be behind), every batch and tick tries again.
            await self._take_over(self._taking_over)
            self._taking_over = frozenset()

    async def _handle(self, deliveries: Sequence[Delivery]) -> Sequence[Decision]:
        decisions: list[Decision] = [Decision.ack()] * len(deliveries)
        if self._frontier is None:
            try:
                self._frontier = await self._position.acked_floor()
            except Exception as exc:
                raise RetryableError(f"replay durable position unknown: {exc}") from exc
        await self._follow_and_take_over()
        taken, expected = await self._in_log_order(deliveries, decisions, self._frontier + 1)
        by_session: dict[str, list[dict[str, Any]]] = {}
        for index, delivery in taken:
            if not self._owns_subject(delivery.subject):
                continue
            event = _decode(delivery)
            if isinstance(event, str):
                if index is not None:
                    decisions[index] = Decision.dead(DlqReason.UNPROCESSABLE, event)
                continue
            if not self._owns(event["session_id"]):
                continue
            by_session.setdefault(event["session_id"], []).append(event)
        if self._repeats is not None and by_session:
            self._repeats.observe([d for _, d in taken])
            by_session = await self._repeats.keep(
                by_session, {d.stream_seq: d.timestamp_ns for _, d in taken}
            )
        if not by_session:
            self._frontier = expected - 1
            return decisions
        cursors = {sid: await self._cursor(sid, int(events[0]["seq"])) for sid, events in by_session.items()}
        pending: list[PendingSnapshot] = []
        updated: dict[str, SessionCursor] = {}
        applied = 0
        for session_id, events in by_session.items():
            cursor, snapshots, count = self._advance(cursors[session_id], events)
            updated[session_id] = cursor
            pending.extend(snapshots)
            applied += count
        evicted = self._evictions(updated)
        pending.extend(self._snapshot(c, "eviction") for c in evicted if c.applied_seq > c.snapshot_seq)
        progress = [
            SessionProgress(c.session_id, c.applied_seq, c.snapshot_seq, c.events) for c in updated.values()
        ]
        await self._save(pending, progress)
        for cursor in evicted:
            self._sessions.pop(cursor.session_id, None)
        for session_id, cursor in updated.items():
            self._sessions[session_id] = cursor
            self._sessions.move_to_end(session_id)
        self._frontier = expected - 1
        self._metrics.sessions_in_memory.set(len(self._sessions))
        self._metrics.events_applied.inc(applied)
        return decisions

    async def _in_log_order(
        self, deliveries: Sequence[Delivery], decisions: list[Decision], expected: int
    ) -> tuple[list[tuple[int | None, Delivery]], int]:
        """The messages that continue the log from `expected`, in seq order, each with the index
        of its delivery (None for one read from the stream to fill a gap).

        Older deliveries were applied before (acked again); a gap is filled from the stream, up to
        MAX_GAP_READS reads a batch, and what is still beyond it waits (nak).
        """
        taken: list[tuple[int | None, Delivery]] = []
        blocked = False
        reads = 0
        for index in sorted(range(len(deliveries)), key=lambda i: deliveries[i].stream_seq):
            delivery = deliveries[index]
            seq = delivery.stream_seq
            if blocked:
                decisions[index] = Decision.nak(GAP_RETRY_SECONDS)
                continue
            if seq < expected:
                continue
            while seq > expected and reads < MAX_GAP_READS:
                reads += 1
                try:
                    found = await self._position.read_from(expected)
                except Exception as exc:
                    raise RetryableError(f"reading TRACES failed: {exc}") from exc
                if found is None or found.stream_seq >= seq:
                    expected = seq  # nothing left in between: a hole
                    break
                taken.append((None, found))
                expected = found.stream_seq + 1
            if seq != expected:
                blocked = True
                decisions[index] = Decision.nak(GAP_RETRY_SECONDS)
                continue
            taken.append((index, delivery))
            expected = seq + 1
        return taken, expected

    async def flush(self) -> None:
        """Snapshots every session applied beyond its last snapshot (at shutdown)."""
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        ahead = [c for c in self._sessions.values() if c.applied_seq > c.snapshot_seq]
        if not ahead:
            return
        pending = [self._snapshot(c, "shutdown") for c in ahead]
        progress = [SessionProgress(c.session_id, c.applied_seq, c.applied_seq, c.events) for c in ahead]
        await self._save(pending, progress)
        for cursor, item in zip(ahead, pending, strict=True):
            self._sessions[cursor.session_id] = SessionCursor(
                cursor.session_id,
                cursor.state,
                cursor.applied_seq,
                cursor.applied_seq,
                cursor.events,
                cursor.events,
                item.layout,
            )

    # ----------------------------------------------------------------------------- ownership --

    def _follow_ownership(self) -> frozenset[int]:
        """Takes in the partitions held now: a gained one remembers the frontier, the sessions of
        a lost one leave memory (their owner rebuilds them from snapshots and the store). Returns
        the partitions gained (at start: every one held, as another replica may have folded them)."""
        if self._ownership is None:
            return frozenset()
        held = self._ownership.held()
        if held == self._held:
            return frozenset()
        previous = self._held or frozenset()
        for partition in held - previous:
            self._gained_at[partition] = self._frontier or 0
        lost = previous - held
        self._taking_over -= lost
        for partition in lost:
            self._gained_at.pop(partition, None)
        if lost:
            for session_id in [sid for sid in self._sessions if self._ownership.partition_of(sid) in lost]:
                del self._sessions[session_id]
        self._held = held
        return held - previous

    async def _take_over(self, gained: frozenset[int]) -> None:
        """Brings the lately active sessions of gained partitions up to the frontier (what their
        previous holder had not applied comes from the store) and snapshots them, so a session
        whose last events this replica passed over is exact and snapshotted without waiting for
        its next event."""
        assert self._ownership is not None
        try:
            rows = await self._store.recent_progress(time.time() - self._takeover_window)
        except Exception as exc:
            raise RetryableError(f"snapshot store unavailable: {exc}") from exc
        frontier = self._frontier or 0
        moved: list[SessionCursor] = []
        for row in rows:
            if self._ownership.partition_of(row.session_id) not in gained or row.session_id in self._sessions:
                continue
            if row.applied_seq >= frontier:
                continue
            cursor = await self._cursor(row.session_id, frontier + 1)
            if cursor.applied_seq > row.applied_seq:
                moved.append(cursor)
        if not moved:
            return
        pending = [self._snapshot(c, "takeover") for c in moved]
        progress = [SessionProgress(c.session_id, c.applied_seq, c.applied_seq, c.events) for c in moved]
        await self._save(pending, progress)
        for cursor, item in zip(moved, pending, strict=True):
            self._sessions[cursor.session_id] = SessionCursor(
                cursor.session_id,
                cursor.state,
                cursor.applied_seq,
                cursor.applied_seq,
                cursor.events,
                cursor.events,
                item.layout,
            )
        log.info("sessions taken over", extra={"sessions": len(moved), "partitions": len(gained)})

    def _owns(self, session_id: str) -> bool:
        if self._ownership is None or self._held is None:
            return self._ownership is None
        return self._ownership.partition_of(session_id) in self._held

    def _owns_subject(self, subject: str) -> bool:
        session_id = session_of_subject(subject)
        # A subject that does not name its session is decided on the event's own session_id.
        return session_id is None or self._owns(session_id)

    def _passed_over_after(self, session_id: str) -> int:
        """The frontier at which this replica gained the session's partition (0: it never passed
        any of the session's events over)."""
        if self._ownership is None:
            return 0
        return self._gained_at.get(self._ownership.partition_of(session_id), 0)

    # ------------------------------------------------------------------------------ internals --

    def _snapshot(self, cursor: SessionCursor, reason: str) -> PendingSnapshot:
        return self._cut(cursor.session_id, cursor.state, cursor.events, cursor.layout, reason)

    def _cut(
        self, session_id: str, state: State, events: int, layout: Layout, reason: str
    ) -> PendingSnapshot:
        cut = layout.next(state)
        snapshot = make_chunked_snapshot(
            session_id,
            int(state["seq"]),
            state.get("timestamp"),
            cut.manifest,
            events=events,
            state_bytes=cut.state_bytes,
            compress=self._compress,
        )
        chunks = [make_chunk(session_id, c.id, c.raw, compress=self._compress) for c in cut.new_chunks]
        new_ids = {c.id for c in cut.new_chunks}
        decoded = [
            (name_is_map, chunk.id, DecodedChunk(chunk.keys, chunk.values, chunk.size))
            for name_is_map, collection in (
                (STATE_COLLECTIONS[name].kind == "map", layout_)
                for name, layout_ in cut.layout.collections.items()
            )
            for chunk in collection.chunks
            if chunk.id in new_ids
        ]
        return PendingSnapshot(snapshot, reason, state, chunks, decoded, cut.layout, cut.resident_bytes)

    async def _wait_for_store(self, session_id: str, seq: int) -> None:
        """Waits (a little) until the store holds every event up to `seq`, else retries later."""
        deadline = time.monotonic() + self._store_wait
        while not await self._source.covers(seq):
            if time.monotonic() >= deadline:
                raise RetryableError(
                    f"session {session_id}: waiting for the store to hold events up to seq {seq}"
                )
            await asyncio.sleep(0.05)

    async def _cursor(self, session_id: str, first_seq: int) -> SessionCursor:
        cursor = self._sessions.get(session_id)
        if cursor is not None:
            return cursor
        try:
            progress = await self._store.progress(session_id)
            snapshot, state, layout = await load_latest_snapshot(
                self._store, self._reader, session_id, LATEST, self._metrics
            )
        except Exception as exc:
            raise RetryableError(f"snapshot store unavailable: {exc}") from exc
        if state is None or snapshot is None:
            state, snapshot_seq, snapshot_events = initial_state(session_id), 0, 0
        else:
            snapshot_seq, snapshot_events = snapshot.seq, snapshot.events
        if progress is not None:
            applied_seq, applied_events = progress.applied_seq, progress.events
        elif snapshot is not None:
            applied_seq, applied_events = snapshot_seq, snapshot_events
        else:
            applied_seq, applied_events = 0, 0
        # Events after what was applied and before this delivery exist when this replica's
        # database is newer than the durable's position (a session never seen here), or when
        # this replica passed them over while another held the session's partition: the store
        # has them.
        if (progress is None and snapshot is None) or applied_seq < self._passed_over_after(session_id):
            await self._wait_for_store(session_id, first_seq - 1)
            earlier = await self._source.events(
                session_id, after_seq=applied_seq, until_seq=first_seq - 1, limit=1, order="desc"
            )
            if earlier:
                applied_seq, applied_events = int(earlier[0]["seq"]), -1
            elif progress is None and snapshot is None:
                return SessionCursor(session_id, state, 0, 0, 0, 0)
        if applied_seq <= snapshot_seq:
            return SessionCursor(
                session_id, state, snapshot_seq, snapshot_seq, snapshot_events, snapshot_events, layout
            )
        # The consumer had applied events after the last snapshot before it stopped: they were
        # acked, so they come back only from the store.
        await self._wait_for_store(session_id, applied_seq)
        missing = await events_between(self._source, session_id, snapshot_seq, applied_seq)
        expected = applied_events - snapshot_events
        if applied_events >= 0 and len(missing) != expected:
            log.error(
                "store returned a different number of events than were applied",
                extra={"session_id": session_id, "expected": expected, "got": len(missing)},
            )
        self._metrics.catch_ups.inc()
        state = fold(state, missing)
        return SessionCursor(
            session_id,
            state,
            applied_seq,
            snapshot_seq,
            snapshot_events + len(missing),
            snapshot_events,
            layout,
        )

    def _advance(
        self, cursor: SessionCursor, events: list[dict[str, Any]]
    ) -> tuple[SessionCursor, list[PendingSnapshot], int]:
        writer = Writer()
        state = cursor.state
        applied_seq, snapshot_seq = cursor.applied_seq, cursor.snapshot_seq
        count, snapshot_events = cursor.events, cursor.snapshot_events
        layout = cursor.layout
        snapshots: list[PendingSnapshot] = []
        applied = 0
        for event in events:
            seq = event["seq"]
            if seq <= applied_seq:
                continue
            state = apply(writer, state, event)
            applied_seq = seq
            count += 1
            applied += 1
            reason = None
            if event.get("type") == "session_end":
                reason = "session_end"
            elif count - snapshot_events >= self._every:
                reason = "interval"
            if reason is not None:
                pending = self._cut(cursor.session_id, state, count, layout, reason)
                snapshots.append(pending)
                layout = pending.layout
                snapshot_seq, snapshot_events = seq, count
                # From here on this state is the snapshot's (cached for queries): a new writer
                # copies what it changes next instead of changing it in place.
                writer = Writer()
        cursor = SessionCursor(
            cursor.session_id, state, applied_seq, snapshot_seq, count, snapshot_events, layout
        )
        return cursor, snapshots, applied

    def _evictions(self, updated: dict[str, SessionCursor]) -> list[SessionCursor]:
        keep = self._capacity
        total = len(self._sessions) + sum(1 for sid in updated if sid not in self._sessions)
        evicted: list[SessionCursor] = []
        for session_id, cursor in self._sessions.items():
            if total - len(evicted) <= keep:
                break
            if session_id not in updated:
                evicted.append(cursor)
        return evicted

    async def _save(self, pending: list[PendingSnapshot], progress: list[SessionProgress]) -> None:
        try:
            await self._store.save(
                [p.snapshot for p in pending], progress, [c for p in pending for c in p.chunks]
            )
        except Exception as exc:
            raise RetryableError(f"snapshot store write failed: {exc}") from exc
        for item in pending:
            session_id = item.snapshot.session_id
            self._metrics.snapshots.labels(item.reason).inc()
            self._metrics.snapshot_bytes.inc(
                len(item.snapshot.payload) + sum(len(c.payload) for c in item.chunks)
            )
            for is_map, chunk_id, decoded in item.decoded:
                self._chunk_cache.put(session_id, is_map, chunk_id, decoded)
            if self._snapshot_cache is not None:
                self._snapshot_cache.put(session_id, item.snapshot.seq, item.resident_bytes, item.state)


def _decode(delivery: Delivery) -> dict[str, Any] | str:
    try:
        event = orjson.loads(delivery.data)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(event, dict):
        return "not a JSON object"
    if not isinstance(event.get("session_id"), str) or not isinstance(event.get("type"), str):
        return "event without session_id or type"
    event["seq"] = delivery.stream_seq
    return event
