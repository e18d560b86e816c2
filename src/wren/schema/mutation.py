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

from wren import auth, validation
from wren.cache import invalidation
from wren.context import Info
from wren.db import accounts, publishing, social
from wren.errors import BadUserInput, Unauthenticated
from wren.ids import require_pk, to_global_id
from wren.schema.account import AuthPayload
from wren.schema.comment import Comment
from wren.schema.inputs import AddCommentInput, CreatePostInput, SignUpInput, UpdatePostInput
from wren.schema.post import Post
from wren.schema.user import User

_WRONG_CREDENTIALS = "Wrong handle or password."


def _viewer(info: Info) -> int:
    """The logged-in user's id; UNAUTHENTICATED without one."""
    viewer = info.context.viewer_id
    if viewer is None:
        raise Unauthenticated("Log in first, then send `Authorization: Bearer <token>`.")
    return viewer


@strawberry.type(
    description="Everything that changes data. All but signUp and logIn need a logged-in viewer."
)
class Mutation:
    @strawberry.mutation(description="Create an account and log in to it.")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        handle = validation.handle(input.handle)
        display_name = validation.display_name(input.display_name)
        password = validation.password(input.password)
        bio = validation.bio(input.bio)
        password_hash = await auth.hash_password(password)
        async with info.context.db.transaction() as conn:
            row = await accounts.create_user(
                conn=conn,
                handle=handle,
                display_name=display_name,
                bio=bio,
                password_hash=password_hash,
            )
        # The new user's next reads, wherever they land, see the account.
        await info.context.db.written_by(row["id"])
        token = auth.issue_token(info.context.settings, row["id"])
        return AuthPayload(token=token, user=User.from_row(row))

    @strawberry.mutation(description="Log in with a handle (any case) and password.")
    async def log_in(self, info: Info, handle: str, password: str) -> AuthPayload:
        # The same answer, after the same work, whether the handle exists or not.
        row = None
        if len(password) <= 200 and validation.HANDLE.fullmatch(handle.strip().lower()):
            row = await accounts.credentials(db=info.context.db, handle=handle.strip())
        if row is None:
            await auth.verify_nothing(password[:200])
            raise Unauthenticated(_WRONG_CREDENTIALS)
        if not await auth.verify_password(row["password_hash"], password):
            raise Unauthenticated(_WRONG_CREDENTIALS)
        if auth.needs_rehash(row["password_hash"]):
            password_hash = await auth.hash_password(password)
            async with info.context.db.transaction() as conn:
                await accounts.replace_password_hash(
                    conn=conn, user_id=row["id"], password_hash=password_hash
                )
        token = auth.issue_token(info.context.settings, row["id"])
        return AuthPayload(token=token, user=User.from_row(row))

    @strawberry.mutation(description="Publish a post by the viewer.")
    async def create_post(self, info: Info, input: CreatePostInput) -> Post:
        viewer = _viewer(info)
        title = validation.title(input.title)
        body = validation.post_body(input.body)
        async with info.context.db.transaction() as conn:
            row = await publishing.create_post(conn=conn, author_id=viewer, title=title, body=body)
        await _committed(info, activity_of=[viewer])
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
        # Titles and bodies feed no cached aggregate: nothing to invalidate.
        await _committed(info)
        return Post.from_row(row)

    @strawberry.mutation(
        description="Only the author may delete a post; its comments and likes go with it. "
        "Returns the deleted id."
    )
    async def delete_post(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        viewer = _viewer(info)
        post_id = require_pk(id, "Post", field="id")
        async with info.context.db.transaction() as conn:
            affected = await publishing.delete_post(conn=conn, post_id=post_id, deleter_id=viewer)
        await _committed(info, activity_of=affected)
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
        await _committed(info, activity_of=[viewer, row["post_author_id"]])
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
    await _committed(info, activity_of=[row["author_id"]] if row["changed"] else ())
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
) -> None:
    """After a commit: tell the cache what changed, and drop what the request read before."""
    users = sorted(set(activity_of))
    if users:
        await invalidation.activity_changed(info.context, users)
    if follow is not None:
        await invalidation.follows_changed(info.context, *follow)
    info.context.reset_loaders()
