"""State at a seq or a timestamp: the nearest snapshot at or before it plus a fold of what follows.

The base is whichever is nearer below the seq: the newest snapshot, or the consumer's in-memory
state of the session. The session's events after the base, up to the seq, come from the store in
one request (snapshots are at most `snapshot_every` of the session's events apart, well under a
page). A state is cached only when final: the store held every event up to the seq.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from swarmscope_replay.cache import SnapshotCache, State, StateCache
from swarmscope_replay.event_source import EventSource, events_between
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshots import SnapshotCorrupt, SnapshotStore
from swarmscope_replay.tracker import SessionTracker
from swarmscope_schema.requests import ErrorCode
from swarmscope_service.request_reply import ServiceError

LATEST = 2**62


@dataclass(frozen=True, slots=True)
class Base:
    """A state to fold from, and the seq it is exact at."""

    state: State
    seq: int
    origin: str


class StateResolver:
    """Answers "what was the state of session S after seq N"."""

    def __init__(
        self,
        store: SnapshotStore,
        source: EventSource,
        cache: StateCache,
        snapshot_cache: SnapshotCache,
        metrics: ReplayMetrics,
        tracker: SessionTracker | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._cache = cache
        self._snapshots = snapshot_cache
        self._metrics = metrics
        self._tracker = tracker

    async def base(self, session_id: str, seq: int) -> Base:
        """The nearest exact state at or before `seq` (the initial state when there is none)."""
        if self._tracker is not None:
            cursor = self._tracker.current(session_id)
            if cursor is not None and cursor.snapshot_seq <= cursor.applied_seq <= seq:
                return Base(cursor.state, cursor.applied_seq, "memory")
        bound = seq
        while bound > 0:
            ref = await self._store.nearest_ref(session_id, bound)
            if ref is None:
                break
            state = self._snapshots.get(session_id, ref.seq)
            if state is not None:
                return Base(state, ref.seq, "snapshot")
            snapshot = await self._store.load(session_id, ref.seq)
            try:
                if snapshot is None:
                    raise SnapshotCorrupt(f"snapshot {session_id}@{ref.seq} vanished")
                state = snapshot.state()
            except SnapshotCorrupt:
                self._metrics.snapshot_corrupt.inc()
                bound = ref.seq - 1
                continue
            self._snapshots.put(session_id, ref.seq, ref.size, state)
            return Base(state, ref.seq, "snapshot")
        return Base(initial_state(session_id), 0, "initial")

    async def at_seq(self, session_id: str, seq: int) -> State:
        """The state after the session's last event at or before `seq` (seq 0: before any)."""
        state, encoded = await self._resolve(session_id, seq, want_json=False)
        if state is None:
            assert encoded is not None
            decoded = orjson.loads(encoded)
            assert isinstance(decoded, dict)
            return decoded
        return state

    async def at_seq_json(self, session_id: str, seq: int) -> bytes:
        """The same state as JSON (what the `state` op answers; a cache hit is never re-encoded)."""
        state, encoded = await self._resolve(session_id, seq, want_json=True)
        if encoded is None:
            encoded = orjson.dumps(state)
        return encoded

    async def _resolve(
        self, session_id: str, seq: int, *, want_json: bool
    ) -> tuple[State | None, bytes | None]:
        started = time.perf_counter()
        cached = await self._cache.get(session_id, seq)
        if cached is not None:
            self._metrics.state_seconds.labels("cache").observe(time.perf_counter() - started)
            return None, cached
        base = await self.base(session_id, seq)
        events = await events_between(self._source, session_id, base.seq, seq) if base.seq < seq else []
        state = fold(base.state, events)
        if base.origin == "initial" and not events and await self._source.session_bounds(session_id) is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r}")
        encoded: bytes | None = None
        if await self._source.covers(seq):
            encoded = orjson.dumps(state)
            await self._cache.put(session_id, seq, encoded)
        elif want_json:
            encoded = orjson.dumps(state)
        self._metrics.folded_events.observe(len(events))
        self._metrics.state_seconds.labels(base.origin).observe(time.perf_counter() - started)
        return state, encoded

    async def latest_seq_at(self, session_id: str, ts: float) -> int:
        """The seq of the session's last event (by seq) whose timestamp is at or before `ts`
        (0 when there is none)."""
        page = await self._source.events(session_id, to_ts=ts, order="desc", limit=1)
        if not page:
            if await self._source.session_bounds(session_id) is None:
                raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r}")
            return 0
        return int(page[0]["seq"])

    async def at_ts(self, session_id: str, ts: float) -> State:
        """The state after the session's last event (by seq) whose timestamp is at or before `ts`."""
        seq = await self.latest_seq_at(session_id, ts)
        return await self.at_seq(session_id, seq) if seq else initial_state(session_id)

    async def latest(self, session_id: str) -> State:
        """The state after the session's last event."""
        bounds = await self._source.session_bounds(session_id)
        if bounds is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r}")
        return await self.at_seq(session_id, bounds[1])
