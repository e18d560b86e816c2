"""The Post type."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from operator import attrgetter
from typing import Any

import strawberry

from wren.context import Info
from wren.db import queries, rendered
from wren.db.loaders import LikeKey, Page, PageKey
from wren.schema.comment import Comment
from wren.schema.levels import Lookup, batched, through
from wren.schema.objects import construct
from wren.schema.relay import Connection, Node
from wren.schema.user import User, author

_pk = attrgetter("pk")


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
        return construct(
            cls,
            {
                "pk": row["id"],
                "author_pk": row["author_id"],
                "row": row,
                "title": row["title"],
                "body": row["body"],
                "created_at": row["created_at"],
            },
        )

    # A plain (not async) resolver: the author usually came joined with the row, and
    # returning it directly skips a coroutine and a task per item.
    @strawberry.field(description="Who wrote it.", graphql_type=User)
    def author(self, info: Info) -> User | Awaitable[User]:
        return author(info, self.row, self.author_pk)

    @strawberry.field(description="Oldest first.", graphql_type=Connection[Comment])
    @batched(renders=Connection.renders(queries.COMMENTS_BY_POST, rendered.COMMENT))
    def comments(
        info: Info, first: int = 10, after: str | None = None
    ) -> Lookup[Post, PageKey, Page, Connection[Comment]]:
        loaders = info.context.loaders
        return Connection.lookup(
            loaders.comments_by_post,
            loaders.comment_count,
            first,
            after,
            Comment.from_row,
            rendered_pages=loaders.rendered_pages,
        )

    @strawberry.field(description="How many users like it.", graphql_type=int)
    @batched
    def like_count(info: Info) -> Lookup[Post, int, int, int]:
        return through(info.context.loaders.like_count, _pk)

    @strawberry.field(description="False when nobody is logged in.", graphql_type=bool)
    @batched
    def viewer_has_liked(info: Info) -> Lookup[Post, LikeKey, bool, bool] | bool:
        viewer = info.context.viewer_id
        if viewer is None:
            return False
        return through(info.context.loaders.liked, lambda post: LikeKey(viewer, post.pk))
