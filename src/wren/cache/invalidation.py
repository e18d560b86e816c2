"""What writes tell the cache: called by mutations after their transaction commits.

Each function names an event, not a key: the cache decides which entries the event
makes stale (stats and recommendations of the users affected).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wren.context import Context


async def activity_changed(context: Context, user_ids: Iterable[int]) -> None:
    """Posts, comments or likes of/for these users changed: their stats are stale."""
    # The cache of User.stats is not built yet: nothing is cached, so nothing is stale.


async def follows_changed(context: Context, follower_id: int, followee_id: int) -> None:
    """follower_id started or stopped following followee_id."""
    # The cache of User.recommendedUsers is not built yet: nothing is stale.
