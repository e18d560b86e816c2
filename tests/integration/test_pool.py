"""An exhausted pool answers with SERVICE_UNAVAILABLE in bounded time, not a hang or a 500."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import PG_BASE, gql
from wren.app import Resources, create_app
from wren.settings import Settings


@asynccontextmanager
async def one_connection_app(settings: Settings, **overrides: float) -> AsyncIterator[FastAPI]:
    """An app whose pool holds a single connection, its lifespan running."""
    tiny = settings.model_copy(update={"pool_size": 1, "max_overflow": 0, **overrides})
    application = create_app(tiny)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def tiny_pool_app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with one_connection_app(settings, pool_timeout=0.3) as application:
        yield application


async def test_no_connection_in_time_is_service_unavailable(tiny_pool_app: FastAPI) -> None:
    resources: Resources = tiny_pool_app.state.resources
    transport = httpx.ASGITransport(app=tiny_pool_app)
    async with (
        resources.db.engine.connect() as held,
        httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client,
    ):
        assert held is not None
        started = time.monotonic()
        body = await gql(client, "{ users(first: 1) { nodes { handle } } }")
        elapsed = time.monotonic() - started
    [error] = body["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    assert "Traceback" not in str(body)
    assert elapsed < 3

    # Once the connection is back, the same app serves normally.
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client:
        assert "errors" not in await gql(client, "{ users(first: 1) { nodes { handle } } }")


@pytest.fixture
async def refused_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app whose database role may open no connection: PostgreSQL says "too many"."""
    role = f"wren_refused_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_BASE + "/postgres")
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        url = settings.database_url
        assert url is not None
        refused = settings.model_copy(
            update={"database_url": url.replace("//postgres@", f"//{role}@", 1)}
        )
        application = create_app(refused)
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_too_many_connections_is_service_unavailable(refused_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=refused_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client:
        response = await client.post(
            "/graphql", json={"query": "{ users(first: 1) { nodes { handle } } }"}
        )
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert "too many" not in response.text.lower()


async def test_an_exhausted_pool_is_waited_for_once(settings: Settings) -> None:
    """The pool timeout, not the deadline, ends the request: nothing runs a second time.

    The timeouts keep the defaults' ratio (pool 5 s, deadline 10 s): an operation that
    waited for the pool again after its first wait would reach the deadline instead.
    """
    async with one_connection_app(settings, pool_timeout=1.0, execution_timeout=1.9) as application:
        resources: Resources = application.state.resources
        transport = httpx.ASGITransport(app=application)
        async with (
            resources.db.engine.connect() as held,
            httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client,
        ):
            assert held is not None
            started = time.monotonic()
            body = await gql(client, "{ users(first: 1) { nodes { handle } } }")
            elapsed = time.monotonic() - started
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert 1.0 <= elapsed < 1.0 + 0.8
