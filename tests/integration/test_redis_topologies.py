"""The cache, subscriptions and persisted documents on a real Redis Cluster and behind real
Redis Sentinels (deploy/redis.py starts them), two app instances on
each; then a master killed by its pid under load: no request fails, caching and events
come back by themselves."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deploy.local import ToolsMissing
from deploy.redis import LocalCluster, LocalSentinels, RedisProcess
from tests.conftest import gql, missing_tool, operation
from tests.http.test_subscriptions import POST_CREATED, subscriber, uvicorn_serving
from tests.integration.cache_support import USER_QUERY, http, resources_of, running
from tests.integration.world import USERS
from tests.sessions import session_token
from wren.cache.keys import SLOT_GROUPS, Channels, Keys
from wren.cache.responses import digest
from wren.ids import to_global_id
from wren.pipeline.persisted import sha256_hex
from wren.pipeline.trusted import register
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

CREATE_POST = "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }"
# Users 1..40: a Leaderboard page of them reads entries of every slot group.
PAGE = 40


class Topology:
    """A running Redis topology, as the apps under test are configured for it."""

    name = ""
    # Read script calls a Leaderboard page of PAGE users makes.
    script_calls_per_page = 0

    @property
    def update(self) -> dict[str, Any]:
        """The settings that point an app at it."""
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    def processes(self) -> list[RedisProcess]:
        """The data-holding processes (not Sentinels)."""
        raise NotImplementedError

    async def subscribers(self, channel: str) -> int:
        """Connections subscribed to a channel, wherever they are."""
        return sum([await _subscribed_on(p, channel) for p in self.processes() if p.alive])

    async def evalsha_calls(self) -> int:
        """EVALSHA calls the live servers have run so far."""
        total = 0
        for process in self.processes():
            if process.alive:
                client = process.client()
                try:
                    stats = await client.info("commandstats")
                finally:
                    await client.aclose()
                entry = stats.get("cmdstat_evalsha")
                total += int(entry["calls"]) if isinstance(entry, dict) else 0
        return total

    async def kill_master(self, channel: str) -> RedisProcess:
        """Kill a master by its pid (on a cluster, the one listened to on `channel`)."""
        raise NotImplementedError

    async def recovered(self, killed: RedisProcess) -> None:
        """Wait until the topology serves every key again without the killed process."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


async def _subscribed_on(process: RedisProcess, channel: str) -> int:
    """Connections subscribed to a channel on one server (PUBSUB NUMSUB is per node)."""
    client = process.client()
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
    finally:
        await client.aclose()
    return int(count)


class ClusterTopology(Topology):
    name = "cluster"
    script_calls_per_page = SLOT_GROUPS

    def __init__(self) -> None:
        self.cluster = LocalCluster()

    @property
    def update(self) -> dict[str, Any]:
        return {"redis_url": self.cluster.url, "redis_cluster": True}

    async def start(self) -> None:
        await self.cluster.start()

    def processes(self) -> list[RedisProcess]:
        return self.cluster.nodes

    async def kill_master(self, channel: str) -> RedisProcess:
        masters = [self.cluster.node(port) for port in await self.cluster.masters()]
        # The master the subscriber's instance listens on: it must find another node.
        listened = [node for node in masters if await _subscribed_on(node, channel)]
        victim = (listened or masters)[0]
        victim.kill()
        return victim

    async def recovered(self, killed: RedisProcess) -> None:
        await self.cluster.healthy()
        deadline = time.monotonic() + 30
        while len(await self.cluster.masters()) < 3:
            assert time.monotonic() < deadline, "no replica took over"
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.cluster.stop()


class SentinelTopology(Topology):
    name = "sentinel"
    script_calls_per_page = 1

    def __init__(self) -> None:
        self.sentinels = LocalSentinels()

    @property
    def update(self) -> dict[str, Any]:
        return {
            "redis_url": None,
            "redis_sentinels": self.sentinels.addresses,
            "redis_sentinel_master": self.sentinels.master_name,
        }

    async def start(self) -> None:
        await self.sentinels.start()

    def processes(self) -> list[RedisProcess]:
        return self.sentinels.servers

    async def kill_master(self, channel: str) -> RedisProcess:
        victim = self.sentinels.server(await self.sentinels.current_master())
        victim.kill()
        return victim

    async def recovered(self, killed: RedisProcess) -> None:
        deadline = time.monotonic() + 30
        while await self.sentinels.current_master() == killed.port:
            assert time.monotonic() < deadline, "the Sentinels did not fail over"
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.sentinels.stop()


