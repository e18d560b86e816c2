"""The execution deadline: a slow operation is answered in time and its SQL cancelled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from tests.http.conftest import serving
from wren.app import Resources
from wren.settings import Settings


async def sleeping_queries(database_url: str) -> int:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND state = 'active'"
            " AND query LIKE 'SELECT pg_sleep%'"
        )
        return count
    finally:
        await conn.close()


async def test_deadline_cancels_running_sql(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(settings, execution_timeout=0.5) as (app, http):
        resources: Resources = app.state.resources
        fetch = resources.db.fetch

        async def slow(statement: Any, params: Any = None) -> Any:
            await fetch(text("SELECT pg_sleep(30)"))
            return await fetch(statement, params)

        monkeypatch.setattr(resources.db, "fetch", slow)
        started = time.monotonic()
        response = await http.post(
            "/graphql", json={"query": "{ users(first: 1) { nodes { handle } } }"}
        )
        assert time.monotonic() - started < 3
        assert response.status_code == 504
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "DEADLINE_EXCEEDED"
        assert "data" not in body
        for _ in range(50):
            if await sleeping_queries(database_url) == 0:
                break
            await asyncio.sleep(0.1)
        assert await sleeping_queries(database_url) == 0
