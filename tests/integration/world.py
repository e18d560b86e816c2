"""A small hand-made world whose every answer can be computed by hand in the tests."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from wren.ids import encode_cursor, to_global_id

# handle -> id, in creation order (oldest account first)
USERS = {"alice": 1, "bob": 2, "carol": 3, "dave": 4}
# post id -> (author, title, created day in February 2025)
POSTS = {
    1: ("alice", "A1", 1),
    2: ("alice", "A2", 3),
    3: ("bob", "B1", 2),
    4: ("carol", "C1", 4),
    5: ("alice", "A3", 5),
}
# comment id -> (post id, author, hour on the post's day)
COMMENTS = {
    1: (1, "bob", 10),
    2: (1, "carol", 11),
    3: (1, "dave", 12),
    4: (1, "bob", 13),
    5: (3, "alice", 10),
}
# (follower, followee, day in March 2025)
FOLLOWS = [
    ("alice", "bob", 1),
    ("alice", "carol", 2),
    ("bob", "carol", 3),
    ("carol", "alice", 4),
    ("dave", "alice", 5),
    ("bob", "dave", 6),
    ("carol", "dave", 7),
]
# (user, post id)
LIKES = [("bob", 1), ("carol", 1), ("dave", 1), ("alice", 3), ("bob", 5)]


def user_created(handle: str) -> datetime:
    return datetime(2025, 1, USERS[handle], tzinfo=UTC)


def post_created(post: int) -> datetime:
    return datetime(2025, 2, POSTS[post][2], tzinfo=UTC)


def comment_created(comment: int) -> datetime:
    post, _, hour = COMMENTS[comment]
    return post_created(post).replace(hour=hour)


def follow_created(follower: str, followee: str) -> datetime:
    day = next(d for a, b, d in FOLLOWS if (a, b) == (follower, followee))
    return datetime(2025, 3, day, tzinfo=UTC)


def uid(handle: str) -> str:
    return to_global_id("User", USERS[handle])


def pid(post: int) -> str:
    return to_global_id("Post", post)


def cid(comment: int) -> str:
    return to_global_id("Comment", comment)


def post_cursor(post: int) -> str:
    return encode_cursor(post_created(post), post)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def build(database_url: str) -> None:
    """Insert the world (ids are fixed; sequences continue after them)."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.executemany(
            "INSERT INTO users (id, handle, display_name, bio, password_hash, created_at)"
            " VALUES ($1, $2, $3, $4, 'x', $5)",
            [
                (i, h, h.title(), None if h == "dave" else f"I am {h}", user_created(h))
                for h, i in USERS.items()
            ],
        )
        await conn.executemany(
            "INSERT INTO posts (id, author_id, title, body, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(p, USERS[a], t, f"Body of {t}", post_created(p)) for p, (a, t, _) in POSTS.items()],
        )
        await conn.executemany(
            "INSERT INTO comments (id, post_id, author_id, body, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (c, p, USERS[a], f"Comment {c}", comment_created(c))
                for c, (p, a, _) in COMMENTS.items()
            ],
        )
        await conn.executemany(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)",
            [(USERS[a], USERS[b], follow_created(a, b)) for a, b, _ in FOLLOWS],
        )
        await conn.executemany(
            "INSERT INTO likes (user_id, post_id) VALUES ($1, $2)",
            [(USERS[u], p) for u, p in LIKES],
        )
        for table in ("users", "posts", "comments"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    finally:
        await conn.close()
