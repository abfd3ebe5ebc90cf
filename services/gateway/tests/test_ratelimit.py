"""The token bucket contract, run against the in-process bucket and the Redis one alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from swarmscope_gateway.ratelimit import (
    LocalTokenBucket,
    RateLimiter,
    RedisTokenBucket,
    Unlimited,
    build_rate_limiter,
)


@pytest.fixture(params=["local", "redis"])
async def bucket(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    limiter: RateLimiter
    if request.param == "local":
        limiter = LocalTokenBucket(rate=20.0, burst=3)
    else:
        redis_url = request.getfixturevalue("redis_url")
        limiter = RedisTokenBucket(redis_url, rate=20.0, burst=3, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        yield limiter
    finally:
        await limiter.close()


async def test_burst_then_refusal_then_refill(bucket: RateLimiter) -> None:
    verdicts = [await bucket.acquire("k") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 0 < verdicts[-1].retry_after <= 0.06
    assert (await bucket.acquire("other")).allowed  # buckets are per identity
    await asyncio.sleep(verdicts[-1].retry_after + 0.05)
    assert (await bucket.acquire("k")).allowed


async def test_cost_larger_than_the_bucket_is_refused(bucket: RateLimiter) -> None:
    verdict = await bucket.acquire("big", cost=10)
    assert not verdict.allowed
    assert verdict.retry_after > 0


async def test_an_unreachable_redis_lets_requests_through() -> None:
    limiter = RedisTokenBucket("redis://127.0.0.1:1/0", rate=1.0, burst=1)
    try:
        assert all([(await limiter.acquire("k")).allowed for _ in range(3)])
        assert not await limiter.ping()
    finally:
        await limiter.close()


async def test_settings_choose_the_limiter(redis_url: str) -> None:
    assert isinstance(build_rate_limiter("", 0, 1), Unlimited)
    assert isinstance(build_rate_limiter("", 5, 1), LocalTokenBucket)
    redis = build_rate_limiter(redis_url, 5, 1)
    assert isinstance(redis, RedisTokenBucket)
    await redis.close()


def test_local_buckets_are_bounded() -> None:
    limiter = LocalTokenBucket(rate=1.0, burst=1, max_buckets=10)

    async def many() -> None:
        for i in range(100):
            await limiter.acquire(f"client-{i}")

    asyncio.run(many())
    assert len(limiter._buckets) == 10
