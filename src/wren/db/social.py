"""Follows and likes: idempotent writes, each one statement in the caller's transaction.

Each statement reads its target and changes the edge together, and says whether the
edge changed: a repeated follow or like is a no-op (ON CONFLICT DO NOTHING), not an
error, even when identical requests race, and a no-op leaves every cache entry valid.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from wren.db.queries import POST_COLUMNS, USER_COLUMNS
from wren.errors import NotFound

_FOLLOW = text(
    f"WITH u AS (SELECT {USER_COLUMNS} FROM users u WHERE u.id = :followee_id),"
    " changed AS (INSERT INTO follows (follower_id, followee_id)"
    "  SELECT CAST(:follower_id AS bigint), id FROM u ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT u.*, EXISTS (SELECT 1 FROM changed) AS changed FROM u"
)
_UNFOLLOW = text(
    f"WITH u AS (SELECT {USER_COLUMNS} FROM users u WHERE u.id = :followee_id),"
    " changed AS (DELETE FROM follows f USING u"
    "  WHERE f.follower_id = :follower_id AND f.followee_id = u.id RETURNING 1)"
    " SELECT u.*, EXISTS (SELECT 1 FROM changed) AS changed FROM u"
)
_LIKE = text(
    f"WITH p AS (SELECT {POST_COLUMNS} FROM posts p JOIN users a ON a.id = p.author_id"
    "  WHERE p.id = :post_id),"
    " changed AS (INSERT INTO likes (user_id, post_id)"
    "  SELECT CAST(:user_id AS bigint), id FROM p ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT p.*, EXISTS (SELECT 1 FROM changed) AS changed FROM p"
)
_UNLIKE = text(
    f"WITH p AS (SELECT {POST_COLUMNS} FROM posts p JOIN users a ON a.id = p.author_id"
    "  WHERE p.id = :post_id),"
    " changed AS (DELETE FROM likes l USING p"
    "  WHERE l.user_id = :user_id AND l.post_id = p.id RETURNING 1)"
    " SELECT p.*, EXISTS (SELECT 1 FROM changed) AS changed FROM p"
)


async def _edge(
    conn: AsyncConnection, statement: Any, params: dict[str, int], what: str
) -> RowMapping:
    row = (await conn.execute(statement, params)).one_or_none()
    if row is None:
        field = "userId" if what == "user" else "postId"
        raise NotFound(f"No {what} has this id.", field=field)
    return row._mapping


async def follow(*, conn: AsyncConnection, follower_id: int, followee_id: int) -> RowMapping:
    """Make follower follow followee; the followee's row, with `changed`."""
    params = {"follower_id": follower_id, "followee_id": followee_id}
    return await _edge(conn, _FOLLOW, params, "user")


async def unfollow(*, conn: AsyncConnection, follower_id: int, followee_id: int) -> RowMapping:
    """Make follower stop following followee; the followee's row, with `changed`."""
    params = {"follower_id": follower_id, "followee_id": followee_id}
    return await _edge(conn, _UNFOLLOW, params, "user")


async def like(*, conn: AsyncConnection, user_id: int, post_id: int) -> RowMapping:
    """Make the user like the post; the post's row, with `changed`."""
    return await _edge(conn, _LIKE, {"user_id": user_id, "post_id": post_id}, "post")


async def unlike(*, conn: AsyncConnection, user_id: int, post_id: int) -> RowMapping:
    """Make the user stop liking the post; the post's row, with `changed`."""
    return await _edge(conn, _UNLIKE, {"user_id": user_id, "post_id": post_id}, "post")
