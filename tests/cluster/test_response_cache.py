"""Two `wren serve` processes with the response cache, sharing PostgreSQL and Redis: a
mutation through one shows on the very next read through the other."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from deploy import local
from tests.cluster.conftest import wren_command
from tests.conftest import REDIS_URL, drop_keys, operation
from tests.http.test_subscriptions import bearer
from wren.cache.store import CacheStore
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

TIMELINE = operation("Timeline")
PROFILE = operation("Profile")
CREATE_POST = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
LIKE = "mutation($id: ID!) { likePost(postId: $id) { id } }"


@pytest.fixture(scope="module")
def instances(database_url: str) -> Iterator[tuple[list[str], str]]:
    """Two instances on free ports: their /graphql URLs, and their cache namespace."""
    directory = Path(tempfile.mkdtemp(prefix="wren-rc-"))
    namespace = f"wren-rc-{uuid.uuid4().hex[:10]}"
    env = {
        "WREN_DATABASE_URL": database_url,
        "WREN_REDIS_URL": REDIS_URL,
        "WREN_CACHE_NAMESPACE": namespace,
        "WREN_POOL_SIZE": "4",
        "WREN_REDIS_TIMEOUT": "2.0",
        "WREN_RESPONSE_CACHE": "true",
        "WREN_ENVIRONMENT": "development",
    }
    ports = [local.free_port(), local.free_port()]
    processes = [
        local.instance(f"wren{n}", port, directory, wren_command(), env)
        for n, port in enumerate(ports, start=1)
    ]
    try:
        for process in processes:
            process.start()
        for process, port in zip(processes, ports, strict=True):
            process.wait_listening(port)
        yield [f"http://127.0.0.1:{port}" for port in ports], namespace
    finally:
        for process in processes:
            process.stop()
        asyncio.run(drop_keys(REDIS_URL, namespace))
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
async def _fresh_cache(instances: tuple[list[str], str]) -> None:
    """Nothing stored by an earlier test (the tables were built again)."""
    redis = Redis.from_url(REDIS_URL)
    store = CacheStore(redis, Settings(_env_file=None, cache_namespace=instances[1]))  # type: ignore[call-arg]
    try:
        assert await store.bump_epoch()
    finally:
        await store.aclose()
        await redis.aclose()


async def ask(
    url: str, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], bool | None]:
    """(data, whether it was a stored answer), asserting the answer has no error."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    return body["data"], body["extensions"].get("responseCache", {}).get("hit")


async def test_a_write_through_one_process_shows_on_the_next_read_through_the_other(
    instances: tuple[list[str], str], settings: Settings
) -> None:
    (first, second), _ = instances
    timeline, hit = await ask(second, TIMELINE, {"first": 2})
    assert hit is False
    assert await ask(second, TIMELINE, {"first": 2}) == (timeline, True)
    assert await ask(first, TIMELINE, {"first": 2}) == (timeline, True)  # stored in Redis

    await ask(first, CREATE_POST, {"i": {"title": "B2", "body": "Text."}}, bearer(settings, "bob"))
    after, hit = await ask(second, TIMELINE, {"first": 2})
    assert hit is False
    assert [edge["node"]["title"] for edge in after["posts"]["edges"]] == ["B2", "A3"]

    post = after["posts"]["edges"][1]["node"]
    await ask(first, LIKE, {"id": post["id"]}, bearer(settings, "dave"))
    liked, hit = await ask(second, TIMELINE, {"first": 2})
    assert hit is False
    assert liked["posts"]["edges"][1]["node"]["likeCount"] == post["likeCount"] + 1
