"""Redis killed, restarted and frozen under a running app: answers stay right, caching resumes."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deploy.redis import RedisProcess
from tests.conftest import gql
from tests.integration.cache_support import USER_QUERY, add_post, context_of, http, running
from wren.cache.invalidation import activity_changed
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

COOLDOWN = 0.3
ALICE_POSTS = 3


class RedisServer(RedisProcess):
    """A redis-server of the test's own, on a free port, without persistence."""

    async def start(self) -> None:
        """Run redis-server (again, on the same port) and wait until it answers."""
        self.spawn()
        await self.answering()

    def freeze(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGCONT)


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path, "")
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.thaw()
        server.kill()


@pytest.fixture
async def fragile(
    settings: Settings, app: FastAPI, redis_server: RedisServer
) -> AsyncIterator[FastAPI]:
    """An app whose cache is the test's own redis-server, quick to give up and retry."""
    update = {
        "redis_url": redis_server.url,
        "redis_timeout": 0.2,
        "cache_breaker_failures": 1,
        "cache_breaker_cooldown": COOLDOWN,
        "cache_report": True,
        "pool_size": 5,
    }
    async with running(settings.model_copy(update=update)) as application:
        yield application


async def alice(client: httpx.AsyncClient) -> tuple[int, dict[str, int], float]:
    """alice's post count as served, the cache counters, and the seconds it took."""
    started = time.monotonic()
    body: dict[str, Any] = await gql(client, USER_QUERY, {"handle": "alice"})
    took = time.monotonic() - started
    assert "errors" not in body, body
    data = body["data"]["userByHandle"]
    assert data["recommendedUsers"] == [{"handle": "dave"}]
    return data["stats"]["postCount"], body["extensions"]["cache"], took


async def until_cached(client: httpx.AsyncClient, posts: int) -> None:
    """Ask until the answer comes from the cache again (the breaker probes by itself)."""
    deadline = time.monotonic() + 10 * COOLDOWN + 5
    while time.monotonic() < deadline:
        count, cache, _ = await alice(client)
        assert count == posts
        if cache["hits"] == 2:
            return
        await asyncio.sleep(COOLDOWN / 3)
    raise AssertionError("caching did not resume")


async def test_killed_and_restarted_redis(
    fragile: FastAPI, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with http(fragile) as client:
        assert (await alice(client))[:2] == (ALICE_POSTS, _counts(misses=2, computed=2))
        assert (await alice(client))[:2] == (ALICE_POSTS, _counts(hits=2))

        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="wren.cache"):
            posts, cache, _ = await alice(client)
        assert posts == ALICE_POSTS
        assert cache["errors"] >= 1
        assert cache["computed"] == 2
        assert "Redis unavailable" in caplog.text
        # While the breaker is open, Redis is not even tried.
        for _ in range(3):
            posts, cache, took = await alice(client)
            assert (posts, cache["computed"], cache["errors"]) == (ALICE_POSTS, 2, 2)
            assert took < 1.0

        await redis_server.start()
        await until_cached(client, ALICE_POSTS)


async def test_frozen_redis_costs_a_timeout_and_a_write_meanwhile_is_not_lost(
    fragile: FastAPI, redis_server: RedisServer, database_url: str
) -> None:
    async with http(fragile) as client:
        await alice(client)
        assert (await alice(client))[:2] == (ALICE_POSTS, _counts(hits=2))

        redis_server.freeze()
        posts, cache, took = await alice(client)
        assert posts == ALICE_POSTS
        assert cache["errors"] >= 1
        assert took < 2.0
        # A write while Redis does not answer: its invalidation cannot reach Redis.
        await add_post(database_url, 1)
        await activity_changed(context_of(fragile), [1])
        assert (await alice(client))[0] == ALICE_POSTS + 1
        redis_server.thaw()

        # Redis kept alice's old stats: they must not come back.
        await until_cached(client, ALICE_POSTS + 1)


async def test_a_missed_invalidation_reaches_other_processes(
    fragile: FastAPI, redis_server: RedisServer, settings: Settings, database_url: str
) -> None:
    update = {"redis_url": redis_server.url, "cache_report": True, "pool_size": 5}
    async with running(settings.model_copy(update=update)) as other, http(other) as reader:
        async with http(fragile) as client:
            await alice(client)
        assert (await alice(reader))[:2] == (ALICE_POSTS, _counts(hits=2))
        redis_server.freeze()
        await add_post(database_url, 1)
        await activity_changed(context_of(fragile), [1])
        redis_server.thaw()
        # The writer drops the cache by itself once Redis answers (within a cooldown or two).
        deadline = time.monotonic() + 10 * COOLDOWN + 5
        while (await alice(reader))[0] == ALICE_POSTS:
            assert time.monotonic() < deadline, "the other process kept serving stale stats"
            await asyncio.sleep(COOLDOWN / 3)


def _counts(**nonzero: int) -> dict[str, int]:
    return {"hits": 0, "misses": 0, "computed": 0, "shared": 0, "errors": 0, **nonzero}
