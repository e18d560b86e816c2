"""Writes of posts and comments; each function runs inside the caller's transaction."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from wren.db.tables import comments, posts
from wren.errors import Forbidden, NotFound

_POST_FIELDS = (posts.c.id, posts.c.author_id, posts.c.title, posts.c.body, posts.c.created_at)

# The post is read in the same statement that inserts the comment, so a missing post
# is a missing row here rather than a foreign-key error.
_ADD_COMMENT = text(
    "WITH p AS (SELECT id, author_id FROM posts WHERE id = :post_id)"
    " INSERT INTO comments (post_id, author_id, body)"
    " SELECT p.id, CAST(:author_id AS bigint), CAST(:body AS text) FROM p"
    " RETURNING id, post_id, author_id, body, created_at,"
    " (SELECT author_id FROM p) AS post_author_id"
)


def _no_post(field: str) -> NotFound:
    return NotFound("No post has this id.", field=field)


async def create_post(
    *, conn: AsyncConnection, author_id: int, title: str, body: str
) -> RowMapping:
    """Insert a post by the author."""
    statement = (
        insert(posts).values(author_id=author_id, title=title, body=body).returning(*_POST_FIELDS)
    )
    return (await conn.execute(statement)).one()._mapping


async def _author_of(conn: AsyncConnection, post_id: int, *, lock: bool = False) -> int | None:
    statement = select(posts.c.author_id).where(posts.c.id == post_id)
    if lock:
        statement = statement.with_for_update()
    author: int | None = (await conn.execute(statement)).scalar_one_or_none()
    return author


async def update_post(
    *, conn: AsyncConnection, post_id: int, editor_id: int, title: str | None, body: str | None
) -> RowMapping:
    """Change a post's title and/or body; only its author may."""
    changes = {
        name: value for name, value in (("title", title), ("body", body)) if value is not None
    }
    # Guarded by the author in the same statement; only a refusal costs a second one.
    guarded = (posts.c.id == post_id) & (posts.c.author_id == editor_id)
    statement = (
        update(posts).where(guarded).values(**changes).returning(*_POST_FIELDS)
        if changes
        else select(*_POST_FIELDS).where(guarded)
    )
    row = (await conn.execute(statement)).one_or_none()
    if row is not None:
        return row._mapping
    if await _author_of(conn, post_id) is None:
        raise _no_post("id")
    raise Forbidden("Only the author may edit this post.", field="id")


class Deleted(NamedTuple):
    """What a post's deletion changed: whose stats, and which comments went with it."""

    users: set[int]
    comments: list[int]


async def delete_post(*, conn: AsyncConnection, post_id: int, deleter_id: int) -> Deleted:
    """Delete a post, its comments and likes; only its author may."""
    # The row lock keeps new comments out (their foreign key needs a share lock on the
    # post) until this transaction ends, so the commenters read below are all of them.
    author = await _author_of(conn, post_id, lock=True)
    if author is None:
        raise _no_post("id")
    if author != deleter_id:
        raise Forbidden("Only the author may delete this post.", field="id")
    removed = await conn.execute(
        delete(comments)
        .where(comments.c.post_id == post_id)
        .returning(comments.c.id, comments.c.author_id)
    )
    gone = removed.all()
    # Likes go by the foreign key's ON DELETE CASCADE.
    await conn.execute(delete(posts).where(posts.c.id == post_id))
    return Deleted({author, *(row.author_id for row in gone)}, [row.id for row in gone])


async def add_comment(
    *, conn: AsyncConnection, post_id: int, author_id: int, body: str
) -> RowMapping:
    """Insert a comment on a post; the row also carries the post's author_id."""
    params = {"post_id": post_id, "author_id": author_id, "body": body}
    row = (await conn.execute(_ADD_COMMENT, params)).one_or_none()
    if row is None:
        raise _no_post("postId")
    return row._mapping
