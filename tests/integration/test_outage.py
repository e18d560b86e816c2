"""A database outage, for real: the line to PostgreSQL cut and restored under the app.

What an operator and a client see: 503 with Retry-After (graphql-response+json; legacy
JSON keeps 200), one log line when the outage starts and one when it ends, whatever the
number of failed requests, and /readyz unready meanwhile while /healthz stays live.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.tcp_proxy import TcpProxy
from wren.app import create_app
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

QUERY = {"query": "{ posts(first: 2) { nodes { title } } }"}
MODERN = {"accept": "application/graphql-response+json"}


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient]]:
    """An app whose database is reached through a proxy the test can cut."""
    proxy = TcpProxy(5432)
    await proxy.start()
    url = settings.database_url
    assert url is not None
    assert "@127.0.0.1:5432/" in url
    cut = settings.model_copy(
        update={
            "database_url": url.replace(":5432/", f":{proxy.port}/"),
            "pool_size": 2,
            "pool_timeout": 1.0,
        }
    )
    application = create_app(cut)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                yield proxy, http
    finally:
        await proxy.cut()


async def test_an_outage_is_503_logged_once_and_unready(
    behind_proxy: tuple[TcpProxy, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, http = behind_proxy
    assert (await http.post("/graphql", json=QUERY, headers=MODERN)).status_code == 200
    assert (await http.get("/readyz")).json() == {
        "status": "ready",
        "database": "ok",
        "redis": "ok",
    }

    await proxy.cut()
    with caplog.at_level(logging.INFO, logger="wren.db"):
        failed = [await http.post("/graphql", json=QUERY, headers=MODERN) for _ in range(5)]
        legacy = await http.post("/graphql", json=QUERY)
        ready = await http.get("/readyz")
        live = await http.get("/healthz")
        await proxy.start()
        back = await http.post("/graphql", json=QUERY, headers=MODERN)

    for response in failed:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        body = response.json()
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"SERVICE_UNAVAILABLE"}
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert ready.status_code == 503
    assert ready.json()["database"] == "unavailable"
    assert live.status_code == 200
    assert back.status_code == 200
    assert "errors" not in back.json()

    lines = [r.getMessage() for r in caplog.records if r.name == "wren.db"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable, outage started: ")
    assert lines[1].startswith("database available again after ")
    assert "(7 failed statements)" in lines[1]  # five requests, one legacy one, /readyz
