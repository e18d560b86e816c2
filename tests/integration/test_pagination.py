"""Keyset pagination: walks see every item once and in order; bad arguments are refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import StatementLog, gql
from tests.integration.world import POSTS, USERS, pid, uid
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }"
POSTS_PAGE = (
    f"query($first: Int!, $after: String) {{ posts(first: $first, after: $after) {{ {PAGE} }} }}"
)


def nested(parent: str, field: str) -> str:
    """A query paging through `field` of the `parent` with id $id."""
    args = "$id: ID!, $first: Int!, $after: String"
    inner = f"{field}(first: $first, after: $after) {{ {PAGE} }}"
    return f"query({args}) {{ {parent}(id: $id) {{ {inner} }} }}"


async def walk(
    client: httpx.AsyncClient, query: str, path: list[str], first: int, **variables: Any
) -> list[str]:
    """Follow endCursor until hasNextPage is false; return the ids seen."""
    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, query, {"first": first, "after": after, **variables})
        assert "errors" not in body, body
        connection = body["data"]
        for key in path:
            connection = connection[key]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        info = connection["pageInfo"]
        if connection["edges"]:
            assert info["startCursor"] == connection["edges"][0]["cursor"]
            assert info["endCursor"] == connection["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]


@pytest.mark.parametrize("first", [1, 2, 3, 5, 100])
async def test_posts_walk_newest_first(client: httpx.AsyncClient, first: int) -> None:
    newest_first = sorted(POSTS, key=lambda p: POSTS[p][2], reverse=True)
    assert await walk(client, POSTS_PAGE, ["posts"], first) == [pid(p) for p in newest_first]


@pytest.mark.parametrize("first", [1, 3])
async def test_users_walk_oldest_first(client: httpx.AsyncClient, first: int) -> None:
    query = POSTS_PAGE.replace("posts(", "users(")
    assert await walk(client, query, ["users"], first) == [uid(h) for h in USERS]


async def test_user_posts_walk(client: httpx.AsyncClient) -> None:
    query = nested("user", "posts")
    seen = await walk(client, query, ["user", "posts"], 1, id=uid("alice"))
    assert seen == [pid(5), pid(2), pid(1)]


async def test_comments_walk_oldest_first(client: httpx.AsyncClient) -> None:
    query = nested("post", "comments")
    seen = await walk(client, query, ["post", "comments"], 3, id=pid(1))
    assert seen == ["Q29tbWVudDox", "Q29tbWVudDoy", "Q29tbWVudDoz", "Q29tbWVudDo0"]


async def test_followers_and_following_newest_follow_first(client: httpx.AsyncClient) -> None:
    followers = nested("user", "followers")
    following = followers.replace("followers(", "following(")
    # dave is followed by bob (March 6) then carol (March 7)
    assert await walk(client, followers, ["user", "followers"], 1, id=uid("dave")) == [
        uid("carol"),
        uid("bob"),
    ]
    # bob follows carol (March 3) then dave (March 6)
    assert await walk(client, following, ["user", "following"], 1, id=uid("bob")) == [
        uid("dave"),
        uid("carol"),
    ]


async def test_total_counts(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        """query($id: ID!) { users(first: 0) { totalCount } posts(first: 0) { totalCount }
        user(id: $id) {
          followers { totalCount } following { totalCount } posts { totalCount } } }""",
        {"id": uid("alice")},
    )
    assert body == {
        "data": {
            "users": {"totalCount": 4},
            "posts": {"totalCount": 5},
            "user": {
                "followers": {"totalCount": 2},
                "following": {"totalCount": 2},
                "posts": {"totalCount": 3},
            },
        }
    }


async def test_total_count_costs_nothing_unless_selected(
    client: httpx.AsyncClient, sql: StatementLog, settings: Settings
) -> None:
    await gql(client, "{ posts(first: 2) { nodes { comments(first: 1) { nodes { id } } } } }")
    without = len(sql)
    assert not any("count(*)" in text for text in sql.statements)
    sql.clear()
    await gql(
        client, "{ posts(first: 2) { nodes { comments(first: 1) { totalCount nodes { id } } } } }"
    )
    # On the fast path the posts' statement renders and counts them (db/rendered.py).
    assert (without, len(sql)) == ((1, 1) if settings.compiled_queries else (2, 3))
    assert any("count(*)" in text for text in sql.statements)


async def test_first_zero_is_an_empty_page(client: httpx.AsyncClient) -> None:
    body = await gql(client, POSTS_PAGE, {"first": 0})
    assert body["data"]["posts"] == {
        "pageInfo": {
            "hasNextPage": True,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


@pytest.mark.parametrize("first", [-1, 101])
async def test_first_out_of_range_is_bad_user_input(
    client: httpx.AsyncClient, sql: StatementLog, first: int
) -> None:
    body = await gql(client, POSTS_PAGE, {"first": first})
    # Refused before running, as a request error: no `data` at all.
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert "first" in error["message"]
    assert len(sql) == 0


@pytest.mark.parametrize("after", ["garbage", "", pid(1), "a2F6b286Mg"])
async def test_malformed_cursor_is_bad_user_input(client: httpx.AsyncClient, after: str) -> None:
    body = await gql(client, POSTS_PAGE, {"first": 2, "after": after})
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
    assert error["message"] == "Malformed cursor."


async def test_nested_bad_input_names_its_location(client: httpx.AsyncClient) -> None:
    query = "{ posts(first: 1) { nodes { title comments(first: 1000) { totalCount } } } }"
    body = await gql(client, query)
    [error] = body["errors"]
    # Refused before running: located in the document (no path, nothing was resolved).
    assert "path" not in error
    assert error["locations"] == [{"line": 1, "column": query.index("first: 1000") + 1}]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
