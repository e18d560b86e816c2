"""Read replicas: queries on a real streaming replica, writes and what depends on them on
the primary, read-your-writes from every instance, and no failed request when the
replica lags or goes away.

The primary and its replica are clusters of this module's own (deploy/postgres.py). Most tests
pause the replica's replay (`pg_wal_replay_pause()`): a write then exists on the
primary only, and an answer tells which server gave it. Two app instances share one
Redis namespace, as two processes or machines would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deploy.local import ToolsMissing
from deploy.postgres import StreamingPair
from tests.conftest import REDIS_URL, drop_keys, free_port, gql, operation
from tests.http.test_subscriptions import POST_CREATED, subscriber, uvicorn_serving
from tests.integration import world
from tests.integration.cache_support import http, resources_of, running
from tests.sessions import session_token
from wren.db.migrate import migrate
from wren.db.replicas import RoutingCounters
from wren.settings import Settings

DATABASE = "wren"
ALICE_POSTS = '{ userByHandle(handle: "alice") { posts(first: 0) { totalCount } } }'
VIEWER_POSTS = "{ viewer { posts(first: 1) { totalCount nodes { title } } } }"
CREATE_POST = (
    'mutation($t: String!) { createPost(input: {title: $t, body: "b"}) {'
    " id title author { posts(first: 0) { totalCount } } } }"
)
ALICE_STATS = '{ userByHandle(handle: "alice") { stats { postCount } } }'
# world.py: alice wrote three posts.
BEFORE = 3
# The load of the stopped-replica test: bounded in count (and in time, below).
WORKERS = 6
ROUNDS = 40


@pytest.fixture(scope="session")
def pair() -> Iterator[StreamingPair]:
    """A primary with its streaming replica, the schema migrated on the primary."""
    try:
        clusters = StreamingPair()
    except ToolsMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: .ci/packages lists it")
        pytest.skip(str(missing))
    try:
        clusters.start()
        created = subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(clusters.primary_port), "-U", "postgres",
             DATABASE],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        migrate(clusters.url(clusters.primary_port, DATABASE))
        yield clusters
    finally:
        clusters.stop()


@pytest.fixture(scope="module")
def namespace() -> str:
    return f"wren-test-replicas-{uuid.uuid4().hex[:10]}"


def replica_settings(pair: StreamingPair, namespace: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": pair.url(pair.primary_port, DATABASE),
        "database_replica_urls": pair.url(pair.replica_port, DATABASE),
        "redis_url": REDIS_URL,
        "cache_namespace": namespace,
        "redis_timeout": 2.0,
        "pool_size": 4,
        # Replay stays paused for seconds in these tests; the lag test sets its own.
        "replica_max_lag": 60.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def settings_r(pair: StreamingPair, namespace: str) -> Settings:
    return replica_settings(pair, namespace)


@pytest.fixture(scope="module")
async def one(settings_r: Settings, namespace: str) -> AsyncIterator[FastAPI]:
    """The first app instance."""
    try:
        async with running(settings_r) as app:
            yield app
    finally:
        await drop_keys(REDIS_URL, namespace)


@pytest.fixture(scope="module")
async def two(settings_r: Settings) -> AsyncIterator[FastAPI]:
    """A second instance: its own pools, the same Redis namespace."""
    async with running(settings_r) as app:
        yield app


@pytest.fixture(autouse=True)
async def _world(pair: StreamingPair, one: FastAPI) -> AsyncIterator[None]:
    """Every test starts from the small world, replayed on the replica, replay running."""
    if not pair.replica_running():
        pair.start_replica()
    if await pair.replica("SELECT pg_is_wal_replay_paused()"):
        await pair.resume_replay()
    assert await resources_of(one).cache.bump_epoch()
    await pair.primary(
        "TRUNCATE users, posts, comments, follows, likes RESTART IDENTITY CASCADE", DATABASE
    )
    await world.build(pair.url(pair.primary_port, DATABASE))
    await pair.caught_up()
    yield
    if pair.replica_running() and await pair.replica("SELECT pg_is_wal_replay_paused()"):
        await pair.resume_replay()


@pytest.fixture
def headers(settings_r: Settings) -> Callable[[str], dict[str, str]]:
    tokens: dict[str, str] = {}

    def of(handle: str) -> dict[str, str]:
        if handle not in tokens:
            tokens[handle] = session_token(settings_r, world.USERS[handle])
        return {"authorization": f"Bearer {tokens[handle]}"}

    return of


def routing(app: FastAPI) -> RoutingCounters:
    return resources_of(app).db.routing


async def until_replica_reads(app: FastAPI, client: httpx.AsyncClient, query: str,
                              headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Repeat a query until the replica serves it (its checks see it caught up); its body."""
    deadline = time.monotonic() + 10
    while True:
        before = routing(app).replica_reads
        body = await gql(client, query, **(headers or {}))
        if routing(app).replica_reads > before:
            return body
        status = resources_of(app).db.replicas.status()  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"never read again: {routing(app)} {status}"
        await asyncio.sleep(0.05)