TOPOLOGIES: dict[str, type[Topology]] = {
    kind.name: kind for kind in (ClusterTopology, SentinelTopology)
}


@asynccontextmanager
async def started(name: str) -> AsyncIterator[Topology]:
    """A topology of this kind, running until the block ends."""
    topology = TOPOLOGIES[name]()
    try:
        await topology.start()
    except ToolsMissing as missing:
        topology.stop()
        missing_tool(missing)
    except BaseException:
        topology.stop()
        raise
    try:
        yield topology
    finally:
        topology.stop()


@pytest.fixture(scope="module", params=list(TOPOLOGIES))
async def topology(request: pytest.FixtureRequest) -> AsyncIterator[Topology]:
    """A topology shared by the module's tests (each uses a cache namespace of its own)."""
    async with started(request.param) as running_topology:
        yield running_topology


@pytest.fixture(params=list(TOPOLOGIES))
async def fresh_topology(request: pytest.FixtureRequest) -> AsyncIterator[Topology]:
    """A topology of the test's own: it loses a master."""
    async with started(request.param) as running_topology:
        yield running_topology


def app_settings(settings: Settings, topology: Topology, **overrides: Any) -> Settings:
    """The test's apps: the topology, a namespace of the test's own, counters reported."""
    return settings.model_copy(
        update={
            **topology.update,
            "cache_namespace": f"wren-topology-{uuid.uuid4().hex[:10]}",
            "cache_report": True,
            "pool_size": 4,
            "redis_timeout": 1.0,
            **overrides,
        }
    )


@asynccontextmanager
async def two_apps(configured: Settings) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances of the app ("processes") on the same database and Redis."""
    async with running(configured) as first, running(configured) as second:
        yield first, second


@asynccontextmanager
async def two_clients(
    configured: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client of each of two instances."""
    async with two_apps(configured) as (first, second), http(first) as one, http(second) as other:
        yield one, other


def bearer(settings: Settings, handle: str) -> dict[str, str]:
    return {"authorization": f"Bearer {session_token(settings, USERS[handle])}"}


async def create_post(client: httpx.AsyncClient, settings: Settings, handle: str) -> str:
    body = await gql(
        client,
        CREATE_POST,
        {"input": {"title": "On many nodes", "body": "Text."}},
        **bearer(settings, handle),
    )
    assert "errors" not in body, body
    post_id: str = body["data"]["createPost"]["id"]
    return post_id


