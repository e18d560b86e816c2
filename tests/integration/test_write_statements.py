"""Exact SQL statement counts of the mutations (reads of the result included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import StatementLog, gql, operation
from tests.integration.world import pid, uid

pytestmark = pytest.mark.usefixtures("small_world")


@pytest.mark.parametrize(
    ("query", "variables", "statements"),
    [
        # insert; author; stats
        (operation("Write"), {"input": {"title": "T", "body": "B"}}, 3),
        # update guarded by the author
        (
            'mutation($id: ID!) { updatePost(input: {id: $id, title: "N"}) { title } }',
            {"id": pid(1)},
            1,
        ),
        # lock the post; delete its comments; delete it (likes cascade)
        ("mutation($id: ID!) { deletePost(id: $id) }", {"id": pid(1)}, 3),
        # insert reading the post in the same statement
        (
            'mutation($id: ID!) { addComment(input: {postId: $id, body: "c"}) { body } }',
            {"id": pid(3)},
            1,
        ),
        # follow reading the followee in the same statement; after the commit, the
        # follower's followers (their cached recommendations depend on this follow)
        ("mutation($id: ID!) { follow(userId: $id) { handle } }", {"id": uid("dave")}, 2),
        ("mutation($id: ID!) { unfollow(userId: $id) { handle } }", {"id": uid("bob")}, 2),
        # like reading the post; like count; the viewer's like
        (
            "mutation($id: ID!) { likePost(postId: $id) { likeCount viewerHasLiked } }",
            {"id": pid(4)},
            3,
        ),
        (
            "mutation($id: ID!) { unlikePost(postId: $id) { likeCount viewerHasLiked } }",
            {"id": pid(3)},
            3,
        ),
    ],
)
async def test_statements_per_mutation(
    client: httpx.AsyncClient,
    sql: StatementLog,
    as_user: Callable[[str], dict[str, str]],
    query: str,
    variables: dict[str, Any],
    statements: int,
) -> None:
    body = await gql(client, query, variables, **as_user("alice"))
    assert "errors" not in body, body
    assert len(sql) == statements, sql.statements
