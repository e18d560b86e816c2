"""The process's cache store: every Redis call of the cache (and event publishing), each one
allowed to fail.

A call that fails, times out (WREN_REDIS_TIMEOUT) or is skipped by the open circuit
breaker returns None: callers then answer from PostgreSQL. Nothing here raises.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from redis.asyncio import RedisCluster

from wren.cache import scripts
from wren.cache.breaker import CircuitBreaker
from wren.cache.client import CLUSTER_FAILURES, FAILURES, RedisClient
from wren.cache.counters import CacheCounters
from wren.cache.flight import Flights
from wren.cache.keys import Keys, Kind, slot_group
from wren.settings import Settings

if TYPE_CHECKING:
    from wren.observability import Telemetry

log = logging.getLogger(__name__)

T = TypeVar("T")

# Generation bumps for thousands of users (followers of a busy account) go in chunks,
# each one round trip within the timeout.
_CHUNK = 1000
# Undecodable entries remembered so that each is logged once; forgotten all at once past
# this many (a key is never read again once overwritten or under a new stamp).
_UNDECODABLE_KEPT = 1024


class Entry(NamedTuple):
    """One entry as read: the stamp it is valid under, and its value if cached."""

    stamp: str
    raw: bytes | None


# One caller's read: the kind, the user ids, and where its entries go.
_Read = tuple[Kind, list[int], "asyncio.Future[list[Entry] | None]"]
# What one script call reads: per slot group, the ids of each kind.
_Blocks = dict[int, list[tuple[Kind, list[int]]]]


class CacheStore:
    """Redis behind a circuit breaker and a timeout, with the cache's key layout."""

    def __init__(
        self, redis: RedisClient, settings: Settings, telemetry: Telemetry | None = None
    ) -> None:
        self.redis = redis
        # Times and traces every call; None when nothing observes.
        self.telemetry = telemetry if telemetry is not None and telemetry.observing else None
        # A Redis Cluster takes one script call per slot group, a single server one for all.
        self._cluster = isinstance(redis, RedisCluster)
        self._failures = CLUSTER_FAILURES if self._cluster else FAILURES
        self._script_loaded = False
        self.keys = Keys(settings.cache_namespace)
        self.breaker = CircuitBreaker(
            failures=settings.cache_breaker_failures, cooldown=settings.cache_breaker_cooldown
        )
        self.flights = Flights()
        self.totals = CacheCounters()
        self.by_kind = {kind: CacheCounters() for kind in Kind}
        self.lock_ttl = settings.cache_lock_ttl
        self._timeout = settings.redis_timeout
        self._ttl_ms = settings.cache_ttl * 1000
        self._jitter = settings.cache_ttl_jitter
        self._generation_ttl_ms = 2 * self._ttl_ms
        self._read = redis.register_script(scripts.READ)
        self._random = random.Random()  # noqa: S311 - spreads expiries, not a secret
        self._owner = secrets.token_hex(8)
        # A generation bump failed: some entries may be stale until the epoch is bumped.
        self._dirty = False
        self._repair: asyncio.Task[None] | None = None
        # Reads waiting for this turn of the event loop to end, and the calls sending them.
        self._reads: list[_Read] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._undecodable: set[str] = set()

    def count(self, kind: Kind, counts: CacheCounters) -> None:
        """Fold one batch's counts into the process's totals."""
        self.totals.add(counts)
        self.by_kind[kind].add(counts)
        if self.telemetry is not None and counts.hits:
            self.telemetry.cache_hits(counts.hits)

    async def _call(self, operation: Callable[[], Awaitable[T]], call: str) -> T | None:
        """Run one Redis operation through the breaker; None when it did not succeed."""
        if not self.breaker.allow():
            return None
        try:
            async with asyncio.timeout(self._timeout):
                if self.telemetry is None:
                    result = await operation()
                else:
                    result = await self.telemetry.redis_call(call, operation)
        except self._failures as error:
            self.breaker.failure(error)
            if self._cluster:
                await self._forget_topology()
            return None
        self.breaker.success()
        return result

    async def _forget_topology(self) -> None:
        """Make the cluster client ask for the slots again on its next call.

        redis-py's cluster client does so by itself after a failed command, but not after
        a failed pipeline: with a master gone, its pipelines kept going to the dead
        address after a replica had taken over. Closing the client's connections marks
        it for a new topology (a no-op while it is already marked).
        """
        with suppress(*CLUSTER_FAILURES):
            await self.redis.aclose()

    async def guarded(self, operation: Callable[[], Awaitable[T]], call: str = "marks") -> T | None:
        """Another module's Redis call, through the same breaker and timeout."""
        return await self._call(operation, call)

    @property
    def cluster(self) -> bool:
        """True on a Redis Cluster: a script call stays within one slot group."""
        return self._cluster

    @property
    def dirty(self) -> bool:
        """True while a missed invalidation waits for the whole cache to be dropped."""
        return self._dirty

    def _ttl(self) -> int:
        return int(self._ttl_ms * (1 + self._jitter * self._random.random()))

    async def read(self, kind: Kind, user_ids: Sequence[int]) -> list[Entry] | None:
        """Stamps and cached values of many entries.

        Reads asked for in the same turn of the event loop (the stats and the
        recommendations of one page, say) go to Redis together, in one round trip.
        """
        loop = asyncio.get_running_loop()
        if self._reads is None:
            self._reads = []
            loop.call_soon(self._send_reads)
        future: asyncio.Future[list[Entry] | None] = loop.create_future()
        self._reads.append((kind, list(user_ids), future))
        return await future

    def _send_reads(self) -> None:
        reads, self._reads = self._reads or [], None
        task = asyncio.get_running_loop().create_task(self._read_all(reads))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_all(self, reads: list[_Read]) -> None:
        try:
            found = await self._read_groups([(kind, ids) for kind, ids, _ in reads])
        except asyncio.CancelledError:  # shutting down: the reads go with it
            for _, _, future in reads:
                future.cancel()
            raise
        except Exception as error:  # a bug: each reader raises it (nobody awaits this task)
            for _, _, future in reads:
                if not future.done():
                    future.set_exception(error)
            return
        at = 0
        for _, ids, future in reads:
            entries = None if found is None else found[at : at + len(ids)]
            at += len(ids)
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(entries)

    async def _read_groups(self, groups: list[tuple[Kind, list[int]]]) -> list[Entry] | None:
        """The entries of all groups, in order: one script call for all of them, or on a
        Redis Cluster one per slot group, sent together."""
        if self._dirty and not await self.bump_epoch():
            return None
        blocks: _Blocks = {}
        for kind, ids in groups:
            by_group: dict[int, list[int]] = {}
            for user_id in ids:
                by_group.setdefault(slot_group(user_id), []).append(user_id)
            for group, members in by_group.items():
                blocks.setdefault(group, []).append((kind, members))
        if not blocks:
            return []
        calls = [{group: kinds} for group, kinds in blocks.items()] if self._cluster else [blocks]
        token = secrets.token_hex(8)

        async def run() -> list[Any]:
            if self._cluster and not self._script_loaded:
                # Loaded on every master first: sixteen concurrent calls each meeting
                # NOSCRIPT would each load it on every master at once, and redis-py's
                # cluster client lost connections doing so.
                await self.redis.script_load(scripts.READ)
                self._script_loaded = True
            # Every call finishes (or is cancelled with the others by the timeout) before a
            # failure is reported: none is left running unawaited.
            replies = await asyncio.gather(
                *(self._read_blocks(call, token) for call in calls), return_exceptions=True
            )
            for reply in replies:
                if isinstance(reply, BaseException):
                    # A master may have changed (a failover): load the script again first.
                    self._script_loaded = False
                    raise reply
            return replies

        replies = await self._call(run, "read")
        if replies is None:
            return None
        found: dict[tuple[Kind, int], Entry] = {}
        for call, reply in zip(calls, replies, strict=True):
            stamps = iter(reply[::2])
            values = iter(reply[1::2])
            for kinds in call.values():
                for kind, ids in kinds:
                    for user_id in ids:
                        found[kind, user_id] = Entry(next(stamps).decode(), next(values))
        return [found[kind, user_id] for kind, ids in groups for user_id in ids]

    def _read_blocks(self, blocks: _Blocks, token: str) -> Awaitable[Any]:
        """One call of the read script over some slot groups."""
        keys = [self.keys.epoch(group) for group in blocks]
        args: list[Any] = [token, self._generation_ttl_ms]
        for index, (group, kinds) in enumerate(blocks.items(), start=1):
            for kind, ids in kinds:
                args += [
                    index,
                    self.keys.generations_prefix(kind, group),
                    self.keys.values_prefix(kind, group),
                    ",".join(map(str, ids)),
                ]
        return self._read(keys=keys, args=args)

    async def claim(
        self, kind: Kind, entries: Sequence[tuple[int, str]]
    ) -> list[bytes | bool] | None:
        """For each (user id, stamp): its value if it appeared meanwhile, else whether this
        process now holds the short lock to compute it (False: another process does)."""

        async def run() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            for user_id, stamp in entries:
                pipe.set(
                    self.keys.lock(kind, user_id, stamp),
                    self._owner,
                    nx=True,
                    px=int(self.lock_ttl * 1000),
                )
                pipe.get(self.keys.value(kind, user_id, stamp))
            return await pipe.execute()

        reply = await self._call(run, "claim")
        if reply is None:
            return None
        return [
            raw if raw is not None else bool(locked)
            for locked, raw in zip(reply[::2], reply[1::2], strict=True)
        ]

    async def fetch(
        self, kind: Kind, entries: Sequence[tuple[int, str]]
    ) -> list[bytes | None] | None:
        """Values of entries whose stamps are known (one pipeline: the keys span slots)."""
        keys = [self.keys.value(kind, user_id, stamp) for user_id, stamp in entries]

        async def run() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
            return await pipe.execute()

        return await self._call(run, "fetch")

    async def write(self, kind: Kind, entries: Sequence[tuple[int, str, bytes]]) -> bool:
        """Store computed values under the stamps they were computed for, in one pipeline."""

        async def run() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            for user_id, stamp, raw in entries:
                pipe.set(self.keys.value(kind, user_id, stamp), raw, px=self._ttl())
                # Keep the generation at least as long as the value it makes reachable.
                pipe.pexpire(self.keys.generation(kind, user_id), self._generation_ttl_ms)
            return await pipe.execute()

        return await self._call(run, "write") is not None

    async def release(self, kind: Kind, entries: Sequence[tuple[int, str]]) -> None:
        """Give up the locks of entries this process failed to compute."""
        # Plain DEL: should a lock have expired and been taken by another process meanwhile,
        # deleting it costs at most one more computation of that entry.
        keys = [self.keys.lock(kind, user_id, stamp) for user_id, stamp in entries]

        async def run() -> int:
            return await self.redis.delete(*keys)

        await self._call(run, "release")

    async def bump(self, kind: Kind, user_ids: Sequence[int]) -> bool:
        """Give these entries new generations: what was cached for them is never read again.

        When Redis cannot be reached, the whole cache is dropped (epoch bump) as soon as
        it can be, before this process reads from it again.
        """
        token = secrets.token_hex(8)
        ids = list(dict.fromkeys(user_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]

            async def run(chunk: list[int] = chunk) -> list[Any]:
                pipe = self.redis.pipeline(transaction=False)
                for key in self.keys.generations(kind, chunk):
                    pipe.set(key, token, px=self._generation_ttl_ms)
                return await pipe.execute()

            if await self._call(run, "bump") is None:
                self.mark_dirty()
                return False
        return True

    async def bump_epoch(self) -> bool:
        """Drop every entry of this namespace and version at once (the epochs of every slot
        group: should some be bumped and not others, the call fails and is repeated)."""
        token = secrets.token_hex(8)

        async def run() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            for key in self.keys.epochs:
                pipe.set(key, token)
            return await pipe.execute()

        if await self._call(run, "epoch") is None:
            self.mark_dirty()
            return False
        if self._dirty:
            log.warning("cache: dropped every cached entry after a missed invalidation")
        self._dirty = False
        return True

    def undecodable(self, kind: Kind, user_id: int, stamp: str, error: Exception) -> None:
        """Log an entry whose bytes did not decode, once per key (it is then recomputed)."""
        key = self.keys.value(kind, user_id, stamp)
        if key in self._undecodable:
            return
        if len(self._undecodable) >= _UNDECODABLE_KEPT:
            self._undecodable.clear()
        self._undecodable.add(key)
        log.warning("cache: undecodable %s entry %s (%s); computing it again", kind, key, error)

    async def publish(self, channel: str, message: bytes) -> bool:
        """Publish a pub/sub message within the same timeout and breaker; False if not sent."""
        return await self._call(lambda: self.redis.publish(channel, message), "publish") is not None

    def mark_dirty(self) -> None:
        """An invalidation did not reach Redis: drop the whole cache as soon as it answers."""
        self._dirty = True
        if self._repair is None or self._repair.done():
            self._repair = asyncio.get_running_loop().create_task(self._repair_loop())

    async def _repair_loop(self) -> None:
        # Other processes read the cache too: do not wait for this one's next read.
        while self._dirty:
            await asyncio.sleep(self.breaker.cooldown)
            if self._dirty:
                await self.bump_epoch()

    async def aclose(self) -> None:
        """Stop the background repair, if one is running; let reads in flight finish."""
        if self._repair is not None:
            self._repair.cancel()
            await asyncio.gather(self._repair, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
