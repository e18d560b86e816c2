"""The Comment type."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from wren.context import Info
from wren.ids import to_global_id
from wren.schema.relay import Node
from wren.schema.user import User

if TYPE_CHECKING:
    from wren.schema.post import Post


@strawberry.type(description="A reply to a post.")
class Comment(Node):
    pk: strawberry.Private[int]
    post_pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    body: str = strawberry.field(description="The text, 1-2,000 characters.")
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_row(cls, row: Any) -> Comment:
        """A Comment from a comments row."""
        return cls(
            id=strawberry.ID(to_global_id("Comment", row.id)),
            pk=row.id,
            post_pk=row.post_id,
            author_pk=row.author_id,
            body=row.body,
            created_at=row.created_at,
        )

    @strawberry.field(description="Who wrote it.")
    async def author(self, info: Info) -> User:
        return User.from_row(await info.context.loaders.user.load(self.author_pk))

    @strawberry.field(description="The post it replies to.")
    async def post(self, info: Info) -> Annotated[Post, strawberry.lazy("wren.schema.post")]:
        from wren.schema.post import Post

        return Post.from_row(await info.context.loaders.post.load(self.post_pk))
