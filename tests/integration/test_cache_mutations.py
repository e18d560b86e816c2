"""Every mutation that changes a cached field shows on the next read, in another process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import gql
from tests.integration.cache_support import execute, http, running, user
from tests.integration.world import pid
from wren.ids import to_global_id
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

Headers = Callable[[str], dict[str, str]]
ERIN = to_global_id("User", 5)


@pytest.fixture(scope="module")
async def other(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """A second server process on the same database and Redis."""
    async with running(settings.model_copy(update={"pool_size": 5})) as application:
        yield application


@pytest.fixture
async def reader(other: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http(other) as client:
        yield client


async def mutate(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> None:
    body = await gql(client, query, variables, **headers)
    assert "errors" not in body, body


async def stats(client: httpx.AsyncClient, handle: str) -> dict[str, Any]:
    found: dict[str, Any] = (await user(client, handle))["stats"]
    return found


async def recommended(client: httpx.AsyncClient, handle: str) -> list[str]:
    return [u["handle"] for u in (await user(client, handle))["recommendedUsers"]]


async def test_posts_comments_and_likes(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    for handle in ("alice", "bob", "carol", "dave"):
        await stats(reader, handle)  # all cached in the reading process
    await mutate(
        client,
        as_user("bob"),
        "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }",
        input={"title": "B2", "body": "Body"},
    )
    assert (await stats(reader, "bob"))["postCount"] == 2

    await mutate(
        client,
        as_user("dave"),
        "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }",
        input={"postId": pid(2), "body": "Nice"},
    )
    assert (await stats(reader, "dave"))["commentCount"] == 2
    # (4 likes + 2 x 5 comments received) / 3 posts
    assert (await stats(reader, "alice"))["engagementScore"] == 14 / 3

    await mutate(
        client, as_user("dave"), "mutation($id: ID!) { likePost(postId: $id) { id } }", id=pid(4)
    )
    assert (await stats(reader, "carol"))["likesReceived"] == 1
    await mutate(
        client, as_user("dave"), "mutation($id: ID!) { unlikePost(postId: $id) { id } }", id=pid(4)
    )
    assert (await stats(reader, "carol"))["likesReceived"] == 0


async def test_deleting_a_post_updates_its_author_and_its_commenters(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    before = {h: await stats(reader, h) for h in ("alice", "bob", "carol", "dave")}
    assert [before[h]["commentCount"] for h in ("bob", "carol", "dave")] == [2, 1, 1]
    await mutate(client, as_user("alice"), "mutation($id: ID!) { deletePost(id: $id) }", id=pid(1))
    after = {h: await stats(reader, h) for h in ("alice", "bob", "carol", "dave")}
    # Post 1 had 3 likes and comments by bob (2), carol and dave.
    assert (after["alice"]["postCount"], after["alice"]["likesReceived"]) == (2, 1)
    assert [after[h]["commentCount"] for h in ("bob", "carol", "dave")] == [0, 0, 0]


async def test_follow_and_unfollow(
    client: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers, database_url: str
) -> None:
    await execute(
        database_url,
        "INSERT INTO users (id, handle, display_name, password_hash)"
        " VALUES (5, 'erin', 'Erin', 'x')",
    )
    assert await recommended(reader, "bob") == ["alice"]
    assert await recommended(reader, "carol") == ["bob"]
    assert (await stats(reader, "erin"))["followerCount"] == 0
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    await mutate(client, as_user("dave"), follow, id=ERIN)
    # bob and carol follow dave, who now follows erin.
    assert await recommended(reader, "bob") == ["alice", "erin"]
    assert await recommended(reader, "carol") == ["bob", "erin"]
    assert (await stats(reader, "erin"))["followerCount"] == 1
    unfollow = "mutation($id: ID!) { unfollow(userId: $id) { id } }"
    await mutate(client, as_user("dave"), unfollow, id=ERIN)
    assert await recommended(reader, "bob") == ["alice"]
    assert (await stats(reader, "erin"))["followerCount"] == 0
