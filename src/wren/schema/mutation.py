"""The Mutation root: accounts, posts, comments, follows and likes.

Every mutation is one transaction. The cache hears of a change only once it is
committed, and the request's loaders are reset, so the fields selected on a
mutation's result read the state it left behind (on the primary: a mutation never
reads a replica). Subscribers hear of new posts and comments after the commit too,
with the commit's WAL position, so the row they load is there, replicas or not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import strawberry

from wren import validation
from wren.accounts import flows
from wren.cache import invalidation, tags
from wren.context import Info
from wren.db import publishing, social
from wren.errors import BadUserInput, Unauthenticated
from wren.ids import require_pk, to_global_id
from wren.schema.account import AuthPayload
from wren.schema.comment import Comment
from wren.schema.inputs import AddCommentInput, CreatePostInput, SignUpInput, UpdatePostInput
from wren.schema.post import Post
from wren.schema.user import User


def _viewer(info: Info) -> int:
    """The logged-in user's id; UNAUTHENTICATED without one."""
    viewer = info.context.viewer_id
    if viewer is None:
        raise Unauthenticated("Log in first, then send `Authorization: Bearer <token>`.")
    return viewer


@strawberry.type(
    description="Everything that changes data. All but signUp, logIn and refreshToken need a"
    " logged-in viewer."
)
class Mutation:
    @strawberry.mutation(
        description="Create an account and log in to it. Runs whatever token is attached."
    )
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        handle = validation.handle(input.handle)
        display_name = validation.display_name(input.display_name)
        password = validation.password(input.password)
        bio = validation.bio(input.bio)
        row, issued = await flows.sign_up(
            info.context, handle=handle, display_name=display_name, password=password, bio=bio
        )
        await invalidation.shown_changed(
            info.context, [*tags.changed("User", [row["id"]]), tags.USERS]
        )
        return _payload(issued, User.from_row(row))

    @strawberry.mutation(
        description="Log in with a handle (any case) and password. Runs whatever token is"
        " attached. Repeated failures for a handle or from an address are refused for a"
        " growing time: RATE_LIMITED, with `extensions.retryAfter` seconds."
    )
    async def log_in(self, info: Info, handle: str, password: str) -> AuthPayload:
        row, issued = await flows.log_in(info.context, handle, password)
        return _payload(issued, User.from_row(row))

    @strawberry.mutation(
        description="New tokens for a refresh token, which is then used up: each refresh"
        " token works once, and sending one a second time ends its session. Runs whatever"
        " (expired) access token is attached."
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        issued = await flows.refresh(info.context, refresh_token)
        row = await info.context.loaders.user.load(issued.user_id)
        if row is None:
            raise Unauthenticated("This account no longer exists.")
        return _payload(issued, User.from_row(row))

    @strawberry.mutation(
        description="End the current session: its access and refresh tokens stop working."
        " Returns false when it had already ended."
    )
    async def log_out(self, info: Info) -> bool:
        return await flows.log_out(info.context)

    @strawberry.mutation(
        description="End every other session of the viewer (other devices are logged out"
        " within seconds); this one stays. Returns how many were ended."
    )
    async def log_out_everywhere(self, info: Info) -> int:
        return await flows.log_out_everywhere(info.context)

    @strawberry.mutation(
        description="Replace the viewer's password, given the current one, and end every"
        " other session; this one stays. Returns how many sessions were ended."
    )
    async def change_password(self, info: Info, current_password: str, new_password: str) -> int:
        return await flows.change_password(info.context, current_password, new_password)

    @strawberry.mutation(description="Publish a post by the viewer.")
    async def create_post(self, info: Info, input: CreatePostInput) -> Post:
        viewer = _viewer(info)
        title = validation.title(input.title)
        body = validation.post_body(input.body)
        async with info.context.db.transaction() as conn:
            row = await publishing.create_post(conn=conn, author_id=viewer, title=title, body=body)
        await _committed(
            info,
            activity_of=[viewer],
            shown=[*tags.changed("Post", [row["id"]]), tags.POSTS, tags.FEED],
        )
        if info.context.events is not None:
            await info.context.events.post_created(
                post_id=row["id"], author_id=viewer, position=info.context.db.last_commit_position
            )
        return Post.from_row(row)

    @strawberry.mutation(description="Only the author may update a post.")
    async def update_post(self, info: Info, input: UpdatePostInput) -> Post:
        viewer = _viewer(info)
        post_id = require_pk(input.id, "Post", field="id")
        title = None if input.title is None else validation.title(input.title)
        body = None if input.body is None else validation.post_body(input.body)
        async with info.context.db.transaction() as conn:
            row = await publishing.update_post(
                conn=conn, post_id=post_id, editor_id=viewer, title=title, body=body
            )
        # Titles and bodies feed no cached aggregate: only the answers showing the post.
        await _committed(info, shown=tags.changed("Post", [post_id]))
        return Post.from_row(row)

    @strawberry.mutation(
        description="Only the author may delete a post; its comments and likes go with it. "
        "Returns the deleted id."
    )
    async def delete_post(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        viewer = _viewer(info)
        post_id = require_pk(id, "Post", field="id")
        async with info.context.db.transaction() as conn:
            deleted = await publishing.delete_post(conn=conn, post_id=post_id, deleter_id=viewer)
        await _committed(
            info,
            activity_of=deleted.users,
            shown=[
                *tags.changed("Post", [post_id]),
                *tags.changed("Comment", deleted.comments),
                tags.POSTS,
                tags.FEED,
            ],
        )
        return strawberry.ID(to_global_id("Post", post_id))

    @strawberry.mutation(description="Reply to a post as the viewer.")
    async def add_comment(self, info: Info, input: AddCommentInput) -> Comment:
        viewer = _viewer(info)
        post_id = require_pk(input.post_id, "Post", field="postId")
        body = validation.comment_body(input.body)
        async with info.context.db.transaction() as conn:
            row = await publishing.add_comment(
                conn=conn, post_id=post_id, author_id=viewer, body=body
            )
        await _committed(
            info,
            activity_of=[viewer, row["post_author_id"]],
            shown=[*tags.changed("Post", [post_id]), *tags.changed("Comment", [row["id"]])],
        )
        if info.context.events is not None:
            await info.context.events.comment_added(
                comment_id=row["id"],
                post_id=post_id,
                author_id=viewer,
                position=info.context.db.last_commit_position,
            )
        return Comment.from_row(row)

    @strawberry.mutation(description="Idempotent. Returns the followed user.")
    async def follow(self, info: Info, user_id: strawberry.ID) -> User:
        return await _set_follow(info, user_id, social.follow)

    @strawberry.mutation(description="Idempotent. Returns the unfollowed user.")
    async def unfollow(self, info: Info, user_id: strawberry.ID) -> User:
        return await _set_follow(info, user_id, social.unfollow)

    @strawberry.mutation(description="Idempotent.")
    async def like_post(self, info: Info, post_id: strawberry.ID) -> Post:
        return await _set_like(info, post_id, social.like)

    @strawberry.mutation(description="Idempotent.")
    async def unlike_post(self, info: Info, post_id: strawberry.ID) -> Post:
        return await _set_like(info, post_id, social.unlike)


def _payload(issued: flows.Issued, user: User) -> AuthPayload:
    return AuthPayload(
        token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        user=user,
    )


async def _set_follow(info: Info, user_id: str, change: Callable[..., Awaitable[Any]]) -> User:
    """Follow or unfollow (`change`) in one transaction; the cache hears only of a change."""
    viewer = _viewer(info)
    followee = _followee(user_id, viewer)
    async with info.context.db.transaction() as conn:
        row = await change(conn=conn, follower_id=viewer, followee_id=followee)
    await _committed(info, follow=(viewer, followee) if row["changed"] else None)
    return User.from_row(row)


async def _set_like(info: Info, post_id: str, change: Callable[..., Awaitable[Any]]) -> Post:
    """Like or unlike (`change`) in one transaction; the cache hears only of a change."""
    viewer = _viewer(info)
    post = require_pk(post_id, "Post", field="postId")
    async with info.context.db.transaction() as conn:
        row = await change(conn=conn, user_id=viewer, post_id=post)
    if row["changed"]:
        await _committed(info, activity_of=[row["author_id"]], shown=tags.changed("Post", [post]))
    else:
        await _committed(info)
    return Post.from_row(row)


def _followee(user_id: str, viewer: int) -> int:
    """The user to (un)follow: any existing user but the viewer."""
    followee = require_pk(user_id, "User", field="userId")
    if followee == viewer:
        raise BadUserInput("Nobody can follow themselves.", field="userId")
    return followee


async def _committed(
    info: Info,
    *,
    activity_of: Iterable[int] = (),
    follow: tuple[int, int] | None = None,
    shown: Iterable[str] = (),
) -> None:
    """After a commit: tell the caches what changed, and drop what the request read before.

    `activity_of` users' stats changed (their answers too); `shown` tags more answers.
    """
    users = sorted(set(activity_of))
    if users:
        await invalidation.activity_changed(info.context, users)
    changed = [*shown, *tags.changed("User", users)]
    if changed:
        await invalidation.shown_changed(info.context, changed)
    if follow is not None:
        await invalidation.follows_changed(info.context, *follow)
    info.context.reset_loaders()
