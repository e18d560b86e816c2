"""Shared fixtures: a throwaway PostgreSQL database per run, migrated once; the real app."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from deploy import local
from deploy.local import free_port as free_port  # for the tests' servers
from wren.app import Resources, create_app
from wren.db.migrate import migrate
from wren.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contract"
PG_BASE = os.environ.get("WREN_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("WREN_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_BASE}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new database migrated with Alembic, dropped on exit; yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = f"postgresql+asyncpg://{PG_BASE.split('://', 1)[1]}/{name}"
        migrate(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this run, migrated with Alembic, dropped afterwards."""
    with throwaway_database("wren_test") as url:
        yield url


@pytest.fixture(scope="session")
def cache_namespace() -> str:
    """Cache keys of this run: the Redis is shared with other runs, never flushed."""
    return f"wren-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def settings(database_url: str, cache_namespace: str) -> Settings:
    """Settings of the app under test: the throwaway database and the real Redis."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        redis_url=REDIS_URL,
        cache_namespace=cache_namespace,
        # The test machine is small and shared: one slow cache call must not open the
        # circuit breaker under an unrelated test. The outage tests set short timeouts.
        redis_timeout=2.0,
        # Persisted documents live under the run's namespace: dropped with its cache keys.
        persisted_query_ttl=600,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, cache_namespace: str) -> AsyncIterator[FastAPI]:
    """The real application, its lifespan running (real pool, real loaders)."""
    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await drop_keys(REDIS_URL, cache_namespace)


async def drop_keys(redis_url: str, namespace: str) -> None:
    """Delete this run's cache keys (only those: the server is shared)."""
    redis = Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await redis.unlink(*batch)
                batch.clear()
        if batch:
            await redis.unlink(*batch)
    finally:
        await redis.aclose()


@pytest.fixture(scope="session")
def resources(app: FastAPI) -> Resources:
    """The engine and Redis client the app opened."""
    res: Resources = app.state.resources
    return res


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as http:
        yield http


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> None:
    """Integration tests start from empty tables and an empty cache."""
    if "database_url" not in request.fixturenames:
        return
    if "app" in request.fixturenames:
        resources: Resources = request.getfixturevalue("resources")
        assert await resources.cache.bump_epoch()
        # Failed log-ins of earlier tests (all from 127.0.0.1) must not lock this one out.
        throttle = resources.accounts.throttle
        namespace = request.getfixturevalue("cache_namespace")
        keys = [k async for k in resources.redis.scan_iter(match=f"{namespace}:auth:*")]
        if keys:
            await resources.redis.unlink(*keys)
        throttle.local = type(throttle.local)(throttle.policy, time.time)
    url = request.getfixturevalue("database_url").replace("+asyncpg", "")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "TRUNCATE users, posts, comments, follows, likes RESTART IDENTITY CASCADE"
        )
    finally:
        await conn.close()


class StatementLog:
    """SQL statements the app's engine executed while recording."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)

    def clear(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql(resources: Resources) -> Iterator[StatementLog]:
    """Record every statement sent through the app's engine."""
    log = StatementLog()

    def record(statement: str, _parameters: Sequence[Any]) -> None:
        log.statements.append(statement)

    with resources.db.watching(record):
        yield log


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    **headers: str,
) -> dict[str, Any]:
    """POST a GraphQL request and return the decoded response body, less `extensions.cost`."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    # Every executed operation reports its estimated cost (tests/http check it); the
    # callers compare the rest.
    extensions = body["extensions"]
    assert extensions.pop("cost")["estimated"] >= 0
    if not extensions:
        del body["extensions"]
    return body


def missing_tool(error: Exception) -> NoReturn:
    """A program a test starts is not installed: a skip here, a failure in CI (whose
    .ci/packages lists it)."""
    if os.environ.get("CI"):
        pytest.fail(f"{error}: .ci/packages lists it")
    pytest.skip(str(error))


def require(program: str, package: str | None = None) -> str:
    """The path of a program a test needs (see missing_tool when it is not installed)."""
    try:
        return local.executable(program, package)
    except local.ToolsMissing as missing:
        missing_tool(missing)


def timeline_statements(settings: Settings) -> int:
    """Timeline's SQL statements: on the fast path one, the posts page with everything below
    it rendered by PostgreSQL (db/rendered.py); graphql-core sends posts with authors, like
    counts, comment pages and their totals."""
    return 1 if settings.compiled_queries else 4


def operation(name: str) -> str:
    """The text of a contract operation."""
    return (CONTRACT / "operations" / f"{name}.graphql").read_text()
