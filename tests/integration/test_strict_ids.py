"""Ids and cursors are exactly what Wren encodes: a near miss names nothing and moves nothing.

Base64 decoding drops characters it does not know, takes padding and the standard
alphabet too, and ignores the unused bits of the last character: "VXNlcjox\\u0000" and
"VXNlcjox!!*" both decoded to User 1.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import httpx
import pytest

from tests.conftest import gql, operation
from tests.integration.errors import only_error
from tests.integration.world import cid, pid, post_cursor, uid

pytestmark = pytest.mark.usefixtures("small_world")

NODE = "query($id: ID!) { node(id: $id) { id } }"
USER = "query($id: ID!) { user(id: $id) { handle } }"
POST = "query($id: ID!) { post(id: $id) { title } }"


def near_misses(exact: str) -> list[str]:
    """Strings that lenient base64 decoding read as `exact`."""
    return [
        exact + "\u0000",
        exact + "!!*",
        exact[:4] + " " + exact[4:],
        exact + "\n",
        exact + "==",
        "!" + exact,
    ]


# "VXNlcjox" is User:1; "UG9zdDox" is Post:1; the last character of "VXNlcjoxMA" (User:10)
# carries four unused bits, so "VXNlcjoxMB" decoded to User:10 as well.
LENIENT_USERS = [*near_misses(uid("alice")), "VXNlcjoxMB", "VXNlcjowMQ"]  # ..., "User:01"
LENIENT_POSTS = near_misses(pid(1))


def test_the_examples_are_what_they_seem() -> None:
    assert uid("alice") == "VXNlcjox"
    assert pid(1) == "UG9zdDox"


@pytest.mark.parametrize("gid", LENIENT_USERS + LENIENT_POSTS + near_misses(cid(1)))
async def test_node_of_a_near_miss_is_null(client: httpx.AsyncClient, gid: str) -> None:
    assert await gql(client, NODE, {"id": gid}) == {"data": {"node": None}}


@pytest.mark.parametrize("gid", LENIENT_USERS)
async def test_user_of_a_near_miss_is_null(client: httpx.AsyncClient, gid: str) -> None:
    assert await gql(client, USER, {"id": gid}) == {"data": {"user": None}}


@pytest.mark.parametrize("gid", LENIENT_POSTS)
async def test_post_of_a_near_miss_is_null(client: httpx.AsyncClient, gid: str) -> None:
    assert await gql(client, POST, {"id": gid}) == {"data": {"post": None}}


async def test_the_exact_ids_still_resolve(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "query($u: ID!, $p: ID!) { node(id: $u) { id } user(id: $u) { handle }"
        " post(id: $p) { title } }",
        {"u": uid("alice"), "p": pid(1)},
    )
    assert body == {
        "data": {"node": {"id": uid("alice")}, "user": {"handle": "alice"}, "post": {"title": "A1"}}
    }


@pytest.mark.parametrize("after", near_misses(post_cursor(4)))
async def test_a_near_miss_cursor_is_bad_user_input(client: httpx.AsyncClient, after: str) -> None:
    body = await gql(client, operation("Timeline"), {"first": 2, "after": after})
    assert only_error(body) == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert body["data"] is None


async def test_the_exact_cursor_still_pages(client: httpx.AsyncClient) -> None:
    body = await gql(client, "query($a: String) { posts(first: 1, after: $a) { nodes { title } } }",
                     {"a": post_cursor(4)})  # fmt: skip
    assert body == {"data": {"posts": {"nodes": [{"title": "A2"}]}}}


# (mutation, its id argument): alice follows dave or likes, deletes or comments on her
# own Post 1, each spelt almost right.
MUTATIONS = [
    ("mutation($id: ID!) { follow(userId: $id) { handle } }", "userId"),
    ("mutation($id: ID!) { likePost(postId: $id) { likeCount } }", "postId"),
    ("mutation($id: ID!) { deletePost(id: $id) }", "id"),
    ('mutation($id: ID!) { addComment(input: {postId: $id, body: "x"}) { id } }', "postId"),
]


@pytest.mark.parametrize(("query", "field"), MUTATIONS)
@pytest.mark.parametrize("variant", range(len(near_misses(""))))
async def test_a_near_miss_id_in_a_mutation_is_bad_user_input(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Callable[[str], dict[str, str]],
    query: str,
    field: str,
    variant: int,
) -> None:
    exact = uid("dave") if field == "userId" else pid(1)
    before = await counts(db)
    body = await gql(client, query, {"id": near_misses(exact)[variant]}, **as_user("alice"))
    assert only_error(body) == {"code": "BAD_USER_INPUT", "field": field}
    assert body["errors"][0]["message"] == "Malformed id."
    assert await counts(db) == before
    # Spelt right, the same mutation goes through.
    done = await gql(client, query, {"id": exact}, **as_user("alice"))
    assert "errors" not in done, done
    assert await counts(db) != before


async def counts(db: asyncpg.Connection) -> tuple[int, ...]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM follows), (SELECT count(*) FROM likes),"
        " (SELECT count(*) FROM posts), (SELECT count(*) FROM comments)"
    )
    assert row is not None
    return tuple(row)
