"""The Comment type."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from wren.context import Info
from wren.schema.objects import construct
from wren.schema.relay import Node
from wren.schema.user import User, author

if TYPE_CHECKING:
    from wren.schema.post import Post


@strawberry.type(description="A reply to a post.")
class Comment(Node):
    post_pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    row: strawberry.Private[Any]
    body: str = strawberry.field(description="The text, 1-2,000 characters.")
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_row(cls, row: Any) -> Comment:
        """A Comment from a comments row."""
        return construct(
            cls,
            {
                "pk": row["id"],
                "post_pk": row["post_id"],
                "author_pk": row["author_id"],
                "row": row,
                "body": row["body"],
                "created_at": row["created_at"],
            },
        )

    # A plain (not async) resolver: the author usually came joined with the row, and
    # returning it directly skips a coroutine and a task per item.
    @strawberry.field(description="Who wrote it.", graphql_type=User)
    def author(self, info: Info) -> User | Awaitable[User]:
        return author(info, self.row, self.author_pk)

    @strawberry.field(description="The post it replies to.")
    async def post(self, info: Info) -> Annotated[Post, strawberry.lazy("wren.schema.post")]:
        from wren.schema.post import Post

        return Post.from_row(await info.context.loaders.post.load(self.post_pk))
