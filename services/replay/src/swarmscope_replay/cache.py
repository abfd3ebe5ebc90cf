"""Hot states: Redis when configured (shared by replicas), an in-process LRU otherwise.

Only final states are cached (the store held every event up to the seq asked for), keyed by
(session, seq). A cache that fails is skipped, never fatal: the state is computed again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.snapshots import Snapshot

log = logging.getLogger(__name__)

State = dict[str, Any]


class StateCache(Protocol):
    async def get(self, session_id: str, seq: int) -> State | None: ...

    async def put(self, session_id: str, seq: int, state: State) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


class LruStateCache:
    """At most `capacity` states in this process. States are shared, never copied: read-only."""

    def __init__(self, capacity: int, metrics: ReplayMetrics) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, int], State] = OrderedDict()
        self._metrics = metrics

    async def get(self, session_id: str, seq: int) -> State | None:
        state = self._items.get((session_id, seq))
        if state is None:
            self._metrics.cache_misses.labels("state").inc()
            return None
        self._items.move_to_end((session_id, seq))
        self._metrics.cache_hits.labels("state").inc()
        return state

    async def put(self, session_id: str, seq: int, state: State) -> None:
        if self._capacity <= 0:
            return
        self._items[(session_id, seq)] = state
        self._items.move_to_end((session_id, seq))
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    async def close(self) -> None:
        self._items.clear()

    async def ping(self) -> bool:
        return True


class RedisStateCache:
    """States as JSON under `<prefix>state:<session>:<seq>`, expiring after `ttl` seconds."""

    def __init__(self, url: str, prefix: str, ttl: int, metrics: ReplayMetrics) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._ttl = ttl
        self._metrics = metrics

    def _key(self, session_id: str, seq: int) -> str:
        return f"{self._prefix}state:{session_id}:{seq}"

    async def get(self, session_id: str, seq: int) -> State | None:
        try:
            raw = await self._redis.get(self._key(session_id, seq))
        except Exception as exc:
            self._metrics.cache_errors.inc()
            log.warning("redis get failed", extra={"error": repr(exc)})
            return None
        if raw is None:
            self._metrics.cache_misses.labels("state").inc()
            return None
        self._metrics.cache_hits.labels("state").inc()
        state = orjson.loads(raw)
        return state if isinstance(state, dict) else None

    async def put(self, session_id: str, seq: int, state: State) -> None:
        try:
            await self._redis.set(self._key(session_id, seq), orjson.dumps(state), ex=self._ttl)
        except Exception as exc:
            self._metrics.cache_errors.inc()
            log.warning("redis set failed", extra={"error": repr(exc)})

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False


class SnapshotCache:
    """Decoded snapshot states, bounded by the size of their JSON (a proxy for their memory)."""

    def __init__(self, max_bytes: int, metrics: ReplayMetrics) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[str, int], tuple[int, State]] = OrderedDict()
        self._metrics = metrics

    def get(self, snapshot: Snapshot) -> State | None:
        key = (snapshot.session_id, snapshot.seq)
        item = self._items.get(key)
        if item is None:
            self._metrics.cache_misses.labels("snapshot").inc()
            return None
        self._items.move_to_end(key)
        self._metrics.cache_hits.labels("snapshot").inc()
        return item[1]

    def put(self, snapshot: Snapshot, state: State) -> None:
        if snapshot.size > self._max_bytes:
            return
        key = (snapshot.session_id, snapshot.seq)
        previous = self._items.pop(key, None)
        if previous is not None:
            self._bytes -= previous[0]
        self._items[key] = (snapshot.size, state)
        self._bytes += snapshot.size
        while self._bytes > self._max_bytes and self._items:
            _, (size, _) = self._items.popitem(last=False)
            self._bytes -= size
