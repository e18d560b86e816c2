"""User.stats and User.recommendedUsers through the Redis cache, against the small world."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import gql, operation
from tests.integration.cache_support import (
    STATS_QUERY,
    add_post,
    computing,
    context_of,
    execute,
    http,
    resources_of,
    running,
    statements,
    user,
)
from wren.cache.codec import StatsCodec
from wren.cache.counters import CacheCounters
from wren.cache.invalidation import activity_changed, follows_changed
from wren.cache.keys import Kind
from wren.cache.loader import CachedBatch
from wren.db import loaders as loaders_module
from wren.db.loaders import Loaders, UserStatsRow
from wren.settings import Environment, Settings

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


RECOMMENDED = (
    "query($handle: String!) { userByHandle(handle: $handle) {"
    " recommendedUsers(first: FIRST) { handle } } }"
)

# Small pools: the PostgreSQL server is shared with other test runs.
REPORTING = {"cache_report": True, "pool_size": 5}


@pytest.fixture(scope="module")
async def reporting(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """An app that reports its cache counters in `extensions.cache` (beside `app`, whose
    fixture empties the shared cache between tests)."""
    async with running(settings.model_copy(update=REPORTING)) as application:
        yield application


@pytest.fixture(scope="module")
async def other(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """A second server process on the same database and Redis."""
    async with running(settings.model_copy(update=REPORTING)) as application:
        yield application


def counts(body: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = body["extensions"]["cache"]
    return found


async def test_cold_then_warm_profile_is_exact_and_warm_runs_no_computation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    with statements(app) as cold:
        assert await user(client, "alice") == ALICE
    with statements(app) as warm:
        assert await user(client, "alice") == ALICE
    assert len(computing(cold)) == 2
    assert computing(warm) == []
    # userByHandle only: the recommendations entry carries the users it shows.
    assert len(warm) == 1, warm


async def test_warm_leaderboard_is_exact_and_makes_no_sql_for_cached_fields(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    cold = await gql(client, operation("Leaderboard"), {"first": 4})
    with statements(app) as sent:
        warm = await gql(client, operation("Leaderboard"), {"first": 4})
    assert warm == cold
    assert [n["recommendedUsers"] for n in warm["data"]["users"]["nodes"]] == [
        [{"handle": "dave"}],
        [{"handle": "alice"}],
        [{"handle": "bob"}],
        [{"handle": "bob"}, {"handle": "carol"}],
    ]
    # The users page only.
    assert computing(sent) == []
    assert len(sent) == 1, sent


async def test_one_round_trip_per_field_for_the_whole_page(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = resources_of(app).cache
    calls = 0
    real = store._call

    async def counted(operation: Any, call: str) -> Any:
        nonlocal calls
        calls += 1
        return await real(operation, call)

    monkeypatch.setattr(store, "_call", counted)
    await gql(client, operation("Leaderboard"), {"first": 4})
    # One read for the entries of both fields; then per field: claim the misses, store them.
    assert calls == 5
    calls = 0
    await gql(client, operation("Leaderboard"), {"first": 4})
    assert calls == 1


async def test_counters_in_the_response(reporting: FastAPI) -> None:
    async with http(reporting) as client:
        cold = await gql(client, operation("Leaderboard"), {"first": 4})
        warm = await gql(client, operation("Leaderboard"), {"first": 4})
    assert counts(cold) == {"hits": 0, "misses": 8, "computed": 8, "shared": 0, "errors": 0}
    assert counts(warm) == {"hits": 8, "misses": 0, "computed": 0, "shared": 0, "errors": 0}


async def test_stats_invalidation_shows_on_the_next_read_in_both_processes(
    app: FastAPI, other: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    async with http(other) as second:
        assert await user(client, "alice") == ALICE
        for c in (client, second):
            assert (await user(c, "bob"))["stats"]["postCount"] == 1
            assert (await user(c, "bob"))["stats"]["postCount"] == 1  # cached now
        await add_post(database_url, 2)
        await activity_changed(context_of(app), [2])
        for c in (second, client):
            stats = (await user(c, "bob"))["stats"]
            # (1 like + 2 x 1 comment received) / 2 posts
            assert (stats["postCount"], stats["engagementScore"]) == (2, 1.5)
        # Untouched users stay cached.
        with statements(other) as sent:
            assert await user(second, "alice") == ALICE
        assert computing(sent) == []


async def test_follow_invalidates_both_users_and_the_followers_of_the_follower(
    app: FastAPI, other: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await execute(
        database_url,
        "INSERT INTO users (id, handle, display_name, password_hash)"
        " VALUES (5, 'erin', 'Erin', 'x')",
    )
    before = {h: await user(client, h) for h in ("bob", "carol", "dave", "erin")}
    assert [u["handle"] for u in before["bob"]["recommendedUsers"]] == ["alice"]
    await execute(database_url, "INSERT INTO follows (follower_id, followee_id) VALUES (4, 5)")
    await follows_changed(context_of(app), 4, 5)
    async with http(other) as second:
        after = {h: await user(second, h) for h in ("bob", "carol", "dave", "erin")}
    # bob and carol follow dave, who now follows erin.
    assert [u["handle"] for u in after["bob"]["recommendedUsers"]] == ["alice", "erin"]
    assert [u["handle"] for u in after["carol"]["recommendedUsers"]] == ["bob", "erin"]
    assert [u["handle"] for u in after["dave"]["recommendedUsers"]] == ["bob", "carol"]
    assert after["dave"]["stats"]["followingCount"] == 2
    assert after["erin"]["stats"]["followerCount"] == 1
    # Unfollowing is the same event.
    await execute(database_url, "DELETE FROM follows WHERE follower_id = 4 AND followee_id = 5")
    await follows_changed(context_of(other), 4, 5)
    assert await user(client, "bob") == before["bob"]
    assert await user(client, "erin") == before["erin"]


async def test_a_computation_from_before_a_write_is_never_served_after_it(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    resources = resources_of(app)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(ids: list[int]) -> list[UserStatsRow]:
        # Reads its snapshot, then is overtaken by a write and its invalidation.
        values: list[UserStatsRow] = await Loaders(resources.db).stats.load_many(ids)
        started.set()
        await release.wait()
        return values

    batch = CachedBatch(resources.cache, Kind.STATS, StatsCodec(), slow, CacheCounters())
    reading = asyncio.ensure_future(batch([2]))
    await started.wait()
    await add_post(database_url, 2)
    await activity_changed(context_of(app), [2])
    release.set()
    assert (await reading)[0].post_count == 1  # that request began before the write
    # It stored its value under the old stamp: every later read sees the write.
    assert (await user(client, "bob"))["stats"]["postCount"] == 2
    with statements(app) as sent:
        assert (await user(client, "bob"))["stats"]["postCount"] == 2
    assert computing(sent) == []


async def test_bumping_the_epoch_drops_every_entry(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    assert await user(client, "alice") == ALICE
    await execute(database_url, "DELETE FROM posts WHERE id = 1")
    await context_of(app).cache.store.bump_epoch()  # what `wren seed` does after its rows
    stats = (await user(client, "alice"))["stats"]
    # Post 1 took its 3 likes and 4 comments along; bob's comment 5 is on post 3.
    assert (stats["postCount"], stats["likesReceived"], stats["engagementScore"]) == (2, 1, 0.5)


async def test_fifty_concurrent_misses_compute_once(reporting: FastAPI) -> None:
    async with http(reporting) as client:
        bodies = await asyncio.gather(
            *(gql(client, STATS_QUERY, {"handle": "alice"}) for _ in range(50))
        )
    assert [b for b in bodies if "errors" in b] == []
    assert all(b["data"]["userByHandle"]["stats"]["postCount"] == 3 for b in bodies)
    total = CacheCounters()
    for body in bodies:
        total.add(CacheCounters(**counts(body)))
    assert total.errors == 0
    assert total.computed == 1
    assert total.hits + total.shared == 49


async def test_fifty_concurrent_misses_in_two_processes_compute_once(
    reporting: FastAPI, other: FastAPI
) -> None:
    async with http(reporting) as first, http(other) as second:
        bodies = await asyncio.gather(
            *(gql(c, STATS_QUERY, {"handle": "carol"}) for c in [first, second] * 25)
        )
    assert [b for b in bodies if "errors" in b] == []
    assert all(b["data"]["userByHandle"]["stats"]["postCount"] == 1 for b in bodies)
    assert sum(counts(b)["errors"] for b in bodies) == 0
    assert sum(counts(b)["computed"] for b in bodies) == 1


async def test_a_request_that_wrote_reads_its_own_write(app: FastAPI, database_url: str) -> None:
    context = context_of(app)
    assert (await context.cache.stats.load(2)).post_count == 1
    await add_post(database_url, 2)
    await activity_changed(context, [2])
    context.reset_loaders()
    assert (await context.cache.stats.load(2)).post_count == 2
    assert context.cache.counters.computed == 2


async def test_a_failed_computation_leaves_no_one_waiting(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def broken(ids: list[int]) -> list[UserStatsRow]:
        raise RuntimeError("the database went away")

    store = resources_of(app).cache
    batch = CachedBatch(store, Kind.STATS, StatsCodec(), broken, CacheCounters())
    with pytest.raises(RuntimeError):
        await batch([1])
    started = asyncio.get_running_loop().time()
    assert await user(client, "alice") == ALICE
    assert asyncio.get_running_loop().time() - started < store.lock_ttl / 2


async def test_no_cache_report_in_production(settings: Settings, app: FastAPI) -> None:
    production = {"environment": Environment.PRODUCTION, "cache_report": True, "pool_size": 2}
    async with running(settings.model_copy(update=production)) as served, http(served) as client:
        body = await gql(client, STATS_QUERY, {"handle": "alice"})
    assert body == {"data": {"userByHandle": {"stats": {"postCount": 3}}}}


async def test_a_list_longer_than_the_entry_holds_reads_its_users_in_one_statement(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Entries computed from now on carry the first recommended user's row only.
    monkeypatch.setattr(loaders_module, "PROFILED", 1)
    two = RECOMMENDED.replace("FIRST", "2")
    cold = await user(client, "dave", two)
    with statements(app) as sent:
        warm = await user(client, "dave", two)
    assert warm == cold == {"recommendedUsers": [{"handle": "bob"}, {"handle": "carol"}]}
    # userByHandle, then the rows of the users past the first: one statement.
    assert len(sent) == 2, sent
    assert "users.id = ANY" in sent[1]
    with statements(app) as sent:
        one = await user(client, "dave", RECOMMENDED.replace("FIRST", "1"))
    assert one == {"recommendedUsers": [{"handle": "bob"}]}
    assert len(sent) == 1, sent


async def test_a_read_of_thousands_of_entries_is_one_call(app: FastAPI) -> None:
    store = resources_of(app).cache
    ids = list(range(1, 10_001))
    entries = await store.read(Kind.STATS, ids)
    assert entries is not None
    assert len(entries) == len(ids)
    assert all(entry.raw is None for entry in entries)
    assert await store.write(Kind.STATS, [(7, entries[6].stamp, b"[1,2,3,4,5,6]")])
    again = await store.read(Kind.STATS, ids)
    assert again is not None
    assert [e.raw for e in again if e.raw is not None] == [b"[1,2,3,4,5,6]"]
    assert again[6].raw == b"[1,2,3,4,5,6]"
    assert await store.read(Kind.STATS, []) == []
