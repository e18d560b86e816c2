"""Pooled connections kept checked out between reads, so the next read takes one in asyncio.

SQLAlchemy's pool is synchronous code that awaits through greenlets: every checkout and
checkin of a read ran in a greenlet of its own, with the pool's bookkeeping (a fairy, its
record, the reset on return) around one statement: 78,000 of the 897,000 instructions
of a one-lookup request (UserByHandle, bench/results/read-path.md). A read now gives its
connection back here instead, and the next read takes the most recently given one with
no greenlet and no pool call; only a read that finds none here checks one out.

The pool stays the source and the bound of every connection, and its settings keep their
meaning:

- pool_size, max_overflow, pool_timeout: a kept connection is still checked out of the
  pool, so the pool counts it against its size; a connection is kept only while it is
  idle for less than KEEP_IDLE seconds, then checked back in; and a transaction that
  would find the pool empty has one checked in first (`hand_back`), so no write waits
  for, or opens, a connection while a read left one idle here; and while anything waits
  for a connection of the full pool, a read checks its own in instead of keeping it (the
  pool hands it to the oldest waiter, handoff.py);
- pool_recycle and invalidation: a connection past its recycle age, or invalidated (the
  pool's or its own), is checked back in instead of reused, and the pool renews it;
- pool_pre_ping: with it on nothing is kept, so every read checks out and pings;
- the gauges: a connection idle here is reported idle, not used (`idle`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from wren._compat import greenlet_spawn, needs_renewal, pre_pings
from wren.db.handoff import serves_in_order, waiting

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.pool import Pool, PoolProxiedConnection

# Seconds a connection may stay idle here before it goes back to the pool: longer than
# the gap between the levels of a request and between requests of steady traffic, short
# enough that a quiet process holds nothing out of the pool for long.
KEEP_IDLE = 1.0


class KeptConnections:
    """The idle connections of one engine's pool that reads left checked out, newest last."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Nothing is kept when every checkout must ping (pool_pre_ping), nor on a pool that
        # cannot say whether checkouts wait for it (only the hand-off queue can).
        self.enabled = not pre_pings(engine.pool) and serves_in_order(engine.pool)
        self._idle: list[tuple[PoolProxiedConnection, float]] = []
        self._sweep: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()

    @property
    def pool(self) -> Pool:
        """The engine's pool (a dispose replaces it)."""
        return self._engine.pool

    @property
    def idle(self) -> int:
        """Connections kept here, idle (the pool counts them as checked out)."""
        return len(self._idle)

    def take(self) -> PoolProxiedConnection | None:
        """The most recently kept connection still fit for use, or None: check one out."""
        idle = self._idle
        while idle:
            fairy, _ = idle.pop()
            if not needs_renewal(fairy):
                return fairy
            self._release([fairy])
        return None

    def give(self, fairy: PoolProxiedConnection) -> bool:
        """Keep a connection a read is done with (it sent nothing that needs a reset); False
        when it goes back to the pool instead, now (`hand_over`)."""
        if not self.enabled or waiting(self._engine.pool):
            return False
        loop = asyncio.get_running_loop()
        self._idle.append((fairy, loop.time()))
        if self._sweep is None:
            self._sweep = loop.call_later(KEEP_IDLE, self._swept)
        return True

    async def hand_over(self, fairy: PoolProxiedConnection) -> None:
        """Check a connection in within the read's own task: the oldest waiter of the full
        pool gets it (handoff.py) without a turn of the event loop between. A read's checkin
        does not wait (no transaction to roll back), so nothing can interrupt it."""
        await greenlet_spawn(_check_in, [fairy], None)

    def release(self, fairy: PoolProxiedConnection) -> None:
        """Check a connection back in instead of keeping it."""
        self._release([fairy])

    async def invalidate(self, fairy: PoolProxiedConnection, error: BaseException) -> None:
        """Close a connection found closed and check its slot in: the next checkout, a
        read's retry among them, opens a new one in its place."""
        await greenlet_spawn(_check_in, [fairy], error)

    async def hand_back(self) -> None:
        """Check the most recently kept connection in, now: the checkout that follows (a
        transaction's) takes it instead of opening another or waiting for one."""
        if self._idle:
            fairy, _ = self._idle.pop()
            await greenlet_spawn(_check_in, [fairy], None)

    async def aclose(self) -> None:
        """Check everything back in, before the engine is disposed."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        if self._idle:
            self._release([fairy for fairy, _ in self._idle])
            self._idle.clear()
        while self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    def _swept(self) -> None:
        self._sweep = None
        idle = self._idle
        if not idle:
            return
        loop = asyncio.get_running_loop()
        oldest = loop.time() - KEEP_IDLE
        stale = 0
        while stale < len(idle) and idle[stale][1] <= oldest:
            stale += 1
        if stale:
            self._release([fairy for fairy, _ in idle[:stale]])
            del idle[:stale]
        if idle:
            # The next sweep when the oldest one left turns KEEP_IDLE idle.
            self._sweep = loop.call_at(idle[0][1] + KEEP_IDLE, self._swept)

    def _release(
        self, fairies: list[PoolProxiedConnection], invalidate: BaseException | None = None
    ) -> None:
        # In a task of its own: a read being cancelled cannot interrupt the checkin.
        checkin = greenlet_spawn(_check_in, fairies, invalidate)
        task = asyncio.get_running_loop().create_task(checkin)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)


def _check_in(fairies: list[PoolProxiedConnection], invalidate: BaseException | None) -> None:
    """Check connections in to their pool (in a greenlet: a reset or a close may await)."""
    for fairy in fairies:
        try:
            if invalidate is not None:
                fairy.invalidate(invalidate)
        finally:
            fairy.close()
