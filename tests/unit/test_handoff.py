"""The hand-off queue under SQLAlchemy's pool: order, timeouts, cancellation, bounds."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import MagicMock

import pytest
from sqlalchemy import exc as sa_exc

from wren._compat import QueueFull, greenlet_spawn
from wren.db.handoff import HandOffPool, HandOffQueue, waiting


def full_pool(size: int = 1, timeout: float = 30.0) -> Any:
    return HandOffPool(MagicMock, pool_size=size, max_overflow=0, timeout=timeout, use_lifo=True)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiters_are_served_oldest_first_and_newcomers_wait_behind() -> None:
    pool = full_pool()
    held = await greenlet_spawn(pool.connect)
    order: list[int] = []

    async def checkout(n: int) -> Any:
        fairy = await greenlet_spawn(pool.connect)
        order.append(n)
        return fairy

    first = asyncio.ensure_future(checkout(1))
    second = asyncio.ensure_future(checkout(2))
    await settle()
    assert waiting(pool) == 2
    await greenlet_spawn(held.close)  # handed to the first waiter, not left in the queue
    assert waiting(pool) == 1
    assert pool.checkedin() == 0
    newcomer = asyncio.ensure_future(checkout(3))  # before the first waiter has run
    fairy = await first
    await settle()
    assert waiting(pool) == 2
    for task in (second, newcomer):
        await greenlet_spawn(fairy.close)
        fairy = await task
    await greenlet_spawn(fairy.close)
    assert order == [1, 2, 3]
    assert (pool.checkedin(), pool.checkedout(), waiting(pool)) == (1, 0, 0)


async def test_a_waiter_not_served_in_time_times_out_and_leaves_the_queue() -> None:
    pool = full_pool(timeout=0.01)
    held = await greenlet_spawn(pool.connect)
    with pytest.raises(sa_exc.TimeoutError):
        await greenlet_spawn(pool.connect)
    assert waiting(pool) == 0
    await greenlet_spawn(held.close)
    assert (pool.checkedin(), pool.checkedout()) == (1, 0)


async def test_a_cancelled_waiter_passes_a_connection_handed_to_it_on() -> None:
    pool = full_pool()
    held = await greenlet_spawn(pool.connect)
    first = asyncio.ensure_future(greenlet_spawn(pool.connect))
    second = asyncio.ensure_future(greenlet_spawn(pool.connect))
    await settle()
    await greenlet_spawn(held.close)  # handed to the first waiter ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    fairy = await second
    assert pool.checkedout() == 1
    await greenlet_spawn(fairy.close)
    assert (pool.checkedin(), pool.checkedout(), waiting(pool)) == (1, 0, 0)


async def test_a_waiter_cancelled_while_waiting_leaves_the_queue() -> None:
    pool = full_pool()
    held = await greenlet_spawn(pool.connect)
    waiter = asyncio.ensure_future(greenlet_spawn(pool.connect))
    await settle()
    assert waiting(pool) == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert waiting(pool) == 0
    await greenlet_spawn(held.close)
    assert (pool.checkedin(), pool.checkedout()) == (1, 0)


def test_idle_connections_newest_first_and_no_more_than_maxsize() -> None:
    queue = HandOffQueue(2, use_lifo=True)
    queue.put("a", False)
    queue.put_nowait("b")
    assert queue.full()
    with pytest.raises(QueueFull):
        queue.put_nowait("c")
    assert (queue.get(False), queue.get_nowait(), queue.qsize()) == ("b", "a", 0)
    assert HandOffQueue(0).full() is False  # 0: unbounded
    fifo = HandOffQueue(2)
    fifo.put_nowait("a")
    fifo.put_nowait("b")
    assert fifo.get(True) == "a"  # an idle one is taken without waiting
