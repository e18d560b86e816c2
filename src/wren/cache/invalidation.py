"""What writes tell the cache: called by mutations after their transaction commits.

Each function names an event, not a key: the cache decides which entries the event
makes stale. Call it after the commit (never before: a reader could recompute from the
old rows in between) and before the mutation answers, so the client's next read, from
any server process, sees the write. What each mutation passes:

| mutation            | call                                                           |
|---------------------|----------------------------------------------------------------|
| createPost          | activity_changed([author])                                     |
| deletePost          | activity_changed([author, *authors of the post's comments])    |
|                     | (collect the comment authors before the cascade deletes them)  |
| addComment          | activity_changed([comment author, post author])                |
| likePost/unlikePost | activity_changed([post author])                                |
| follow/unfollow     | follows_changed(follower, followee)                            |
| updatePost, signUp  | nothing the field cache holds changes                          |

Stored answers (cache/responses.py) are invalidated by tags (cache/tags.py): a mutation
passes `shown_changed` the objects it changed and the root lists whose membership it
changed; each object's type tag goes with it (tags.changed).

| mutation            | answers invalidated: the tags                                  |
|---------------------|----------------------------------------------------------------|
| signUp              | the new User, ``list:users``                                   |
| createPost          | the new Post, its author, ``list:posts``, ``list:feed``        |
| updatePost          | the Post                                                       |
| deletePost          | the Post, its comments, their authors and its author,          |
|                     | ``list:posts``, ``list:feed``                                  |
| addComment          | the new Comment, the Post, the comment's and the post's author |
| likePost/unlikePost | the Post and its author (when the like changed)                |
| follow/unfollow     | both users, everyone following the follower (recommendations), |
|                     | ``list:feed`` (when the follow changed)                        |
| logIn, logOut, ...  | nothing a query shows changes                                  |

Calling one for a write that turned out to change nothing (an idempotent repeat) only
costs a recomputation. If Redis cannot be reached, the whole cache is dropped as soon
as it can be (see CacheStore.bump), so a missed invalidation is never served later.
Bulk changes outside the mutations (`wren seed`) drop every entry at once with
CacheStore.bump_epoch().
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from wren.cache import tags
from wren.cache.keys import Kind
from wren.db import queries
from wren.errors import ServiceUnavailable

if TYPE_CHECKING:
    from wren.context import Context


async def activity_changed(context: Context, user_ids: Iterable[int]) -> None:
    """Posts, comments or likes of/for these users changed: their stats are stale."""
    await context.cache.store.bump(Kind.STATS, list(user_ids))


async def follows_changed(context: Context, follower_id: int, followee_id: int) -> None:
    """follower_id started or stopped following followee_id."""
    store = context.cache.store
    # Follower and following counts of both.
    await store.bump(Kind.STATS, [follower_id, followee_id])
    # Recommendations of the follower (its followees changed) and of everyone following
    # the follower (the followees of one of their followees changed).
    try:
        # On the primary: a follower that a lagging replica lacks would keep a stale entry.
        rows = await context.db.fetch_primary(queries.FOLLOWER_IDS, {"ids": [follower_id]})
    except ServiceUnavailable:
        await store.bump_epoch()
        return
    followers = [row["follower_id"] for row in rows]
    await store.bump(Kind.RECOMMENDATIONS, [follower_id, *followers])
    await shown_changed(
        context, [*tags.changed("User", [follower_id, followee_id, *followers]), tags.FEED]
    )


async def shown_changed(context: Context, changed: Iterable[str]) -> None:
    """Objects or lists with these tags changed: stored answers holding them are stale."""
    responses = context.responses
    if responses is not None:
        await responses.invalidate(changed)
