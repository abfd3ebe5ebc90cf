"""State at a seq or a timestamp: the nearest snapshot at or before it plus a fold of what follows.

The base is whichever is nearer below the seq: the newest snapshot, or the consumer's in-memory
state of the session. The session's events after the base, up to the seq, come from the store in
one request (snapshots are at most `snapshot_every` of the session's events apart, well under a
page). A snapshot not in memory is put together from its chunks (SnapshotReader).

What is kept, only once final (the store held every event up to the seq): the state itself for a
few recent (session, seq), so the pages of one instant cost one fold; and the JSON of bounded views
in the hot-answer cache (Redis when configured, shared by replicas).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from swarmscope_replay.cache import ChunkCache, SnapshotCache, State, StateCache
from swarmscope_replay.event_source import EventSource, events_between
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.reducer import fold, initial_state
from swarmscope_replay.snapshot_reader import SnapshotReader
from swarmscope_replay.snapshots import SnapshotCorrupt, SnapshotStore
from swarmscope_replay.state_views import bounded_view, collection_page, sorted_keys
from swarmscope_replay.tracker import SessionTracker
from swarmscope_schema.requests import ErrorCode, StatePageQuery
from swarmscope_service.request_reply import ServiceError

RESOLVED_STATES = 16

LATEST = 2**62


@dataclass(frozen=True, slots=True)
class Base:
    """A state to fold from, and the seq it is exact at."""

    state: State
    seq: int
    origin: str


@dataclass(slots=True)
class Resolved:
    """A final state kept for the next question about the same instant, and its maps' key orders."""

    state: State
    keys: dict[str, list[str]] = field(default_factory=dict)

    def keys_of(self, name: str, mapping: Mapping[str, Any]) -> Sequence[str]:
        keys = self.keys.get(name)
        if keys is None:
            keys = self.keys[name] = sorted_keys(mapping)
        return keys


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
        chunk_cache: ChunkCache | None = None,
        resolved_states: int = RESOLVED_STATES,
    ) -> None:
        self._store = store
        self._source = source
        self._cache = cache
        self._snapshots = snapshot_cache
        self._metrics = metrics
        self._tracker = tracker
        self._reader = SnapshotReader(
            store, chunk_cache if chunk_cache is not None else ChunkCache(0, metrics)
        )
        self._resolved: OrderedDict[tuple[str, int], Resolved] = OrderedDict()
        self._resolved_capacity = resolved_states

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
                read = await self._reader.read(snapshot)
            except SnapshotCorrupt:
                self._metrics.snapshot_corrupt.inc()
                bound = ref.seq - 1
                continue
            self._snapshots.put(session_id, ref.seq, read.resident_bytes, read.state)
            return Base(read.state, ref.seq, "snapshot")
        return Base(initial_state(session_id), 0, "initial")

    async def at_seq(self, session_id: str, seq: int) -> State:
        """The state after the session's last event at or before `seq` (seq 0: before any).
        Read-only: it shares its parts with snapshots and other states."""
        return (await self._resolve(session_id, seq)).state

    async def view_json(self, session_id: str, seq: int, limit: int) -> bytes:
        """The bounded view's JSON (what the `state` op answers by default)."""
        started = time.perf_counter()
        variant = f"view:{limit}"
        cached = await self._cache.get(session_id, seq, variant)
        if cached is not None:
            self._metrics.state_seconds.labels("cache").observe(time.perf_counter() - started)
            return cached
        resolved = await self._resolve(session_id, seq)
        encoded = orjson.dumps(bounded_view(resolved.state, limit))
        if await self._source.covers(seq):
            await self._cache.put(session_id, seq, encoded, variant)
        return encoded

    async def page(self, query: StatePageQuery, seq: int) -> State:
        """One page of a collection of the state at `seq`."""
        resolved = await self._resolve(query.session_id, seq)
        return collection_page(resolved.state, query, resolved.keys_of)

    async def _resolve(self, session_id: str, seq: int) -> Resolved:
        key = (session_id, seq)
        kept = self._resolved.get(key)
        if kept is not None:
            self._resolved.move_to_end(key)
            return kept
        started = time.perf_counter()
        base = await self.base(session_id, seq)
        events = await events_between(self._source, session_id, base.seq, seq) if base.seq < seq else []
        state = fold(base.state, events)
        if base.origin == "initial" and not events and await self._source.session_bounds(session_id) is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r}")
        resolved = Resolved(state)
        if self._resolved_capacity > 0 and await self._source.covers(seq):
            self._resolved[key] = resolved
            while len(self._resolved) > self._resolved_capacity:
                self._resolved.popitem(last=False)
        self._metrics.folded_events.observe(len(events))
        self._metrics.state_seconds.labels(base.origin).observe(time.perf_counter() - started)
        return resolved

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
