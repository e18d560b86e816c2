"""What the read path sends to PostgreSQL: one statement per batch, nothing around it."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import event, text

from wren.db.engine import Database, create_engine
from wren.settings import Settings


async def test_a_read_is_one_statement_on_the_wire(settings: Settings) -> None:
    engine = create_engine(settings)
    sent: list[str] = []

    def log_queries(_dbapi_connection: Any, record: Any) -> None:
        record.driver_connection.add_query_logger(lambda r: sent.append(r.query))

    event.listen(engine.sync_engine, "connect", log_queries)
    db = Database(engine)
    try:
        for _ in range(3):  # the later reads reuse the pooled connection
            rows = await db.fetch(text("SELECT 1 AS one"))
            assert rows[0]["one"] == 1
    finally:
        await db.aclose()
        await engine.dispose()
    # The three reads and nothing around them (there was BEGIN; ; ROLLBACK; around each
    # pre-ping once).
    assert sent == ["SELECT 1 AS one"] * 3


async def test_a_read_on_a_connection_the_server_closed_runs_again_on_a_new_one(
    settings: Settings, database_url: str
) -> None:
    engine = create_engine(settings)
    backend = text("SELECT pg_backend_pid() AS pid")
    db = Database(engine)
    try:
        first = (await db.fetch(backend))[0]["pid"]
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            await admin.execute("SELECT pg_terminate_backend($1, 5000)", first)
        finally:
            await admin.close()
        # The pooled connection is dead: the read notices, drops it and runs on a new one.
        second = (await db.fetch(backend))[0]["pid"]
        assert second != first
        assert db.pool_counts() == (1, 0)  # the new one, idle (kept for the next read)
    finally:
        await db.aclose()
        await engine.dispose()
