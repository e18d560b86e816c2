"""The fast path and graphql-core give identical answers, through the whole pipeline.

Two apps over the same database and cache, one with WREN_COMPILED_QUERIES on and one
with it off, answer the contract's operations and generated queries (hypothesis over
the served schema) byte for byte alike, errors included (request ids and error order
aside: the specification leaves the order open).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis_graphql import queries

from tests.conftest import operation
from tests.integration.world import USERS, post_cursor
from tests.sessions import session_token
from wren.app import create_app
from wren.schema import build_schema, sdl
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

SDL = sdl(build_schema())


@pytest.fixture(scope="module")
async def pair(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Clients of a compiled app and a graphql-core app, sharing database and cache."""
    async with _client(settings, compiled=True) as fast, _client(settings, compiled=False) as core:
        yield fast, core


class _client:  # noqa: N801 - used as a context manager, like a function
    def __init__(self, settings: Settings, *, compiled: bool) -> None:
        self.app = create_app(
            settings.model_copy(update={"compiled_queries": compiled, "pool_size": 4})
        )

    async def __aenter__(self) -> httpx.AsyncClient:
        self.lifespan = self.app.router.lifespan_context(self.app)
        await self.lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://wren.test")
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.lifespan.__aexit__(None, None, None)


def _normal(response: httpx.Response) -> tuple[int, Any]:
    """Status and body, with request ids dropped and errors in a stable order."""
    body = response.json()
    errors = body.get("errors")
    if errors:
        for error in errors:
            error.get("extensions", {}).pop("requestId", None)
        body["errors"] = sorted(errors, key=lambda e: json.dumps(e, sort_keys=True))
    return response.status_code, body


async def _both(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient],
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[tuple[int, Any], tuple[int, Any]]:
    payload = {"query": query, "variables": variables or {}}
    fast, core = pair
    first = _normal(await fast.post("/graphql", json=payload, headers=headers))
    second = _normal(await core.post("/graphql", json=payload, headers=headers))
    return first, second


CONTRACT_READS: list[tuple[str, dict[str, Any]]] = [
    ("Timeline", {"first": 3}),
    ("Timeline", {"first": 2, "after": post_cursor(3)}),
    ("Timeline", {"first": 101}),
    ("Timeline", {"first": 2, "after": "not a cursor"}),
    ("Directory", {"first": 4}),
    ("Directory", {"first": -1}),
    ("UserByHandle", {"handle": "alice"}),
    ("UserByHandle", {"handle": "nobody"}),
    ("Profile", {"handle": "alice"}),
    ("Profile", {"handle": "bob"}),
    ("Leaderboard", {"first": 4}),
    ("Leaderboard", {"first": 0}),
]


@pytest.mark.parametrize(("name", "variables"), CONTRACT_READS)
async def test_contract_reads_agree(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], name: str, variables: dict[str, Any]
) -> None:
    fast, core = await _both(pair, operation(name), variables)
    assert fast == core


async def test_feed_agrees_for_a_viewer(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], settings: Settings
) -> None:
    headers = {"authorization": f"Bearer {session_token(settings, USERS['alice'])}"}
    fast, core = await _both(pair, operation("Feed"), {"first": 5}, headers)
    assert fast == core
    assert fast[1]["data"]["feed"]["nodes"]


@hypothesis_settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=queries(SDL, fields=["users", "posts", "user", "userByHandle", "post"]))
async def test_generated_queries_agree(
    pair: tuple[httpx.AsyncClient, httpx.AsyncClient], query: str
) -> None:
    """Any query over the read fields: the same status, data and errors on both paths."""
    fast, core = await _both(pair, query)
    assert fast == core
