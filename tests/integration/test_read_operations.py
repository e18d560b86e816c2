"""The contract's read operations over HTTP, against hand-computed answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import StatementLog, gql, operation
from tests.integration.world import (
    comment_created,
    iso,
    pid,
    post_created,
    post_cursor,
    uid,
    user_created,
)
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

AUTHOR = {
    "alice": {"id": uid("alice"), "handle": "alice", "displayName": "Alice"},
    "carol": {"id": uid("carol"), "handle": "carol", "displayName": "Carol"},
}


def timeline_node(
    post: int, title: str, likes: int, author: str, comments: dict[str, Any]
) -> dict[str, Any]:
    return {
        "cursor": post_cursor(post),
        "node": {
            "id": pid(post),
            "title": title,
            "createdAt": iso(post_created(post)),
            "likeCount": likes,
            "author": AUTHOR[author],
            "comments": comments,
        },
    }


NO_COMMENTS = {"totalCount": 0, "nodes": []}


async def test_timeline_first_page(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("Timeline"), {"first": 2})
    assert body == {
        "data": {
            "posts": {
                "pageInfo": {"hasNextPage": True, "endCursor": post_cursor(4)},
                "edges": [
                    timeline_node(5, "A3", 1, "alice", NO_COMMENTS),
                    timeline_node(4, "C1", 0, "carol", NO_COMMENTS),
                ],
            }
        }
    }


async def test_timeline_last_page_shows_three_oldest_comments(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("Timeline"), {"first": 2, "after": post_cursor(3)})
    comments = {
        "totalCount": 4,
        "nodes": [
            {"id": cid, "body": f"Comment {n}", "author": {"id": uid(who), "handle": who}}
            for n, cid, who in [
                (1, "Q29tbWVudDox", "bob"),
                (2, "Q29tbWVudDoy", "carol"),
                (3, "Q29tbWVudDoz", "dave"),
            ]
        ],
    }
    assert body == {
        "data": {
            "posts": {
                "pageInfo": {"hasNextPage": False, "endCursor": post_cursor(1)},
                "edges": [timeline_node(1, "A1", 3, "alice", comments)],
            }
        }
    }


async def test_directory(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("Directory"), {"first": 2})

    def comment(n: int, who: str) -> dict[str, Any]:
        return {"body": f"Comment {n}", "author": {"handle": who}}

    assert body == {
        "data": {
            "users": {
                "nodes": [
                    {
                        "handle": "alice",
                        "posts": {
                            "nodes": [
                                {"title": "A3", "comments": {"nodes": []}},
                                {"title": "A2", "comments": {"nodes": []}},
                                {
                                    "title": "A1",
                                    "comments": {
                                        "nodes": [
                                            comment(1, "bob"),
                                            comment(2, "carol"),
                                            comment(3, "dave"),
                                            comment(4, "bob"),
                                        ]
                                    },
                                },
                            ]
                        },
                    },
                    {
                        "handle": "bob",
                        "posts": {
                            "nodes": [{"title": "B1", "comments": {"nodes": [comment(5, "alice")]}}]
                        },
                    },
                ]
            }
        }
    }


async def test_user_by_handle(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("UserByHandle"), {"handle": "carol"})
    assert body == {"data": {"userByHandle": AUTHOR["carol"]}}


async def test_user_by_handle_ignores_case_and_misses_with_null(client: httpx.AsyncClient) -> None:
    found = await gql(client, operation("UserByHandle"), {"handle": "CaRoL"})
    missing = await gql(client, operation("UserByHandle"), {"handle": "nobody"})
    assert found == {"data": {"userByHandle": AUTHOR["carol"]}}
    assert missing == {"data": {"userByHandle": None}}


async def test_profile(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("Profile"), {"handle": "alice"})
    assert body == {
        "data": {
            "userByHandle": {
                "id": uid("alice"),
                "handle": "alice",
                "displayName": "Alice",
                "bio": "I am alice",
                "createdAt": iso(user_created("alice")),
                "stats": {
                    "postCount": 3,
                    "commentCount": 1,
                    "followerCount": 2,
                    "followingCount": 2,
                    "likesReceived": 4,
                    # (4 likes + 2 x 4 comments received) / 3 posts
                    "engagementScore": 4.0,
                },
                "posts": {
                    "totalCount": 3,
                    "pageInfo": {"hasNextPage": False, "endCursor": post_cursor(1)},
                    "nodes": [
                        {
                            "id": pid(5),
                            "title": "A3",
                            "createdAt": iso(post_created(5)),
                            "likeCount": 1,
                        },
                        {
                            "id": pid(2),
                            "title": "A2",
                            "createdAt": iso(post_created(2)),
                            "likeCount": 0,
                        },
                        {
                            "id": pid(1),
                            "title": "A1",
                            "createdAt": iso(post_created(1)),
                            "likeCount": 3,
                        },
                    ],
                },
                "recommendedUsers": [{"id": uid("dave"), "handle": "dave", "displayName": "Dave"}],
            }
        }
    }


async def test_leaderboard(client: httpx.AsyncClient) -> None:
    body = await gql(client, operation("Leaderboard"), {"first": 4})

    def row(
        handle: str, posts: int, followers: int, likes: int, score: float, recs: list[str]
    ) -> dict[str, Any]:
        return {
            "handle": handle,
            "stats": {
                "postCount": posts,
                "followerCount": followers,
                "likesReceived": likes,
                "engagementScore": score,
            },
            "recommendedUsers": [{"handle": r} for r in recs],
        }

    assert body == {
        "data": {
            "users": {
                "nodes": [
                    row("alice", 3, 2, 4, 4.0, ["dave"]),
                    row("bob", 1, 1, 1, 3.0, ["alice"]),
                    row("carol", 1, 2, 0, 0.0, ["bob"]),
                    # bob and carol tie (one followee each follows them): smaller id first
                    row("dave", 0, 2, 0, 0.0, ["bob", "carol"]),
                ]
            }
        }
    }


async def test_comment_fields_and_created_at(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) { ... on Comment { body createdAt author { handle }"
        " post { title } } } }",
        {"id": "Q29tbWVudDo1"},
    )
    assert body == {
        "data": {
            "node": {
                "body": "Comment 5",
                "createdAt": iso(comment_created(5)),
                "author": {"handle": "alice"},
                "post": {"title": "B1"},
            }
        }
    }


@pytest.mark.parametrize(
    ("name", "variables", "statements"),
    [
        # posts page with authors; likeCount + comments pages with authors + comment totals
        # (on the fast path the page's statement renders all of it, db/rendered.py)
        ("Timeline", {"first": 5}, (1, 4)),
        # users page; posts pages; comments pages with authors (the fast path: one)
        ("Directory", {"first": 4}, (1, 3)),
        ("UserByHandle", {"handle": "alice"}, 1),
        # user; stats + posts page + post total + recommendations; like counts + the first
        # recommended users' rows (kept in the recommendations entry). On the fast path the
        # page's like counts and its post total come with its rows (db/rendered.py).
        ("Profile", {"handle": "alice"}, (5, 7)),
        # users page; stats + recommendations; the first recommended users' rows
        ("Leaderboard", {"first": 4}, 4),
    ],
)
async def test_statements_per_operation(
    client: httpx.AsyncClient,
    sql: StatementLog,
    settings: Settings,
    name: str,
    variables: dict[str, Any],
    statements: int | tuple[int, int],
) -> None:
    """Exact counts; (fast path, graphql-core) where the two differ."""
    if isinstance(statements, tuple):
        statements = statements[0] if settings.compiled_queries else statements[1]
    body = await gql(client, operation(name), variables)
    assert "errors" not in body
    assert len(sql) == statements, sql.statements
