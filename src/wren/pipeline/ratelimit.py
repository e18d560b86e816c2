"""Rate limits by cost: a token bucket of cost points per viewer (or anonymous address).

Each viewer has a bucket of `WREN_RATE_LIMIT_POINTS` points that refills at
`points / WREN_RATE_LIMIT_WINDOW` points per second (Shopify's "restore rate"). An
operation takes its estimated cost (at least 1) before anything runs; when the bucket
holds less, the operation is refused with 429 `RATE_LIMITED` (wren.errors.RateLimited, as
the log-in throttle refuses: `extensions.retryAfter`) and a `Retry-After` saying when it
would fit. The bucket lives in Redis and is updated by one Lua script, so every
process and instance shares it and concurrent requests cannot both spend the same points.

With Redis unavailable the limiter fails open (requests run unlimited, logged once per
outage) or, with `WREN_RATE_LIMIT_FAIL_CLOSED=true`, refuses with 503.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wren.cache.breaker import CircuitBreaker
from wren.cache.client import FAILURES
from wren.cache.keys import rate_limit_key

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from wren.cache.client import RedisClient
    from wren.settings import Settings

# KEYS[1]: the bucket. ARGV: capacity, restore rate (points/s), cost, expiry (ms).
# Returns {1 if taken else 0, points left (a string: Lua numbers reply as integers)}.
TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local taken = 0
if cost <= tokens then
  tokens = tokens - cost
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {taken, tostring(tokens)}
"""


@dataclass(frozen=True, slots=True)
class Throttle:
    """One operation's take from its bucket, and the bucket after it."""

    allowed: bool
    cost: int
    capacity: int
    available: float
    restore_rate: float

    @property
    def reset(self) -> int:
        """Seconds until the bucket is full again."""
        return math.ceil(max(0.0, self.capacity - self.available) / self.restore_rate)

    @property
    def retry_after(self) -> int:
        """Seconds until this operation's cost would fit (at least 1)."""
        missing = max(0.0, self.cost - self.available)
        return max(1, math.ceil(missing / self.restore_rate))

    def headers(self) -> dict[str, str]:
        """The RateLimit-* response headers (IETF httpapi-ratelimit-headers draft)."""
        return {
            "ratelimit-limit": str(self.capacity),
            "ratelimit-remaining": str(math.floor(self.available)),
            "ratelimit-reset": str(self.reset),
        }

    def status(self) -> dict[str, Any]:
        """`extensions.cost.throttleStatus`, in Shopify's shape."""
        return {
            "maximumAvailable": self.capacity,
            "currentlyAvailable": math.floor(self.available),
            "restoreRate": self.restore_rate,
        }


class RateLimiter:
    """The shared token buckets; `take` is one Redis round trip per operation."""

    def __init__(self, settings: Settings) -> None:
        self.capacity = settings.rate_limit_points
        self.window = settings.rate_limit_window
        self.restore_rate = self.capacity / self.window
        self.fail_closed = settings.rate_limit_fail_closed
        self.namespace = settings.cache_namespace
        self.timeout = settings.redis_timeout
        # Bucket keys expire once they would be full again: idle viewers cost no memory.
        self.expiry_ms = max(1, math.ceil(self.window * 1000))
        self.breaker = CircuitBreaker(
            failures=1,
            cooldown=settings.cache_breaker_cooldown,
            name="rate limits",
            degraded="requests run unlimited"
            if not self.fail_closed
            else "requests are refused (WREN_RATE_LIMIT_FAIL_CLOSED)",
            resumed="limiting resumes",
        )
        self._script: tuple[RedisClient, AsyncScript] | None = None

    def _take_script(self, redis: RedisClient) -> AsyncScript:
        """The script registered with this client (EVALSHA, falling back to EVAL)."""
        if self._script is None or self._script[0] is not redis:
            self._script = (redis, redis.register_script(TAKE))
        return self._script[1]

    async def take(self, redis: RedisClient, subject: str, cost: int) -> Throttle | None:
        """Take `cost` points from `subject`'s bucket; None when Redis did not answer."""
        cost = max(1, cost)
        if not self.breaker.allow():
            return None
        key = rate_limit_key(self.namespace, subject)
        try:
            async with asyncio.timeout(self.timeout):
                args = [self.capacity, self.restore_rate, cost, self.expiry_ms]
                taken, left = await self._take_script(redis)(keys=[key], args=args)
        except FAILURES as error:
            self.breaker.failure(error)
            return None
        self.breaker.success()
        return Throttle(bool(taken), cost, self.capacity, float(left), self.restore_rate)