async def more_users(database_url: str) -> None:
    """Users 5..PAGE beside the small world's four."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.executemany(
            "INSERT INTO users (id, handle, display_name, password_hash) VALUES ($1, $2, $3, 'x')",
            [(i, f"user{i}", f"User {i}") for i in range(5, PAGE + 1)],
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"
        )
    finally:
        await conn.close()


async def until_subscribed(topology: Topology, channel: str) -> None:
    deadline = time.monotonic() + 30
    while await topology.subscribers(channel) < 1:
        assert time.monotonic() < deadline, f"nobody listens on {channel}"
        await asyncio.sleep(0.025)


async def test_cached_reads_and_writes(topology: Topology, settings: Settings) -> None:
    async with two_clients(app_settings(settings, topology)) as (one, other):
        cold = await gql(one, USER_QUERY, {"handle": "alice"})
        assert cold["extensions"]["cache"]["computed"] == 2, cold
        assert cold["data"]["userByHandle"]["stats"]["postCount"] == 3
        warm = await gql(other, USER_QUERY, {"handle": "alice"})
        assert warm["extensions"]["cache"] == {
            "hits": 2,
            "misses": 0,
            "computed": 0,
            "shared": 0,
            "errors": 0,
        }
        assert warm["data"] == cold["data"]
        # A write through one instance shows on the next read through the other.
        await create_post(one, settings, "alice")
        after = await gql(other, USER_QUERY, {"handle": "alice"})
        assert after["data"]["userByHandle"]["stats"]["postCount"] == 4
        assert after["extensions"]["cache"]["errors"] == 0


async def test_response_cache_invalidates_in_every_slot_group(
    topology: Topology, settings: Settings
) -> None:
    configured = app_settings(settings, topology, response_cache=True)
    timeline = operation("Timeline")
    pages = [{"first": first} for first in range(1, 9)]
    # The pages' answers are stored in several slot groups (their digests differ).
    groups = {int(digest(timeline, "Timeline", page, None)[:4], 16) % SLOT_GROUPS for page in pages}
    assert len(groups) > 1
    async with (
        two_apps(configured) as (first, second),
        http(first) as one,
        http(second) as other,
    ):
        for client, hit in ((one, False), (other, True)):
            for page in pages:
                body = await gql(client, timeline, page)
                assert body["extensions"]["responseCache"] == {"hit": hit}, body
        await create_post(one, settings, "alice")
        for page in pages:
            body = await gql(other, timeline, page)
            assert body["extensions"]["responseCache"] == {"hit": False}
            assert body["data"]["posts"]["edges"][0]["node"]["title"] == "On many nodes"
        responses = resources_of(first).responses
        assert responses is not None
        assert not resources_of(first).cache.dirty


async def test_a_batched_read_is_one_script_call_per_slot_group(
    topology: Topology, settings: Settings, database_url: str
) -> None:
    await more_users(database_url)
    configured = app_settings(settings, topology)
    async with running(configured) as application, http(application) as client:
        page = {"first": PAGE}
        cold = await gql(client, operation("Leaderboard"), page)
        assert len(cold["data"]["users"]["nodes"]) == PAGE
        assert cold["extensions"]["cache"]["computed"] == 2 * PAGE
        before = await topology.evalsha_calls()
        warm = await gql(client, operation("Leaderboard"), page)
        calls = await topology.evalsha_calls() - before
        assert warm["extensions"]["cache"]["hits"] == 2 * PAGE
        assert warm["data"] == cold["data"]
    # Both fields of all 40 users: one call per slot group on a cluster, one in all else.
    assert calls == topology.script_calls_per_page
    if isinstance(topology, ClusterTopology):
        # The entries are spread over every master.
        keys = Keys(configured.cache_namespace)
        for port in await topology.cluster.masters():
            client = topology.cluster.node(port).client()
            try:
                found = [key async for key in client.scan_iter(match=f"{keys.prefix}*")]
            finally:
                await client.aclose()
            assert found, f"no entry on the master on {port}"


async def test_concurrent_misses_in_two_instances_compute_once(
    topology: Topology, settings: Settings
) -> None:
    async with two_clients(app_settings(settings, topology)) as (one, other):
        bodies = await asyncio.gather(
            *(gql(client, USER_QUERY, {"handle": "carol"}) for client in [one, other] * 25)
        )
    assert [body for body in bodies if "errors" in body] == []
    assert sum(body["extensions"]["cache"]["errors"] for body in bodies) == 0
    # One computation per field across both instances: the locks hold on this topology.
    assert sum(body["extensions"]["cache"]["computed"] for body in bodies) == 2


async def test_subscriptions_across_instances(topology: Topology, settings: Settings) -> None:
    configured = app_settings(settings, topology)
    channel = Channels(configured.events_channel_prefix).post_created
    async with (
        two_apps(configured) as (first, second),
        http(first) as one,
        uvicorn_serving(second) as url,
        subscriber(url) as sub,
    ):
        await sub.init()
        key = await sub.subscribe(POST_CREATED)
        await until_subscribed(topology, channel)
        post_id = await create_post(one, settings, "bob")
        message = await sub.receive()
    assert message["id"] == key
    assert message["payload"]["data"]["postCreated"] == {
        "id": post_id,
        "title": "On many nodes",
        "author": {"handle": "bob"},
    }


async def test_persisted_documents(topology: Topology, settings: Settings) -> None:
    configured = app_settings(settings, topology)
    query = "query OnManyNodes { users(first: 2) { totalCount } }"
    digest = sha256_hex(query)
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with two_apps(configured) as (first, second):
        async with http(first) as one, http(second) as other:
            stored = await one.post("/graphql", json={"query": query, "extensions": persisted})
            assert stored.json()["data"] == {"users": {"totalCount": 4}}
            # The other instance has never seen the text: it finds it in Redis.
            hit = await other.post("/graphql", json={"extensions": persisted})
            assert hit.json()["data"] == {"users": {"totalCount": 4}}
        # Trusted documents, registered as `wren persist` does, run by hash elsewhere.
        text = operation("UserByHandle")
        report = await register(configured, resources_of(first).redis, {Path("u.graphql"): text})
        assert report.refused == {}
    trusted = configured.model_copy(update={"trusted_documents": True})
    async with running(trusted) as application, http(application) as client:
        response = await client.post(
            "/graphql",
            json={
                "variables": {"handle": "dave"},
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(text)}},
            },
        )
        assert response.json()["data"]["userByHandle"]["handle"] == "dave"
        refused = await client.post("/graphql", json={"query": query})
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


class Load:
    """Requests through two instances, a few at a time, bounded in count and time."""

    def __init__(self, settings: Settings, one: httpx.AsyncClient, other: httpx.AsyncClient):
        self.settings = settings
        self.clients = [one, other]
        self.failures: list[str] = []
        self.requests = 0
        self.cache_errors = 0
        self.stop = asyncio.Event()
        self.apq = "query Counted { users(first: 1) { totalCount } }"

    async def ask(self, client: httpx.AsyncClient, payload: dict[str, Any], **headers: str) -> None:
        self.requests += 1
        response = await client.post("/graphql", json=payload, headers=headers)
        body = response.json()
        if response.status_code != 200 or "errors" in body:
            self.failures.append(f"{response.status_code} {body}")
            return
        self.cache_errors += body.get("extensions", {}).get("cache", {}).get("errors", 0)

    async def until(self, requests: int) -> None:
        """Wait until this many requests were sent (or the load ended)."""
        deadline = time.monotonic() + 60
        while self.requests < requests and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count
            await asyncio.sleep(0.01)

    def persisted(self) -> dict[str, Any]:
        digest = sha256_hex(self.apq)
        return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}

    async def warm_up(self) -> None:
        for client in self.clients:
            await self.ask(client, {"query": self.apq, **self.persisted()})
            await self.ask(client, self.persisted())

    async def worker(self, number: int, limit: int, deadline: float) -> None:
        handles = list(USERS)
        step = 0
        while not self.stop.is_set() and self.requests < limit and time.monotonic() < deadline:
            client = self.clients[(number + step) % 2]
            kind = step % 4
            if kind == 0:
                handle = handles[(step // 4) % len(handles)]
                await self.ask(client, {"query": USER_QUERY, "variables": {"handle": handle}})
            elif kind == 1:
                await self.ask(
                    client, {"query": operation("Leaderboard"), "variables": {"first": PAGE}}
                )
            elif kind == 2:
                await self.ask(
                    client,
                    {
                        "query": CREATE_POST,
                        "variables": {"input": {"title": "Under load", "body": "Text."}},
                    },
                    **bearer(self.settings, "alice"),
                )
            else:
                await self.ask(client, self.persisted())
            step += 1

    async def run(self, workers: int, limit: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self.worker(n, limit, deadline) for n in range(workers)))


async def until_cached_again(client: httpx.AsyncClient) -> float:
    """Seconds until a whole page is served from the cache again, with no cache error."""
    started = time.monotonic()
    deadline = started + 60
    while True:
        body = await gql(client, operation("Leaderboard"), {"first": PAGE})
        assert "errors" not in body, body
        cache = body["extensions"]["cache"]
        if cache["errors"] == 0 and cache["hits"] == 2 * PAGE:
            return time.monotonic() - started
        assert time.monotonic() < deadline, f"caching did not resume: {cache}"
        await asyncio.sleep(0.1)


async def test_a_master_killed_under_load(
    fresh_topology: Topology, settings: Settings, database_url: str
) -> None:
    topology = fresh_topology
    await more_users(database_url)
    configured = app_settings(
        settings, topology, cache_breaker_failures=3, cache_breaker_cooldown=0.5
    )
    channel = Channels(configured.events_channel_prefix).post_created
    async with (
        two_apps(configured) as (first, second),
        http(first) as one,
        http(second) as other,
        uvicorn_serving(second) as url,
        subscriber(url) as sub,
    ):
        await sub.init()
        # bob's posts only: the load's posts are alice's.
        key = await sub.subscribe(POST_CREATED, {"authorId": to_global_id("User", USERS["bob"])})
        await until_subscribed(topology, channel)
        load = Load(settings, one, other)
        await load.warm_up()
        running_load = asyncio.create_task(load.run(workers=4, limit=3000, seconds=90))
        await load.until(40)
        killed_at = time.monotonic()
        killed = await topology.kill_master(channel)
        await topology.recovered(killed)
        failed_over = time.monotonic() - killed_at
        # Some more load on the recovered topology, then stop.
        await load.until(load.requests + 40)
        load.stop.set()
        await running_load
        assert load.failures == []
        assert load.cache_errors > 0, "the load never met the missing master"
        # Caching resumes by itself, in both instances.
        resumed = [await until_cached_again(one), await until_cached_again(other)]
        # And the subscriber hears events again: its instance listens anew by itself.
        await until_subscribed(topology, channel)
        post_id = await create_post(one, settings, "bob")
        message = await sub.receive()
    assert message["id"] == key
    assert message["payload"]["data"]["postCreated"]["id"] == post_id
    print(
        f"{topology.name}: {load.requests} requests, none failed, {load.cache_errors} answered"
        f" without the cache; failed over {failed_over:.1f} s after the kill; cached again"
        f" {resumed[0]:.1f} s / {resumed[1]:.1f} s after the load"
    )
