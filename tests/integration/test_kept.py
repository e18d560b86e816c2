"""Connections kept between reads: reused without a checkout, and the pool's settings kept."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import event, text

from tests.integration.conftest import database
from wren.db import kept
from wren.db.engine import Database
from wren.settings import Settings

BACKEND = text("SELECT pg_backend_pid() AS pid")


def checkouts(db: Database) -> list[int]:
    """A list that grows by one at each checkout from the primary's pool."""
    seen: list[int] = []
    event.listen(db.engine.sync_engine.pool, "checkout", lambda *_: seen.append(1))
    return seen


async def pid(db: Database) -> int:
    return int((await db.fetch(BACKEND))[0]["pid"])


async def test_consecutive_reads_check_out_once(settings: Settings) -> None:
    async with database(settings, pool_size=2) as db:
        seen = checkouts(db)
        pids = {await pid(db) for _ in range(5)}
        assert len(pids) == 1
        assert seen == [1]
        # Kept, it is counted idle (the pool itself counts it checked out).
        assert db.pool_counts() == (1, 0)
        assert db.engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]


async def test_concurrent_reads_each_have_their_own_connection(settings: Settings) -> None:
    async with database(settings, pool_size=3) as db:
        seen = checkouts(db)
        sleep = text("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)")
        rows = await asyncio.gather(*(db.fetch(sleep) for _ in range(3)))
        assert len({r[0]["pid"] for r in rows}) == 3
        assert db.pool_counts() == (3, 0)
        # The next three reuse the three kept ones.
        rows = await asyncio.gather(*(db.fetch(sleep) for _ in range(3)))
        assert len(seen) == 3


async def test_an_idle_connection_goes_back_to_the_pool(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "KEEP_IDLE", 0.05)
    async with database(settings, pool_size=2) as db:
        await pid(db)
        pool = db.engine.sync_engine.pool
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        assert pool.checkedin() == 1  # type: ignore[attr-defined]
        assert db.pool_counts() == (1, 0)


async def test_a_write_does_not_wait_for_a_connection_a_read_keeps(settings: Settings) -> None:
    # One connection in all, kept by the read: the transaction gets it back at once
    # instead of waiting pool_timeout for it.
    async with database(settings, pool_size=1, max_overflow=0, pool_timeout=0.5) as db:
        first = await pid(db)
        started = time.monotonic()
        async with db.transaction() as conn:
            written = (await conn.execute(BACKEND)).scalar_one()
        assert time.monotonic() - started < 0.4
        assert written == first
        assert await pid(db) == first


async def test_a_connection_past_pool_recycle_is_renewed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "KEEP_IDLE", 60.0)
    async with database(settings, pool_size=1, pool_recycle=1) as db:
        first = await pid(db)
        await asyncio.sleep(1.2)
        assert await pid(db) != first


async def test_an_invalidated_pool_renews_kept_connections(settings: Settings) -> None:
    async with database(settings, pool_size=1) as db:
        first = await pid(db)
        await asyncio.sleep(0.02)  # the invalidation must come after the connection's start
        db.engine.sync_engine.pool._invalidate(None)  # type: ignore[attr-defined]
        assert await pid(db) != first


async def test_with_pre_ping_nothing_is_kept(settings: Settings) -> None:
    async with database(settings, pool_size=2, pool_pre_ping=True) as db:
        seen = checkouts(db)
        for _ in range(3):
            await pid(db)
        await asyncio.sleep(0)  # the checkin's task
        assert len(seen) == 3
        assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_aclose_checks_every_kept_connection_in(settings: Settings) -> None:
    async with database(settings, pool_size=2) as db:
        await pid(db)
        await db.aclose()
        assert db.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_reads_waiting_for_a_full_pool_get_the_connection_in_turn(
    settings: Settings,
) -> None:
    # One connection, six reads at once: each read done checks it in for the next one
    # waiting instead of keeping it, and a transaction waiting too gets it in turn.
    async with database(settings, pool_size=1, max_overflow=0, pool_timeout=2.0) as db:
        sleep = text("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)")

        async def write() -> int:
            async with db.transaction() as conn:
                return int((await conn.execute(BACKEND)).scalar_one())

        started = time.monotonic()
        *rows, written = await asyncio.gather(*(db.fetch(sleep) for _ in range(6)), write())
        assert time.monotonic() - started < 1.5
        assert len({r[0]["pid"] for r in rows} | {written}) == 1


async def test_nothing_is_kept_on_a_pool_that_cannot_tell_its_waiters(settings: Settings) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    assert settings.database_url is not None
    plain = create_async_engine(settings.database_url, poolclass=AsyncAdaptedQueuePool)
    assert not kept.KeptConnections(plain.sync_engine).enabled
    async with database(settings) as db:
        assert kept.KeptConnections(db.engine.sync_engine).enabled
    await plain.dispose()