def alice_posts(body: dict[str, Any]) -> int:
    count: int = body["data"]["userByHandle"]["posts"]["totalCount"]
    return count


async def test_queries_read_the_replica(pair: StreamingPair, one: FastAPI) -> None:
    async with http(one) as client:
        await until_replica_reads(one, client, ALICE_POSTS)
        await pair.pause_replay()
        await pair.primary(
            "INSERT INTO posts (author_id, title, body) VALUES (1, 'behind', 'b')", DATABASE
        )
        before = routing(one).primary_reads
        # Only the replica lacks the post: an anonymous query reads it there.
        assert alice_posts(await gql(client, ALICE_POSTS)) == BEFORE
        assert routing(one).primary_reads == before
        await pair.resume_replay()
        await pair.caught_up()
        assert alice_posts(await until_replica_reads(one, client, ALICE_POSTS)) == BEFORE + 1


async def test_the_writer_reads_its_write_from_every_instance(
    pair: StreamingPair,
    one: FastAPI,
    two: FastAPI,
    headers: Callable[[str], dict[str, str]],
) -> None:
    async with http(one) as first, http(two) as second:
        for client, app in ((first, one), (second, two)):
            await until_replica_reads(app, client, ALICE_POSTS)
        await pair.pause_replay()
        created = await gql(first, CREATE_POST, {"t": "Fresh"}, **headers("alice"))
        assert "errors" not in created, created
        # The mutation's answer is read on the primary.
        assert created["data"]["createPost"]["author"]["posts"]["totalCount"] == BEFORE + 1
        for client in (first, second):
            mine = await gql(client, VIEWER_POSTS, **headers("alice"))
            assert mine["data"]["viewer"]["posts"] == {
                "totalCount": BEFORE + 1,
                "nodes": [{"title": "Fresh"}],
            }
            # Other viewers, and anonymous ones, read the replica, which lacks the post.
            bob = await gql(client, ALICE_POSTS, **headers("bob"))
            assert alice_posts(bob) == BEFORE
            assert alice_posts(await gql(client, ALICE_POSTS)) == BEFORE
        assert routing(two).behind >= 1
        await pair.resume_replay()
        await pair.caught_up()
        # Once the replica has replayed the write, the writer reads it there too.
        for client, app in ((first, one), (second, two)):
            body = await until_replica_reads(app, client, VIEWER_POSTS, headers("alice"))
            assert body["data"]["viewer"]["posts"]["totalCount"] == BEFORE + 1


async def test_a_new_account_reads_itself_elsewhere(
    pair: StreamingPair, one: FastAPI, two: FastAPI
) -> None:
    sign_up = (
        'mutation { signUp(input: {handle: "erin", displayName: "Erin",'
        ' password: "erin-password"}) { token } }'
    )
    async with http(one) as first, http(two) as second:
        await until_replica_reads(two, second, ALICE_POSTS)
        await pair.pause_replay()
        token = (await gql(first, sign_up))["data"]["signUp"]["token"]
        viewer = await gql(second, "{ viewer { handle } }", authorization=f"Bearer {token}")
        assert viewer == {"data": {"viewer": {"handle": "erin"}}}
        log_in = 'mutation { logIn(handle: "erin", password: "erin-password") { token } }'
        assert "errors" not in await gql(second, log_in)


