"""The batch functions' SQL: every statement takes arrays, so one statement serves a batch.

Lists are keyset-paginated on (timestamp, id). A batch of pages for many parents is one
statement: the parents, their limits and their cursors are unnested side by side and a
LATERAL subquery reads each parent's page through its index, so 50 users x posts(first: 5)
costs one statement whatever `first` is. Arrays (`= ANY(:ids)`) instead of `IN (...)`
keep the SQL text identical for every batch size, so asyncpg's prepared statements are
reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import BigInteger, Select, TextClause, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from wren.db.tables import comments, follows, likes, posts, users

USER_COLUMNS = "u.id, u.handle, u.display_name, u.bio, u.created_at"
# Posts and comments carry their author's columns (a primary-key join per row): every
# contract operation that lists them shows the author, and a joined author is built with
# the item instead of through a second statement and an awaited loader per item.
AUTHOR_COLUMNS = (
    "a.handle AS author_handle, a.display_name AS author_display_name,"
    " a.bio AS author_bio, a.created_at AS author_created_at"
)
POST_COLUMNS = f"p.id, p.author_id, p.title, p.body, p.created_at, {AUTHOR_COLUMNS}"
COMMENT_COLUMNS = f"c.id, c.post_id, c.author_id, c.body, c.created_at, {AUTHOR_COLUMNS}"

_IDS = bindparam("ids", type_=ARRAY(BigInteger))
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Listing:
    """How one kind of list is read: its rows, its parent column and its sort key."""

    columns: str
    source: str
    at: str
    pk: str
    descending: bool
    parent: str | None = None

    @property
    def _order(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{self.at} {direction}, {self.pk} {direction}"

    def _after(self, at: str, pk: str) -> str:
        # No cursor starts the walk at the far end of the sort order.
        if self.descending:
            return (
                f"({self.at}, {self.pk}) < (COALESCE({at}, 'infinity'), COALESCE({pk}, {_MAX_ID}))"
            )
        return f"({self.at}, {self.pk}) > (COALESCE({at}, '-infinity'), COALESCE({pk}, 0))"

    @cached_property
    def top_level(self) -> TextClause:
        """One page of the whole list: params at, pk (cursor or NULL) and lim."""
        return self.top_level_selecting(self.columns)

    def top_level_selecting(self, columns: str, limit: int | None = None) -> TextClause:
        """top_level with other columns (the same statement for the same columns), and
        with `limit` written in the statement instead of taken as :lim.

        A written limit is what lets PostgreSQL keep one plan of a statement that renders
        a whole tree (db/rendered.py): with `LIMIT $n` its generic plan is costed for a
        tenth of the table, 160 times its custom plans' cost (Timeline's, 377,565 against
        2,371: JIT compilation too, past jit_above_cost), so every execution was planned
        again, a quarter of Timeline's PostgreSQL instructions. A page size is 0 to
        MAX_FIRST: at most 101 texts per rendered selection.
        """
        return _top_level(self, columns, limit)

    @cached_property
    def per_parent(self) -> TextClause:
        """Pages for many parents at once: parallel arrays parents, lims, ats, pks."""
        return self.per_parent_selecting(self.columns)

    def per_parent_selecting(self, columns: str, *, counted: bool = False) -> TextClause:
        """per_parent with other columns (the same statement for the same columns).

        `counted`: each parent's whole list counted too, in a column `total` of its rows,
        and a parent whose page is empty still gives one row (its columns NULL, `id`
        too): a list's totalCount without a count statement of its own.
        """
        return _per_parent(self, columns, counted)


@lru_cache(maxsize=1024)  # one per shape of rendered selection and page size in use
def _top_level(listing: Listing, columns: str, limit: int | None) -> TextClause:
    return text(
        f"SELECT {columns} FROM {listing.source}"
        f" WHERE {listing._after('CAST(:at AS timestamptz)', 'CAST(:pk AS bigint)')}"
        f" ORDER BY {listing._order} LIMIT {':lim' if limit is None else int(limit)}"
    )


@lru_cache(maxsize=256)  # a few per listing: one per shape of rendered selection
def _per_parent(listing: Listing, columns: str, counted: bool) -> TextClause:
    assert listing.parent is not None
    page = (
        f"(SELECT {columns} FROM {listing.source}"
        f" WHERE {listing.parent} = k.parent AND {listing._after('k.at', 'k.pk')}"
        f" ORDER BY {listing._order} LIMIT k.lim) x"
    )
    joined = (
        f" CROSS JOIN LATERAL (SELECT count(*) AS total FROM {listing.source}"
        f" WHERE {listing.parent} = k.parent) t LEFT JOIN LATERAL {page} ON true"
        if counted
        else f" CROSS JOIN LATERAL {page}"
    )
    return text(
        f"SELECT k.ord, {'t.total, ' if counted else ''}x.*"
        " FROM unnest(CAST(:parents AS bigint[]), CAST(:lims AS int[]),"
        " CAST(:ats AS timestamptz[]), CAST(:pks AS bigint[]))"
        f" WITH ORDINALITY AS k(parent, lim, at, pk, ord){joined}"
        " ORDER BY k.ord"
    )


USERS = Listing(USER_COLUMNS, "users u", "u.created_at", "u.id", descending=False)
_POSTS = "posts p JOIN users a ON a.id = p.author_id"
_COMMENTS = "comments c JOIN users a ON a.id = c.author_id"
POSTS = Listing(POST_COLUMNS, _POSTS, "p.created_at", "p.id", descending=True)
POSTS_BY_AUTHOR = Listing(
    POST_COLUMNS, _POSTS, "p.created_at", "p.id", descending=True, parent="p.author_id"
)
COMMENTS_BY_POST = Listing(
    COMMENT_COLUMNS, _COMMENTS, "c.created_at", "c.id", descending=False, parent="c.post_id"
)
FOLLOWERS = Listing(
    f"{USER_COLUMNS}, f.created_at AS followed_at",
    "follows f JOIN users u ON u.id = f.follower_id",
    "f.created_at",
    "f.follower_id",
    descending=True,
    parent="f.followee_id",
)
FOLLOWING = Listing(
    f"{USER_COLUMNS}, f.created_at AS followed_at",
    "follows f JOIN users u ON u.id = f.followee_id",
    "f.created_at",
    "f.followee_id",
    descending=True,
    parent="f.follower_id",
)

_USER_FIELDS = (users.c.id, users.c.handle, users.c.display_name, users.c.bio, users.c.created_at)

USERS_BY_ID = select(*_USER_FIELDS).where(users.c.id == any_(_IDS))
USERS_BY_HANDLE = select(*_USER_FIELDS).where(
    func.lower(users.c.handle) == any_(bindparam("handles", type_=ARRAY(users.c.handle.type)))
)


@lru_cache(maxsize=64)  # one per shape of rendered selection
def users_by_handle_rendering(json: str) -> TextClause:
    """USERS_BY_HANDLE with each user's row rendered as the JSON `json` (an expression
    over `u`, db/rendered.py) beside its lower-cased handle: two columns to decode.

    The handles come through a scalar subquery (an InitPlan) so that a custom plan is
    costed for as many handles as the generic plan (ten: the array is not known when
    planning either). With the array itself a custom plan knew it held one handle and
    cost 8.30 against the generic plan's 54.97, so each execution was planned again: over half of
    the statement's PostgreSQL instructions (pgreplay: 255,459 -> 119,745). Where
    every execution is planned anyway (WREN_DATABASE_POOLER=transaction), the subquery
    costs the planner more: 247,748 -> 290,890 with plan_cache_mode=force_custom_plan.
    """
    return text(
        f"SELECT lower(u.handle) AS key, {json} AS j FROM users u"
        " WHERE lower(u.handle) = ANY((SELECT CAST(:handles AS text[]))::text[])"
    )


_AUTHOR = users.alias("a")
_AUTHOR_FIELDS = (
    _AUTHOR.c.handle.label("author_handle"),
    _AUTHOR.c.display_name.label("author_display_name"),
    _AUTHOR.c.bio.label("author_bio"),
    _AUTHOR.c.created_at.label("author_created_at"),
)
POSTS_BY_ID = (
    select(
        posts.c.id,
        posts.c.author_id,
        posts.c.title,
        posts.c.body,
        posts.c.created_at,
        *_AUTHOR_FIELDS,
    )
    .join(_AUTHOR, _AUTHOR.c.id == posts.c.author_id)
    .where(posts.c.id == any_(_IDS))
)
COMMENTS_BY_ID = (
    select(
        comments.c.id,
        comments.c.post_id,
        comments.c.author_id,
        comments.c.body,
        comments.c.created_at,
        *_AUTHOR_FIELDS,
    )
    .join(_AUTHOR, _AUTHOR.c.id == comments.c.author_id)
    .where(comments.c.id == any_(_IDS))
)


def count_by(column: Any) -> Select[Any]:
    """Row counts grouped by `column` for the keys in :ids."""
    return (
        select(column.label("key"), func.count().label("n"))
        .where(column == any_(_IDS))
        .group_by(column)
    )


POST_COUNT_BY_AUTHOR = count_by(posts.c.author_id)
COMMENT_COUNT_BY_POST = count_by(comments.c.post_id)
LIKE_COUNT_BY_POST = count_by(likes.c.post_id)
FOLLOWER_COUNT = count_by(follows.c.followee_id)
FOLLOWING_COUNT = count_by(follows.c.follower_id)
# Who follows these users: their recommendations depend on whom these users follow.
FOLLOWER_IDS = select(follows.c.follower_id).where(follows.c.followee_id == any_(_IDS))
USER_TOTAL = select(func.count()).select_from(users)
POST_TOTAL = select(func.count()).select_from(posts)


def page_params(
    parents: list[int], lims: list[int], ats: list[datetime | None], pks: list[int | None]
) -> dict[str, Any]:
    """Bind values for a Listing.per_parent statement."""
    return {"parents": parents, "lims": lims, "ats": ats, "pks": pks}


# Activity aggregates for many users in one statement: each count is an index lookup
# correlated on the user, so the cost grows with the users asked for, not the tables.
USER_STATS = text(
    "SELECT k.id,"
    " (SELECT count(*) FROM posts p WHERE p.author_id = k.id) AS post_count,"
    " (SELECT count(*) FROM comments c WHERE c.author_id = k.id) AS comment_count,"
    " (SELECT count(*) FROM follows f WHERE f.followee_id = k.id) AS follower_count,"
    " (SELECT count(*) FROM follows f WHERE f.follower_id = k.id) AS following_count,"
    " (SELECT count(*) FROM posts p JOIN likes l ON l.post_id = p.id"
    "   WHERE p.author_id = k.id) AS likes_received,"
    " (SELECT count(*) FROM posts p JOIN comments c ON c.post_id = p.id"
    "   WHERE p.author_id = k.id) AS comments_received"
    " FROM unnest(CAST(:ids AS bigint[])) AS k(id)"
)

# Friends of friends for many users in one statement, ranked by how many of the user's
# followees follow them, ties by smaller id; never the user, never someone already followed.
RECOMMENDATIONS = text(
    "SELECT k.id AS user_id, r.id, r.score"
    " FROM unnest(CAST(:ids AS bigint[])) AS k(id)"
    " CROSS JOIN LATERAL ("
    "  SELECT f2.followee_id AS id, count(*) AS score"
    "  FROM follows f1 JOIN follows f2 ON f2.follower_id = f1.followee_id"
    "  WHERE f1.follower_id = k.id AND f2.followee_id <> k.id"
    "   AND NOT EXISTS (SELECT 1 FROM follows f3"
    "                   WHERE f3.follower_id = k.id AND f3.followee_id = f2.followee_id)"
    "  GROUP BY f2.followee_id"
    "  ORDER BY count(*) DESC, f2.followee_id"
    "  LIMIT :lim) r"
    " ORDER BY k.id, r.score DESC, r.id"
)

# Posts by the people a user follows, newest first, for many users at once (the
# parameters of Listing.per_parent). The newest `lim` keys of each followee come from
# an index-only scan of posts_author_created_idx; only the page's rows are then read
# from the table. Joining whole posts first read every post of every followee (10,000
# rows for someone following 1,000 people) to keep 20 of them.
FEED_PAGES = text(
    "SELECT k.ord, x.* FROM unnest(CAST(:parents AS bigint[]), CAST(:lims AS int[]),"
    " CAST(:ats AS timestamptz[]), CAST(:pks AS bigint[]))"
    " WITH ORDINALITY AS k(parent, lim, at, pk, ord)"
    f" CROSS JOIN LATERAL (SELECT {POST_COLUMNS} FROM ("
    "   SELECT q.id FROM follows f CROSS JOIN LATERAL ("
    "     SELECT p.id, p.created_at FROM posts p"
    "     WHERE p.author_id = f.followee_id"
    f"      AND (p.created_at, p.id) < (COALESCE(k.at, 'infinity'), COALESCE(k.pk, {_MAX_ID}))"
    "     ORDER BY p.created_at DESC, p.id DESC LIMIT k.lim) q"
    "   WHERE f.follower_id = k.parent"
    "   ORDER BY q.created_at DESC, q.id DESC LIMIT k.lim) top"
    "  JOIN posts p ON p.id = top.id JOIN users a ON a.id = p.author_id"
    "  ORDER BY p.created_at DESC, p.id DESC) x"
    " ORDER BY k.ord"
)
# Each followee's posts are counted in posts_author_created_idx, not by hashing all posts.
FEED_COUNT = text(
    "SELECT f.follower_id AS key,"
    " CAST(sum((SELECT count(*) FROM posts p WHERE p.author_id = f.followee_id)) AS bigint) AS n"
    " FROM follows f WHERE f.follower_id = ANY(CAST(:ids AS bigint[])) GROUP BY f.follower_id"
)

# Which (user, post) pairs are likes: Post.viewerHasLiked for a whole page of posts.
LIKED = text(
    "SELECT k.user_id, k.post_id"
    " FROM unnest(CAST(:users AS bigint[]), CAST(:posts AS bigint[])) AS k(user_id, post_id)"
    " WHERE EXISTS (SELECT 1 FROM likes l WHERE l.user_id = k.user_id AND l.post_id = k.post_id)"
)
