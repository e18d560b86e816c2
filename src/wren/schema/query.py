"""The Query root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry

from wren.context import Info
from wren.db import queries, rendered
from wren.db.loaders import PageKey
from wren.errors import Unauthenticated
from wren.ids import from_global_id, pk_of
from wren.level_form import Rendering, Selected, mark_level_form
from wren.schema.comment import Comment
from wren.schema.post import Post
from wren.schema.ratelimit import RateLimit
from wren.schema.relay import Connection, Node, page_args
from wren.schema.user import User

F = TypeVar("F", bound=Callable[..., Any])


async def _user(info: Info, pk: int | None) -> User | None:
    row = None if pk is None else await info.context.loaders.user.load(pk)
    return None if row is None else User.from_row(row)


async def _post(info: Info, pk: int | None) -> Post | None:
    row = None if pk is None else await info.context.loaders.post.load(pk)
    return None if row is None else Post.from_row(row)


async def _comment(info: Info, pk: int) -> Comment | None:
    row = await info.context.loaders.comment.load(pk)
    return None if row is None else Comment.from_row(row)


def _rendered_by_handle(resolver: F) -> F:
    """Mark `userByHandle`'s resolver: on the fast path, when everything selected of the
    user is a column (db/rendered.py), the user comes as the JSON object PostgreSQL
    writes in the lookup's statement (one text column to decode, no User built, no leaf
    completed); otherwise a level form of the root object (one) calls the resolver."""

    async def level(parents: list[Any], /, info: Info, handle: str) -> list[Any]:
        return [await resolver(None, info, handle)]

    def rendering(selection: tuple[Selected, ...]) -> Rendering | None:
        json = rendered.USER.json(selection)
        if json is None:
            return None

        async def rendered_by_handle(parents: list[Any], /, info: Info, handle: str) -> list[Any]:
            loader = info.context.loaders.user_by_handle_rendered(json)
            return [await loader.load(handle.lower())]

        return Rendering(rendered_by_handle, frozenset(), whole=True)

    mark_level_form(resolver, level, rendering)
    return resolver


@strawberry.type(description="Everything that can be read.")
class Query:
    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        decoded = from_global_id(id)
        if decoded is None:
            return None
        type_name, pk = decoded
        if type_name == "User":
            return await _user(info, pk)
        if type_name == "Post":
            return await _post(info, pk)
        return await _comment(info, pk)

    @strawberry.field(description="A user by global id; null when there is none.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return await _user(info, pk_of(id, "User"))

    @strawberry.field(description="A user by handle (case-insensitive); null when there is none.")
    @_rendered_by_handle
    async def user_by_handle(self, info: Info, handle: str) -> User | None:
        row = await info.context.loaders.user_by_handle.load(handle.lower())
        return None if row is None else User.from_row(row)

    @strawberry.field(description="Oldest account first.")
    @Connection.root(
        queries.USERS, rendered.USER, lambda loaders: loaders.total(queries.USER_TOTAL)
    )
    async def users(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[User]:
        loaders = info.context.loaders
        limit, cursor = page_args(first, after)
        page = await loaders.top_level_page(queries.USERS, limit, cursor)
        return Connection.build(
            page,
            User.from_row,
            lambda: loaders.total(queries.USER_TOTAL),
            paged=cursor is not None,
        )

    @strawberry.field(description="A post by global id; null when there is none.")
    async def post(self, info: Info, id: strawberry.ID) -> Post | None:
        return await _post(info, pk_of(id, "Post"))

    @strawberry.field(description="Newest first.")
    @Connection.root(
        queries.POSTS, rendered.POST, lambda loaders: loaders.total(queries.POST_TOTAL)
    )
    async def posts(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Post]:
        loaders = info.context.loaders
        limit, cursor = page_args(first, after)
        page = await loaders.top_level_page(queries.POSTS, limit, cursor)
        return Connection.build(
            page,
            Post.from_row,
            lambda: loaders.total(queries.POST_TOTAL),
            paged=cursor is not None,
        )

    @strawberry.field(
        description="Posts by the people the viewer follows, newest first. "
        "Requires a logged-in viewer."
    )
    async def feed(self, info: Info, first: int = 20, after: str | None = None) -> Connection[Post]:
        viewer = info.context.viewer_id
        if viewer is None:
            raise Unauthenticated("Log in to see your feed.")
        loaders = info.context.loaders
        limit, cursor = page_args(first, after)
        page = await loaders.feed.load(PageKey(viewer, limit, cursor))
        return Connection.build(
            page, Post.from_row, lambda: loaders.feed_count.load(viewer), paged=cursor is not None
        )

    @strawberry.field(description="The logged-in user, or null.")
    async def viewer(self, info: Info) -> User | None:
        return await _user(info, info.context.viewer_id)

    @strawberry.field(
        description="The rate limit this request was counted against; null when the server "
        "has none (or could not check it)."
    )
    def rate_limit(self, info: Info) -> RateLimit | None:
        throttle = info.context.rate_limit
        return None if throttle is None else RateLimit.of(throttle)