async def test_a_subscription_loads_the_event_s_row(
    pair: StreamingPair, one: FastAPI, two: FastAPI, headers: Callable[[str], dict[str, str]]
) -> None:
    async with uvicorn_serving(two) as url, subscriber(url) as sub, http(one) as first:
        await sub.init()
        key = await sub.subscribe(POST_CREATED)
        deadline = time.monotonic() + 10
        while (
            resources_of(two).events.listening(resources_of(two).events.channels.post_created) < 1
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await pair.pause_replay()
        created = await gql(first, CREATE_POST, {"t": "Pushed"}, **headers("alice"))
        message = await sub.receive()
        assert message["id"] == key
        assert message["payload"]["data"]["postCreated"]["title"] == "Pushed"
        assert (
            message["payload"]["data"]["postCreated"]["id"] == created["data"]["createPost"]["id"]
        )


async def test_cached_entries_are_computed_on_the_primary(
    pair: StreamingPair, one: FastAPI, two: FastAPI, headers: Callable[[str], dict[str, str]]
) -> None:
    async with http(one) as first, http(two) as second:
        assert (await gql(second, ALICE_STATS))["data"]["userByHandle"]["stats"] == {
            "postCount": BEFORE
        }
        await pair.pause_replay()
        await gql(first, CREATE_POST, {"t": "Counted"}, **headers("alice"))
        # Bob's request reads the replica, but the entry it computes is stored for
        # everyone: it is computed on the primary.
        stats = await gql(second, ALICE_STATS, **headers("bob"))
        assert stats["data"]["userByHandle"]["stats"] == {"postCount": BEFORE + 1}
        await pair.resume_replay()
        await pair.caught_up()
        again = await gql(second, ALICE_STATS)
        assert again["data"]["userByHandle"]["stats"] == {"postCount": BEFORE + 1}


async def test_a_lagging_replica_is_skipped(pair: StreamingPair, namespace: str) -> None:
    settings = replica_settings(pair, namespace, replica_max_lag=0.2)
    async with running(settings) as app, http(app) as client:
        await until_replica_reads(app, client, ALICE_POSTS)
        await pair.pause_replay()
        await pair.primary(
            "INSERT INTO posts (author_id, title, body) VALUES (1, 'late', 'b')", DATABASE
        )
        await asyncio.sleep(0.6)
        # More than 0.2 s behind: read on the primary, which has the post.
        deadline = time.monotonic() + 10
        while alice_posts(await gql(client, ALICE_POSTS)) != BEFORE + 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert routing(app).unusable >= 1
        await pair.resume_replay()
        await pair.caught_up()
        assert alice_posts(await until_replica_reads(app, client, ALICE_POSTS)) == BEFORE + 1


async def test_with_redis_down_the_writer_reads_the_primary(
    pair: StreamingPair, namespace: str
) -> None:
    nothing = f"redis://127.0.0.1:{free_port()}/0"
    settings = replica_settings(pair, namespace, redis_url=nothing, redis_timeout=0.2)
    alice = {"authorization": f"Bearer {session_token(settings, world.USERS['alice'])}"}
    async with running(settings) as app, http(app) as client:
        await until_replica_reads(app, client, ALICE_POSTS)
        await pair.pause_replay()
        created = await gql(client, CREATE_POST, {"t": "Unmarked"}, **alice)
        assert "errors" not in created, created
        mine = await gql(client, VIEWER_POSTS, **alice)
        assert mine["data"]["viewer"]["posts"]["totalCount"] == BEFORE + 1
        assert routing(app).unsure >= 1
        # Anonymous reads need no mark: still the replica.
        before = routing(app).replica_reads
        assert alice_posts(await gql(client, ALICE_POSTS)) == BEFORE
        assert routing(app).replica_reads > before


async def test_a_replica_stopped_under_load_fails_no_request(
    pair: StreamingPair, one: FastAPI, headers: Callable[[str], dict[str, str]]
) -> None:
    queries = [
        (ALICE_POSTS, {}),
        (VIEWER_POSTS, headers("bob")),
        (operation("Timeline"), {}),
        (operation("Profile"), {}),
    ]
    failures: list[Any] = []
    served = 0

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        nonlocal served
        for round_ in range(ROUNDS):
            text, extra = queries[(index + round_) % len(queries)]
            variables = {"first": 5, "handle": "alice"}
            if round_ % 10 == 0:
                text, variables, extra = CREATE_POST, {"t": f"load {index}"}, headers("carol")
            response = await client.post(
                "/graphql", json={"query": text, "variables": variables}, headers=extra
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                failures.append(body)
            served += 1
            await asyncio.sleep(0.005)

    async with http(one) as client:
        await until_replica_reads(one, client, ALICE_POSTS)
        before = routing(one).replica_reads
        load = [asyncio.create_task(worker(i, client)) for i in range(WORKERS)]
        await asyncio.sleep(0.3)
        await asyncio.to_thread(pair.stop_replica)
        async with asyncio.timeout(120):
            await asyncio.gather(*load)
        assert failures == []
        assert served == WORKERS * ROUNDS
        assert routing(one).replica_reads > before
        assert routing(one).fallbacks + routing(one).unusable > 0
        await asyncio.to_thread(pair.start_replica)
        await until_replica_reads(one, client, ALICE_POSTS)
