"""The migrated database matches the table models and the storage contract."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import CONTRACT
from wren.db.tables import metadata


async def test_models_match_the_migrations(database_url: str) -> None:
    """Alembic finds nothing to autogenerate: db/tables.py and the migrations agree."""
    engine = create_async_engine(database_url, poolclass=NullPool)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_contract_columns_and_types(database_url: str) -> None:
    """Every table and column of tables.sql exists with the same type and nullability."""
    contract = (CONTRACT / "tables.sql").read_text()
    expected: dict[tuple[str, str], tuple[str, bool]] = {}
    for table, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", contract, re.S):
        for line in body.strip().splitlines():
            match = re.match(r"\s*(\w+)\s+(bigint|text|timestamptz)\b(.*)", line)
            if match:
                name, kind, rest = match.groups()
                expected[(table, name)] = (kind, "NOT NULL" in rest or "PRIMARY KEY" in rest)
    assert len(expected) == 22
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    names = {"bigint": "bigint", "text": "text", "timestamp with time zone": "timestamptz"}
    actual: dict[tuple[str, str], Any] = {
        (r["table_name"], r["column_name"]): (
            names.get(r["data_type"], r["data_type"]),
            r["is_nullable"] == "NO",
        )
        for r in rows
    }
    assert {key: actual.get(key) for key in expected} == expected
