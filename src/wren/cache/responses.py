"""The response cache: whole answers of cacheable queries in Redis, correct after every write.

An answer is stored under a digest of its document, operation name and variables (and the
viewer, for a private answer), for its policy's max-age (capped), with the tags of what
it shows (cache/tags.py). A mutation, after its commit and before it answers, deletes
every stored answer holding a tag it changed (cache/invalidation.py), so the next read,
from any process, computes the answer again.

Why no stale answer is stored: each slot group has a clock that every invalidation
advances, in the same script that deletes the group's tagged answers. A lookup that
misses reads the clock before the answer is computed; the store script stores only if
the clock has not moved since. An answer computed from rows read before a write
committed was looked up before that write's invalidation ran (the invalidation follows
the commit), so its store finds the clock moved and stores nothing. The price: an
answer computed while any write happened is not stored (the next request stores it).

Concurrent misses of one answer in a process share one execution (Flights, keyed by the
entry and the clock read: a request that read a newer clock, after a write, never joins
an execution that started before it). A miss whose lookup crossed the leader's store (it
read the same clock, so no write came between the two lookups) takes the leader's answer
from the last few kept in the process. Across processes each executes at most once.

Every call goes through the cache's breaker and timeout (CacheStore): with Redis
unreachable, queries run as if there were no response cache. An invalidation that did
not reach Redis marks the cache dirty: every entry of both caches is dropped (the slot
groups' epochs, which response keys hold) before either is read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from wren.cache import scripts
from wren.cache.counters import CacheCounters
from wren.cache.flight import Flights
from wren.cache.keys import SLOT_GROUPS

if TYPE_CHECKING:
    from wren.cache.store import CacheStore
    from wren.settings import Settings

# Answers kept in the process for misses that crossed their store; all dropped past this.
_RECENT_KEPT = 64


@dataclass(frozen=True, slots=True)
class Miss:
    """An answer not stored yet: where it goes, and the clock its computation starts at."""

    group: int
    key: str
    clock: str


def digest(
    text: str, operation_name: str | None, variables: dict[str, Any] | None, viewer: str | None
) -> str:
    """What names one answer: document, operation, variables (sorted) and, if private, viewer."""
    hashed = hashlib.blake2b(text.encode(), digest_size=16)
    hashed.update(b"\0" + (operation_name or "").encode() + b"\0")
    hashed.update(orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS))
    if viewer is not None:
        hashed.update(b"\0" + viewer.encode())
    return hashed.hexdigest()


class ResponseCache:
    """Lookups, stores and invalidations of whole answers, through the cache's breaker."""

    def __init__(self, store: CacheStore, settings: Settings) -> None:
        self.store = store
        self.keys = store.keys
        self.max_ttl = settings.response_cache_max_ttl
        self.private = settings.response_cache_private
        redis = store.redis
        self._lookup = redis.register_script(scripts.LOOKUP)
        self._store = redis.register_script(scripts.STORE)
        self._invalidate = redis.register_script(scripts.INVALIDATE)
        self.flights = Flights()
        # hits, misses, shared (joined another request's execution), errors (Redis skipped)
        self.counts = CacheCounters()
        self.invalidations = 0
        # Answers just computed, by (entry key, clock): for misses that crossed their store.
        self._recent: dict[tuple[str, str], bytes] = {}
        self._loaded = False  # the invalidation script, on every master of a cluster

    def ttl(self, max_age: int) -> int:
        """Seconds an answer with this max-age is kept."""
        return min(max_age, self.max_ttl)

    async def lookup(self, name: str) -> bytes | Miss | None:
        """The stored answer's bytes, else where to store it; None when Redis did not answer."""
        store = self.store
        if store.dirty and not await store.bump_epoch():
            self.counts.errors += 1
            return None
        group = int(name[:4], 16) % SLOT_GROUPS
        keys = self.keys

        async def run() -> Any:
            return await self._lookup(
                keys=[keys.epoch(group), keys.response_clock(group)],
                args=[keys.responses_prefix(group), name, secrets.token_hex(8)],
            )

        reply = await store.guarded(run, "response_lookup")
        if reply is None:
            self.counts.errors += 1
            return None
        if reply[0] == 1:
            self.counts.hits += 1
            raw: bytes = reply[1]
            return raw
        self.counts.misses += 1
        return Miss(group, reply[1].decode(), reply[2].decode())

    async def save(self, miss: Miss, raw: bytes, ttl: int, tags: Iterable[str]) -> bool:
        """Store an answer under its tags, unless a write was invalidated meanwhile."""
        keys = self.keys

        async def run() -> Any:
            return await self._store(
                keys=[keys.response_clock(miss.group)],
                args=[
                    miss.clock,
                    miss.key,
                    raw,
                    ttl * 1000,
                    keys.response_tags_prefix(miss.group),
                    ",".join(tags),
                ],
            )

        return bool(await self.store.guarded(run, "response_store"))

    async def answer(
        self, name: str, ttl: int, compute: Callable[[], Awaitable[tuple[bytes, list[str]] | None]]
    ) -> tuple[bytes | None, bool]:
        """(the answer's bytes, whether they came from the cache) for one cacheable answer.

        `compute` runs the operation: its encoded data and tags, or None when the answer
        is not to be stored (it has errors); the bytes are then None and the caller keeps
        what `compute` produced.
        """
        found = await self.lookup(name)
        if isinstance(found, bytes):
            return found, True
        if found is None:
            return await self._computed(compute), False
        flight = (found.key, found.clock)
        running = self.flights.join(flight)
        shared = self._recent.get(flight)
        if shared is None and running is not None:
            shared = await asyncio.shield(running)
            if shared is None:
                return await self._computed(compute), False
        if shared is not None:
            self.counts.shared += 1
            return shared, True
        self.flights.lead(flight)
        raw = None
        try:
            computed = await compute()
            if computed is not None:
                raw, tags = computed
                if len(self._recent) >= _RECENT_KEPT:
                    self._recent.clear()
                self._recent[flight] = raw
                await self.save(found, raw, ttl, tags)
        finally:
            self.flights.finish(flight, raw)
        return raw, False

    @staticmethod
    async def _computed(
        compute: Callable[[], Awaitable[tuple[bytes, list[str]] | None]],
    ) -> bytes | None:
        computed = await compute()
        return None if computed is None else computed[0]

    async def invalidate(self, tags: Iterable[str]) -> None:
        """Delete every stored answer holding one of these tags, in every slot group."""
        tags = sorted(set(tags))
        if not tags:
            return
        self.invalidations += 1
        keys = self.keys
        groups = list(range(SLOT_GROUPS))
        calls = [[group] for group in groups] if self.store.cluster else [groups]

        def call(part: list[int]) -> Awaitable[Any]:
            return self._invalidate(
                keys=[keys.response_clock(group) for group in part],
                args=[len(part), *(keys.response_tags_prefix(group) for group in part), *tags],
            )

        async def run() -> list[Any]:
            if self.store.cluster and not self._loaded:
                # Loaded first, as the field cache's read is (CacheStore._read_groups):
                # sixteen concurrent calls meeting NOSCRIPT would each load it everywhere.
                await self.store.redis.script_load(scripts.INVALIDATE)
                self._loaded = True
            # Every call finishes before a failure is reported: none is left running.
            replies = await asyncio.gather(*(call(part) for part in calls), return_exceptions=True)
            for reply in replies:
                if isinstance(reply, BaseException):
                    self._loaded = False  # a master may have changed: load it again
                    raise reply
            return replies

        if await self.store.guarded(run, "response_invalidate") is None:
            # Some group may still hold what this write changed: drop everything first.
            self.store.mark_dirty()
