"""Hot states: Redis when configured (shared by replicas), an in-process LRU otherwise.

Only final answers are cached (the store held every event up to the seq asked for), keyed by
(session, seq, variant: which view of the state), as their JSON: a hit is answered without
decoding or encoding anything, and bytes cost the garbage collector nothing. A cache that fails is
skipped, never fatal: the answer is computed again.

Decoded snapshot states are cached separately (SnapshotCache): the consumer puts each snapshot's
state there as it writes it, and consecutive snapshots share every subtree the events between
them did not change, so each costs only its own containers (`resident` bytes), not its JSON.
Decoded snapshot chunks (ChunkCache) are shared by every snapshot that names them: a snapshot not
in SnapshotCache is put together from them in a few milliseconds.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Protocol

import redis.asyncio as aioredis

from swarmscope_replay.chunked import DecodedChunk
from swarmscope_replay.metrics import ReplayMetrics

log = logging.getLogger(__name__)

State = dict[str, Any]


class StateCache(Protocol):
    async def get(self, session_id: str, seq: int, variant: str = "") -> bytes | None: ...

    async def put(self, session_id: str, seq: int, encoded: bytes, variant: str = "") -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


class LruStateCache:
    """At most `capacity` states and `max_bytes` of JSON in this process."""

    def __init__(self, capacity: int, metrics: ReplayMetrics, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._metrics = metrics

    async def get(self, session_id: str, seq: int, variant: str = "") -> bytes | None:
        key = (session_id, seq, variant)
        encoded = self._items.get(key)
        if encoded is None:
            self._metrics.cache_misses.labels("state").inc()
            return None
        self._items.move_to_end(key)
        self._metrics.cache_hits.labels("state").inc()
        return encoded

    async def put(self, session_id: str, seq: int, encoded: bytes, variant: str = "") -> None:
        if self._capacity <= 0 or len(encoded) > self._max_bytes:
            return
        key = (session_id, seq, variant)
        previous = self._items.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous)
        self._items[key] = encoded
        self._bytes += len(encoded)
        while len(self._items) > self._capacity or self._bytes > self._max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    async def close(self) -> None:
        self._items.clear()
        self._bytes = 0

    async def ping(self) -> bool:
        return True


class RedisStateCache:
    """States as JSON under `<prefix>state:<session>:<seq>`, expiring after `ttl` seconds."""

    def __init__(self, url: str, prefix: str, ttl: int, metrics: ReplayMetrics) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._ttl = ttl
        self._metrics = metrics

    def _key(self, session_id: str, seq: int, variant: str) -> str:
        return f"{self._prefix}state:{session_id}:{seq}" + (f":{variant}" if variant else "")

    async def get(self, session_id: str, seq: int, variant: str = "") -> bytes | None:
        try:
            raw = await self._redis.get(self._key(session_id, seq, variant))
        except Exception as exc:
            self._metrics.cache_errors.inc()
            log.warning("redis get failed", extra={"error": repr(exc)})
            return None
        if raw is None:
            self._metrics.cache_misses.labels("state").inc()
            return None
        self._metrics.cache_hits.labels("state").inc()
        return raw.encode() if isinstance(raw, str) else bytes(raw)

    async def put(self, session_id: str, seq: int, encoded: bytes, variant: str = "") -> None:
        try:
            await self._redis.set(self._key(session_id, seq, variant), encoded, ex=self._ttl)
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
    """Decoded snapshot states, bounded by what each costs beyond what it shares (`size`)."""

    def __init__(self, max_bytes: int, metrics: ReplayMetrics) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[str, int], tuple[int, State]] = OrderedDict()
        self._metrics = metrics

    def get(self, session_id: str, seq: int) -> State | None:
        key = (session_id, seq)
        item = self._items.get(key)
        if item is None:
            self._metrics.cache_misses.labels("snapshot").inc()
            return None
        self._items.move_to_end(key)
        self._metrics.cache_hits.labels("snapshot").inc()
        return item[1]

    def put(self, session_id: str, seq: int, size: int, state: State) -> None:
        """Keeps a snapshot's decoded state; `size` is the budget's measure of it."""
        if size > self._max_bytes:
            return
        key = (session_id, seq)
        previous = self._items.pop(key, None)
        if previous is not None:
            self._bytes -= previous[0]
        self._items[key] = (size, state)
        self._bytes += size
        while self._bytes > self._max_bytes and self._items:
            _, (size, _) = self._items.popitem(last=False)
            self._bytes -= size


class ChunkCache:
    """Decoded snapshot chunks by (session, kind, id), bounded by the size of their JSON."""

    def __init__(self, max_bytes: int, metrics: ReplayMetrics) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[tuple[str, bool, str], DecodedChunk] = OrderedDict()
        self._metrics = metrics

    def get(self, session_id: str, is_map: bool, chunk_id: str) -> DecodedChunk | None:
        key = (session_id, is_map, chunk_id)
        item = self._items.get(key)
        if item is None:
            self._metrics.cache_misses.labels("chunk").inc()
            return None
        self._items.move_to_end(key)
        self._metrics.cache_hits.labels("chunk").inc()
        return item

    def put(self, session_id: str, is_map: bool, chunk_id: str, chunk: DecodedChunk) -> None:
        if chunk.size > self._max_bytes:
            return
        key = (session_id, is_map, chunk_id)
        previous = self._items.pop(key, None)
        if previous is not None:
            self._bytes -= previous.size
        self._items[key] = chunk
        self._bytes += chunk.size
        while self._bytes > self._max_bytes and self._items:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.size
