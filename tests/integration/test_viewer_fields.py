"""The viewer-dependent fields: Post.viewerHasLiked, Query.feed and Query.viewer."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.conftest import StatementLog, gql, operation
from tests.integration.errors import only_error
from tests.integration.world import iso, pid, post_created, post_cursor, uid

pytestmark = pytest.mark.usefixtures("small_world")

Login = Callable[[str], dict[str, str]]
LIKED = "{ posts(first: 20) { nodes { id viewerHasLiked } } }"


async def test_viewer_has_liked_per_viewer(client: httpx.AsyncClient, as_user: Login) -> None:
    # bob likes posts 1 and 5, alice likes post 3, dave likes post 1.
    expected = {"bob": {1, 5}, "alice": {3}, "dave": {1}, "carol": {1}}
    for who, liked in expected.items():
        body = await gql(client, LIKED, **as_user(who))
        nodes = body["data"]["posts"]["nodes"]
        assert {n["id"] for n in nodes if n["viewerHasLiked"]} == {pid(p) for p in liked}


async def test_viewer_has_liked_is_false_for_anonymous_without_a_query(
    client: httpx.AsyncClient, sql: StatementLog
) -> None:
    body = await gql(client, LIKED)
    assert not any(n["viewerHasLiked"] for n in body["data"]["posts"]["nodes"])
    assert len(sql) == 1  # the page of posts only


async def test_viewer_has_liked_for_twenty_posts_is_one_statement(
    client: httpx.AsyncClient, db: asyncpg.Connection, as_user: Login, sql: StatementLog
) -> None:
    await db.execute(
        "INSERT INTO posts (author_id, title, body)"
        " SELECT 2, 'More', 'x' FROM generate_series(1, 20)"
    )
    await db.execute("INSERT INTO likes (user_id, post_id) VALUES (1, 6), (1, 25)")
    body = await gql(client, LIKED, **as_user("alice"))
    nodes = body["data"]["posts"]["nodes"]
    assert len(nodes) == 20
    assert {n["id"] for n in nodes if n["viewerHasLiked"]} == {pid(6), pid(25)}
    assert len(sql) == 2, sql.statements  # the page of posts, then every like at once
    assert sum("likes l" in s for s in sql.statements) == 1


async def test_feed_operation(client: httpx.AsyncClient, as_user: Login, sql: StatementLog) -> None:
    # alice follows bob (post 3) and carol (post 4); she likes post 3.
    body = await gql(client, operation("Feed"), {"first": 1}, **as_user("alice"))
    assert body == {
        "data": {
            "viewer": {"id": uid("alice"), "handle": "alice"},
            "feed": {
                "pageInfo": {"hasNextPage": True, "endCursor": post_cursor(4)},
                "nodes": [
                    {
                        "id": pid(4),
                        "title": "C1",
                        "createdAt": iso(post_created(4)),
                        "likeCount": 0,
                        "viewerHasLiked": False,
                        "author": {"id": uid("carol"), "handle": "carol", "displayName": "Carol"},
                    }
                ],
            },
        }
    }
    # viewer + feed page with authors; like counts + likes
    assert len(sql) == 4, sql.statements
    body = await gql(
        client, operation("Feed"), {"first": 5, "after": post_cursor(4)}, **as_user("alice")
    )
    nodes = body["data"]["feed"]["nodes"]
    assert [(n["id"], n["viewerHasLiked"]) for n in nodes] == [(pid(3), True)]
    assert body["data"]["feed"]["pageInfo"] == {"hasNextPage": False, "endCursor": post_cursor(3)}


async def test_feed_follows_the_follows(client: httpx.AsyncClient, as_user: Login) -> None:
    query = "{ feed(first: 10) { totalCount nodes { id } } }"
    before = await gql(client, query, **as_user("dave"))
    assert before["data"]["feed"] == {
        "totalCount": 3,
        "nodes": [{"id": pid(p)} for p in (5, 2, 1)],
    }
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    await gql(client, follow, {"id": uid("bob")}, **as_user("dave"))
    after = await gql(client, query, **as_user("dave"))
    assert after["data"]["feed"]["nodes"] == [{"id": pid(p)} for p in (5, 2, 3, 1)]


async def test_feed_needs_a_viewer(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ feed { totalCount } }")
    assert body["data"] is None
    assert only_error(body) == {"code": "UNAUTHENTICATED"}
