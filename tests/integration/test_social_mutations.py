"""follow, unfollow, likePost and unlikePost: idempotent, over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.conftest import gql
from tests.integration.conftest import Invalidations
from tests.integration.errors import only_error
from tests.integration.world import USERS, pid, uid

pytestmark = pytest.mark.usefixtures("small_world")

Login = Callable[[str], dict[str, str]]

FOLLOW = "mutation($id: ID!) { follow(userId: $id) { handle followers(first: 0) { totalCount } } }"
UNFOLLOW = (
    "mutation($id: ID!) { unfollow(userId: $id) { handle followers(first: 0) { totalCount } } }"
)
LIKE = "mutation($id: ID!) { likePost(postId: $id) { id likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikePost(postId: $id) { id likeCount viewerHasLiked } }"


async def follows(db: asyncpg.Connection) -> set[tuple[int, int]]:
    rows = await db.fetch("SELECT follower_id, followee_id FROM follows")
    return {(r[0], r[1]) for r in rows}


async def likes(db: asyncpg.Connection) -> set[tuple[int, int]]:
    return {(r[0], r[1]) for r in await db.fetch("SELECT user_id, post_id FROM likes")}


async def test_follow_is_idempotent(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
) -> None:
    # dave follows alice only; alice has 2 followers (carol, dave), bob has 1 (alice).
    for _ in range(2):
        body = await gql(client, FOLLOW, {"id": uid("bob")}, **as_user("dave"))
        assert body == {"data": {"follow": {"handle": "bob", "followers": {"totalCount": 2}}}}
    assert (USERS["dave"], USERS["bob"]) in await follows(db)
    # The repeat changed nothing, so it invalidated nothing.
    assert invalidations.follows == [(USERS["dave"], USERS["bob"])]


async def test_unfollow_is_idempotent(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
) -> None:
    for _ in range(2):
        body = await gql(client, UNFOLLOW, {"id": uid("alice")}, **as_user("dave"))
        assert body == {"data": {"unfollow": {"handle": "alice", "followers": {"totalCount": 1}}}}
    assert (USERS["dave"], USERS["alice"]) not in await follows(db)
    assert invalidations.follows == [(USERS["dave"], USERS["alice"])]


@pytest.mark.parametrize("mutation", [FOLLOW, UNFOLLOW])
@pytest.mark.parametrize(
    ("who", "target", "code", "field"),
    [
        (None, uid("bob"), "UNAUTHENTICATED", None),
        ("alice", uid("alice"), "BAD_USER_INPUT", "userId"),
        ("alice", pid(1), "NOT_FOUND", "userId"),
        ("alice", "VXNlcjo5OTk", "NOT_FOUND", "userId"),  # User:999
    ],
)
async def test_follow_refusals(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
    mutation: str,
    who: str | None,
    target: str,
    code: str,
    field: str | None,
) -> None:
    before = await follows(db)
    body = await gql(client, mutation, {"id": target}, **(as_user(who) if who else {}))
    assert body["data"] is None
    expected = {"code": code} if field is None else {"code": code, "field": field}
    assert only_error(body) == expected
    assert await follows(db) == before
    assert invalidations.follows == []


async def test_like_and_unlike_are_idempotent(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
) -> None:
    # Post 4 (carol's) has no likes.
    for _ in range(2):
        body = await gql(client, LIKE, {"id": pid(4)}, **as_user("dave"))
        assert body == {
            "data": {"likePost": {"id": pid(4), "likeCount": 1, "viewerHasLiked": True}}
        }
    assert (USERS["dave"], 4) in await likes(db)
    for _ in range(2):
        body = await gql(client, UNLIKE, {"id": pid(4)}, **as_user("dave"))
        assert body == {
            "data": {"unlikePost": {"id": pid(4), "likeCount": 0, "viewerHasLiked": False}}
        }
    assert (USERS["dave"], 4) not in await likes(db)
    # Only the changes invalidate, and only the post author's stats (likesReceived).
    assert invalidations.activity == [{USERS["carol"]}, {USERS["carol"]}]


@pytest.mark.parametrize("mutation", [LIKE, UNLIKE])
@pytest.mark.parametrize(
    ("who", "target", "code", "field"),
    [
        (None, pid(1), "UNAUTHENTICATED", None),
        ("alice", pid(404), "NOT_FOUND", "postId"),
        ("alice", uid("bob"), "NOT_FOUND", "postId"),
    ],
)
async def test_like_refusals(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    mutation: str,
    who: str | None,
    target: str,
    code: str,
    field: str | None,
) -> None:
    before = await likes(db)
    body = await gql(client, mutation, {"id": target}, **(as_user(who) if who else {}))
    assert body["data"] is None
    expected = {"code": code} if field is None else {"code": code, "field": field}
    assert only_error(body) == expected
    assert await likes(db) == before


async def test_each_mutation_of_a_request_sees_the_ones_before(
    client: httpx.AsyncClient, as_user: Login
) -> None:
    body = await gql(
        client,
        """mutation($id: ID!) {
          a: likePost(postId: $id) { likeCount viewerHasLiked }
          b: unlikePost(postId: $id) { likeCount viewerHasLiked }
          c: likePost(postId: $id) { likeCount viewerHasLiked }
        }""",
        {"id": pid(5)},
        **as_user("carol"),
    )
    # Post 5 is liked by bob only.
    assert body == {
        "data": {
            "a": {"likeCount": 2, "viewerHasLiked": True},
            "b": {"likeCount": 1, "viewerHasLiked": False},
            "c": {"likeCount": 2, "viewerHasLiked": True},
        }
    }
