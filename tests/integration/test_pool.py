"""An exhausted pool answers with SERVICE_UNAVAILABLE in bounded time, not a hang or a 500."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import gql
from wren.app import Resources, create_app
from wren.settings import Settings


@pytest.fixture
async def tiny_pool_app(settings: Settings) -> AsyncIterator[FastAPI]:
    tiny = settings.model_copy(update={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.3})
    application = create_app(tiny)
    async with application.router.lifespan_context(application):
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
