"""Concurrent identical and different writes: counts stay exact and nobody sees an error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.conftest import gql
from tests.integration.world import pid, uid

pytestmark = pytest.mark.usefixtures("small_world")

LIKE = "mutation($id: ID!) { likePost(postId: $id) { likeCount viewerHasLiked } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { handle } }"
CONCURRENCY = 50


@pytest.fixture
async def crowd(db: asyncpg.Connection) -> list[int]:
    """Fifty more users, straight into the table."""
    rows = await db.fetch(
        "INSERT INTO users (handle, display_name, password_hash)"
        " SELECT 'fan' || i, 'Fan ' || i, 'x' FROM generate_series(1, $1) i RETURNING id",
        CONCURRENCY,
    )
    return [row["id"] for row in rows]


async def test_fifty_users_like_one_post_at_once(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    bearer: Callable[[int], dict[str, str]],
    crowd: list[int],
) -> None:
    # Post 4 has no likes yet.
    bodies = await asyncio.gather(
        *(gql(client, LIKE, {"id": pid(4)}, **bearer(user)) for user in crowd)
    )
    assert [body.get("errors") for body in bodies] == [None] * CONCURRENCY
    assert all(body["data"]["likePost"]["viewerHasLiked"] for body in bodies)
    assert max(body["data"]["likePost"]["likeCount"] for body in bodies) == CONCURRENCY
    assert await db.fetchval("SELECT count(*) FROM likes WHERE post_id = 4") == CONCURRENCY


async def test_one_user_likes_one_post_fifty_times_at_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, bearer: Callable[[int], dict[str, str]]
) -> None:
    headers = bearer(4)
    bodies = await asyncio.gather(
        *(gql(client, LIKE, {"id": pid(4)}, **headers) for _ in range(CONCURRENCY))
    )
    assert (
        bodies == [{"data": {"likePost": {"likeCount": 1, "viewerHasLiked": True}}}] * CONCURRENCY
    )
    assert await db.fetchval("SELECT count(*) FROM likes WHERE post_id = 4") == 1


async def test_fifty_identical_follows_at_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, bearer: Callable[[int], dict[str, str]]
) -> None:
    headers = bearer(4)  # dave, who does not follow bob
    bodies = await asyncio.gather(
        *(gql(client, FOLLOW, {"id": uid("bob")}, **headers) for _ in range(CONCURRENCY))
    )
    assert bodies == [{"data": {"follow": {"handle": "bob"}}}] * CONCURRENCY
    assert await db.fetchval("SELECT count(*) FROM follows WHERE follower_id = 4") == 2


@pytest.mark.parametrize(
    "mutation",
    [LIKE, 'mutation($id: ID!) { addComment(input: {postId: $id, body: "hi"}) { id } }'],
)
async def test_a_post_deleted_under_a_write_is_not_found(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    bearer: Callable[[int], dict[str, str]],
    mutation: str,
) -> None:
    # The write sees the post, then waits on its foreign key while another transaction,
    # which locked the post first, deletes it.
    async with db.transaction():
        await db.execute("SELECT 1 FROM posts WHERE id = 4 FOR UPDATE")
        write = asyncio.ensure_future(gql(client, mutation, {"id": pid(4)}, **bearer(1)))
        await asyncio.sleep(0.3)
        assert not write.done()
        await db.execute("DELETE FROM posts WHERE id = 4")
    body = await write
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [{"code": "NOT_FOUND", "field": "postId"}]
