"""Hot-state caches: Redis (the real server) and the in-process LRU; only final states are cached."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from swarmscope_replay.cache import LruStateCache, RedisStateCache
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.snapshots import SnapshotStore
from swarmscope_replay.testing import claude_flow_session, make_engine, stored


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"swarmscope-test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def hits(metrics: ReplayMetrics) -> tuple[float, float]:
    return (
        metrics.cache_hits.labels("state")._value.get(),
        metrics.cache_misses.labels("state")._value.get(),
    )


async def test_redis_caches_final_states_under_its_prefix(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics, redis_url: str, prefix: str
) -> None:
    cache = RedisStateCache(redis_url, prefix, 60, metrics)
    try:
        engine = make_engine(sqlite_store, metrics, every=10, cache=cache, use_tracker_state=False)
        events = stored(claude_flow_session("cf"))
        await engine.consume(events)
        seq = events[30]["seq"]
        first = await engine.states.at_seq("cf", seq)
        assert hits(metrics) == (0, 1)
        second = await engine.states.at_seq("cf", seq)
        assert second == first
        assert hits(metrics) == (1, 1)
        client = aioredis.from_url(redis_url)
        try:
            key = f"{prefix}state:cf:{seq}"
            assert await client.exists(key) == 1
            assert 0 < await client.ttl(key) <= 60
            # Beyond the end of the log the state is not final (more events may come): not cached.
            await engine.states.at_seq("cf", 10_000)
            assert await client.exists(f"{prefix}state:cf:10000") == 0
        finally:
            await client.aclose()
        assert await cache.ping()
    finally:
        await cache.close()


async def test_an_unreachable_redis_is_skipped_not_fatal(
    sqlite_store: SnapshotStore, metrics: ReplayMetrics
) -> None:
    cache = RedisStateCache("redis://127.0.0.1:1/0", "x:", 60, metrics)
    try:
        engine = make_engine(sqlite_store, metrics, every=10, cache=cache)
        events = stored(claude_flow_session("cf"))
        await engine.consume(events)
        state = await engine.states.at_seq("cf", events[-1]["seq"])
        assert state["session"]["status"] == "completed"
        assert metrics.cache_errors._value.get() >= 2
        assert not await cache.ping()
    finally:
        await cache.close()


async def test_lru_keeps_the_most_recent_states(metrics: ReplayMetrics) -> None:
    cache = LruStateCache(2, metrics)
    for seq in (1, 2, 3):
        await cache.put("s", seq, {"seq": seq})
    assert await cache.get("s", 1) is None
    assert await cache.get("s", 3) == {"seq": 3}
    await cache.put("s", 4, {"seq": 4})
    assert await cache.get("s", 2) is None
    assert await cache.get("s", 3) == {"seq": 3}
