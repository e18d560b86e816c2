"""Input types of the mutations."""

from __future__ import annotations

import strawberry


@strawberry.input(description="A new account.")
class SignUpInput:
    handle: str = strawberry.field(
        description="3-30 characters of a-z, 0-9 and _; unique whatever the case."
    )
    display_name: str = strawberry.field(description="The name shown to people, 1-80 characters.")
    password: str = strawberry.field(description="8-200 characters.")
    bio: str | None = strawberry.field(
        default=None, description="A few words, up to 500 characters; blank means none."
    )


@strawberry.input(description="A new post by the viewer.")
class CreatePostInput:
    title: str = strawberry.field(description="1-200 characters.")
    body: str = strawberry.field(description="1-20,000 characters.")


@strawberry.input(description="Changes to one of the viewer's posts; omitted fields stay.")
class UpdatePostInput:
    id: strawberry.ID = strawberry.field(description="The post to change.")
    title: str | None = strawberry.field(default=None, description="A new title, 1-200 characters.")
    body: str | None = strawberry.field(
        default=None, description="A new body, 1-20,000 characters."
    )


@strawberry.input(description="A new comment by the viewer.")
class AddCommentInput:
    post_id: strawberry.ID = strawberry.field(description="The post to reply to.")
    body: str = strawberry.field(description="1-2,000 characters.")
