"""Failed log-ins, counted per handle and per client address, with a growing back-off.

Each subject (the handle as typed, lower-cased; the client's address) has a counter in
Redis. Once a subject has failed `threshold` times, each further failure locks it for
WREN_LOGIN_BACKOFF x 2^(failures - threshold) seconds, up to WREN_LOGIN_BACKOFF_MAX; a try
while either of its subjects is locked is refused (429, RATE_LIMITED, Retry-After)
before any password hash is computed. A counter is forgotten WREN_LOGIN_FAILURE_WINDOW
seconds after its last failure (plus its lock); a successful log-in resets the handle's
counter. The address's counter is not reset by a success: one attacker's own account
would otherwise wipe the count of its guesses at other accounts. Handles are stored as
SHA-256 digests, so Redis holds no list of who tried what.

Redis is reached with the cache's timeout, behind a circuit breaker like every other
Redis caller (its log lines, its cooldown): when Redis fails, the throttle counts in the
process instead (each worker on its own) until a probe finds Redis answering again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript

from wren.cache.breaker import CircuitBreaker
from wren.cache.client import FAILURES, RedisClient

_FAILURES = FAILURES
# Subjects a process counts on its own while Redis is unavailable.
_KEPT = 100_000

# KEYS: the subjects' counters; ARGV: now (ms), base (ms), max (ms), window (ms), then
# each key's threshold. Returns the longest lock it set (ms).
_FAIL = """
local now, base, max, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local longest = 0
for i, key in ipairs(KEYS) do
  local n = redis.call('HINCRBY', key, 'n', 1)
  local threshold = tonumber(ARGV[4 + i])
  local lock = 0
  if n >= threshold then
    lock = math.floor(math.min(base * 2 ^ (n - threshold), max))
    redis.call('HSET', key, 'until', now + lock)
  end
  redis.call('PEXPIRE', key, window + lock)
  if lock > longest then longest = lock end
end
return longest
"""

# KEYS: the subjects' counters; ARGV: now (ms). Returns the longest lock left (ms).
_CHECK = """
local now = tonumber(ARGV[1])
local longest = 0
for _, key in ipairs(KEYS) do
  local left = tonumber(redis.call('HGET', key, 'until') or '0') - now
  if left > longest then longest = left end
end
return longest
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """How many failures each kind of subject gets, and how the lock grows."""

    per_handle: int
    per_client: int
    backoff: float
    backoff_max: float
    window: float

    def lock(self, failures: int, threshold: int) -> float:
        """Seconds a subject is locked after its `failures`-th failure."""
        if failures < threshold:
            return 0.0
        return float(min(self.backoff * 2 ** (failures - threshold), self.backoff_max))


class _Local:
    """The same counters in one process, for when Redis is unavailable."""

    def __init__(self, policy: Policy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        # subject -> (failures, locked until, forgotten at)
        self._counts: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    def _get(self, key: str, now: float) -> tuple[int, float, float]:
        found = self._counts.get(key)
        if found is None or found[2] <= now:
            return (0, 0.0, 0.0)
        return found

    def retry_after(self, keys: list[tuple[str, int]]) -> float:
        now = self._clock()
        return max(0.0, *(self._get(key, now)[1] - now for key, _ in keys))

    def failed(self, keys: list[tuple[str, int]]) -> float:
        now = self._clock()
        longest = 0.0
        for key, threshold in keys:
            failures, until, _ = self._get(key, now)
            failures += 1
            lock = self.policy.lock(failures, threshold)
            until = now + lock if lock else until
            self._counts[key] = (failures, until, now + self.policy.window + lock)
            self._counts.move_to_end(key)
            longest = max(longest, lock)
        while len(self._counts) > _KEPT:
            self._counts.popitem(last=False)
        return longest

    def reset(self, key: str) -> None:
        self._counts.pop(key, None)


class LoginThrottle:
    """Failed log-ins per handle and per client, in Redis, or per process without it."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        namespace: str,
        policy: Policy,
        timeout: float,
        cooldown: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.policy = policy
        self._prefix = f"{namespace}:auth:fail:"
        self._timeout = timeout
        self._clock = clock
        self._cluster = isinstance(redis, RedisCluster)
        self._fail = redis.register_script(_FAIL)
        self._check = redis.register_script(_CHECK)
        self.local = _Local(policy, clock)
        self.breaker = CircuitBreaker(
            failures=1,
            cooldown=cooldown,
            name="login throttle",
            degraded="counting failed log-ins in this process only",
            resumed="counting failed log-ins there again",
        )

    @property
    def degraded(self) -> bool:
        """Whether failed log-ins are counted per process (Redis failed)."""
        return self.breaker.is_open

    def _keys(self, handle: str, client: str | None) -> list[tuple[str, int]]:
        digest = hashlib.sha256(handle.strip().lower().encode()).hexdigest()[:32]
        keys = [(f"{self._prefix}h:{digest}", self.policy.per_handle)]
        if client:
            keys.append((f"{self._prefix}c:{client}", self.policy.per_client))
        return keys

    async def _run(
        self, script: AsyncScript, keys: list[tuple[str, int]], *args: float
    ) -> float | None:
        """Seconds returned by a script (ms in Redis), or None when Redis failed."""
        if not self.breaker.allow():
            return None
        now_ms = int(self._clock() * 1000)
        try:
            async with asyncio.timeout(self._timeout):
                if len(keys) == 1 or not self._cluster:
                    result = await script(keys=[key for key, _ in keys], args=[now_ms, *args])
                else:
                    # A Redis Cluster runs a script on one slot: one call per key (each
                    # with its own threshold), the longest lock of them.
                    thresholds = args[len(args) - len(keys) :]
                    common = args[: len(args) - len(keys)]
                    results = await asyncio.gather(
                        *(
                            script(keys=[key], args=[now_ms, *common, *thresholds[i : i + 1]])
                            for i, (key, _) in enumerate(keys)
                        )
                    )
                    result = max(int(r) for r in results)
        except _FAILURES as error:
            self.breaker.failure(error)
            return None
        self.breaker.success()
        return max(0, int(result)) / 1000

    async def retry_after(self, handle: str, client: str | None) -> float:
        """Seconds until this handle may be tried from this client again (0: now)."""
        keys = self._keys(handle, client)
        wait = await self._run(self._check, keys)
        return self.local.retry_after(keys) if wait is None else wait

    async def failed(self, handle: str, client: str | None) -> float:
        """Count a failed log-in; the seconds it locks the handle or client for."""
        keys = self._keys(handle, client)
        policy = self.policy
        args = [policy.backoff * 1000, policy.backoff_max * 1000, policy.window * 1000]
        lock = await self._run(self._fail, keys, *args, *(t for _, t in keys))
        return self.local.failed(keys) if lock is None else lock

    async def succeeded(self, handle: str) -> None:
        """A successful log-in: the handle's failures are forgotten."""
        [(key, _)] = self._keys(handle, None)
        self.local.reset(key)
        if not self.breaker.allow():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self.redis.delete(key)
        except _FAILURES as error:
            self.breaker.failure(error)
            return
        self.breaker.success()
