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
5. snapshots, progress rows and the snapshots of sessions evicted from memory are written in one
   transaction; only then are the new cursors installed and the batch acked.

Nothing is changed in memory until the write has succeeded, so a failed batch is simply retried.
Replay must run as a single consumer of its durable (states need every event of a session).
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

from swarmscope_replay.cache import SnapshotCache
from swarmscope_replay.event_source import EventSource, events_between
from swarmscope_replay.log_position import LogPosition
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import State, Writer, apply, fold, initial_state
from swarmscope_replay.repeats import RepeatFilter
from swarmscope_replay.snapshots import (
    SessionProgress,
    Snapshot,
    SnapshotCorrupt,
    SnapshotStore,
    make_snapshot,
)
from swarmscope_schema.subjects import DlqReason
from swarmscope_service.consumer import Decision, Delivery, RetryableError

log = logging.getLogger(__name__)

LATEST = 2**62
GAP_RETRY_SECONDS = 0.2
MAX_GAP_READS = 2000


@dataclass(frozen=True, slots=True)
class SessionCursor:
    """A session as far as the consumer has applied it. `state` is never changed in place."""

    session_id: str
    state: State
    applied_seq: int
    snapshot_seq: int
    events: int
    snapshot_events: int


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    snapshot: Snapshot
    reason: str
    state: State


async def load_latest_snapshot(
    store: SnapshotStore, session_id: str, seq: int, metrics: ReplayMetrics
) -> tuple[Snapshot | None, State | None]:
    """The newest snapshot ≤ seq whose bytes check out (a corrupt one is skipped and counted)."""
    while seq > 0:
        snapshot = await store.nearest(session_id, seq)
        if snapshot is None:
            return None, None
        try:
            return snapshot, snapshot.state()
        except SnapshotCorrupt as exc:
            metrics.snapshot_corrupt.inc()
            log.error("corrupt snapshot ignored", extra={"error": str(exc)})
            seq = snapshot.seq - 1
    return None, None


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

    def current(self, session_id: str) -> SessionCursor | None:
        """The session's state as far as the consumer has applied it, if it is in memory."""
        return self._sessions.get(session_id)

    @property
    def sessions_in_memory(self) -> int:
        return len(self._sessions)

    async def handle(self, deliveries: Sequence[Delivery]) -> Sequence[Decision]:
        decisions: list[Decision] = [Decision.ack()] * len(deliveries)
        if self._frontier is None:
            try:
                self._frontier = await self._position.acked_floor()
            except Exception as exc:
                raise RetryableError(f"replay durable position unknown: {exc}") from exc
        taken, expected = await self._in_log_order(deliveries, decisions, self._frontier + 1)
        by_session: dict[str, list[dict[str, Any]]] = {}
        for index, delivery in taken:
            event = _decode(delivery)
            if isinstance(event, str):
                if index is not None:
                    decisions[index] = Decision.dead(DlqReason.UNPROCESSABLE, event)
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
        pending.extend(
            PendingSnapshot(self._snapshot(c.state, c.events), "eviction", c.state)
            for c in evicted
            if c.applied_seq > c.snapshot_seq
        )
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
        self._metrics.events_applied.inc(applied)
        self._metrics.sessions_in_memory.set(len(self._sessions))
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
        pending = [
            PendingSnapshot(self._snapshot(c.state, c.events), "shutdown", c.state)
            for c in self._sessions.values()
            if c.applied_seq > c.snapshot_seq
        ]
        if not pending:
            return
        progress = [
            SessionProgress(c.session_id, c.applied_seq, c.applied_seq, c.events)
            for c in self._sessions.values()
            if c.applied_seq > c.snapshot_seq
        ]
        await self._save(pending, progress)
        for item in pending:
            cursor = self._sessions[item.snapshot.session_id]
            self._sessions[item.snapshot.session_id] = SessionCursor(
                cursor.session_id,
                cursor.state,
                cursor.applied_seq,
                cursor.applied_seq,
                cursor.events,
                cursor.events,
            )

    # ------------------------------------------------------------------------------ internals --

    def _snapshot(self, state: State, events: int) -> Snapshot:
        return make_snapshot(state, events=events, compress=self._compress)

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
            snapshot, state = await load_latest_snapshot(self._store, session_id, LATEST, self._metrics)
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
            # Never seen here. Its earlier events may still exist (this service's database is
            # newer than the durable's position): the store says.
            await self._wait_for_store(session_id, first_seq - 1)
            earlier = await self._source.events(session_id, until_seq=first_seq - 1, limit=1, order="desc")
            if not earlier:
                return SessionCursor(session_id, state, 0, 0, 0, 0)
            applied_seq, applied_events = int(earlier[0]["seq"]), -1
        if applied_seq <= snapshot_seq:
            return SessionCursor(
                session_id, state, snapshot_seq, snapshot_seq, snapshot_events, snapshot_events
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
        )

    def _advance(
        self, cursor: SessionCursor, events: list[dict[str, Any]]
    ) -> tuple[SessionCursor, list[PendingSnapshot], int]:
        writer = Writer()
        state = cursor.state
        applied_seq, snapshot_seq = cursor.applied_seq, cursor.snapshot_seq
        count, snapshot_events = cursor.events, cursor.snapshot_events
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
                snapshots.append(PendingSnapshot(self._snapshot(state, count), reason, state))
                snapshot_seq, snapshot_events = seq, count
                # From here on this state is the snapshot's (cached for queries): a new writer
                # copies what it changes next instead of changing it in place.
                writer = Writer()
        cursor = SessionCursor(cursor.session_id, state, applied_seq, snapshot_seq, count, snapshot_events)
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
            await self._store.save([p.snapshot for p in pending], progress)
        except Exception as exc:
            raise RetryableError(f"snapshot store write failed: {exc}") from exc
        for item in pending:
            self._metrics.snapshots.labels(item.reason).inc()
            self._metrics.snapshot_bytes.inc(len(item.snapshot.payload))
            if self._snapshot_cache is not None:
                self._snapshot_cache.put(
                    item.snapshot.session_id, item.snapshot.seq, item.snapshot.size, item.state
                )


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
