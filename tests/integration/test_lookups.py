"""Lookups by id: every node type resolves; unknown or malformed ids give null."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StatementLog, gql
from tests.integration.world import pid, uid
from wren.ids import to_global_id

pytestmark = pytest.mark.usefixtures("small_world")

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on User { handle } ... on Post { title } ... on Comment { body } } }"""


@pytest.mark.parametrize(
    ("gid", "expected"),
    [
        (uid("bob"), {"__typename": "User", "handle": "bob"}),
        (pid(3), {"__typename": "Post", "title": "B1"}),
        (to_global_id("Comment", 2), {"__typename": "Comment", "body": "Comment 2"}),
    ],
)
async def test_node_resolves_every_type(
    client: httpx.AsyncClient, gid: str, expected: dict[str, str]
) -> None:
    body = await gql(client, NODE, {"id": gid})
    assert body == {"data": {"node": {"id": gid, **expected}}}


@pytest.mark.parametrize(
    "gid",
    [to_global_id("User", 999), to_global_id("Post", 999), "not-an-id", "", to_global_id("Tag", 1)],
)
async def test_unknown_or_malformed_node_is_null(client: httpx.AsyncClient, gid: str) -> None:
    assert await gql(client, NODE, {"id": gid}) == {"data": {"node": None}}


async def test_user_and_post_by_id(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        """query($u: ID!, $p: ID!, $wrong: ID!) { user(id: $u) { handle bio }
        post(id: $p) { title body author { handle } } wrongType: user(id: $wrong) { handle }
        missing: post(id: "nope") { title } }""",
        {"u": uid("dave"), "p": pid(4), "wrong": pid(4)},
    )
    assert body == {
        "data": {
            "user": {"handle": "dave", "bio": None},
            "post": {"title": "C1", "body": "Body of C1", "author": {"handle": "carol"}},
            "wrongType": None,
            "missing": None,
        }
    }


async def test_malformed_ids_cost_no_sql(client: httpx.AsyncClient, sql: StatementLog) -> None:
    await gql(client, NODE, {"id": "not-an-id"})
    assert len(sql) == 0


async def test_same_user_many_times_is_one_lookup(
    client: httpx.AsyncClient, sql: StatementLog
) -> None:
    body = await gql(client, "{ posts(first: 5) { nodes { author { handle } } } }")
    assert [n["author"]["handle"] for n in body["data"]["posts"]["nodes"]] == [
        "alice",
        "carol",
        "alice",
        "bob",
        "alice",
    ]
    assert len(sql) == 1  # the authors come joined to the posts


async def test_viewer_is_null_without_a_token(client: httpx.AsyncClient) -> None:
    assert await gql(client, "{ viewer { id } }") == {"data": {"viewer": None}}


async def test_feed_needs_a_viewer(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ feed { nodes { id } } }")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
