"""createPost, updatePost, deletePost and addComment, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import gql, operation
from tests.integration.conftest import Invalidations
from tests.integration.errors import only_error
from tests.integration.world import USERS, pid, uid
from wren.ids import to_global_id

pytestmark = pytest.mark.usefixtures("small_world")

Login = Callable[[str], dict[str, str]]

UPDATE = """
mutation Update($input: UpdatePostInput!) {
  updatePost(input: $input) { id title body author { handle } }
}
"""
DELETE = "mutation Delete($id: ID!) { deletePost(id: $id) }"
COMMENT = """
mutation Comment($input: AddCommentInput!) {
  addComment(input: $input) {
    body author { handle } post { id comments(first: 0) { totalCount } }
  }
}
"""


async def snapshot(db: asyncpg.Connection) -> list[Any]:
    """Every row of the content tables, to show that a refused write changed nothing."""
    return [
        [tuple(r) for r in await db.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in ("users", "posts", "comments", "follows", "likes")
    ]


# -- createPost


async def test_create_post(
    client: httpx.AsyncClient, as_user: Login, invalidations: Invalidations
) -> None:
    body = await gql(
        client,
        operation("Write"),
        {"input": {"title": "  Hello  ", "body": "Line one\n\nLine two\t!"}},
        **as_user("alice"),
    )
    post = body["data"]["createPost"]
    assert post["id"] == pid(6)
    assert post["title"] == "Hello"
    assert post["author"] == {
        "id": uid("alice"),
        "handle": "alice",
        "stats": {"postCount": 4},
    }
    assert invalidations.activity == [{USERS["alice"]}]
    again = await gql(client, "query($id: ID!) { post(id: $id) { body } }", {"id": post["id"]})
    assert again["data"]["post"]["body"] == "Line one\n\nLine two\t!"


async def test_create_post_needs_a_viewer(
    client: httpx.AsyncClient, db: asyncpg.Connection, invalidations: Invalidations
) -> None:
    before = await snapshot(db)
    body = await gql(client, operation("Write"), {"input": {"title": "T", "body": "B"}})
    assert body["data"] is None
    assert only_error(body) == {"code": "UNAUTHENTICATED"}
    assert await snapshot(db) == before
    assert invalidations.activity == []


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": " ", "body": "B"}, "title"),
        ({"title": "t" * 201, "body": "B"}, "title"),
        ({"title": "tab\tin title", "body": "B"}, "title"),
        ({"title": "T", "body": "\n \n"}, "body"),
        ({"title": "T", "body": "b" * 20_001}, "body"),
        ({"title": "T", "body": "escape \x1b[31m"}, "body"),
    ],
)
async def test_create_post_validation(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    values: dict[str, str],
    field: str,
) -> None:
    before = await snapshot(db)
    body = await gql(client, operation("Write"), {"input": values}, **as_user("alice"))
    assert only_error(body) == {"code": "BAD_USER_INPUT", "field": field}
    assert await snapshot(db) == before


async def test_create_post_at_the_limits(client: httpx.AsyncClient, as_user: Login) -> None:
    values = {"title": "t" * 200, "body": "b" * 20_000}
    body = await gql(client, operation("Write"), {"input": values}, **as_user("bob"))
    assert body["data"]["createPost"]["author"]["stats"] == {"postCount": 2}


# -- updatePost


async def test_update_post_changes_only_what_is_given(
    client: httpx.AsyncClient, as_user: Login, invalidations: Invalidations
) -> None:
    body = await gql(
        client, UPDATE, {"input": {"id": pid(1), "title": " New title "}}, **as_user("alice")
    )
    assert body == {
        "data": {
            "updatePost": {
                "id": pid(1),
                "title": "New title",
                "body": "Body of A1",
                "author": {"handle": "alice"},
            }
        }
    }
    body = await gql(client, UPDATE, {"input": {"id": pid(1), "body": "New"}}, **as_user("alice"))
    assert body["data"]["updatePost"]["title"] == "New title"
    assert body["data"]["updatePost"]["body"] == "New"
    body = await gql(client, UPDATE, {"input": {"id": pid(1)}}, **as_user("alice"))
    assert body["data"]["updatePost"]["body"] == "New"
    assert invalidations.activity == []


@pytest.mark.parametrize(
    ("who", "values", "code", "field"),
    [
        (None, {"id": pid(1), "title": "X"}, "UNAUTHENTICATED", None),
        ("bob", {"id": pid(1), "title": "X"}, "FORBIDDEN", "id"),
        ("bob", {"id": pid(1)}, "FORBIDDEN", "id"),
        ("alice", {"id": pid(99), "title": "X"}, "NOT_FOUND", "id"),
        ("alice", {"id": uid("alice"), "title": "X"}, "NOT_FOUND", "id"),
        ("alice", {"id": "garbage", "title": "X"}, "BAD_USER_INPUT", "id"),
        ("alice", {"id": pid(1), "title": ""}, "BAD_USER_INPUT", "title"),
        ("alice", {"id": pid(1), "body": "b" * 20_001}, "BAD_USER_INPUT", "body"),
    ],
)
async def test_update_post_refusals(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    who: str | None,
    values: dict[str, str],
    code: str,
    field: str | None,
) -> None:
    before = await snapshot(db)
    headers = as_user(who) if who else {}
    body = await gql(client, UPDATE, {"input": values}, **headers)
    assert body["data"] is None
    expected = {"code": code} if field is None else {"code": code, "field": field}
    assert only_error(body) == expected
    assert await snapshot(db) == before


# -- deletePost


async def test_delete_post_takes_its_comments_and_likes(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
) -> None:
    body = await gql(client, DELETE, {"id": pid(1)}, **as_user("alice"))
    assert body == {"data": {"deletePost": pid(1)}}
    assert await db.fetchval("SELECT count(*) FROM posts WHERE id = 1") == 0
    assert await db.fetchval("SELECT count(*) FROM comments WHERE post_id = 1") == 0
    assert await db.fetchval("SELECT count(*) FROM likes WHERE post_id = 1") == 0
    # Other posts keep theirs.
    assert await db.fetchval("SELECT count(*) FROM comments") == 1
    assert await db.fetchval("SELECT count(*) FROM likes") == 2
    # The author's stats and the commenters' commentCount changed.
    assert invalidations.activity == [{USERS[h] for h in ("alice", "bob", "carol", "dave")}]

    again = await gql(client, DELETE, {"id": pid(1)}, **as_user("alice"))
    assert only_error(again) == {"code": "NOT_FOUND", "field": "id"}


@pytest.mark.parametrize(
    ("who", "post", "code"),
    [
        (None, pid(1), "UNAUTHENTICATED"),
        ("bob", pid(1), "FORBIDDEN"),
        ("alice", pid(42), "NOT_FOUND"),
        ("alice", to_global_id("Comment", 1), "NOT_FOUND"),
    ],
)
async def test_delete_post_refusals(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
    who: str | None,
    post: str,
    code: str,
) -> None:
    before = await snapshot(db)
    body = await gql(client, DELETE, {"id": post}, **(as_user(who) if who else {}))
    assert body["data"] is None
    assert only_error(body)["code"] == code
    assert await snapshot(db) == before
    assert invalidations.activity == []


@pytest.fixture
async def failing_post_delete(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Make deleting a post fail inside the database, after its comments are gone."""
    await db.execute(
        "CREATE FUNCTION wren_test_fail() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;"
        " CREATE TRIGGER wren_test_fail BEFORE DELETE ON posts"
        " FOR EACH ROW EXECUTE FUNCTION wren_test_fail()"
    )
    try:
        yield
    finally:
        await db.execute("DROP TRIGGER wren_test_fail ON posts; DROP FUNCTION wren_test_fail()")


