"""The Post type."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import strawberry

from wren.compiled.level import level_form
from wren.context import Info
from wren.db.loaders import LikeKey
from wren.schema.comment import Comment
from wren.schema.relay import Connection, Node
from wren.schema.user import User, author


def _comments_of_all(
    posts: list[Post], info: Info, first: int, after: str | None
) -> Awaitable[list[Connection[Comment]]]:
    """Post.comments for a level of posts: one batch, one future."""
    loaders = info.context.loaders
    return Connection.of_parents(
        loaders.comments_by_post, loaders.comment_count, posts, first, after, Comment.from_row
    )


def _like_counts_of_all(posts: list[Post], info: Info) -> Awaitable[list[int]]:
    """Post.likeCount for a level of posts: one batch, one future."""
    return info.context.loaders.like_count.batch_load_fn([post.pk for post in posts])


def _liked_of_all(posts: list[Post], info: Info) -> list[bool] | Awaitable[list[bool]]:
    """Post.viewerHasLiked for a level of posts: one batch, one future."""
    viewer = info.context.viewer_id
    if viewer is None:
        return [False] * len(posts)
    return info.context.loaders.liked.batch_load_fn([LikeKey(viewer, post.pk) for post in posts])


@strawberry.type(description="Something a user published.")
class Post(Node):
    author_pk: strawberry.Private[int]
    row: strawberry.Private[Any]
    title: str = strawberry.field(description="The headline, 1-200 characters.")
    body: str = strawberry.field(description="The text, 1-20,000 characters.")
    created_at: datetime = strawberry.field(description="When it was published.")

    @classmethod
    def from_row(cls, row: Any) -> Post:
        """A Post from a posts row."""
        post = object.__new__(cls)
        post.__dict__ = {
            "pk": row["id"],
            "author_pk": row["author_id"],
            "row": row,
            "title": row["title"],
            "body": row["body"],
            "created_at": row["created_at"],
        }
        return post

    # A plain (not async) resolver: the author usually came joined with the row, and
    # returning it directly skips a coroutine and a task per item.
    @strawberry.field(description="Who wrote it.", graphql_type=User)
    def author(self, info: Info) -> User | Awaitable[User]:
        return author(info, self.row, self.author_pk)

    @strawberry.field(description="Oldest first.", graphql_type=Connection[Comment])
    @level_form(_comments_of_all)
    def comments(
        self, info: Info, first: int = 10, after: str | None = None
    ) -> Awaitable[Connection[Comment]]:
        loaders = info.context.loaders
        return Connection.of_parent(
            loaders.comments_by_post, loaders.comment_count, self.pk, first, after, Comment.from_row
        )

    @strawberry.field(description="How many users like it.", graphql_type=int)
    @level_form(_like_counts_of_all)
    def like_count(self, info: Info) -> Awaitable[int]:
        return info.context.loaders.like_count.load(self.pk)

    @strawberry.field(description="False when nobody is logged in.")
    @level_form(_liked_of_all)
    async def viewer_has_liked(self, info: Info) -> bool:
        viewer = info.context.viewer_id
        if viewer is None:
            return False
        liked: bool = await info.context.loaders.liked.load(LikeKey(viewer, self.pk))
        return liked
