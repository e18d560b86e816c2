"""The cached-field mechanism: a batch function that reads Redis first and computes only misses
(the request's loaders and the fast path's level forms call it).

One batch of N users costs one Redis round trip to read (stamps and values together),
then, for the misses only: one round trip to claim them, one SQL statement to compute
them, one pipeline to store them. A warm batch costs the read and nothing else.

Why a stale value is never served after a write (the write path bumps generations after
its commit, see invalidation.py): the read returns the stamp current at that moment
together with the value stored under it, atomically. A reader that computes a miss took
its stamp before running its SQL, and stores the result under that stamp only.

- If the bump happened before the read, the reader has the new stamp and its SQL
  snapshot starts after the commit: its value includes the write.
- If the bump happens after the read, the reader's value (perhaps computed from a
  snapshot before the commit) goes under the old stamp, which no read returns any more:
  it can never overwrite or shadow the value of the new stamp, and it expires unread.

The same stamp keys the single-flight within the process and the lock across processes,
so joining someone else's computation never hands out a value older than one's own read.

An entry whose bytes do not decode (truncated, overwritten by something else) is a miss:
it is computed again and stored over the bad bytes under the same stamp, and logged once
per key (CacheStore.undecodable), so one bad value neither fails requests until it
expires nor logs a line for each of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from wren.cache.codec import Codec
from wren.cache.counters import CacheCounters
from wren.cache.keys import Kind
from wren.cache.store import CacheStore

T = TypeVar("T")

Compute = Callable[[list[int]], Awaitable[Sequence[T]]]
# Polling for a value another process is computing: first soon, then less often.
_POLL_FIRST = 0.01
_POLL_MAX = 0.1


class CachedBatch(Generic[T]):
    """The batch function of one kind of cached entry, for one request."""

    def __init__(
        self,
        store: CacheStore,
        kind: Kind,
        codec: Codec[T],
        compute: Compute[T],
        counters: CacheCounters,
    ) -> None:
        self.store = store
        self.kind = kind
        self.codec = codec
        self.compute = compute
        self.counters = counters

    async def __call__(self, user_ids: list[int]) -> list[T]:
        """Values for the users, in order: cached ones from Redis, the others computed."""
        counts = CacheCounters()
        try:
            found = await self._resolve(list(dict.fromkeys(user_ids)), counts)
        finally:
            self.counters.add(counts)
            self.store.count(self.kind, counts)
        return [found[user_id] for user_id in user_ids]

    async def _resolve(self, user_ids: list[int], counts: CacheCounters) -> dict[int, T]:
        entries = await self.store.read(self.kind, user_ids)
        if entries is None:
            # Redis is unavailable: no stamp to store under or to share a computation by.
            counts.errors += 1
            counts.misses += len(user_ids)
            return await self._compute(user_ids, counts)
        found: dict[int, T] = {}
        missing: list[tuple[int, str]] = []
        for user_id, entry in zip(user_ids, entries, strict=True):
            value = None if entry.raw is None else self._decode(user_id, entry.stamp, entry.raw)
            if value is None:
                counts.misses += 1
                missing.append((user_id, entry.stamp))
            else:
                counts.hits += 1
                found[user_id] = value
        if missing:
            found.update(await self._fill(missing, counts))
        return found

    async def _fill(self, missing: list[tuple[int, str]], counts: CacheCounters) -> dict[int, T]:
        """Misses: join this process's running computations, lead the others."""
        flights = self.store.flights
        joined: list[tuple[int, asyncio.Future[Any]]] = []
        led: list[tuple[int, str]] = []
        for user_id, stamp in missing:
            future = flights.join((self.kind, user_id, stamp))
            if future is None:
                flights.lead((self.kind, user_id, stamp))
                led.append((user_id, stamp))
            else:
                joined.append((user_id, future))
        found: dict[int, T] = {}
        try:
            if led:
                found.update(await self._lead(led, counts))
        finally:
            for user_id, stamp in led:
                flights.finish((self.kind, user_id, stamp), found.get(user_id))
        left: list[int] = []
        for user_id, future in joined:
            value = await asyncio.shield(future)
            if value is None:  # its leader failed or was cancelled
                left.append(user_id)
            else:
                counts.shared += 1
                found[user_id] = value
        if left:
            found.update(await self._compute(left, counts))
        return found

    async def _lead(self, led: list[tuple[int, str]], counts: CacheCounters) -> dict[int, T]:
        """Claim the entries across processes; compute ours, wait for the others'."""
        claims = await self.store.claim(self.kind, led)
        if claims is None:
            counts.errors += 1
            claims = [True] * len(led)
        found: dict[int, T] = {}
        mine: list[tuple[int, str]] = []
        theirs: list[tuple[int, str]] = []
        for (user_id, stamp), claim in zip(led, claims, strict=True):
            if isinstance(claim, bytes):  # stored meanwhile, or the undecodable entry
                value = self._decode(user_id, stamp, claim)
                if value is None:  # computed and stored over it, whoever holds the lock
                    mine.append((user_id, stamp))
                else:
                    counts.shared += 1
                    found[user_id] = value
            elif claim:
                mine.append((user_id, stamp))
            else:
                theirs.append((user_id, stamp))
        computed, waited = await asyncio.gather(
            self._compute_and_store(mine, counts), self._wait(theirs, counts)
        )
        found.update(computed)
        found.update(waited)
        late = [(user_id, stamp) for user_id, stamp in theirs if user_id not in waited]
        if late:  # the other process did not deliver within the lock's lifetime
            found.update(await self._compute_and_store(late, counts))
        return found

    async def _compute(self, user_ids: list[int], counts: CacheCounters) -> dict[int, T]:
        values = await self.compute(user_ids)
        counts.computed += len(user_ids)
        return dict(zip(user_ids, values, strict=True))

    async def _compute_and_store(
        self, entries: list[tuple[int, str]], counts: CacheCounters
    ) -> dict[int, T]:
        if not entries:
            return {}
        try:
            found = await self._compute([user_id for user_id, _ in entries], counts)
        except BaseException:
            # Other processes would wait for this value until the locks expire.
            await self.store.release(self.kind, entries)
            raise
        stored = await self.store.write(
            self.kind,
            [(user_id, stamp, self.codec.encode(found[user_id])) for user_id, stamp in entries],
        )
        if not stored:
            counts.errors += 1
        return found

    async def _wait(self, entries: list[tuple[int, str]], counts: CacheCounters) -> dict[int, T]:
        """Values another process is computing, polled until its lock would have expired."""
        found: dict[int, T] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.store.lock_ttl
        pending = list(entries)
        delay = _POLL_FIRST
        while pending and loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
            raws = await self.store.fetch(self.kind, pending)
            if raws is None:
                counts.errors += 1
                break
            still: list[tuple[int, str]] = []
            for (user_id, stamp), raw in zip(pending, raws, strict=True):
                if raw is None:
                    still.append((user_id, stamp))
                    continue
                value = self._decode(user_id, stamp, raw)
                if value is not None:
                    counts.shared += 1
                    found[user_id] = value
                # else: not waited for any more; the caller computes and stores it
            pending = still
        return found

    def _decode(self, user_id: int, stamp: str, raw: bytes) -> T | None:
        """The entry's value, or None when its bytes are not one (logged once per key)."""
        try:
            return self.codec.decode(raw)
        except ValueError as error:
            self.store.undecodable(self.kind, user_id, stamp, error)
            return None
