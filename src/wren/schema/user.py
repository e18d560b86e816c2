"""The User type and its lists."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from wren.cache.fields import Recommended
from wren.compiled.level import level_form
from wren.context import Info
from wren.db.loaders import MAX_RECOMMENDED
from wren.errors import BadUserInput
from wren.schema.relay import Connection, Node, then
from wren.schema.stats import UserStats

if TYPE_CHECKING:
    from wren.schema.post import Post

LazyPost = Annotated["Post", strawberry.lazy("wren.schema.post")]


def _stats_of_all(users: list[User], info: Info) -> Awaitable[list[UserStats]]:
    """User.stats for a level of users: one cache batch, one future."""
    rows = info.context.cache.stats_of([user.pk for user in users])
    return then(rows, lambda found: list(map(UserStats.from_row, found)))


def _recommended_of_all(users: list[User], info: Info, first: int) -> Awaitable[list[list[User]]]:
    """User.recommendedUsers for a level of users: one cache batch, one future (`first`
    always comes with the plan's arguments, its GraphQL default included)."""
    _check_recommended(first)
    keys = [Recommended(user.pk, first) for user in users]
    return then(
        info.context.cache.recommended_of(keys),
        lambda lists: [User.from_rows(rows) for rows in lists],
    )


def _posts_of_all(
    users: list[User], info: Info, first: int, after: str | None
) -> Awaitable[list[Connection[Post]]]:
    """User.posts for a level of users: one batch, one future."""
    from wren.schema.post import Post

    loaders = info.context.loaders
    return Connection.of_parents(
        loaders.posts_by_author, loaders.post_count, users, first, after, Post.from_row
    )


def _followers_of_all(
    users: list[User], info: Info, first: int, after: str | None
) -> Awaitable[list[Connection[User]]]:
    """User.followers for a level of users: one batch, one future."""
    loaders = info.context.loaders
    pages, counts = loaders.followers, loaders.follower_count
    return Connection.of_parents(pages, counts, users, first, after, User.from_row, "followed_at")


def _following_of_all(
    users: list[User], info: Info, first: int, after: str | None
) -> Awaitable[list[Connection[User]]]:
    """User.following for a level of users: one batch, one future."""
    loaders = info.context.loaders
    pages, counts = loaders.following, loaders.following_count
    return Connection.of_parents(pages, counts, users, first, after, User.from_row, "followed_at")


def _check_recommended(first: int) -> None:
    if not 0 <= first <= MAX_RECOMMENDED:
        raise BadUserInput(
            f"`first` must be between 0 and {MAX_RECOMMENDED}, got {first}.", argument="first"
        )


@strawberry.type(description="A person with an account.")
class User(Node):
    handle: str = strawberry.field(description="Unique, lower-case name: [a-z0-9_]{3,30}.")
    display_name: str = strawberry.field(description="The name shown to people.")
    bio: str | None = strawberry.field(description="A few words about the user.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_row(cls, row: Any) -> User:
        """A User from a users row."""
        user = object.__new__(cls)
        user.__dict__ = {
            "pk": row["id"],
            "handle": row["handle"],
            "display_name": row["display_name"],
            "bio": row["bio"],
            "created_at": row["created_at"],
        }
        return user

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
        user = object.__new__(cls)
        user.__dict__ = {
            "pk": row["author_id"],
            "handle": handle,
            "display_name": row["author_display_name"],
            "bio": row["author_bio"],
            "created_at": row["author_created_at"],
        }
        return user

    @strawberry.field(description="Newest first.", graphql_type=Connection[LazyPost])
    @level_form(_posts_of_all)
    def posts(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Awaitable[Connection[Post]]:
        from wren.schema.post import Post

        loaders = info.context.loaders
        return Connection.of_parent(
            loaders.posts_by_author, loaders.post_count, self.pk, first, after, Post.from_row
        )

    @strawberry.field(description="Newest follow first.", graphql_type=Connection["User"])
    @level_form(_followers_of_all)
    def followers(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Awaitable[Connection[User]]:
        loaders = info.context.loaders
        return Connection.of_parent(
            loaders.followers,
            loaders.follower_count,
            self.pk,
            first,
            after,
            User.from_row,
            at="followed_at",
        )

    @strawberry.field(description="Newest follow first.", graphql_type=Connection["User"])
    @level_form(_following_of_all)
    def following(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Awaitable[Connection[User]]:
        loaders = info.context.loaders
        return Connection.of_parent(
            loaders.following,
            loaders.following_count,
            self.pk,
            first,
            after,
            User.from_row,
            at="followed_at",
        )

    @strawberry.field(
        description="Aggregates over the user's activity. Expensive: served from the cache.",
        graphql_type=UserStats,
    )
    @level_form(_stats_of_all)
    def stats(self, info: Info) -> Awaitable[UserStats]:
        return then(info.context.cache.stats.load(self.pk), UserStats.from_row)

    @strawberry.field(
        description="People followed by the people this user follows, that this user does "
        "not follow yet (never the user itself), ranked by how many of this user's followees "
        "follow them (descending), ties broken by smaller internal id. Expensive: served "
        f"from the cache. At most {MAX_RECOMMENDED}.",
        graphql_type=list["User"],
    )
    @level_form(_recommended_of_all)
    def recommended_users(self, info: Info, first: int = 5) -> Awaitable[list[User]]:
        _check_recommended(first)
        key = Recommended(self.pk, first)
        return then(info.context.cache.recommended_users.load(key), User.from_rows)


def author(info: Info, row: Any, pk: int) -> User | Awaitable[User]:
    """The author joined into a post or comment row (no await), else loaded by id."""
    joined = User.author_of(row)
    if joined is not None:
        return joined
    return then(info.context.loaders.user.load(pk), User.from_row)
