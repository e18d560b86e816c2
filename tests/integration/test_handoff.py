"""Reads waiting for the full pool get its connections in the order they asked for them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, text

from tests.integration.conftest import database
from wren.settings import Settings

NUMBER = text("SELECT CAST(:n AS int) AS n")


async def test_waiting_reads_are_served_in_arrival_order(settings: Settings) -> None:
    """A read arriving while a returned connection is on its way to the oldest waiter waits
    behind it: with one connection, reads finish in the order they arrived, although one
    newcomer arrives at each connection's return (the moment it could take it first)."""
    async with database(settings, pool_size=1, max_overflow=0) as db:
        finished: list[int] = []
        tasks: list[asyncio.Task[None]] = []

        async def read(n: int) -> None:
            rows = await db.fetch(NUMBER, {"n": n})
            finished.append(rows[0]["n"])

        def arrive() -> None:
            # Each read starts its checkout in its task's first step, in creation order.
            tasks.append(asyncio.get_running_loop().create_task(read(len(tasks))))

        def returned(*_: Any) -> None:
            if len(tasks) < 12:
                arrive()

        event.listen(db.engine.sync_engine.pool, "checkin", returned)
        for _ in range(3):  # one holds the connection, two wait for it
            arrive()
        while len(finished) < 12:
            await asyncio.gather(*tasks)
        assert finished == list(range(12))
        # Nothing is left waiting or checked out but the connection kept for the next read.
        pool = db.engine.sync_engine.pool
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
        assert db.pool_counts() == (1, 0)
