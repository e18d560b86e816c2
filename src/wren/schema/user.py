"""The User type and its lists."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from wren import validation
from wren.cache.fields import Recommended
from wren.context import Info
from wren.db import queries, rendered
from wren.db.engine import Row
from wren.db.loaders import MAX_RECOMMENDED, Page, PageKey, UserStatsRow
from wren.schema.futures import then
from wren.schema.levels import Lookup, batched
from wren.schema.objects import construct
from wren.schema.relay import Connection, Node
from wren.schema.stats import UserStats

if TYPE_CHECKING:
    from wren.schema.post import Post

LazyPost = Annotated["Post", strawberry.lazy("wren.schema.post")]

_pk = attrgetter("pk")


@strawberry.type(description="A person with an account.")
class User(Node):
    handle: str = strawberry.field(description="Unique, lower-case name: [a-z0-9_]{3,30}.")
    display_name: str = strawberry.field(description="The name shown to people.")
    bio: str | None = strawberry.field(description="A few words about the user.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_row(cls, row: Any) -> User:
        """A User from a users row."""
        return construct(
            cls,
            {
                "pk": row["id"],
                "handle": row["handle"],
                "display_name": row["display_name"],
                "bio": row["bio"],
                "created_at": row["created_at"],
            },
        )

    @classmethod
    def from_rows(cls, rows: list[Any]) -> list[User]:
        """Users from users rows."""
        return [cls.from_row(row) for row in rows]

    @classmethod
    def author_of(cls, row: Any) -> User | None:
        """The author joined into a post or comment row (author_* columns), if it has one."""
        handle = row.get("author_handle")
        if handle is None:
            return None
        return construct(
            cls,
            {
                "pk": row["author_id"],
                "handle": handle,
                "display_name": row["author_display_name"],
                "bio": row["author_bio"],
                "created_at": row["author_created_at"],
            },
        )

    @strawberry.field(description="Newest first.", graphql_type=Connection[LazyPost])
    @batched(renders=Connection.renders(queries.POSTS_BY_AUTHOR, rendered.POST))
    def posts(
        info: Info, first: int = 10, after: str | None = None
    ) -> Lookup[User, PageKey, Page, Connection[Post]]:
        from wren.schema.post import Post

        loaders = info.context.loaders
        return Connection.lookup(
            loaders.posts_by_author,
            loaders.post_count,
            first,
            after,
            Post.from_row,
            rendered_pages=loaders.rendered_pages,
        )

    @strawberry.field(description="Newest follow first.", graphql_type=Connection["User"])
    @batched(renders=Connection.renders(queries.FOLLOWERS, rendered.USER))
    def followers(
        info: Info, first: int = 10, after: str | None = None
    ) -> Lookup[User, PageKey, Page, Connection[User]]:
        loaders = info.context.loaders
        return Connection.lookup(
            loaders.followers,
            loaders.follower_count,
            first,
            after,
            User.from_row,
            "followed_at",
            rendered_pages=loaders.rendered_pages,
        )

    @strawberry.field(description="Newest follow first.", graphql_type=Connection["User"])
    @batched(renders=Connection.renders(queries.FOLLOWING, rendered.USER))
    def following(
        info: Info, first: int = 10, after: str | None = None
    ) -> Lookup[User, PageKey, Page, Connection[User]]:
        loaders = info.context.loaders
        return Connection.lookup(
            loaders.following,
            loaders.following_count,
            first,
            after,
            User.from_row,
            "followed_at",
            rendered_pages=loaders.rendered_pages,
        )

    @strawberry.field(
        description="Aggregates over the user's activity. Expensive: served from the cache.",
        graphql_type=UserStats,
    )
    @batched
    def stats(info: Info) -> Lookup[User, int, UserStatsRow, UserStats]:
        cache = info.context.cache
        # The loader only where graphql-core resolves per object: a level reads its
        # users' entries in one cache batch without it.
        return Lookup(
            _pk,
            lambda pk: cache.stats.load(pk),
            cache.stats_of,
            lambda _pk, row: UserStats.from_row(row),
        )

    @strawberry.field(
        description="People followed by the people this user follows, that this user does "
        "not follow yet (never the user itself), ranked by how many of this user's followees "
        "follow them (descending), ties broken by smaller internal id. Expensive: served "
        f"from the cache. At most {MAX_RECOMMENDED}.",
        graphql_type=list["User"],
    )
    @batched
    def recommended_users(
        info: Info, first: int = 5
    ) -> Lookup[User, Recommended, list[Row], list[User]]:
        validation.recommended_count(first)
        cache = info.context.cache
        # As for stats: the loader per object, one cache batch per level.
        return Lookup(
            lambda user: Recommended(user.pk, first),
            lambda key: cache.recommended_users.load(key),
            cache.recommended_of,
            lambda _key, rows: User.from_rows(rows),
        )


def author(info: Info, row: Any, pk: int) -> User | Awaitable[User]:
    """The author joined into a post or comment row (no await), else loaded by id."""
    joined = User.author_of(row)
    if joined is not None:
        return joined
    return then(info.context.loaders.user.load(pk), User.from_row)
