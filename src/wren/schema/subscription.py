"""The Subscription root: new posts and comments, pushed over WebSocket from any process.

A resolver checks its arguments before anything is subscribed, so a bad id is an `error`
message rather than a silent stream. Events carry ids only; each one is loaded through
fresh loaders, so an event never shows what an earlier one read, from the primary or a
replica that has replayed the event's commit (db/routing.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import strawberry

from wren.context import Info
from wren.errors import NotFound, ServiceUnavailable
from wren.events.bus import Events
from wren.ids import require_pk
from wren.schema.comment import Comment
from wren.schema.post import Post


def _events(info: Info) -> Events:
    events = info.context.events
    if events is None:
        raise ServiceUnavailable("Subscriptions are not served here.")
    return events


@strawberry.type(description="Events pushed over WebSocket at /graphql (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(
        description="Every comment added to that post from now on, across all server processes."
    )
    async def comment_added(self, info: Info, post_id: strawberry.ID) -> AsyncIterator[Comment]:
        pk = require_pk(post_id, "Post", argument="postId")
        events = _events(info)
        if await info.context.loaders.post.load(pk) is None:
            raise NotFound("No post has this id.", argument="postId")
        return _comments(info, events, pk)

    @strawberry.subscription(
        description="Every new post, or only one author's when authorId is given, "
        "across all server processes."
    )
    async def post_created(
        self, info: Info, author_id: strawberry.ID | None = None
    ) -> AsyncIterator[Post]:
        author = None if author_id is None else require_pk(author_id, "User", argument="authorId")
        events = _events(info)
        if author is not None and await info.context.loaders.user.load(author) is None:
            raise NotFound("No user has this id.", argument="authorId")
        return _posts(info, events, author)


async def _comments(info: Info, events: Events, post_id: int) -> AsyncIterator[Comment]:
    async for event in events.listen(events.channels.comment_added(post_id)):
        info.context.reset_loaders(at_least=event.position)
        row = await info.context.loaders.comment.load(event.id)
        # Gone already (its post was deleted): nothing to show.
        if row is not None and row["post_id"] == post_id:
            yield Comment.from_row(row)


async def _posts(info: Info, events: Events, author_id: int | None) -> AsyncIterator[Post]:
    async for event in events.listen(events.channels.post_created):
        if author_id is not None and event.author_id != author_id:
            continue
        info.context.reset_loaders(at_least=event.position)
        row = await info.context.loaders.post.load(event.id)
        if row is not None:
            yield Post.from_row(row)
