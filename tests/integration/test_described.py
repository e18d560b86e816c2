"""Reads behind a transaction pooler: asyncpg's behaviour described.py relies on, and its use."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from wren.db.engine import Database, create_engine
from wren.settings import Pooler, Settings


@pytest.fixture
async def uncached(database_url: str) -> Any:
    """A driver connection with asyncpg's statement cache off, as behind a pooler."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""), statement_cache_size=0)
    try:
        yield conn
    finally:
        await conn.close()


async def test_asyncpg_parses_an_unnamed_statement_again_at_every_execution(
    uncached: asyncpg.Connection,
) -> None:
    statement = await uncached.prepare("SELECT $1::int + 1 AS n")
    assert statement.get_name() == ""
    assert (await statement.fetch(1))[0]["n"] == 2
    # Another statement takes the connection's unnamed slot, as the next transaction on a
    # pooled server connection would hold someone else's. Were the kept statement only
    # bound, not parsed again, this would run the other statement or fail to bind.
    assert (await uncached.fetch("SELECT 'other' AS t, 2 AS u"))[0]["t"] == "other"
    assert (await statement.fetch(41))[0]["n"] == 42
    await uncached.execute("DEALLOCATE ALL")
    assert (await statement.fetch(9))[0]["n"] == 10


async def test_a_cached_connection_gets_named_statements(database_url: str) -> None:
    # What described.py refuses: with the cache on, prepare() names the statement.
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        assert (await conn.prepare("SELECT 1")).get_name() != ""
    finally:
        await conn.close()


def transaction_settings(settings: Settings) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        **{**settings.model_dump(), "database_pooler": Pooler.TRANSACTION, "pool_size": 1},
    )


async def test_a_read_is_described_once_per_connection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    described: list[str] = []
    prepare = asyncpg.Connection.prepare

    async def counting_prepare(self: asyncpg.Connection, query: str, **kwargs: Any) -> Any:
        described.append(query)
        return await prepare(self, query, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "prepare", counting_prepare)
    engine = create_engine(transaction_settings(settings))
    db = Database(engine, pooler=Pooler.TRANSACTION)
    try:
        statement = text("SELECT CAST(:n AS integer) AS n")
        for n in range(3):
            assert (await db.fetch(statement, {"n": n}))[0]["n"] == n
        named = await db.fetch(text("SELECT name FROM pg_prepared_statements"))
    finally:
        await db.aclose()
        await engine.dispose()
    assert described.count("SELECT CAST($1 AS integer) AS n") == 1
    assert named == []


async def test_a_connection_with_named_statements_is_refused(settings: Settings) -> None:
    # An engine built without the pooler setting, read as if behind a pooler.
    engine = create_engine(settings)
    db = Database(engine, pooler=Pooler.TRANSACTION)
    try:
        with pytest.raises(RuntimeError, match="statement_cache_size=0"):
            await db.fetch(text("SELECT 1 AS one"))
    finally:
        await db.aclose()
        await engine.dispose()


async def test_a_read_on_a_closed_connection_describes_again_on_a_new_one(
    settings: Settings, database_url: str
) -> None:
    engine = create_engine(transaction_settings(settings))
    backend = text("SELECT pg_backend_pid() AS pid")
    db = Database(engine, pooler=Pooler.TRANSACTION)
    try:
        first = (await db.fetch(backend))[0]["pid"]
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            await admin.execute("SELECT pg_terminate_backend($1, 5000)", first)
        finally:
            await admin.close()
        # The statement kept for the dead connection is not used on the new one.
        second = (await db.fetch(backend))[0]["pid"]
        assert second != first
        assert (await db.fetch(backend))[0]["pid"] == second
    finally:
        await db.aclose()
        await engine.dispose()
