"""Reads run as prepared statements kept per connection (db/prepared.py, wren._compat)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import text

from tests.integration.conftest import database
from wren import _compat
from wren.settings import Settings

NAMED = text("SELECT statement FROM pg_prepared_statements")


async def test_a_read_is_prepared_once_per_connection(settings: Settings) -> None:
    statement = text("SELECT CAST(:n AS integer) + 1 AS n")
    async with database(settings, pool_size=1) as db:
        assert [(await db.fetch(statement, {"n": n}))[0]["n"] for n in range(3)] == [1, 2, 3]
        named = [row["statement"] for row in await db.fetch(NAMED)]
    assert named.count("SELECT CAST($1 AS integer) + 1 AS n") == 1


async def test_a_read_whose_result_type_changed_is_prepared_again(
    settings: Settings, database_url: str
) -> None:
    table = f"kept_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await admin.execute(f"CREATE TABLE {table} (a integer)")
        await admin.execute(f"INSERT INTO {table} VALUES (7)")
        async with database(settings, pool_size=1) as db:
            read = text(f"SELECT * FROM {table}")
            assert (await db.fetch(read))[0]["a"] == 7
            await admin.execute(f"ALTER TABLE {table} ALTER a TYPE text")
            assert (await db.fetch(read))[0]["a"] == "7"
            assert (await db.fetch(read))[0]["a"] == "7"
    finally:
        await admin.execute(f"DROP TABLE IF EXISTS {table}")
        await admin.close()


async def test_without_a_statement_cache_no_statement_is_named(
    settings: Settings, database_url: str
) -> None:
    async with database(settings, f"{database_url}?statement_cache_size=0", pool_size=1) as db:
        for _ in range(2):
            assert (await db.fetch(text("SELECT 1 AS one")))[0]["one"] == 1
        assert await db.fetch(NAMED) == []


async def test_compat_runs_a_prepared_statement_on_a_plain_connection(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        assert _compat.plain_connection(conn)
        statement = await conn.prepare("SELECT $1::int * 2 AS n")
        rows: Any = await _compat.run_prepared(conn, statement, [21])
        assert [tuple(row) for row in rows] == [(42,)]
        conn.add_query_logger(lambda _record: None)
        assert not _compat.plain_connection(conn)
    finally:
        await conn.close()
    uncached = await asyncpg.connect(database_url.replace("+asyncpg", ""), statement_cache_size=0)
    try:
        assert not _compat.plain_connection(uncached)
    finally:
        await uncached.close()