@pytest.mark.usefixtures("failing_post_delete")
async def test_delete_post_is_all_or_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    invalidations: Invalidations,
) -> None:
    before = await snapshot(db)
    body = await gql(client, DELETE, {"id": pid(1)}, **as_user("alice"))
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Internal server error."
    assert "disk on fire" not in str(body)
    # The comments deleted before the failure came back with the rollback.
    assert await snapshot(db) == before
    assert invalidations.activity == []


# -- addComment


async def test_add_comment(
    client: httpx.AsyncClient, as_user: Login, invalidations: Invalidations
) -> None:
    body = await gql(
        client, COMMENT, {"input": {"postId": pid(3), "body": " Nice\npost "}}, **as_user("carol")
    )
    assert body == {
        "data": {
            "addComment": {
                "body": "Nice\npost",
                "author": {"handle": "carol"},
                "post": {"id": pid(3), "comments": {"totalCount": 2}},
            }
        }
    }
    assert invalidations.activity == [{USERS["carol"], USERS["bob"]}]


async def test_comment_on_own_post_invalidates_once(
    client: httpx.AsyncClient, as_user: Login, invalidations: Invalidations
) -> None:
    body = await gql(client, COMMENT, {"input": {"postId": pid(3), "body": "me"}}, **as_user("bob"))
    assert "errors" not in body
    assert invalidations.activity == [{USERS["bob"]}]


@pytest.mark.parametrize(
    ("who", "values", "code", "field"),
    [
        (None, {"postId": pid(1), "body": "x"}, "UNAUTHENTICATED", None),
        ("bob", {"postId": pid(77), "body": "x"}, "NOT_FOUND", "postId"),
        ("bob", {"postId": uid("bob"), "body": "x"}, "NOT_FOUND", "postId"),
        ("bob", {"postId": pid(1), "body": "   "}, "BAD_USER_INPUT", "body"),
        ("bob", {"postId": pid(1), "body": "c" * 2_001}, "BAD_USER_INPUT", "body"),
        ("bob", {"postId": pid(1), "body": "bell\x07"}, "BAD_USER_INPUT", "body"),
    ],
)
async def test_add_comment_refusals(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    as_user: Login,
    who: str | None,
    values: dict[str, str],
    code: str,
    field: str | None,
) -> None:
    before = await snapshot(db)
    body = await gql(client, COMMENT, {"input": values}, **(as_user(who) if who else {}))
    assert body["data"] is None
    expected = {"code": code} if field is None else {"code": code, "field": field}
    assert only_error(body) == expected
    assert await snapshot(db) == before
