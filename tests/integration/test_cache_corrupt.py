"""An entry in Redis that does not decode is a miss: recomputed, overwritten, logged once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from tests.integration.cache_support import (
    USER_QUERY,
    computing,
    resources_of,
    statements,
    user,
)
from tests.integration.world import USERS
from wren.cache.codec import RecommendationsCodec, StatsCodec
from wren.cache.keys import Keys, Kind, slot_group
from wren.db.loaders import UserStatsRow

pytestmark = pytest.mark.usefixtures("small_world")

ALICE = {
    "handle": "alice",
    "stats": {
        "postCount": 3,
        "commentCount": 1,
        "followerCount": 2,
        "followingCount": 2,
        "likesReceived": 4,
        "engagementScore": 4.0,
    },
    "recommendedUsers": [{"handle": "dave"}],
}
# posts, comments, followers, following, likes received, comments received
ALICE_STATS = UserStatsRow(3, 1, 2, 2, 4, 4)

GARBAGE = [
    b"\x00\xff not json",  # orjson.JSONDecodeError
    b"",  # an empty string
    b"[3, 1, 2, 2, 4, 5",  # cut short
    b"[3, 1, 2]",  # JSON of another shape
    b'{"postCount": 3}',
    b"42",
]


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def value_key(redis: Redis, keys: Keys, kind: Kind, user_id: int) -> str:
    """The key the current value of one entry lives under (layout of cache/keys.py)."""
    epoch = await redis.get(keys.epoch(slot_group(user_id)))
    generation = await redis.get(keys.generation(kind, user_id))
    assert epoch is not None
    assert generation is not None
    return keys.value(kind, user_id, f"{epoch.decode()}.{generation.decode()}")


def undecodable(caplog: pytest.LogCaptureFixture, key: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if key in r.getMessage()]


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_an_undecodable_stats_entry_is_recomputed_and_overwritten(
    app: FastAPI,
    client: httpx.AsyncClient,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
) -> None:
    keys = resources_of(app).cache.keys
    assert await user(client, "alice") == ALICE  # cached now
    key = await value_key(redis, keys, Kind.STATS, USERS["alice"])
    assert StatsCodec().decode(await redis.get(key) or b"") == ALICE_STATS
    await redis.set(key, garbage, keepttl=True)

    caplog.set_level(logging.WARNING, logger="wren")
    with statements(app) as sent:
        first = await user(client, "alice")
    with statements(app) as again:
        second = await user(client, "alice")
    assert first == second == ALICE
    # Computed once (the stats statement), then served from the overwritten entry.
    assert [s for s in computing(sent) if "AS post_count" in s] != []
    assert computing(again) == []
    assert StatsCodec().decode(await redis.get(key) or b"") == ALICE_STATS
    assert await redis.pttl(key) > 0
    [logged] = undecodable(caplog, key)
    assert logged.levelno == logging.WARNING
    assert "stats" in logged.getMessage()


async def test_concurrent_reads_of_an_undecodable_entry_log_it_once(
    app: FastAPI, client: httpx.AsyncClient, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    keys = resources_of(app).cache.keys
    await user(client, "alice")
    key = await value_key(redis, keys, Kind.STATS, USERS["alice"])
    await redis.set(key, b"garbage", keepttl=True)
    caplog.set_level(logging.WARNING, logger="wren")
    # Twenty requests read the entry in the same Redis round trip, before any overwrite.
    answers = await asyncio.gather(*(user(client, "alice") for _ in range(20)))
    assert answers == [ALICE] * 20
    assert len(undecodable(caplog, key)) == 1
    assert StatsCodec().decode(await redis.get(key) or b"") == ALICE_STATS


async def test_an_undecodable_recommendations_entry_is_recomputed(
    app: FastAPI, client: httpx.AsyncClient, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    keys = resources_of(app).cache.keys
    await user(client, "alice", USER_QUERY)
    key = await value_key(redis, keys, Kind.RECOMMENDATIONS, USERS["alice"])
    await redis.set(key, b'[[4], "not a list of users"]', keepttl=True)
    caplog.set_level(logging.WARNING, logger="wren")
    assert await user(client, "alice") == ALICE
    stored = RecommendationsCodec().decode(await redis.get(key) or b"")
    assert stored.ids == [USERS["dave"]]
    assert len(undecodable(caplog, key)) == 1
