"""Several instances behind HAProxy share PostgreSQL and Redis: nothing is per process.

A write through one instance shows on the next read through another (the cache's
invalidation goes through Redis), and a subscriber connected to one instance receives
the events of mutations made through another (events go through Redis pub/sub). Each
test talks to the instances directly, where it matters which one answers, and through
HAProxy, which spreads consecutive requests over all of them (round robin).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.cluster.conftest import NAMES, Cluster
from tests.conftest import gql
from tests.http.test_subscriptions import POST_CREATED, bearer, channels, listening, subscriber
from tests.integration.world import uid
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

STATS = """
query($handle: String!) {
  userByHandle(handle: $handle) {
    stats { postCount followerCount likesReceived }
    recommendedUsers(first: 5) { handle }
  }
}
"""
CREATE_POST = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { handle } }"


async def ask(
    url: str, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """One GraphQL request to `url`; its data, asserting it has no error."""
    async with httpx.AsyncClient(base_url=url.removesuffix("/graphql"), timeout=30) as client:
        body = await gql(client, query, variables, **(headers or {}))
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def stats(url: str, handle: str) -> dict[str, Any]:
    """A user's cached fields, read through `url`."""
    data = await ask(url, STATS, {"handle": handle})
    found: dict[str, Any] = data["userByHandle"]
    return found


async def test_a_write_through_one_instance_shows_on_the_next_read_through_another(
    cluster: Cluster, settings: Settings
) -> None:
    first, second, third = (cluster.url_of(name) for name in NAMES)
    # Cached by the first instance (and read again by the third: now from Redis).
    before = await stats(first, "bob")
    assert before == await stats(third, "bob")
    assert before["stats"] == {"postCount": 1, "followerCount": 1, "likesReceived": 1}

    # Dave follows bob and bob posts, through the second instance.
    await ask(second, FOLLOW, {"id": uid("bob")}, bearer(settings, "dave"))
    await ask(second, CREATE_POST, {"i": {"title": "B2", "body": "Text."}}, bearer(settings, "bob"))

    after = await stats(third, "bob")
    assert after["stats"] == {"postCount": 2, "followerCount": 2, "likesReceived": 1}
    assert after == await stats(first, "bob")
    # Through HAProxy: every instance in turn, each the same.
    for _ in range(2 * len(NAMES)):
        assert await stats(cluster.url, "bob") == after


async def test_recommendations_cached_by_one_instance_change_with_a_follow_through_another(
    cluster: Cluster, settings: Settings
) -> None:
    first, second, third = (cluster.url_of(name) for name in NAMES)
    # Dave follows alice, who follows bob and carol: both recommended to him.
    assert [u["handle"] for u in (await stats(first, "dave"))["recommendedUsers"]] == [
        "bob",
        "carol",
    ]
    await ask(second, FOLLOW, {"id": uid("bob")}, bearer(settings, "dave"))
    assert [u["handle"] for u in (await stats(third, "dave"))["recommendedUsers"]] == ["carol"]


async def test_a_subscriber_on_one_instance_receives_a_mutation_made_through_another(
    cluster: Cluster, settings: Settings
) -> None:
    first, second = (cluster.url_of(name) for name in NAMES[:2])
    async with subscriber(first.replace("http://", "ws://")) as sub:
        await sub.init()
        key = await sub.subscribe(POST_CREATED, {})
        await listening(settings, channels_of(cluster).post_created)
        created = await ask(
            second, CREATE_POST, {"i": {"title": "Elsewhere", "body": "Text."}},
            bearer(settings, "carol"),
        )  # fmt: skip
        message = await sub.receive()
    assert message == {
        "id": key,
        "type": "next",
        "payload": {
            "data": {
                "postCreated": {
                    "id": created["createPost"]["id"],
                    "title": "Elsewhere",
                    "author": {"handle": "carol"},
                }
            }
        },
    }


async def test_subscribers_through_haproxy_receive_every_mutation_made_through_it(
    cluster: Cluster, settings: Settings
) -> None:
    ws_url = cluster.url.replace("http://", "ws://")
    # As many subscribers as instances: round robin puts one on each.
    async with (
        subscriber(ws_url) as one,
        subscriber(ws_url) as two,
        subscriber(ws_url) as three,
    ):
        subscribers = (one, two, three)
        for sub in subscribers:
            await sub.init()
            await sub.subscribe(POST_CREATED, {})
        await listening(settings, channels_of(cluster).post_created, count=len(NAMES))
        titles = [f"Through HAProxy {n}" for n in range(len(NAMES))]
        for title in titles:
            await ask(
                cluster.url, CREATE_POST, {"i": {"title": title, "body": "Text."}},
                bearer(settings, "alice"),
            )  # fmt: skip
        for sub in subscribers:
            received = [(await sub.receive())["payload"]["data"]["postCreated"] for _ in titles]
            assert [event["title"] for event in received] == titles


def channels_of(cluster: Cluster) -> Any:
    """The event channels of the cluster's namespace."""
    return channels(Settings(_env_file=None, cache_namespace=cluster.namespace))  # type: ignore[call-arg]
