"""Rate limits on the publishing endpoints: a token bucket per API key (or client address).

In-process by default; with `SWARMSCOPE_REDIS_URL` the buckets live in Redis, so every gateway
replica draws from the same bucket. The Redis bucket is one Lua script (atomic, one round trip) that
reads the clock of Redis itself, so replicas with skewed clocks agree. If Redis is unreachable the
request is let through and a warning logged: a cache outage must not stop agents from tracing.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_LOCAL_BUCKETS = 100_000
_REDIS_WARN_EVERY_S = 60.0

_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0


class RateLimiter(Protocol):
    async def acquire(self, identity: str, cost: float = 1.0) -> Verdict: ...

    async def close(self) -> None: ...


class Unlimited:
    """No limit (rate 0)."""

    async def acquire(self, identity: str, cost: float = 1.0) -> Verdict:
        return Verdict(True)

    async def close(self) -> None:
        return None


class LocalTokenBucket:
    """Buckets in this process's memory, the least recently used dropped beyond a bound."""

    def __init__(self, rate: float, burst: int, *, max_buckets: int = MAX_LOCAL_BUCKETS) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def acquire(self, identity: str, cost: float = 1.0) -> Verdict:
        now = time.monotonic()
        tokens, ts = self._buckets.pop(identity, (self._burst, now))
        tokens = min(self._burst, tokens + (now - ts) * self._rate)
        if tokens >= cost:
            verdict = Verdict(True)
            tokens -= cost
        else:
            verdict = Verdict(False, (cost - tokens) / self._rate)
        self._buckets[identity] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return verdict

    async def close(self) -> None:
        return None


class RedisTokenBucket:
    """Buckets in Redis, shared by every gateway replica."""

    def __init__(
        self, redis_url: str, rate: float, burst: int, *, prefix: str = "swarmscope:ratelimit:"
    ) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script: Any = self._redis.register_script(_TOKEN_BUCKET_LUA)
        self._rate = rate
        self._burst = burst
        self._prefix = prefix
        self._last_warning = -math.inf

    async def acquire(self, identity: str, cost: float = 1.0) -> Verdict:
        try:
            allowed, retry = await self._script(
                keys=[self._prefix + identity], args=[self._rate, self._burst, cost]
            )
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > _REDIS_WARN_EVERY_S:
                self._last_warning = now
                log.warning(
                    "rate limit store unreachable; letting requests through", extra={"error": repr(exc)}
                )
            return Verdict(True)
        return Verdict(bool(int(allowed)), float(retry))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(redis_url: str, rate: float, burst: int) -> RateLimiter:
    """The limiter the settings ask for."""
    if rate <= 0:
        return Unlimited()
    if redis_url:
        return RedisTokenBucket(redis_url, rate, burst)
    return LocalTokenBucket(rate, burst)
