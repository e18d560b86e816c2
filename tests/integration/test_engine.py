"""What the read path sends to PostgreSQL: one statement per batch, nothing around it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from wren.db.engine import Database, create_engine
from wren.settings import Settings


async def test_a_read_is_one_statement_on_the_wire(settings: Settings) -> None:
    engine = create_engine(settings)
    sent: list[str] = []

    def log_queries(_dbapi_connection: Any, record: Any) -> None:
        record.driver_connection.add_query_logger(lambda r: sent.append(r.query))

    event.listen(engine.sync_engine, "connect", log_queries)
    try:
        db = Database(engine)
        for _ in range(3):  # the later reads reuse the pooled connection
            rows = await db.fetch(text("SELECT 1 AS one"))
            assert rows[0].one == 1
    finally:
        await engine.dispose()
    # The reads run as prepared statements, which asyncpg's query logger does not report;
    # anything else shows here (it did: BEGIN; ; ROLLBACK; around each pre-ping).
    assert sent == []
