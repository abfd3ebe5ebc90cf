"""Hot-state caches: Redis (the real server) and the in-process LRU; only final states are cached."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from swarmscope_dev.replay import make_engine, stored
from swarmscope_dev.story import story_session
from swarmscope_replay.cache import LruStateCache, RedisStateCache
from swarmscope_replay.metrics import ReplayMetrics
from swarmscope_replay.snapshots import SnapshotStore


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
        events = stored(story_session("cf"))
        await engine.consume(events)
        seq = events[30]["seq"]
        first = await engine.states.view_json("cf", seq, 100)
        assert hits(metrics) == (0, 1)
        second = await engine.states.view_json("cf", seq, 100)
        assert second == first
        assert hits(metrics) == (1, 1)
        # Another limit is another answer.
        assert await engine.states.view_json("cf", seq, 1) != first
        assert hits(metrics) == (1, 2)
        client = aioredis.from_url(redis_url)
        try:
            key = f"{prefix}state:cf:{seq}:view:100"
            assert await client.exists(key) == 1
            assert 0 < await client.ttl(key) <= 60
            # Beyond the end of the log the state is not final (more events may come): not cached.
            await engine.states.view_json("cf", 10_000, 100)
            assert await client.exists(f"{prefix}state:cf:10000:view:100") == 0
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
        events = stored(story_session("cf"))
        await engine.consume(events)
        state = orjson.loads(await engine.states.view_json("cf", events[-1]["seq"], 100))
        assert state["session"]["status"] == "completed"
        assert metrics.cache_errors._value.get() >= 2
        assert not await cache.ping()
    finally:
        await cache.close()


async def test_lru_keeps_the_most_recent_states(metrics: ReplayMetrics) -> None:
    cache = LruStateCache(2, metrics, max_bytes=100)
    for seq in (1, 2, 3):
        await cache.put("s", seq, b"%d" % seq)
    assert await cache.get("s", 1) is None
    assert await cache.get("s", 3) == b"3"
    await cache.put("s", 4, b"4")
    assert await cache.get("s", 2) is None
    assert await cache.get("s", 3) == b"3"
    # Bounded by bytes as well: a big state pushes older ones out; one beyond the bound is skipped.
    cache = LruStateCache(10, metrics, max_bytes=100)
    await cache.put("s", 1, b"a" * 60)
    await cache.put("s", 2, b"b" * 60)
    assert (await cache.get("s", 1), await cache.get("s", 2)) == (None, b"b" * 60)
    await cache.put("s", 3, b"c" * 101)
    assert await cache.get("s", 3) is None
    assert await cache.get("s", 2) == b"b" * 60


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_heap_keeper_freezes_and_periodically_collects_everything() -> None:
    import gc
    import warnings
    import weakref

    from swarmscope_replay.heap import HeapKeeper

    # Garbage earlier tests left behind (frozen by the services they ran in this process) is not
    # this test's to report: collect it first.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.unfreeze()
        gc.collect()
    keeper = HeapKeeper(interval=1, full_every=2)
    try:
        node = _Node()  # a reference cycle, alive while frozen
        ref = weakref.ref(node)
        keeper.tick(1)
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None  # frozen: the collector does not see it
        keeper.tick(2)  # the periodic full collection does
        assert ref() is None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
