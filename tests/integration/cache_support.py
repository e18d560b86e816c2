"""Helpers of the cache tests: more app instances ("processes"), their statements, writes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from tests.conftest import gql
from wren.app import Resources, create_app
from wren.context import Context
from wren.settings import Settings

# The cached fields of one user, and enough of the rest to see them.
USER_QUERY = """
query($handle: String!) {
  userByHandle(handle: $handle) {
    handle
    stats { postCount commentCount followerCount followingCount likesReceived engagementScore }
    recommendedUsers(first: 5) { handle }
  }
}
"""
STATS_QUERY = "query($handle: String!) { userByHandle(handle: $handle) { stats { postCount } } }"
# The statements that compute the cached fields (db/queries.py).
COMPUTING = ("AS post_count", "AS score")


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another application instance with its own pool and Redis client: another process."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client of one app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client:
        yield client


async def user(client: httpx.AsyncClient, handle: str, query: str = USER_QUERY) -> dict[str, Any]:
    """One user's cached fields, asserting the response carries no error."""
    body = await gql(client, query, {"handle": handle})
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["userByHandle"]
    return found


def resources_of(app: FastAPI) -> Resources:
    """What an app's lifespan opened."""
    res: Resources = app.state.resources
    return res


def context_of(app: FastAPI) -> Context:
    """A request context of an app, as a mutation would have one."""
    res = resources_of(app)
    settings: Settings = app.state.settings
    return Context(settings=settings, db=res.db, store=res.cache, accounts=res.accounts)


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement one app sends while the block runs."""
    sent: list[str] = []

    def record(statement: str, _parameters: Sequence[Any]) -> None:
        sent.append(statement)

    with resources_of(app).db.watching(record):
        yield sent


def computing(sent: list[str]) -> list[str]:
    """The statements that computed stats or recommendations."""
    return [s for s in sent if any(marker in s for marker in COMPUTING)]


async def execute(database_url: str, statement: str, *args: Any) -> None:
    """A committed write, as the write path would make it."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def add_post(database_url: str, author_id: int) -> None:
    """A new post by the user."""
    await execute(
        database_url,
        "INSERT INTO posts (author_id, title, body, created_at) VALUES ($1, 'New', 'Body', $2)",
        author_id,
        datetime(2025, 2, 20, tzinfo=UTC),
    )
