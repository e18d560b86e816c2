"""The pool's connections handed to waiting checkouts first come, first served.

SQLAlchemy's AsyncAdaptedQueuePool keeps its idle connections in an asyncio.Queue. When a
connection comes back while checkouts wait, the queue wakes the oldest waiter, but the
connection stays in the queue until that waiter's task runs, a turn of the event loop
later; a checkout arriving meanwhile (a new request's read) takes it at once with
`get_nowait`, and the woken waiter finds the queue empty and waits again at the back
(asyncio.Queue.get, CPython 3.11). Under steady load, with more clients than
connections, a new request arrives at nearly every return, so some waiters were overtaken
again and again: with 32 clients on the default pool of 20, a trace of every checkout
showed the slowest 1% of Timeline requests spending 220 of their 248 ms waiting for a
connection, overtaken by up to 171 later reads each, while half the requests never
waited (README.md, "tail latency").

Here a returned connection goes straight to the oldest waiter (its future holds it), and
the queue holds connections only while nobody waits: a newcomer then finds it empty and
waits behind the others. Everything else is the pool's own logic and keeps its meaning:

- pool_size and max_overflow: the queue holds at most pool_size idle connections (Full
  tells the pool to close an overflow one), and QueuePool decides, as before, whether a
  checkout opens a connection or waits;
- pool_timeout: a waiter not served in time is removed and gets Empty, which QueuePool
  turns into its TimeoutError (SERVICE_UNAVAILABLE in engine.py);
- cancellation (a request's deadline): a waiter cancelled once a connection was handed
  to it passes it on to the next waiter, so no connection is lost;
- pool_use_lifo: the idle connections are taken newest first, as the LifoQueue did;
- dispose, invalidation, pre-ping and recycling happen in the pool around this queue.

Reads, writes and transactions all check out through it, in one line. `waiting` is what
kept.py asks before keeping a connection between reads (it keeps none on another pool).
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from wren._compat import QueueEmpty, QueueFull, await_only, pool_queue, queue_pool

if TYPE_CHECKING:
    from sqlalchemy.pool import Pool


class HandOffQueue:
    """The idle connections of one pool, and the checkouts waiting for one, oldest first."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize  # 0: unbounded
        self.use_lifo = use_lifo
        self._idle: deque[Any] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()

    @property
    def waiting(self) -> int:
        """Checkouts waiting for a connection (none is idle while any waits)."""
        return len(self._waiters)

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: Any) -> None:
        """A connection back: to the oldest waiter, or idle (QueueFull when no room)."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        if self.full():
            raise QueueFull
        self._idle.append(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """As put_nowait: the pool never waits to give a connection back."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        """An idle connection (newest first with use_lifo), or QueueEmpty."""
        idle = self._idle
        if not idle:
            raise QueueEmpty
        return idle.pop() if self.use_lifo else idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """An idle connection, or with `block` the next one returned after every earlier
        waiter's (QueueEmpty after `timeout` seconds). Called in the pool's greenlet."""
        if self._idle or not block:
            return self.get_nowait()
        return await_only(self._wait(timeout))

    async def _wait(self, seconds: float | None) -> Any:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(waiter)
        timer = None if seconds is None else loop.call_later(seconds, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.put_nowait(waiter.result())  # handed over as it was cancelled: pass it on
            else:
                self._forget(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.done():
            self._forget(waiter)
            waiter.set_exception(QueueEmpty())

    def _forget(self, waiter: asyncio.Future[Any]) -> None:
        with suppress(ValueError):  # already handed a connection, or removed
            self._waiters.remove(waiter)


# create_async_engine(poolclass=HandOffPool): an AsyncAdaptedQueuePool on this queue.
HandOffPool = queue_pool(HandOffQueue)


def serves_in_order(pool: Pool) -> bool:
    """Whether the pool hands its connections over here (and `waiting` can count)."""
    return isinstance(pool_queue(pool), HandOffQueue)


def waiting(pool: Pool) -> int:
    """How many checkouts wait for a connection of the (full) pool (0 for other pools)."""
    queue = pool_queue(pool)
    return queue.waiting if isinstance(queue, HandOffQueue) else 0
